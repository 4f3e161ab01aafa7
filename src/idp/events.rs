//! What each shared signal does to the blocklist: CAEP 1.0 and RISC 1.0 event types mapped to
//! revocations, with the subject identifier formats of RFC 9493. Pure: the route applies it.

use serde_json::{Map, Value};

use super::set::{Refusal, SecurityEvent};
use crate::token::claims::numeric_date;

const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";

/// The event types introspectd acts on, by their bounded metric label (the type's last path
/// segment); any other type is "other".
pub const KNOWN: [(&str, &str); 7] = [
    (CAEP, "session-revoked"),
    (CAEP, "credential-change"),
    (RISC, "sessions-revoked"),
    (RISC, "credential-compromise"),
    (RISC, "account-disabled"),
    (RISC, "account-enabled"),
    (RISC, "account-purged"),
];

/// The subject an event names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// A `sub` (`iss_sub`, `opaque`, or a complex subject's user).
    Sub(&'a str),
    /// An email address: tokens carrying that `email` claim.
    Email(&'a str),
}

/// What to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Action<'a> {
    /// Revoke one session of the SET's issuer.
    RevokeSession(&'a str),
    RevokeSubject(Subject<'a>),
    /// Every token of the subject is inactive until `Enable`.
    Disable(Subject<'a>),
    Enable(Subject<'a>),
    /// An event introspectd does not act on: accepted and counted.
    Nothing,
}

/// The metric label of an event type.
pub fn label(event_type: &str) -> &'static str {
    KNOWN
        .iter()
        .find(|(base, name)| {
            event_type
                .strip_prefix(base)
                .is_some_and(|rest| rest == *name)
        })
        .map_or("other", |(_, name)| name)
}

/// The action of `event`, and the not-before it asks for (`event_timestamp`, when present).
pub fn action<'a>(event: &SecurityEvent<'a>) -> Result<(Action<'a>, Option<i64>), Refusal> {
    let at = match event.event.get("event_timestamp") {
        Some(ts) => {
            Some(numeric_date(ts).map_err(|_| refused("event_timestamp must be a number"))?)
        }
        None => None,
    };
    let name = label(event.event_type);
    if name == "other" {
        return Ok((Action::Nothing, at));
    }
    let (user, session) = subject(event.subject)?;
    let action = match (name, session) {
        ("session-revoked", Some(sid)) => Action::RevokeSession(sid),
        ("account-disabled", _) => Action::Disable(user.ok_or(NO_SUBJECT)?),
        ("account-enabled", _) => Action::Enable(user.ok_or(NO_SUBJECT)?),
        _ => Action::RevokeSubject(user.ok_or(NO_SUBJECT)?),
    };
    Ok((action, at))
}

const NO_SUBJECT: Refusal = refused("the event names no subject introspectd can match");

const fn refused(description: &'static str) -> Refusal {
    Refusal {
        err: "invalid_request",
        description,
    }
}

/// A subject identifier (RFC 9493): the user it names, and the session id of a complex one.
fn subject<'a>(
    id: Option<&'a Map<String, Value>>,
) -> Result<(Option<Subject<'a>>, Option<&'a str>), Refusal> {
    let Some(id) = id else {
        return Err(NO_SUBJECT);
    };
    let format = id.get("format").and_then(Value::as_str);
    if format == Some("complex") {
        let user = match id.get("user") {
            Some(Value::Object(user)) => Some(simple(user)?),
            Some(_) => return Err(refused("a complex subject's user must be an object")),
            None => None,
        };
        let session = match id.get("session") {
            Some(Value::Object(session)) => Some(session_id(session)?),
            Some(_) => return Err(refused("a complex subject's session must be an object")),
            None => None,
        };
        if user.is_none() && session.is_none() {
            return Err(NO_SUBJECT);
        }
        return Ok((user, session));
    }
    Ok((Some(simple(id)?), None))
}

fn member<'a>(id: &'a Map<String, Value>, name: &str) -> Result<&'a str, Refusal> {
    id.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(refused(
            "a subject identifier lacks a member its format requires",
        ))
}

