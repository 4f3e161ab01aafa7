//! The claim rules, as one pure function over a signature-verified payload. jsonwebtoken's own
//! claim checks are switched off because their defaults (60 s leeway, no nbf, `iss`/`aud` of the
//! wrong type read as absent, integer-only `exp`) do not fit; every rule lives here instead.

use serde_json::{Map, Value};

use super::Inactive;

/// What the configuration asks of every token's claims.
#[derive(Debug, Clone)]
pub struct ClaimsPolicy {
    pub issuer: Option<String>,
    pub audience: Vec<String>,
    pub leeway_secs: i64,
    pub max_lifetime_secs: i64,
}

/// The registered claims introspectd relies on, type-checked.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedClaims {
    /// Whole seconds; a fractional `exp` is rounded down.
    pub exp: i64,
    pub iat: Option<i64>,
    /// Kept so that a cached token's `nbf` is checked again at every use.
    pub nbf: Option<i64>,
}

impl ClaimsPolicy {
    /// Checks the claims at time `now` (unix seconds). A claim of the wrong type is never read as
    /// absent: it makes the token inactive.
    pub fn check(&self, claims: &Map<String, Value>, now: i64) -> Result<CheckedClaims, Inactive> {
        let leeway = self.leeway_secs;
        let exp = match claims.get("exp") {
            Some(value) => numeric_date(value)?,
            None => return Err(Inactive::Claims),
        };
        if now >= exp.saturating_add(leeway) {
            return Err(Inactive::Expired);
        }
        if exp > now.saturating_add(self.max_lifetime_secs) {
            return Err(Inactive::Claims);
        }
        let nbf = claims.get("nbf").map(numeric_date).transpose()?;
        if nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return Err(Inactive::NotYetValid);
        }
        let iat = match claims.get("iat") {
            Some(value) => {
                let iat = numeric_date(value)?;
                if iat > now.saturating_add(leeway) {
                    return Err(Inactive::NotYetValid);
                }
                Some(iat)
            }
            None => None,
        };
        for name in ["sub", "jti", "client_id", "username", "sid"] {
            if claims.get(name).is_some_and(|v| !v.is_string()) {
                return Err(Inactive::Claims);
            }
        }
        match (claims.get("iss"), &self.issuer) {
            (Some(Value::String(iss)), Some(expected)) if iss == expected => {}
            (Some(Value::String(_)), None) | (None, None) => {}
            _ => return Err(Inactive::Claims),
        }
        let aud = match claims.get("aud") {
            None => None,
            Some(Value::String(one)) => Some(std::slice::from_ref(one).to_vec()),
            Some(Value::Array(many)) => Some(
                many.iter()
                    .map(|v| v.as_str().map(str::to_owned).ok_or(Inactive::Claims))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(_) => return Err(Inactive::Claims),
        };
        if !self.audience.is_empty() {
            let matches = aud.is_some_and(|aud| aud.iter().any(|a| self.audience.contains(a)));
            if !matches {
                return Err(Inactive::Claims);
            }
        }
        Ok(CheckedClaims { exp, iat, nbf })
    }

    /// The rules that depend on the time, for a token whose claims passed `check` earlier (a
    /// cached token): expired, or not yet valid, at `now`. The other rules cannot change with
    /// time (`iat` and the lifetime bound only get easier to meet as time passes).
    pub fn check_time(&self, checked: &CheckedClaims, now: i64) -> Result<(), Inactive> {
        let leeway = self.leeway_secs;
        if now >= checked.exp.saturating_add(leeway) {
            return Err(Inactive::Expired);
        }
        if checked
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(leeway))
        {
            return Err(Inactive::NotYetValid);
        }
        Ok(())
    }
}

