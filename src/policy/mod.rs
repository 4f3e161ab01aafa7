//! The policy, in one place: verify signature and claims first (no store access for a bad
//! token), then consult the store, then decide fail-closed or fail-open on a store failure.
//! Every endpoint that judges or revokes a token goes through here. It sits above `token` and
//! `store`, which know nothing of each other's decisions.

use std::sync::Arc;
use std::time::Instant;

use crate::clock::unix_now;
use crate::config::OnError;
use crate::metrics::{Metrics, Outcome};
use crate::token::verifier::Rejection;
use crate::token::{Inactive, SignedToken, StoreKeys, VerifiedToken, Verifier};

use crate::readiness::NotReady;
use crate::store::{Keys, LookupKeys, Store, StoreError};

/// A revocation to apply once: the issuer and `jti` of the logout token or security event that
/// asked for it, remembered for `ttl_ms` so that a replay within that time writes nothing.
#[derive(Debug, Clone, Copy)]
pub struct Once<'a> {
    pub iss: &'a str,
    pub jti: &'a str,
    pub ttl_ms: u64,
}

/// The answer to "is this token good now?".
#[derive(Debug)]
pub enum Verdict {
    Active(VerifiedToken),
    /// The store failed and `on_error = "allow"`: signature and claims verified, revocation
    /// state unknown.
    ActiveOnStoreError(VerifiedToken),
    Inactive(Inactive),
    /// The store failed and `on_error = "deny"`: no decision can be given.
    StoreUnavailable,
}

impl Verdict {
    pub fn outcome(&self) -> Outcome {
        match self {
            Verdict::Active(_) => Outcome::Active,
            Verdict::ActiveOnStoreError(_) => Outcome::AllowedOnStoreError,
            Verdict::Inactive(reason) => Outcome::from(*reason),
            Verdict::StoreUnavailable => Outcome::StoreUnavailable,
        }
    }
}

/// What `revoke` did with a token.
#[derive(Debug, PartialEq, Eq)]
pub enum Revocation {
    /// Written to the store, which acknowledged it.
    Stored,
    /// Not written: the token is not one of ours or is already dead (RFC 7009 §2.2 still
    /// answers 200).
    Ignored(Inactive),
}

mod revoke;

pub struct Introspector {
    verifier: Verifier,
    store: Store,
    keys: Keys,
    on_error: OnError,
    /// Seconds an entry outlives its token's exp: leeway plus a margin for clock skew.
    ttl_slack_secs: i64,
    /// `[ssf]` is on: checks also read the subject's disabled flag and the email's not-before.
    security_events: bool,
    metrics: Arc<Metrics>,
}

impl Introspector {
    pub fn new(
        verifier: Verifier,
        store: Store,
        keys: Keys,
        on_error: OnError,
        revocation_margin_secs: u64,
        metrics: Arc<Metrics>,
    ) -> Introspector {
        let ttl_slack_secs = verifier
            .leeway_secs()
            .saturating_add(i64::try_from(revocation_margin_secs).unwrap_or(i64::MAX));
        Introspector {
            verifier,
            store,
            keys,
            on_error,
            ttl_slack_secs,
            security_events: false,
            metrics,
        }
    }

    /// Checks also read what security events write (a disabled account, an email's
    /// not-before): only when `[ssf]` is on, so no check pays for them otherwise.
    pub fn with_security_events(mut self, on: bool) -> Introspector {
        self.security_events = on;
        self
    }

