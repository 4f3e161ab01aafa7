//! `POST /introspect` (RFC 7662): client authentication, then the token's verdict. Inactive for
//! any reason is the same byte-exact `{"active":false}`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{Map, Value};

use super::{with_outcome, AppState};
use crate::error::ApiError;
use crate::form::read_form;
use crate::policy::Verdict;
use crate::token::VerifiedToken;

pub const INACTIVE_BODY: &str = r#"{"active":false}"#;

#[tracing::instrument(name = "introspect", skip_all)]
pub async fn introspect(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let form = read_form(&req, body, state.max_body_bytes).await?;
    state.clients.authenticate(&req, &form)?;
    let token = form.require("token", "the token parameter is required")?;
    // A hint only (RFC 7662 §2.1): any value is accepted, but it may appear once.
    form.get("token_type_hint")?;
    let verdict = state.introspector.check(token).await;
    let outcome = verdict.outcome();
    let response = match verdict {
        Verdict::Active(token) | Verdict::ActiveOnStoreError(token) => active_response(token),
        Verdict::Inactive(_) => inactive_response(),
        Verdict::StoreUnavailable => return Err(ApiError::StoreUnavailable),
    };
    Ok(with_outcome(response, outcome))
}

pub fn inactive_response() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(INACTIVE_BODY)
}

/// The token's claims, with `active` and `token_type` set by introspectd (a claim of the same
/// name cannot override them).
fn active_response(token: VerifiedToken) -> HttpResponse {
    let mut body: Map<String, Value> = token.claims().clone();
    body.insert("active".into(), Value::Bool(true));
    body.insert("token_type".into(), Value::String("Bearer".into()));
    HttpResponse::Ok().json(body)
}
