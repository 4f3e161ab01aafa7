//! The bounded `outcome` label of `introspectd_requests_total`.

/// The outcome of a request: the bounded `outcome` label of `introspectd_requests_total`. An
/// enum, so a typo cannot create a new series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The token is active (/introspect, /auth).
    Active,
    /// The store failed and `store.on_error = allow` let the token through.
    AllowedOnStoreError,
    Malformed,
    Signature,
    Expired,
    NotYetValid,
    Claims,
    /// Inactive because revoked (checks), or a revocation stored (/revoke, /revoke/subject,
    /// /revoke/session, the identity provider's logouts and events).
    Revoked,
    SubjectRevoked,
    SessionRevoked,
    AccountDisabled,
    StoreReset,
    StoreUnavailable,
    /// /auth without a bearer token.
    MissingToken,
    InsufficientScope,
    /// /revoke of a token that is not ours or already dead (RFC 7009 §2.2: still 200).
    Ignored,
    /// A logout token or security event delivered again: accepted, nothing written.
    Replayed,
    InvalidRequest,
    InvalidClient,
    RateLimited,
    TooLarge,
    NotReady,
    NotFound,
    MethodNotAllowed,
    /// Probes and /metrics, and any response without an outcome of its own, by status class.
    Ok,
    ClientError,
    ServerError,
    /// The client went away before the answer.
    Cancelled,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Active => "active",
            Outcome::AllowedOnStoreError => "allowed_on_store_error",
            Outcome::Malformed => "malformed",
            Outcome::Signature => "signature",
            Outcome::Expired => "expired",
            Outcome::NotYetValid => "not_yet_valid",
            Outcome::Claims => "claims",
            Outcome::Revoked => "revoked",
            Outcome::SubjectRevoked => "subject_revoked",
            Outcome::SessionRevoked => "session_revoked",
            Outcome::AccountDisabled => "account_disabled",
            Outcome::StoreReset => "store_reset",
            Outcome::StoreUnavailable => "store_unavailable",
            Outcome::MissingToken => "missing_token",
            Outcome::InsufficientScope => "insufficient_scope",
            Outcome::Ignored => "ignored",
            Outcome::Replayed => "replayed",
            Outcome::InvalidRequest => "invalid_request",
            Outcome::InvalidClient => "invalid_client",
            Outcome::RateLimited => "rate_limited",
            Outcome::TooLarge => "too_large",
            Outcome::NotReady => "not_ready",
            Outcome::NotFound => "not_found",
            Outcome::MethodNotAllowed => "method_not_allowed",
            Outcome::Ok => "ok",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
            Outcome::Cancelled => "cancelled",
        }
    }
}
