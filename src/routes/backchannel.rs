//! `POST /backchannel-logout`: OpenID Connect Back-Channel Logout 1.0. The identity provider
//! posts a `logout_token` when a user logs out there; with `sid` that session's tokens become
//! inactive, with only `sub` every token of the subject. No client authentication: the token's
//! signature authenticates the sender. 200 only once the store has it (a store failure is 503,
//! so the provider retries); a replay within the token's lifetime is 200 and writes nothing.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{with_outcome, AppState};
use crate::error::ApiError;
use crate::form::read_form;
use crate::idp::logout::{validate, Logout};
use crate::metrics::Outcome;
use crate::policy::Once;
use crate::token::Inactive;

#[tracing::instrument(name = "backchannel_logout", skip_all)]
pub async fn backchannel_logout(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let receivers = &state.receivers;
    let Some(options) = &receivers.logout else {
        return Err(ApiError::NotFound);
    };
    let form = read_form(&req, body, state.max_body_bytes).await?;
    let token = form.require("logout_token", "the logout_token parameter is required")?;
    let attempt = receivers.attempt(&req, token);
    receivers.check_limit(&attempt)?;
    let introspector = &state.introspector;
    let now = crate::clock::unix_now();
    // Every refusal counts toward the limiter and is logged with its reason (never the token).
    let refused = |why: &'static str| {
        receivers.failed(&attempt);
        tracing::info!(reason = why, "logout token refused");
        ApiError::InvalidRequest(why)
    };
    let signed = introspector.verify_signed(token).await.map_err(|reason| {
        refused(match reason {
            Inactive::Claims => "the logout token's iss is not a configured issuer",
            Inactive::Signature => "the logout token's signature does not verify",
            _ => "the logout token is malformed",
        })
    })?;
    let logout = validate(&signed, options, now, introspector.leeway_secs()).map_err(refused)?;
    let Logout {
        iss,
        jti,
        sid,
        sub,
        replay_ttl_ms,
    } = logout;
    let once = Once {
        iss,
        jti,
        ttl_ms: replay_ttl_ms,
    };
    let raised = match (sid, sub) {
        (Some(sid), _) => {
            introspector
                .revoke_session(iss, sid, None, Some(&once))
                .await?
        }
        (None, Some(sub)) => introspector.revoke_subject(sub, None, Some(&once)).await?,
        (None, None) => unreachable!("validate requires sid or sub"),
    };
    let outcome = if raised.written {
        Outcome::Revoked
    } else {
        tracing::info!(iss, jti, "logout token replayed; nothing written");
        Outcome::Replayed
    };
    Ok(with_outcome(HttpResponse::Ok().finish(), outcome))
}
