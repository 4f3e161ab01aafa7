//! One error type for every endpoint, mapped in one place to a status, an OAuth error body
//! (`{"error","error_description"}`, RFC 6749 §5.2) and the challenge headers. Internal causes
//! are logged where they happen, never sent to the client.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::readiness::NotReady;

/// Seconds a client is asked to wait after a store failure.
pub const RETRY_AFTER_SECS: &str = "1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

/// The bounded metric label of a response, stored in its extensions by handlers and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome(pub &'static str);

impl ApiError {
    pub fn outcome(&self) -> &'static str {
        match self {
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::InvalidClient => "invalid_client",
            ApiError::TooManyFailures(_) => "rate_limited",
            ApiError::PayloadTooLarge => "too_large",
            ApiError::StoreUnavailable => "store_unavailable",
            ApiError::NotReady(_) => "not_ready",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
        }
    }

    fn code_and_description(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::InvalidRequest(why) => ("invalid_request", why),
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
        }
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
            ApiError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidClient => StatusCode::UNAUTHORIZED,
            ApiError::TooManyFailures(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::StoreUnavailable | ApiError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (code, description) = self.code_and_description();
        let mut builder = HttpResponse::build(self.status_code());
        match self {
            ApiError::InvalidClient => {
                builder.insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="introspectd""#));
            }
            ApiError::StoreUnavailable | ApiError::NotReady(_) => {
                builder.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS));
            }
            ApiError::TooManyFailures(secs) => {
                builder.insert_header((header::RETRY_AFTER, secs.to_string()));
            }
            ApiError::MethodNotAllowed(allow) => {
                builder.insert_header((header::ALLOW, HeaderValue::from_static(allow)));
            }
            _ => {}
        }
        let mut response = builder.json(json!({ "error": code, "error_description": description }));
        response.extensions_mut().insert(Outcome(self.outcome()));
        response
    }
}
