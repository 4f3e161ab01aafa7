//! The one gateway decision: verify and look up the token (`Introspector::check`), check the
//! required scopes, and name the identity headers of an allow. The deny is an `ApiError`, so
//! its status, challenge and `Retry-After` are the same whichever protocol presents it.

use actix_web::http::header::{HeaderName, HeaderValue};
use serde_json::Value;

use super::credential::Credential;
use super::{AuthOptions, STANDARD_CLAIMS, STANDARD_HEADERS};
use crate::error::ApiError;
use crate::metrics::Outcome;
use crate::policy::{Introspector, Verdict};
use crate::scope::RequiredScopes;
use crate::token::VerifiedToken;

/// The answer to a gateway.
#[derive(Debug)]
pub enum Decision {
    /// Let the request through with these identity headers (each set at most once, replacing
    /// any value the client sent).
    Allow {
        identity: Vec<(HeaderName, HeaderValue)>,
        outcome: Outcome,
    },
    Deny(ApiError),
}

impl Decision {
    pub fn outcome(&self) -> Outcome {
        match self {
            Decision::Allow { outcome, .. } => *outcome,
            Decision::Deny(error) => error.outcome(),
        }
    }
}

/// Decides a gateway request: no token or a bad one is 401, a missing scope 403, a store
/// failure 503 (or an allow when `store.on_error = allow`).
pub async fn decide(
    introspector: &Introspector,
    options: &AuthOptions,
    credential: Credential,
    required: &RequiredScopes,
) -> Decision {
    let token = match credential {
        Credential::Token(token) => token,
        Credential::Missing => return Decision::Deny(ApiError::MissingToken),
        Credential::Malformed => return Decision::Deny(ApiError::InvalidToken(Outcome::Malformed)),
    };
    let verdict = introspector.check(&token).await;
    let outcome = verdict.outcome();
    let verified = match verdict {
        Verdict::Active(t) | Verdict::ActiveOnStoreError(t) => t,
        Verdict::Inactive(_) => return Decision::Deny(ApiError::InvalidToken(outcome)),
        Verdict::StoreUnavailable => return Decision::Deny(ApiError::StoreUnavailable),
    };
    if !required.is_satisfied_by(verified.str_claim("scope")) {
        let scope = required.valid().collect::<Vec<_>>().join(" ");
        return Decision::Deny(ApiError::InsufficientScope(scope));
    }
    Decision::Allow {
        identity: identity(&verified, options),
        outcome,
    }
}

/// The identity headers of a verified token: the standard ones, then the claim headers, each
/// only when its claim is present.
fn identity(token: &VerifiedToken, options: &AuthOptions) -> Vec<(HeaderName, HeaderValue)> {
    let standard = STANDARD_CLAIMS
        .iter()
        .zip(STANDARD_HEADERS)
        .map(|(claim, name)| (*claim, HeaderName::from_static(name)));
    let extra = options
        .claim_headers
        .iter()
        .map(|(claim, name)| (claim.as_str(), name.clone()));
    standard
        .chain(extra)
        .filter_map(|(claim, name)| {
            let value = token.claims().get(claim).and_then(claim_text)?;
            Some((name, value))
        })
        .collect()
}

/// A claim as a header value: strings as they are, numbers and other JSON as JSON text; bytes
/// below 0x20, DEL and '%' percent-encoded so no value can split a header.
fn claim_text(value: &Value) -> Option<HeaderValue> {
    let text = match value {
        Value::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
        Value::Number(n) => {
            std::borrow::Cow::Owned(n.as_i64().map_or_else(|| n.to_string(), |i| i.to_string()))
        }
        Value::Null => return None,
        other => std::borrow::Cow::Owned(other.to_string()),
    };
    let mut out = Vec::with_capacity(text.len());
    for b in text.bytes() {
        if b < 0x20 || b == 0x7f || b == b'%' {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        } else {
            out.push(b);
        }
    }
    HeaderValue::from_bytes(&out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claim_values_cannot_split_headers() {
        let v = claim_text(&json!("alice\r\nX-Evil: 1%")).unwrap();
        assert_eq!(v.as_bytes(), b"alice%0D%0AX-Evil: 1%25");
        assert_eq!(claim_text(&json!(1_800_000_000)).unwrap(), "1800000000");
        assert_eq!(claim_text(&json!({"a": 1})).unwrap(), r#"{"a":1}"#);
        assert_eq!(
            claim_text(&json!("caf\u{e9} \u{1f600}"))
                .unwrap()
                .as_bytes(),
            "caf\u{e9} \u{1f600}".as_bytes()
        );
    }
}