    /// Verifies `token`; when its `kid` is unknown to a JWKS issuer, refetches that issuer's
    /// keys (single-flight, rate-limited) and tries once more.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, Inactive> {
        self.with_refetch(|| self.verifier.verify(token, unix_now()))
            .await
    }

    /// Verifies the signature and issuer of a logout token or security event token (see
    /// `Verifier::verify_signed`), with the same key sources and refetch as access tokens.
    pub async fn verify_signed(&self, token: &str) -> Result<SignedToken, Inactive> {
        self.with_refetch(|| self.verifier.verify_signed(token))
            .await
    }

    async fn with_refetch<T>(
        &self,
        attempt: impl Fn() -> Result<T, Rejection>,
    ) -> Result<T, Inactive> {
        match attempt() {
            Ok(verified) => Ok(verified),
            Err(rejection) => match rejection.refetch {
                Some(remote) if remote.refetch_for_unknown_kid().await => {
                    attempt().map_err(|r| r.reason)
                }
                _ => Err(rejection.reason),
            },
        }
    }

    /// The leeway of time claims, in seconds.
    pub fn leeway_secs(&self) -> i64 {
        self.verifier.leeway_secs()
    }

    /// Decides whether `token` is active now.
    pub async fn check(&self, token: &str) -> Verdict {
        let verified = match self.verify(token).await {
            Ok(verified) => verified,
            Err(reason) => return Verdict::Inactive(reason),
        };
        let keys = verified.store_keys(|| self.store_keys(&verified));
        let lookup = self
            .timed(self.store.lookup(LookupKeys {
                token: &keys.token,
                subject: keys.subject.as_deref(),
                session: keys.session.as_deref(),
                disabled: keys.disabled.as_deref(),
                email: keys.email.as_deref(),
            }))
            .await;
        match lookup {
            Ok(found) => {
                // A token without iat cannot prove it was issued after a not_before.
                let issued_before = |nb: i64| verified.checked().iat.is_none_or(|iat| iat < nb);
                let subject_before = found.subject_not_before.is_some_and(issued_before)
                    || found.email_not_before.is_some_and(issued_before);
                if found.revoked {
                    Verdict::Inactive(Inactive::Revoked)
                } else if found.disabled {
                    Verdict::Inactive(Inactive::AccountDisabled)
                } else if subject_before {
                    Verdict::Inactive(Inactive::SubjectRevoked)
                } else if found.session_not_before.is_some_and(issued_before) {
                    Verdict::Inactive(Inactive::SessionRevoked)
                } else if found.global_not_before > 0 && issued_before(found.global_not_before) {
                    Verdict::Inactive(Inactive::StoreReset)
                } else {
                    Verdict::Active(verified)
                }
            }
            Err(err) => match self.on_error {
                OnError::Deny => {
                    tracing::error!(error = %err, jti = verified.jti(), "store lookup failed; denying");
                    Verdict::StoreUnavailable
                }
                OnError::Allow => {
                    tracing::warn!(error = %err, jti = verified.jti(), "store lookup failed; allowing (store.on_error = allow)");
                    Verdict::ActiveOnStoreError(verified)
                }
            },
        }
    }

    /// The store keys of a verified token (its entry, its subject's and its session's).
    fn store_keys(&self, verified: &VerifiedToken) -> StoreKeys {
        let sub = verified.sub();
        StoreKeys {
            token: self.keys.token(sub, verified.id()),
            subject: sub.map(|s| self.keys.subject(s)),
            session: verified.sid().map(|sid| {
                self.keys
                    .session(self.verifier.session_issuer(verified), sid)
            }),
            disabled: sub
                .filter(|_| self.security_events)
                .map(|s| self.keys.disabled(s)),
            email: verified
                .str_claim("email")
                .filter(|_| self.security_events)
                .map(|e| self.keys.email(e)),
        }
    }

    /// Whether the service can decide: every JWKS issuer has usable keys (fetching now if not,
    /// within `timeout`) and the store is fit to serve.
    pub async fn ready(&self, timeout: std::time::Duration) -> Result<(), NotReady> {
        for remote in self.verifier.remote_keys() {
            if !remote.is_usable() {
                let _ = tokio::time::timeout(timeout, remote.fetch_now()).await;
                if !remote.is_usable() {
                    return Err(NotReady::NoSigningKeys);
                }
            }
        }
        self.store_ready(timeout).await
    }

    /// Where the store is, for logs (no credentials).
    pub fn store_address(&self) -> &str {
        self.store.address()
    }

    /// Whether the store is fit to serve, answered within `timeout`.
    pub async fn store_ready(&self, timeout: std::time::Duration) -> Result<(), NotReady> {
        let start = Instant::now();
        let result = match tokio::time::timeout(timeout, self.store.readiness()).await {
            Ok(found) => found.map_err(NotReady::from),
            Err(_) => Err(NotReady::Unreachable(StoreError::Timeout)),
        };
        if let Err(NotReady::Unreachable(error)) = &result {
            self.metrics
                .observe_store(start.elapsed(), Some(error.reason()));
        }
        result
    }

    async fn timed<T>(
        &self,
        op: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let start = Instant::now();
        let result = op.await;
        self.metrics.observe_store(
            start.elapsed(),
            result.as_ref().err().map(StoreError::reason),
        );
        result
    }
}
