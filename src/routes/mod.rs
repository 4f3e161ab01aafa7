//! The HTTP surface: the single route table, the shared state handlers see, and the middleware
//! that counts, times and logs every request (by route and bounded outcome, never by content).

mod auth;
mod health;
mod introspect;
mod revoke;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

use crate::client_auth::Clients;
use crate::error::ApiError;
use crate::metrics::{Metrics, Outcome};
use crate::policy::Introspector;

/// What every handler shares; built once at start-up.
pub struct AppState {
    pub introspector: Introspector,
    pub clients: Clients,
    pub auth: crate::gateway::AuthOptions,
    pub metrics: Arc<Metrics>,
    pub max_body_bytes: usize,
    pub ready_timeout: Duration,
    /// Set on SIGTERM: /readyz answers 503 while requests are still served.
    pub shutting_down: Arc<std::sync::atomic::AtomicBool>,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(post_only("/introspect", introspect::introspect))
        .service(post_only("/revoke", revoke::revoke))
        .service(post_only("/revoke/subject", revoke::revoke_subject))
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
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        "/auth" => "auth",
        p if p.starts_with("/auth/") => "auth",
        _ => "other",
    }
}

/// Counts, times and logs each request. Only the route label, method, status and outcome are
/// recorded: never the query string, a header or the body. A request whose handler is dropped
/// before it answers (the client went away) is still counted, as `cancelled`, so the histogram
/// counts every request the service received.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut record = Record {
        endpoint: endpoint_of(req.path()),
        metrics: req
            .app_data::<web::Data<AppState>>()
            .map(|state| Arc::clone(&state.metrics)),
        start: Instant::now(),
        done: false,
    };
    let method = req.method().clone();
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
        endpoint = record.endpoint,
        status = res.status().as_u16(),
        outcome = outcome.label(),
        micros = took.as_micros() as u64,
        "request"
    );
    Ok(res)
}

/// One request's observation, recorded exactly once: by `finish`, or as `cancelled` on drop.
struct Record {
    endpoint: &'static str,
    metrics: Option<Arc<Metrics>>,
    start: Instant,
    done: bool,
}

impl Record {
    fn finish(&mut self, outcome: Outcome) -> Duration {
        let took = self.start.elapsed();
        if let Some(metrics) = &self.metrics {
            metrics.observe_request(self.endpoint, outcome, took);
        }
        self.done = true;
        took
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        if !self.done {
            self.finish(Outcome::Cancelled);
        }
    }
}

fn status_outcome(status: StatusCode) -> Outcome {
    match status.as_u16() {
        200..=299 => Outcome::Ok,
        400..=499 => Outcome::ClientError,
        _ => Outcome::ServerError,
    }
}
