//! `envoy.service.auth.v3.Authorization/Check`: Envoy's ext_authz over gRPC, deciding with the
//! same `gateway::decision::decide` as `/auth`. Every decision is a `CheckResponse` with an
//! OK, UNAUTHENTICATED, PERMISSION_DENIED or UNAVAILABLE status, never a gRPC error: Envoy
//! would answer an error with its own `status_on_error`.

use std::sync::Arc;

use actix_web::http::header::{HeaderName, HeaderValue as HttpHeaderValue};
use actix_web::ResponseError;
use envoy_types::ext_authz::v3::pb::{
    Authorization, CheckRequest, CheckResponse, DeniedHttpResponse, HeaderAppendAction,
    HeaderValue, HeaderValueOption, HttpResponse, HttpStatus, OkHttpResponse,
};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::HttpRequest;
use envoy_types::pb::google::rpc;
use tonic::{Request, Response, Status};

use crate::audit::redacted_uri;
use crate::error::ApiError;
use crate::gateway::credential::bearer_credential;
use crate::gateway::decision::{decide, Decision};
use crate::metrics::RequestRecord;
use crate::scope::RequiredScopes;
use crate::state::AppState;

/// The metric label of this endpoint.
pub const ENDPOINT: &str = "ext_authz_grpc";
/// The per-route context extension (`check_settings.context_extensions`) naming the scopes a
/// route requires, in addition to any `x-required-scope` header.
pub const SCOPE_EXTENSION: &str = "required_scope";

/// gRPC status codes (google.rpc.Code) of the decisions.
const OK: i32 = 0;
const PERMISSION_DENIED: i32 = 7;
const UNAVAILABLE: i32 = 14;
const UNAUTHENTICATED: i32 = 16;

pub struct Authorizer {
    pub(super) state: Arc<AppState>,
}

#[tonic::async_trait]
impl Authorization for Authorizer {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        let mut record = RequestRecord::start(ENDPOINT, Some(Arc::clone(&self.state.metrics)));
        let attributes = request.into_inner().attributes.unwrap_or_default();
        let http = attributes.request.and_then(|r| r.http).unwrap_or_default();
        let headers = Headers::of(&http);
        let credential = bearer_credential(
            headers.all("authorization"),
            headers.all("cookie"),
            self.state.auth.cookie_name.as_deref(),
        );
        let route_scope = attributes.context_extensions.get(SCOPE_EXTENSION);
        let required = RequiredScopes::parse(
            headers
                .all("x-required-scope")
                .chain(route_scope.map(|s| s.as_bytes())),
        );
        let decision = decide(
            &self.state.introspector,
            &self.state.auth,
            credential,
            &required,
        )
        .await;
        let outcome = decision.outcome();
        let response = match decision {
            Decision::Allow { identity, .. } => allow(identity, &headers, &self.state),
            Decision::Deny(error) => deny(&error),
        };
        let took = record.finish(outcome);
        tracing::debug!(
            endpoint = ENDPOINT,
            status = response.status.as_ref().map_or(OK, |s| s.code),
            outcome = outcome.label(),
            original_method = http.method,
            original_uri = redacted_uri(&http.path),
            micros = took.as_micros() as u64,
            "request"
        );
        Ok(Response::new(response))
    }
}

/// The client request's headers, from the `headers` map or, when Envoy sends raw headers, from
/// `header_map`. Names arrive in lowercase.
struct Headers<'a> {
    pairs: Vec<(&'a str, &'a [u8])>,
}

impl<'a> Headers<'a> {
    fn of(http: &'a HttpRequest) -> Headers<'a> {
        let mut pairs: Vec<(&str, &[u8])> = http
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .collect();
        if let Some(map) = &http.header_map {
            pairs.extend(map.headers.iter().map(|h| {
                let value = if h.raw_value.is_empty() {
                    h.value.as_bytes()
                } else {
                    h.raw_value.as_slice()
                };
                (h.key.as_str(), value)
            }));
        }
        Headers { pairs }
    }

    fn all(&self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.pairs
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    fn contains(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
    }
}

/// OK, with the identity set over whatever the client sent, and every other identity header
/// the client sent removed. A header the answer sets is never also listed for removal: Envoy
/// may apply removals after it sets headers.
fn allow(
    identity: Vec<(HeaderName, HttpHeaderValue)>,
    request: &Headers<'_>,
    state: &AppState,
) -> CheckResponse {
    let remove = state
        .auth
        .identity_headers()
        .filter(|name| request.contains(name))
        .filter(|name| !identity.iter().any(|(set, _)| set.as_str() == *name))
        .map(str::to_owned)
        .collect();
    let headers = identity
        .iter()
        .map(|(name, value)| HeaderValueOption {
            header: Some(header(name.as_str(), value)),
            append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
            ..Default::default()
        })
        .collect();
    CheckResponse {
        status: Some(rpc::Status {
            code: OK,
            ..Default::default()
        }),
        http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
            headers,
            headers_to_remove: remove,
            ..Default::default()
        })),
        dynamic_metadata: None,
    }
}

/// The deny of `/auth`, as Envoy sends it to the client: the same status, challenge or
/// `Retry-After`, and body.
fn deny(error: &ApiError) -> CheckResponse {
    let code = match error {
        ApiError::InsufficientScope(_) => PERMISSION_DENIED,
        ApiError::StoreUnavailable => UNAVAILABLE,
        _ => UNAUTHENTICATED,
    };
    let mut headers: Vec<HeaderValueOption> = error
        .headers()
        .iter()
        .map(|(name, value)| HeaderValueOption {
            header: Some(header(name.as_str(), value)),
            append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
            ..Default::default()
        })
        .collect();
    let body = error.body().map(|b| b.to_string()).unwrap_or_default();
    if !body.is_empty() {
        headers.push(HeaderValueOption {
            header: Some(header(
                "content-type",
                &HttpHeaderValue::from_static("application/json"),
            )),
            append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
            ..Default::default()
        });
    }
    CheckResponse {
        status: Some(rpc::Status {
            code,
            message: error.to_string(),
            details: Vec::new(),
        }),
        http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
            status: Some(HttpStatus {
                code: i32::from(error.status_code().as_u16()),
            }),
            headers,
            body,
        })),
        dynamic_metadata: None,
    }
}

fn header(name: &str, value: &HttpHeaderValue) -> HeaderValue {
    HeaderValue {
        key: name.to_owned(),
        // Identity values are UTF-8 (claims are JSON strings) with control bytes encoded.
        value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        raw_value: Vec::new(),
    }
}
