//! `/auth` and `/auth/{anything}`, any method: the gateway endpoint for nginx `auth_request` and
//! Envoy's HTTP `ext_authz`. The verdict comes from the same `Introspector::check` as
//! `/introspect`; this handler only reads the bearer token and presents the answer as a status
//! and headers. It never answers 400: nginx turns anything but 2xx/401/403 into a 500.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::{with_outcome, AppState};
use crate::error::ApiError;
use crate::gateway::{AuthOptions, STANDARD_CLAIMS, STANDARD_HEADERS};
use crate::metrics::Outcome;
use crate::policy::Verdict;
use crate::scope::RequiredScopes;
use crate::token::VerifiedToken;

const REQUIRED_SCOPE: &str = "x-required-scope";

#[tracing::instrument(name = "auth", skip_all)]
pub async fn auth(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let token = match bearer_token(&req, state.auth.cookie_name.as_deref()) {
        Credential::Token(token) => token,
        Credential::Missing => return Err(ApiError::MissingToken),
        Credential::Malformed => return Err(ApiError::InvalidToken(Outcome::Malformed)),
    };
    let verdict = state.introspector.check(&token).await;
    let outcome = verdict.outcome();
    let verified = match verdict {
        Verdict::Active(t) | Verdict::ActiveOnStoreError(t) => t,
        Verdict::Inactive(_) => return Err(ApiError::InvalidToken(outcome)),
        Verdict::StoreUnavailable => return Err(ApiError::StoreUnavailable),
    };
    let required = RequiredScopes::parse(
        req.headers()
            .get_all(REQUIRED_SCOPE)
            .map(HeaderValue::as_bytes),
    );
    if !required.is_satisfied_by(verified.str_claim("scope")) {
        let scope = required.valid().collect::<Vec<_>>().join(" ");
        return Err(ApiError::InsufficientScope(scope));
    }
    Ok(with_outcome(allow(&verified, &state.auth), outcome))
}

enum Credential {
    Missing,
    Malformed,
    Token(String),
}

/// The bearer token from `Authorization: Bearer <token>` (scheme case-insensitive, RFC 6750
/// §2.1), or from the configured cookie when there is no Authorization header. Another scheme
/// counts as no bearer credentials; several Authorization headers, an empty token, or one with
/// characters outside b64token are malformed.
fn bearer_token(req: &HttpRequest, cookie_name: Option<&str>) -> Credential {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let Some(value) = values.next() else {
        return cookie_name
            .and_then(|name| cookie(req, name))
            .map_or(Credential::Missing, |t| {
                if is_b64token(&t) {
                    Credential::Token(t)
                } else {
                    Credential::Malformed
                }
            });
    };
    if values.next().is_some() {
        return Credential::Malformed;
    }
    let value = value.as_bytes();
    let (scheme, rest) = match value.iter().position(|b| *b == b' ') {
        Some(i) => (&value[..i], &value[i..]),
        None => (value, &b""[..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Credential::Missing;
    }
    match std::str::from_utf8(rest.trim_ascii_start()) {
        Ok(token) if is_b64token(token) => Credential::Token(token.to_owned()),
        _ => Credential::Malformed,
    }
}

/// RFC 6750 §2.1 b64token: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
}

/// Exactly 200 (Envoy allows only 200), empty body, identity in headers.
fn allow(token: &VerifiedToken, options: &AuthOptions) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    for (claim, name) in STANDARD_CLAIMS.iter().zip(STANDARD_HEADERS) {
        if let Some(value) = token.claims().get(*claim).and_then(claim_text) {
            res.insert_header((name, value));
        }
    }
    for (claim, name) in &options.claim_headers {
        if let Some(value) = token.claims().get(claim).and_then(claim_text) {
            res.insert_header((name.clone(), value));
        }
    }
    res.finish()
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

    #[test]
    fn b64token_charset() {
        for good in ["abc", "a.b.c", "a-b_c~d+e/f==", "x="] {
            assert!(is_b64token(good), "{good}");
        }
        for bad in ["", "=", "a b", "a,b", "a\"b", "a=b", "tok\u{e9}n"] {
            assert!(!is_b64token(bad), "{bad}");
        }
    }
}
