//! OpenID Connect Back-Channel Logout 1.0, §2.6: the rules of a logout token, once its
//! signature and issuer verified. A pure function: the route applies what it returns.

use serde_json::Value;

use super::{accepted_for_ms, audience_matches, required_string, ReceiverOptions};
use crate::token::SignedToken;

/// The event a logout token must carry (§2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// What a valid logout token asks for: end the session `sid` of `iss`, or, with only `sub`,
/// every session of the subject.
#[derive(Debug, PartialEq, Eq)]
pub struct Logout<'a> {
    pub iss: &'a str,
    pub jti: &'a str,
    pub sid: Option<&'a str>,
    pub sub: Option<&'a str>,
    /// How long its replay marker lives (ms): until the token would be refused anyway.
    pub replay_ttl_ms: u64,
}

/// Checks a signature-verified token against §2.6 at `now` (unix seconds). The error is the
/// `error_description` of the 400.
pub fn validate<'a>(
    token: &'a SignedToken,
    options: &ReceiverOptions,
    now: i64,
    leeway: i64,
) -> Result<Logout<'a>, &'static str> {
    let claims = &token.claims;
    if token.header.contains_key("typ") && !token.has_type("logout+jwt") {
        return Err("the typ header must be logout+jwt");
    }
    if !audience_matches(claims, &options.audience) {
        return Err("aud names no client of backchannel_logout.audience");
    }
    let replay_ttl_ms =
        accepted_for_ms(claims, options, now, leeway, "the logout token has expired")?;
    let jti = required_string(claims, "jti", "the jti claim is required")?;
    let is_logout_event = claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT))
        .is_some_and(Value::is_object);
    if !is_logout_event {
        return Err(
            "events must hold http://schemas.openid.net/event/backchannel-logout as an object",
        );
    }
    if claims.contains_key("nonce") {
        return Err("a logout token must not contain nonce");
    }
    let optional = |name: &str, wrong: &'static str| match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.as_str())),
        Some(_) => Err(wrong),
    };
    let sid = optional("sid", "sid must be a non-empty string")?;
    let sub = optional("sub", "sub must be a non-empty string")?;
    if sid.is_none() && sub.is_none() {
        return Err("a sid or sub claim is required");
    }
    Ok(Logout {
        iss: token.issuer(),
        jti,
        sid,
        sub,
        replay_ttl_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn options() -> ReceiverOptions {
        ReceiverOptions {
            audience: vec!["app".into()],
            max_age_secs: 600,
        }
    }

    fn token(header: Value, claims: Value) -> SignedToken {
        SignedToken {
            header: header.as_object().unwrap().clone(),
            claims: claims.as_object().unwrap().clone(),
        }
    }

    fn valid() -> Value {
        json!({"iss": "https://idp", "aud": "app", "iat": NOW - 5, "exp": NOW + 115,
               "jti": "j1", "sid": "s1", "sub": "alice",
               "events": {BACKCHANNEL_LOGOUT_EVENT: {}}})
    }

    fn with(changes: Value) -> Value {
        let mut claims = valid();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    }

    fn check(
        header: Value,
        claims: Value,
    ) -> Result<(Option<String>, Option<String>, u64), &'static str> {
        let t = token(header, claims);
        validate(&t, &options(), NOW, 60).map(|l| {
            (
                l.sid.map(str::to_owned),
                l.sub.map(str::to_owned),
                l.replay_ttl_ms,
            )
        })
    }

    #[test]
    fn a_valid_token_names_its_session_and_subject_and_lives_until_exp() {
        let got = check(json!({"typ": "logout+jwt"}), valid()).unwrap();
        assert_eq!(got, (Some("s1".into()), Some("alice".into()), 175_000));
        for typ in ["application/logout+jwt", "Logout+JWT"] {
            assert!(check(json!({ "typ": typ }), valid()).is_ok(), "{typ}");
        }
        // Without exp: until iat + max_age (+ leeway).
        let got = check(json!({}), with(json!({"exp": null}))).unwrap();
        assert_eq!(got.2, 655_000);
        assert!(check(json!({}), with(json!({"aud": ["x", "app"]}))).is_ok());
        assert_eq!(
            check(json!({}), with(json!({"sid": null}))).unwrap().0,
            None
        );
    }

    #[test]
    fn every_rule_of_section_2_6_refuses_with_its_reason() {
        let cases = [
            (
                json!({"typ": "JWT"}),
                valid(),
                "the typ header must be logout+jwt",
            ),
            (
                json!({}),
                with(json!({"aud": "other"})),
                "aud names no client of backchannel_logout.audience",
            ),
            (
                json!({}),
                with(json!({"aud": null})),
                "aud names no client of backchannel_logout.audience",
            ),
            (
                json!({}),
                with(json!({"iat": null})),
                "the iat claim is required",
            ),
            (
                json!({}),
                with(json!({"iat": "now"})),
                "iat must be a number",
            ),
            (
                json!({}),
                with(json!({"iat": NOW + 61})),
                "iat is in the future",
            ),
            (
                json!({}),
                with(json!({"iat": NOW - 661, "exp": null})),
                "the token is too old (iat)",
            ),
            (
                json!({}),
                with(json!({"exp": NOW - 60})),
                "the logout token has expired",
            ),
            (
                json!({}),
                with(json!({"exp": "soon"})),
                "exp must be a number",
            ),
            (
                json!({}),
                with(json!({"jti": null})),
                "the jti claim is required",
            ),
            (
                json!({}),
                with(json!({"jti": ""})),
                "the jti claim is required",
            ),
            (
                json!({}),
                with(json!({"events": null})),
                "events must hold http://schemas.openid.net/event/backchannel-logout as an object",
            ),
            (
                json!({}),
                with(json!({"events": {BACKCHANNEL_LOGOUT_EVENT: "yes"}})),
                "events must hold http://schemas.openid.net/event/backchannel-logout as an object",
            ),
            (
                json!({}),
                with(json!({"events": {"http://other": {}}})),
                "events must hold http://schemas.openid.net/event/backchannel-logout as an object",
            ),
            (
                json!({}),
                with(json!({"nonce": "n"})),
                "a logout token must not contain nonce",
            ),
            (
                json!({}),
                with(json!({"sid": 7})),
                "sid must be a non-empty string",
            ),
            (
                json!({}),
                with(json!({"sub": ""})),
                "sub must be a non-empty string",
            ),
            (
                json!({}),
                with(json!({"sid": null, "sub": null})),
                "a sid or sub claim is required",
            ),
        ];
        for (header, claims, why) in cases {
            assert_eq!(check(header, claims.clone()), Err(why), "{claims}");
        }
    }
}
