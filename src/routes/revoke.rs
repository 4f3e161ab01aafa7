//! `POST /revoke` (RFC 7009), `POST /revoke/subject` (log out everywhere) and `POST
//! /revoke/session` (log out one session). Each answers 200 only once the store has the
//! revocation; a store failure is 503 whatever `on_error` says.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::{with_outcome, AppState};
use crate::error::ApiError;
use crate::form::read_form;
use crate::metrics::Outcome;
use crate::policy::Revocation;

#[tracing::instrument(name = "revoke", skip_all)]
pub async fn revoke(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let form = read_form(&req, body, state.max_body_bytes).await?;
    let client = state.clients.authenticate(&req, &form)?;
    let token = form.require("token", "the token parameter is required")?;
    form.get("token_type_hint")?;
    let outcome = match state.introspector.revoke(token).await? {
        Revocation::Stored => Outcome::Revoked,
        // RFC 7009 §2.2: an invalid token is not an error for the caller.
        Revocation::Ignored(reason) => {
            tracing::debug!(client_id = %client, reason = reason.as_str(), "revocation ignored");
            Outcome::Ignored
        }
    };
    Ok(with_outcome(HttpResponse::Ok().json(json!({})), outcome))
}

#[tracing::instrument(name = "revoke_subject", skip_all)]
pub async fn revoke_subject(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let form = read_form(&req, body, state.max_body_bytes).await?;
    state.clients.authenticate(&req, &form)?;
    let sub = form.require("sub", "the sub parameter is required")?;
    let raised = state.introspector.revoke_subject(sub, None, None).await?;
    Ok(with_outcome(
        HttpResponse::Ok().json(json!({"sub": sub, "not_before": raised.not_before})),
        Outcome::Revoked,
    ))
}

/// `POST /revoke/session`: every token of one session (`sid`, of issuer `iss`) issued before now
/// becomes inactive, on every replica.
#[tracing::instrument(name = "revoke_session", skip_all)]
pub async fn revoke_session(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let form = read_form(&req, body, state.max_body_bytes).await?;
    state.clients.authenticate(&req, &form)?;
    let sid = form.require("sid", "the sid parameter is required")?;
    let iss = state
        .introspector
        .session_issuer(form.get("iss")?.filter(|iss| !iss.is_empty()))
        .map_err(ApiError::InvalidRequest)?;
    let raised = state
        .introspector
        .revoke_session(iss, sid, None, None)
        .await?;
    Ok(with_outcome(
        HttpResponse::Ok().json(json!({"sid": sid, "not_before": raised.not_before})),
        Outcome::Revoked,
    ))
}
