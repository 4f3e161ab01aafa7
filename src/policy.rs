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
use crate::store::{Keys, LookupKeys, NotBefore, Raised, Store, StoreError};

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

pub struct Introspector {
    verifier: Verifier,
    store: Store,
    keys: Keys,
    on_error: OnError,
    /// Seconds an entry outlives its token's exp: leeway plus a margin for clock skew.
    ttl_slack_secs: i64,
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
            metrics,
        }
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
            }))
            .await;
        match lookup {
            Ok(found) => {
                // A token without iat cannot prove it was issued after a not_before.
                let issued_before = |nb: i64| verified.checked().iat.is_none_or(|iat| iat < nb);
                if found.revoked {
                    Verdict::Inactive(Inactive::Revoked)
                } else if found.subject_not_before.is_some_and(issued_before) {
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

    /// Revokes `token` if its signature and claims verify. Returns only after the store
    /// acknowledged the write; a store failure is an error whatever `on_error` says.
    pub async fn revoke(&self, token: &str) -> Result<Revocation, StoreError> {
        let verified = match self.verify(token).await {
            Ok(verified) => verified,
            Err(reason) => return Ok(Revocation::Ignored(reason)),
        };
        // The entry ends exactly when the token would have died anyway (it verified, so that
        // is after now), and never beyond the longest lifetime a token may have. The claim
        // check makes a token inactive from second exp + leeway on, so the deadline in
        // milliseconds covers it exactly.
        let latest = unix_now()
            .saturating_add(self.verifier.max_lifetime_secs())
            .saturating_add(self.ttl_slack_secs);
        let expires_at = verified
            .checked()
            .exp
            .saturating_add(self.ttl_slack_secs)
            .min(latest);
        let expires_at_ms = expires_at.saturating_mul(1000);
        let keys = verified.store_keys(|| self.store_keys(&verified));
        self.timed(self.store.revoke_token(&keys.token, expires_at_ms))
            .await?;
        self.metrics.revoked("token");
        tracing::info!(
            jti = verified.jti(),
            sub = verified.sub(),
            expires_at,
            "token revoked"
        );
        Ok(Revocation::Stored)
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
        }
    }

    /// How long a subject's or a session's not-before lives: as long as any token it can make
    /// inactive (max lifetime + leeway + margin).
    fn not_before_ttl(&self) -> u64 {
        self.verifier
            .max_lifetime_secs()
            .saturating_add(self.ttl_slack_secs)
            .max(1) as u64
    }

    /// Makes every token of `sub` issued before now (or `at`, when earlier) inactive; returns
    /// what the store did.
    pub async fn revoke_subject(
        &self,
        sub: &str,
        at: Option<i64>,
        once: Option<&Once<'_>>,
    ) -> Result<Raised, StoreError> {
        let key = self.keys.subject(sub);
        let raised = self.raise(&key, at, once).await?;
        if raised.written {
            self.metrics.revoked("subject");
            tracing::info!(sub, not_before = raised.not_before, "subject revoked");
        }
        Ok(raised)
    }

    /// Makes every token of the session `sid` of issuer `iss` issued before now (or `at`, when
    /// earlier) inactive; returns what the store did.
    pub async fn revoke_session(
        &self,
        iss: &str,
        sid: &str,
        at: Option<i64>,
        once: Option<&Once<'_>>,
    ) -> Result<Raised, StoreError> {
        let key = self.keys.session(iss, sid);
        let raised = self.raise(&key, at, once).await?;
        if raised.written {
            self.metrics.revoked("session");
            tracing::info!(iss, sid, not_before = raised.not_before, "session revoked");
        }
        Ok(raised)
    }

    async fn raise(
        &self,
        key: &str,
        at: Option<i64>,
        once: Option<&Once<'_>>,
    ) -> Result<Raised, StoreError> {
        let replay = once.map(|once| {
            let marker = self.keys.replay(key, once.iss, once.jti);
            (marker, once.ttl_ms)
        });
        let request = NotBefore {
            key,
            ttl_secs: self.not_before_ttl(),
            at,
            once: replay.as_ref().map(|(marker, ttl)| (marker.as_str(), *ttl)),
        };
        self.timed(self.store.revoke_before(request)).await
    }

    /// The session issuer `/revoke/session` means: `iss` when given (one of the configured
    /// issuers), else the only configured issuer, or "" when none is configured.
    pub fn session_issuer<'a>(&'a self, iss: Option<&'a str>) -> Result<&'a str, &'static str> {
        let mut names = self.verifier.issuer_names();
        match iss {
            Some(iss) if self.verifier.issuer_names().any(|name| name == iss) => Ok(iss),
            Some(_) => Err("iss is not a configured issuer"),
            None => match (names.next(), names.next()) {
                (None, _) => Ok(""),
                (Some(only), None) => Ok(only),
                (Some(_), Some(_)) => Err("iss is required when several issuers are configured"),
            },
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
