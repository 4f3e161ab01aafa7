//! Signed tokens that are not access tokens: OpenID Connect logout tokens and Security Event
//! Tokens, verified by `Verifier::verify_signed` (signature and issuer only; their claims follow
//! their own rules, in idp/). Explicitly typed (`typ`), so neither is ever taken for the other
//! or for an access token.

use serde_json::{Map, Value};

/// A token's claims or header, parsed.
type Claims = Map<String, Value>;

/// A signed token other than an access token, verified by `Verifier::verify_signed`: its header
/// and its claims, whose `iss` is a configured issuer's.
#[derive(Debug)]
pub struct SignedToken {
    pub header: Claims,
    pub claims: Claims,
}

impl SignedToken {
    /// The issuer that signed it (checked by `verify_signed`).
    pub fn issuer(&self) -> &str {
        self.claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// Whether the `typ` header names `media_type` (without `application/`, which RFC 7515
    /// §4.1.9 lets a sender add or omit; compared without regard to case).
    pub fn has_type(&self, media_type: &str) -> bool {
        has_type(&self.header, media_type)
    }
}

/// The `typ` values of logout tokens and security event tokens.
pub(super) const EVENT_TYPES: [&str; 2] = ["logout+jwt", "secevent+jwt"];

pub(super) fn has_type(header: &Claims, media_type: &str) -> bool {
    header
        .get("typ")
        .and_then(Value::as_str)
        .is_some_and(|typ| {
            let lower = typ.to_ascii_lowercase();
            lower.strip_prefix("application/").unwrap_or(&lower) == media_type
        })
}
