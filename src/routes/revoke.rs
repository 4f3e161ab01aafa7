//! `POST /revoke` (RFC 7009) and `POST /revoke/subject` (log out everywhere). Both answer 200
//! only once the store has the revocation; a store failure is 503 whatever `on_error` says.

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
    let not_before = state.introspector.revoke_subject(sub).await?;
    Ok(with_outcome(
        HttpResponse::Ok().json(json!({"sub": sub, "not_before": not_before})),
        Outcome::Revoked,
    ))
}
