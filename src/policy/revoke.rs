//! The revocation writes of the policy: a token (`/revoke`), a subject's or a session's
//! not-before (`/revoke/subject`, `/revoke/session`, logout tokens, security events), and a
//! subject's account disabled and enabled again (security events). Each returns only once the
//! store has it; a store failure is an error whatever `on_error` says.

use super::{Introspector, Once, Revocation};
use crate::clock::{unix_now, unix_now_ms};
use crate::store::{NotBefore, Raised, StoreError};

impl Introspector {
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

    /// Makes every token carrying `email` issued before now (or `at`) inactive.
    pub async fn revoke_email(
        &self,
        email: &str,
        at: Option<i64>,
        once: Option<&Once<'_>>,
    ) -> Result<Raised, StoreError> {
        let raised = self.raise(&self.keys.email(email), at, once).await?;
        if raised.written {
            self.metrics.revoked("subject");
            tracing::info!(not_before = raised.not_before, "email subject revoked");
        }
        Ok(raised)
    }

    /// Disables `sub`'s account: every token of it is inactive until `enable_subject`, and
    /// the tokens issued before now (or `at`) stay inactive after. The flag lives as long as a
    /// not-before (any token issued before it has expired by then). It is written before the
    /// not-before, which carries the replay marker: a retry after a failure between the two
    /// writes the flag again.
    pub async fn disable_subject(
        &self,
        sub: &str,
        at: Option<i64>,
        once: Option<&Once<'_>>,
    ) -> Result<Raised, StoreError> {
        let until_ms =
            unix_now_ms().saturating_add(self.not_before_ttl().saturating_mul(1000) as i64);
        self.timed(self.store.revoke_token(&self.keys.disabled(sub), until_ms))
            .await?;
        let raised = self.raise(&self.keys.subject(sub), at, once).await?;
        if raised.written {
            self.metrics.revoked("subject");
            tracing::info!(sub, "account disabled");
        }
        Ok(raised)
    }

    /// Enables `sub`'s account again: new tokens count; tokens issued before it was disabled
    /// stay inactive (their not-before remains). Returns whether it wrote (false: a replay).
    pub async fn enable_subject(
        &self,
        sub: &str,
        once: Option<&Once<'_>>,
    ) -> Result<bool, StoreError> {
        let key = self.keys.disabled(sub);
        let marker = once.map(|o| (self.keys.replay(&key, o.iss, o.jti), o.ttl_ms));
        let written = self
            .timed(
                self.store
                    .lift(&key, marker.as_ref().map(|(m, ttl)| (m.as_str(), *ttl))),
            )
            .await?;
        if written {
            tracing::info!(sub, "account enabled");
        }
        Ok(written)
    }
}
