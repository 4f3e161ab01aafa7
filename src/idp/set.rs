//! Security Event Tokens (RFC 8417) as the Shared Signals Framework pushes them (RFC 8935): the
//! rules of one SET once its signature and issuer verified. A pure function: the route maps
//! the event (events.rs) and applies it.

use serde_json::{Map, Value};

use super::{accepted_for_ms, audience_matches, required_string, ReceiverOptions};
use crate::token::SignedToken;

/// Why a SET is refused: an RFC 8935 §2.3 error code and its description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub err: &'static str,
    pub description: &'static str,
}

const fn invalid_request(description: &'static str) -> Refusal {
    Refusal {
        err: "invalid_request",
        description,
    }
}

/// One verified security event.
#[derive(Debug)]
pub struct SecurityEvent<'a> {
    pub iss: &'a str,
    pub jti: &'a str,
    /// The event type (a URI) and its members.
    pub event_type: &'a str,
    pub event: &'a Map<String, Value>,
    /// The subject identifier (RFC 9493): the SET's `sub_id`, or the event's own `subject`.
    pub subject: Option<&'a Map<String, Value>>,
    /// How long its replay marker lives (ms): until the SET would be refused anyway.
    pub replay_ttl_ms: u64,
}

/// Checks a signature-verified SET at `now` (unix seconds).
pub fn validate<'a>(
    token: &'a SignedToken,
    options: &ReceiverOptions,
    now: i64,
    leeway: i64,
) -> Result<SecurityEvent<'a>, Refusal> {
    let claims = &token.claims;
    if !token.has_type("secevent+jwt") {
        return Err(invalid_request("the typ header must be secevent+jwt"));
    }
    if !audience_matches(claims, &options.audience) {
        return Err(Refusal {
            err: "invalid_audience",
            description: "aud names no audience of ssf.audience",
        });
    }
    let replay_ttl_ms = accepted_for_ms(claims, options, now, leeway, "the SET has expired")
        .map_err(invalid_request)?;
    let jti =
        required_string(claims, "jti", "the jti claim is required").map_err(invalid_request)?;
    let events = claims
        .get("events")
        .and_then(Value::as_object)
        .ok_or(invalid_request("the events claim must be an object"))?;
    let mut members = events.iter();
    let (event_type, event) = match (members.next(), members.next()) {
        (Some((event_type, Value::Object(event))), None) => (event_type.as_str(), event),
        (Some(_), None) => return Err(invalid_request("the event must be a JSON object")),
        _ => return Err(invalid_request("a SET must carry exactly one event")),
    };
    let subject = match (claims.get("sub_id"), event.get("subject")) {
        (Some(Value::Object(s)), _) => Some(s),
        (Some(_), _) => return Err(invalid_request("sub_id must be a JSON object")),
        (None, Some(Value::Object(s))) => Some(s),
        (None, Some(_)) => {
            return Err(invalid_request("the event's subject must be a JSON object"))
        }
        (None, None) => None,
    };
    Ok(SecurityEvent {
        iss: token.issuer(),
        jti,
        event_type,
        event,
        subject,
        replay_ttl_ms,
    })
}