/// RFC 7519 NumericDate: a JSON number of seconds, possibly fractional. Strings, booleans,
/// `null` and non-finite values are refused.
/// A JSON NumericDate (RFC 7519 §2): an integer, or a finite number rounded down.
pub fn numeric_date(value: &Value) -> Result<i64, Inactive> {
    let Value::Number(n) = value else {
        return Err(Inactive::Claims);
    };
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        // Saturating cast: a huge value lands far in the future or past and fails the window.
        Some(f) if f.is_finite() => Ok(f.floor() as i64),
        _ => Err(Inactive::Claims),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn policy() -> ClaimsPolicy {
        ClaimsPolicy {
            issuer: None,
            audience: vec![],
            leeway_secs: 0,
            max_lifetime_secs: 86_400,
        }
    }

    fn check(p: &ClaimsPolicy, claims: Value) -> Result<CheckedClaims, Inactive> {
        p.check(claims.as_object().unwrap(), NOW)
    }

    #[test]
    fn time_claims_follow_the_window() {
        let p = policy();
        let cases: Vec<(Value, Result<i64, Inactive>)> = vec![
            (json!({"exp": NOW + 3600}), Ok(NOW + 3600)),
            (json!({"exp": NOW as f64 + 60.5}), Ok(NOW + 60)),
            (json!({"exp": NOW - 1}), Err(Inactive::Expired)),
            (json!({"exp": NOW}), Err(Inactive::Expired)),
            (json!({}), Err(Inactive::Claims)),
            (json!({"exp": "9999999999"}), Err(Inactive::Claims)),
            (json!({"exp": null}), Err(Inactive::Claims)),
            (json!({"exp": true}), Err(Inactive::Claims)),
            (json!({"exp": []}), Err(Inactive::Claims)),
            (json!({"exp": {}}), Err(Inactive::Claims)),
            (json!({"exp": -1}), Err(Inactive::Expired)),
            (
                json!({"exp": 18446744073709551615u64}),
                Err(Inactive::Claims),
            ),
            (json!({"exp": NOW + 86_401}), Err(Inactive::Claims)),
            (
                json!({"exp": NOW + 60, "nbf": NOW + 60}),
                Err(Inactive::NotYetValid),
            ),
            (json!({"exp": NOW + 60, "nbf": "0"}), Err(Inactive::Claims)),
            (
                json!({"exp": NOW + 60, "iat": "now"}),
                Err(Inactive::Claims),
            ),
            (
                json!({"exp": NOW + 60, "iat": NOW + 3600}),
                Err(Inactive::NotYetValid),
            ),
            (json!({"exp": NOW + 60, "iat": NOW - 5}), Ok(NOW + 60)),
        ];
        for (claims, expected) in cases {
            assert_eq!(
                check(&p, claims.clone()).map(|c| c.exp),
                expected,
                "{claims}"
            );
        }
    }

    #[test]
    fn leeway_applies_to_exp_nbf_and_iat() {
        let p = ClaimsPolicy {
            leeway_secs: 30,
            ..policy()
        };
        assert!(check(&p, json!({"exp": NOW - 10})).is_ok());
        assert_eq!(check(&p, json!({"exp": NOW - 40})), Err(Inactive::Expired));
        assert!(check(
            &p,
            json!({"exp": NOW + 60, "nbf": NOW + 20, "iat": NOW + 20})
        )
        .is_ok());
    }

    #[test]
    fn string_claims_must_be_strings() {
        let p = policy();
        for name in ["sub", "jti", "iss", "client_id", "username"] {
            let mut claims = json!({"exp": NOW + 60});
            claims[name] = json!(123);
            assert_eq!(check(&p, claims), Err(Inactive::Claims), "{name}");
        }
        assert_eq!(
            check(&p, json!({"exp": NOW + 60, "aud": 123})),
            Err(Inactive::Claims)
        );
        assert_eq!(
            check(&p, json!({"exp": NOW + 60, "aud": ["a", 1]})),
            Err(Inactive::Claims)
        );
    }

    #[test]
    fn issuer_must_match_exactly_when_configured() {
        let p = ClaimsPolicy {
            issuer: Some("https://issuer.test".into()),
            ..policy()
        };
        assert!(check(&p, json!({"exp": NOW + 60, "iss": "https://issuer.test"})).is_ok());
        for iss in [
            json!(null),
            json!("https://ISSUER.test"),
            json!("https://issuer.test/"),
            json!(["evil", "https://issuer.test"]),
        ] {
            let mut claims = json!({"exp": NOW + 60});
            if !iss.is_null() {
                claims["iss"] = iss.clone();
            }
            assert_eq!(check(&p, claims), Err(Inactive::Claims), "{iss}");
        }
    }

    #[test]
    fn audience_must_intersect_when_configured_and_is_free_otherwise() {
        let p = ClaimsPolicy {
            audience: vec!["api".into()],
            ..policy()
        };
        assert!(check(&p, json!({"exp": NOW + 60, "aud": ["web", "api"]})).is_ok());
        assert!(check(&p, json!({"exp": NOW + 60, "aud": "api"})).is_ok());
        for aud in [json!("web"), json!([])] {
            assert_eq!(
                check(&p, json!({"exp": NOW + 60, "aud": aud})),
                Err(Inactive::Claims)
            );
        }
        assert_eq!(check(&p, json!({"exp": NOW + 60})), Err(Inactive::Claims));
        assert!(check(&policy(), json!({"exp": NOW + 60, "aud": "x"})).is_ok());
    }
}