fn simple(id: &Map<String, Value>) -> Result<Subject<'_>, Refusal> {
    match id.get("format").and_then(Value::as_str) {
        Some("iss_sub") => {
            member(id, "iss")?;
            Ok(Subject::Sub(member(id, "sub")?))
        }
        Some("opaque") => Ok(Subject::Sub(member(id, "id")?)),
        Some("email") => Ok(Subject::Email(member(id, "email")?)),
        _ => Err(refused(
            "the subject identifier format is not supported (iss_sub, opaque, email, complex)",
        )),
    }
}

/// A complex subject's session: an `opaque` identifier (its `id` is the `sid`).
fn session_id(id: &Map<String, Value>) -> Result<&str, Refusal> {
    match id.get("format").and_then(Value::as_str) {
        Some("opaque") => member(id, "id"),
        _ => Err(refused("a session must be an opaque identifier")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event<'a>(
        event_type: &'a str,
        members: &'a Map<String, Value>,
        subject: Option<&'a Map<String, Value>>,
    ) -> SecurityEvent<'a> {
        SecurityEvent {
            iss: "https://idp",
            jti: "j",
            event_type,
            event: members,
            subject,
            replay_ttl_ms: 1000,
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn each_known_event_maps_to_its_action() {
        let none = obj(json!({}));
        let alice = obj(json!({"format": "iss_sub", "iss": "https://idp", "sub": "alice"}));
        let email = obj(json!({"format": "email", "email": "a@example.com"}));
        let complex = obj(json!({"format": "complex",
            "user": {"format": "opaque", "id": "alice"},
            "session": {"format": "opaque", "id": "s1"}}));
        let stamped = obj(json!({"event_timestamp": 1_700_000_000}));
        let caep = |n: &str| format!("{CAEP}{n}");
        let risc = |n: &str| format!("{RISC}{n}");
        let cases = [
            (
                caep("session-revoked"),
                &complex,
                Action::RevokeSession("s1"),
            ),
            (
                caep("session-revoked"),
                &alice,
                Action::RevokeSubject(Subject::Sub("alice")),
            ),
            (
                caep("credential-change"),
                &email,
                Action::RevokeSubject(Subject::Email("a@example.com")),
            ),
            (
                risc("sessions-revoked"),
                &alice,
                Action::RevokeSubject(Subject::Sub("alice")),
            ),
            (
                risc("credential-compromise"),
                &complex,
                Action::RevokeSubject(Subject::Sub("alice")),
            ),
            (
                risc("account-disabled"),
                &alice,
                Action::Disable(Subject::Sub("alice")),
            ),
            (
                risc("account-enabled"),
                &alice,
                Action::Enable(Subject::Sub("alice")),
            ),
            (
                risc("account-purged"),
                &alice,
                Action::RevokeSubject(Subject::Sub("alice")),
            ),
            (caep("token-claims-change"), &alice, Action::Nothing),
        ];
        for (event_type, subject, expected) in cases {
            let e = event(&event_type, &none, Some(subject));
            assert_eq!(action(&e).unwrap(), (expected, None), "{event_type}");
        }
        let e = event(CAEP, &stamped, Some(&alice));
        assert_eq!(label(e.event_type), "other");
        let t = caep("session-revoked");
        let e = event(&t, &stamped, Some(&alice));
        assert_eq!(action(&e).unwrap().1, Some(1_700_000_000));
        assert_eq!(label(&t), "session-revoked");
    }

    #[test]
    fn unmatched_subjects_are_refused() {
        let none = obj(json!({}));
        let t = format!("{RISC}account-disabled");
        let phone = obj(json!({"format": "phone_number", "phone_number": "+1"}));
        let no_sub = obj(json!({"format": "iss_sub", "iss": "https://idp"}));
        let session_only =
            obj(json!({"format": "complex", "session": {"format": "opaque", "id": "s"}}));
        for subject in [Some(&phone), Some(&no_sub), Some(&session_only), None] {
            assert!(action(&event(&t, &none, subject)).is_err(), "{subject:?}");
        }
        let bad_ts = obj(json!({"event_timestamp": "yesterday"}));
        assert!(action(&event(&t, &bad_ts, Some(&phone))).is_err());
    }
}
