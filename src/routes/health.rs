//! Probes and metrics: `/healthz` (the process serves), `/readyz` (the store answers in time),
//! `/metrics` (Prometheus text format).

use actix_web::http::header::ContentType;
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::{with_outcome, AppState};
use crate::error::ApiError;
use crate::metrics::Outcome;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.readiness().await.map_err(ApiError::NotReady)?;
    Ok(HttpResponse::Ok().json(json!({"status": "ready"})))
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
