//! `POST /ssf/events`: the Shared Signals push receiver (RFC 8935). The body is one Security
//! Event Token (`application/secevent+jwt`), verified with the configured issuers' keys, checked
//! (idp/set.rs) and mapped (idp/events.rs): revoke a session or a subject, disable or enable an
//! account, or nothing. 202 once the store has it; 400 with RFC 8935's `{"err","description"}`;
//! 503 when the store failed, so the transmitter retries. A replay within the SET's lifetime is
//! 202 and writes nothing.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{with_outcome, AppState};
use crate::error::ApiError;
use crate::form::read_body;
use crate::idp::events::{action, label, Action, Subject};
use crate::idp::set::{validate, Refusal};
use crate::metrics::Outcome;
use crate::policy::Once;
use crate::token::Inactive;

const SECEVENT: (&str, &str) = (
    "application/secevent+jwt",
    "the body must be application/secevent+jwt",
);

#[tracing::instrument(name = "ssf_events", skip_all)]
pub async fn ssf_events(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let receivers = &state.receivers;
    let Some(options) = &receivers.ssf else {
        return Err(ApiError::NotFound);
    };
    let metrics = &state.metrics;
    let refuse = |refusal: Refusal| ApiError::SetRefused {
        err: refusal.err,
        description: refusal.description,
    };
    let body = read_body(&req, body, state.max_body_bytes, SECEVENT)
        .await
        .map_err(|e| match e {
            ApiError::InvalidRequest(why) => refuse(Refusal {
                err: "invalid_request",
                description: why,
            }),
            other => other,
        })?;
    let token = std::str::from_utf8(&body)
        .map(str::trim)
        .map_err(|_| refuse(invalid("the SET is not UTF-8")))?;
    let attempt = receivers.attempt(&req, token);
    receivers.check_limit(&attempt)?;
    let failed = |refusal: Refusal| {
        receivers.failed(&attempt);
        metrics.security_event("other", "refused");
        tracing::info!(reason = refusal.description, "security event refused");
        refuse(refusal)
    };
    if !options.authenticates(&req) {
        return Err(failed(Refusal {
            err: "authentication_failed",
            description: "the transmitter's bearer token is missing or wrong",
        }));
    }
    let introspector = &state.introspector;
    let signed = introspector.verify_signed(token).await.map_err(|reason| {
        failed(match reason {
            Inactive::Claims => Refusal {
                err: "invalid_issuer",
                description: "the SET's iss is not a configured issuer",
            },
            Inactive::Signature => Refusal {
                err: "invalid_key",
                description: "the SET's signature does not verify with the issuer's keys",
            },
            _ => invalid("the SET is not a well-formed signed JWT"),
        })
    })?;
    let now = crate::clock::unix_now();
    let event =
        validate(&signed, &options.receiver, now, introspector.leeway_secs()).map_err(failed)?;
    let name = label(event.event_type);
    let (action, at) = action(&event).map_err(|refusal| {
        receivers.failed(&attempt);
        metrics.security_event(name, "refused");
        refuse(refusal)
    })?;
    let once = Once {
        iss: event.iss,
        jti: event.jti,
        ttl_ms: event.replay_ttl_ms,
    };
    let applied = match action {
        Action::Nothing => None,
        Action::RevokeSession(sid) => Some(
            introspector
                .revoke_session(event.iss, sid, at, Some(&once))
                .await
                .map(|r| r.written),
        ),
        Action::RevokeSubject(Subject::Sub(sub)) => Some(
            introspector
                .revoke_subject(sub, at, Some(&once))
                .await
                .map(|r| r.written),
        ),
        // An email names every token carrying it; a disabled account known only by email
        // cannot stop new tokens, so its tokens issued so far are revoked.
        Action::RevokeSubject(Subject::Email(email)) | Action::Disable(Subject::Email(email)) => {
            Some(
                introspector
                    .revoke_email(email, at, Some(&once))
                    .await
                    .map(|r| r.written),
            )
        }
        Action::Disable(Subject::Sub(sub)) => Some(
            introspector
                .disable_subject(sub, at, Some(&once))
                .await
                .map(|r| r.written),
        ),
        Action::Enable(Subject::Sub(sub)) => {
            Some(introspector.enable_subject(sub, Some(&once)).await)
        }
        // Nothing was disabled by email (see above).
        Action::Enable(Subject::Email(_)) => None,
    };
    let (result, outcome) = match applied {
        None => ("ignored", Outcome::Ignored),
        Some(Ok(true)) => ("applied", Outcome::Revoked),
        Some(Ok(false)) => ("replayed", Outcome::Replayed),
        Some(Err(error)) => {
            metrics.security_event(name, "unavailable");
            return Err(error.into());
        }
    };
    metrics.security_event(name, result);
    tracing::info!(
        event = name,
        result,
        iss = event.iss,
        jti = event.jti,
        "security event"
    );
    Ok(with_outcome(HttpResponse::Accepted().finish(), outcome))
}

const fn invalid(description: &'static str) -> Refusal {
    Refusal {
        err: "invalid_request",
        description,
    }
}
