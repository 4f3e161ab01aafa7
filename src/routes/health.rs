//! Probes and metrics: `/healthz` (the process serves), `/readyz` (the store answers in time),
//! `/metrics` (Prometheus text format).

use actix_web::http::header::ContentType;
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::{with_outcome, AppState};
use crate::error::ApiError;
use crate::metrics::Outcome;
use crate::readiness::NotReady;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let result = if state
        .shutting_down
        .load(std::sync::atomic::Ordering::SeqCst)
    {
        Err(NotReady::ShuttingDown)
    } else {
        state.introspector.ready(state.ready_timeout).await
    };
    state.metrics.set_ready(result.is_ok());
    match result {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({"status": "ready"}))),
        Err(reason) => {
            let store = state.introspector.store_address();
            if reason.needs_operator() {
                tracing::error!(reason = %reason, store, "not ready");
            } else {
                tracing::warn!(reason = %reason, store, "not ready");
            }
            Err(ApiError::NotReady(reason))
        }
    }
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    with_outcome(
        HttpResponse::Ok()
            .content_type(ContentType(
                "text/plain; version=0.0.4; charset=utf-8"
                    .parse()
                    .expect("static mime type parses"),
            ))
            .body(state.metrics.render()),
        Outcome::Ok,
    )
}
