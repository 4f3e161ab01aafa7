//! One error type for every endpoint, mapped in one place to a status, an OAuth error body
//! (`{"error","error_description"}`, RFC 6749 §5.2) and the challenge headers.
//!
//! Which error goes where: handlers return `ApiError` and use `?`. A store failure converts
//! with `From<StoreError>`, which logs the cause once, here; the client only ever sees the
//! variant's fixed description. An inactive token is not an error on /introspect (a normal 200
//! `{"active":false}`); on /auth it is `InvalidToken`, a 401 the gateway understands.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::metrics::Outcome;
use crate::readiness::NotReady;
use crate::store::StoreError;

/// Seconds a client is asked to wait after a store failure.
pub const RETRY_AFTER_SECS: &str = "1";

/// The realm of every challenge, written once.
macro_rules! realm {
    () => {
        "introspectd"
    };
}
const BASIC_CHALLENGE: &str = concat!("Basic realm=\"", realm!(), "\"");
const BEARER_CHALLENGE: &str = concat!("Bearer realm=\"", realm!(), "\"");
const INVALID_TOKEN_CHALLENGE: &str =
    concat!("Bearer realm=\"", realm!(), "\", error=\"invalid_token\"");
const INSUFFICIENT_SCOPE_CHALLENGE: &str = concat!(
    "Bearer realm=\"",
    realm!(),
    "\", error=\"insufficient_scope\""
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 400 `invalid_request`: missing, empty or duplicated parameter, wrong content type, bad
    /// encoding, two client authentication methods.
    InvalidRequest(&'static str),
    /// 401 `invalid_client` with `WWW-Authenticate: Basic`: missing or wrong client credentials.
    /// Unknown client and wrong secret get the same body.
    InvalidClient,
    /// 429 `invalid_client` with `Retry-After` (seconds): this client id or source failed
    /// client authentication too often (see limiter.rs).
    TooManyFailures(u64),
    /// 413 `invalid_request`: body over `server.max_body_bytes`.
    PayloadTooLarge,
    /// 503 `temporarily_unavailable` with `Retry-After`: the store failed; nothing was decided.
    StoreUnavailable,
    /// 503 `temporarily_unavailable` from /readyz, saying why.
    NotReady(NotReady),
    /// 404 `not_found`.
    NotFound,
    /// 405 `invalid_request` with `Allow`.
    MethodNotAllowed(&'static str),
    /// 401 with a bare `Bearer` challenge and no body: /auth got no bearer token (RFC 6750
    /// §3.1: no error attribute when the request had no credentials).
    MissingToken,
    /// 401 `invalid_token`: /auth got a malformed or inactive token; the outcome says why.
    InvalidToken(Outcome),
    /// 400 with RFC 8935's `{"err","description"}`: a Security Event Token was refused.
    SetRefused {
        err: &'static str,
        description: &'static str,
    },
    /// 403 `insufficient_scope`, naming the required scopes (scope-token characters only; the
    /// attribute is left out when none is valid syntax).
    InsufficientScope(String),
}

impl ApiError {
    pub fn outcome(&self) -> Outcome {
        match self {
            ApiError::InvalidRequest(_) | ApiError::SetRefused { .. } => Outcome::InvalidRequest,
            ApiError::InvalidClient => Outcome::InvalidClient,
            ApiError::TooManyFailures(_) => Outcome::RateLimited,
            ApiError::PayloadTooLarge => Outcome::TooLarge,
            ApiError::StoreUnavailable => Outcome::StoreUnavailable,
            ApiError::NotReady(_) => Outcome::NotReady,
            ApiError::NotFound => Outcome::NotFound,
            ApiError::MethodNotAllowed(_) => Outcome::MethodNotAllowed,
            ApiError::MissingToken => Outcome::MissingToken,
            ApiError::InvalidToken(outcome) => *outcome,
            ApiError::InsufficientScope(_) => Outcome::InsufficientScope,
        }
    }

    fn code_and_description(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::InvalidRequest(why) => ("invalid_request", why),
            ApiError::SetRefused { err, description } => (err, description),
            ApiError::InvalidClient => ("invalid_client", "client authentication failed"),
            ApiError::TooManyFailures(_) => (
                "invalid_client",
                "too many failed client authentications; retry later",
            ),
            ApiError::PayloadTooLarge => ("invalid_request", "request body too large"),
            ApiError::StoreUnavailable => (
                "temporarily_unavailable",
                "the revocation store is unavailable; retry later",
            ),
            ApiError::NotReady(reason) => ("temporarily_unavailable", reason.description()),
            ApiError::NotFound => ("not_found", "no such endpoint"),
            ApiError::MethodNotAllowed(_) => ("invalid_request", "method not allowed"),
            ApiError::MissingToken => ("invalid_request", "a bearer token is required"),
            ApiError::InvalidToken(_) => ("invalid_token", "the access token is not active"),
            ApiError::InsufficientScope(_) => (
                "insufficient_scope",
                "the access token lacks a required scope",
            ),
        }
    }
}

impl From<StoreError> for ApiError {
    /// The one place a store failure is logged on its way to a 503.
    fn from(err: StoreError) -> ApiError {
        tracing::error!(error = %err, "store operation failed");
        ApiError::StoreUnavailable
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (code, description) = self.code_and_description();
        write!(f, "{code}: {description}")
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest(_) | ApiError::SetRefused { .. } => StatusCode::BAD_REQUEST,
            ApiError::InvalidClient | ApiError::MissingToken | ApiError::InvalidToken(_) => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::InsufficientScope(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyFailures(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::StoreUnavailable | ApiError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status_code());
        for pair in self.headers() {
            builder.insert_header(pair);
        }
        let mut response = match self.body() {
            Some(body) => builder.json(body),
            None => builder.finish(),
        };
        response.extensions_mut().insert(self.outcome());
        response
    }
}

impl ApiError {
    /// The challenge, `Retry-After` or `Allow` header of this error: the same for every
    /// protocol that presents it (HTTP, Envoy's gRPC denied response).
    pub fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let challenge =
            |value: &'static str| (header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
        match self {
            ApiError::InvalidClient => vec![challenge(BASIC_CHALLENGE)],
            ApiError::MissingToken => vec![challenge(BEARER_CHALLENGE)],
            ApiError::InvalidToken(_) => vec![challenge(INVALID_TOKEN_CHALLENGE)],
            ApiError::InsufficientScope(scope) if !scope.is_empty() => {
                let value = format!(r#"{INSUFFICIENT_SCOPE_CHALLENGE}, scope="{scope}""#);
                // Scope tokens are visible ASCII (scope.rs), so the value is a valid header.
                HeaderValue::from_str(&value)
                    .map(|v| vec![(header::WWW_AUTHENTICATE, v)])
                    .unwrap_or_else(|_| vec![challenge(INSUFFICIENT_SCOPE_CHALLENGE)])
            }
            ApiError::InsufficientScope(_) => vec![challenge(INSUFFICIENT_SCOPE_CHALLENGE)],
            ApiError::StoreUnavailable | ApiError::NotReady(_) => vec![(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            )],
            ApiError::TooManyFailures(secs) => {
                vec![(header::RETRY_AFTER, HeaderValue::from(*secs))]
            }
            ApiError::MethodNotAllowed(allow) => {
                vec![(header::ALLOW, HeaderValue::from_static(allow))]
            }
            ApiError::InvalidRequest(_)
            | ApiError::SetRefused { .. }
            | ApiError::PayloadTooLarge
            | ApiError::NotFound => Vec::new(),
        }
    }

    /// The OAuth error JSON, or nothing: a request without credentials gets a bare challenge.
    pub fn body(&self) -> Option<serde_json::Value> {
        let (code, description) = self.code_and_description();
        match self {
            ApiError::MissingToken => None,
            ApiError::SetRefused { .. } => Some(json!({ "err": code, "description": description })),
            _ => Some(json!({ "error": code, "error_description": description })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    /// Status, challenge or Retry-After/Allow header, and body of every variant.
    #[test]
    fn every_variant_has_its_status_headers_and_body() {
        let unavailable = NotReady::Unreachable(StoreError::Timeout);
        // (error, status, one header it must carry, the body's error code or no body)
        type Case = (
            ApiError,
            u16,
            Option<(&'static str, &'static str)>,
            Option<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                ApiError::InvalidRequest("why"),
                400,
                None,
                Some("invalid_request"),
            ),
            (
                ApiError::InvalidClient,
                401,
                Some(("www-authenticate", r#"Basic realm="introspectd""#)),
                Some("invalid_client"),
            ),
            (
                ApiError::TooManyFailures(7),
                429,
                Some(("retry-after", "7")),
                Some("invalid_client"),
            ),
            (
                ApiError::PayloadTooLarge,
                413,
                None,
                Some("invalid_request"),
            ),
            (
                ApiError::StoreUnavailable,
                503,
                Some(("retry-after", "1")),
                Some("temporarily_unavailable"),
            ),
            (
                ApiError::NotReady(unavailable),
                503,
                Some(("retry-after", "1")),
                Some("temporarily_unavailable"),
            ),
            (ApiError::NotFound, 404, None, Some("not_found")),
            (
                ApiError::MethodNotAllowed("POST"),
                405,
                Some(("allow", "POST")),
                Some("invalid_request"),
            ),
            (
                ApiError::MissingToken,
                401,
                Some(("www-authenticate", r#"Bearer realm="introspectd""#)),
                None,
            ),
            (
                ApiError::InvalidToken(Outcome::Expired),
                401,
                Some((
                    "www-authenticate",
                    r#"Bearer realm="introspectd", error="invalid_token""#,
                )),
                Some("invalid_token"),
            ),
            (
                ApiError::InsufficientScope("read write".into()),
                403,
                Some((
                    "www-authenticate",
                    r#"Bearer realm="introspectd", error="insufficient_scope", scope="read write""#,
                )),
                Some("insufficient_scope"),
            ),
            (
                ApiError::InsufficientScope(String::new()),
                403,
                Some((
                    "www-authenticate",
                    r#"Bearer realm="introspectd", error="insufficient_scope""#,
                )),
                Some("insufficient_scope"),
            ),
        ];
        for (error, status, header, code) in cases {
            let response = error.error_response();
            assert_eq!(response.status().as_u16(), status, "{error:?}");
            if let Some((name, value)) = header {
                assert_eq!(response.headers().get(name).unwrap(), value, "{error:?}");
            }
            assert_eq!(
                response.extensions().get::<Outcome>(),
                Some(&error.outcome()),
                "{error:?}"
            );
            let body = response.into_body().try_into_bytes().unwrap();
            match code {
                Some(code) => {
                    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    assert_eq!(json["error"], code, "{error:?}");
                    assert!(json["error_description"].is_string(), "{error:?}");
                }
                None => assert!(body.is_empty(), "{error:?}"),
            }
        }
    }

    #[test]
    fn a_refused_security_event_gets_rfc_8935s_body() {
        let error = ApiError::SetRefused {
            err: "invalid_audience",
            description: "why",
        };
        let response = error.error_response();
        assert_eq!(response.status().as_u16(), 400);
        let body = response.into_body().try_into_bytes().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json,
            json!({"err": "invalid_audience", "description": "why"})
        );
    }

    #[test]
    fn an_invalid_token_is_counted_under_its_reason() {
        assert_eq!(
            ApiError::InvalidToken(Outcome::Revoked).outcome().label(),
            "revoked"
        );
    }
}
