//! The HTTP surface: the single route table, the shared state handlers see, and the middleware
//! that counts, times and logs every request (by route and bounded outcome, never by content).

mod auth;
mod backchannel;
mod health;
mod introspect;
mod revoke;
mod ssf;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

use crate::audit::OriginalRequest;
use crate::error::ApiError;
use crate::metrics::{Outcome, RequestRecord};
pub use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(post_only("/introspect", introspect::introspect))
        .service(post_only("/revoke", revoke::revoke))
        .service(post_only("/revoke/subject", revoke::revoke_subject))
        .service(post_only("/revoke/session", revoke::revoke_session))
        .service(post_only(
            "/backchannel-logout",
            backchannel::backchannel_logout,
        ))
        .service(post_only("/ssf/events", ssf::ssf_events))
        // A scope matches "/auth" and everything below it by prefix; a `{tail:.*}` pattern
        // would run a regex on every gateway request.
        .service(web::scope("/auth").default_service(web::to(auth::auth)))
        .service(get_only("/healthz", health::healthz))
        .service(get_only("/readyz", health::readyz))
        .service(get_only("/metrics", health::metrics))
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::NotFound)
        }));
}

fn post_only<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::post().to(handler))
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::MethodNotAllowed("POST"))
        }))
}

fn get_only<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler.clone()))
        .route(web::head().to(handler))
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::MethodNotAllowed("GET, HEAD"))
        }))
}

/// Tags a response with its metric outcome.
pub(crate) fn with_outcome(mut response: HttpResponse, outcome: Outcome) -> HttpResponse {
    response.extensions_mut().insert(outcome);
    response
}

/// The metric label for a path: a fixed set, so unknown paths cannot grow the series count.
fn endpoint_of(path: &str) -> &'static str {
    match path {
        "/introspect" => "introspect",
        "/revoke" => "revoke",
        "/revoke/subject" => "revoke_subject",
        "/revoke/session" => "revoke_session",
        "/backchannel-logout" => "backchannel_logout",
        "/ssf/events" => "ssf_events",
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        "/auth" => "auth",
        p if p.starts_with("/auth/") => "auth",
        _ => "other",
    }
}

/// Counts, times and logs each request. Only the route label, method, status and outcome are
/// recorded, and for `/auth` the original method and URI a trusted proxy forwarded (credential
/// parameters redacted, audit.rs): never this request's query string, a header or the body. A request whose handler is dropped
/// before it answers (the client went away) is still counted, as `cancelled`, so the histogram
/// counts every request the service received.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut record = RequestRecord::start(
        endpoint_of(req.path()),
        req.app_data::<web::Data<AppState>>()
            .map(|state| Arc::clone(&state.metrics)),
    );
    let method = req.method().clone();
    let original = match req.app_data::<web::Data<AppState>>() {
        Some(state) if record.endpoint() == "auth" => OriginalRequest::forwarded(
            &state.trusted_proxies,
            req.peer_addr().map(|a| a.ip()),
            req.headers(),
        ),
        _ => OriginalRequest::default(),
    };
    let res = next.call(req).await?;
    let response = res.response();
    let outcome = response
        .extensions()
        .get::<Outcome>()
        .copied()
        .or_else(|| {
            response
                .error()
                .and_then(|e| e.as_error::<ApiError>())
                .map(ApiError::outcome)
        })
        .unwrap_or_else(|| status_outcome(res.status()));
    let took = record.finish(outcome);
    tracing::debug!(
        method = %method,
        endpoint = record.endpoint(),
        status = res.status().as_u16(),
        outcome = outcome.label(),
        original_method = original.method,
        original_uri = original.uri,
        micros = took.as_micros() as u64,
        "request"
    );
    Ok(res)
}

fn status_outcome(status: StatusCode) -> Outcome {
    match status.as_u16() {
        200..=299 => Outcome::Ok,
        400..=499 => Outcome::ClientError,
        _ => Outcome::ServerError,
    }
}
