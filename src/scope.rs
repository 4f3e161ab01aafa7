//! Required scopes for `/auth`, from `X-Required-Scope` request headers: space-separated scope
//! tokens (RFC 6749 §3.3), every one needed, several headers meaning their union. Matching is
//! exact and case-sensitive. A requirement that is not valid scope syntax can never be met.

/// RFC 6749 §3.3 scope-token: `1*( %x21 / %x23-5B / %x5D-7E )`.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct RequiredScopes {
    scopes: Vec<String>,
    /// Some header held bytes that are not a scope token (quotes, control characters, non-UTF-8).
    malformed: bool,
}

impl RequiredScopes {
    pub fn parse<'a>(headers: impl IntoIterator<Item = &'a [u8]>) -> RequiredScopes {
        let mut required = RequiredScopes::default();
        for value in headers {
            let Ok(text) = std::str::from_utf8(value) else {
                required.malformed = true;
                continue;
            };
            for scope in text.split([' ', '\t']).filter(|s| !s.is_empty()) {
                if !is_scope_token(scope) {
                    required.malformed = true;
                } else if !required.scopes.iter().any(|s| s == scope) {
                    required.scopes.push(scope.to_owned());
                }
            }
        }
        required
    }

    /// Whether a token whose `scope` claim is `granted` (absent or not a string: no scopes)
    /// carries every required scope.
    pub fn is_satisfied_by(&self, granted: Option<&str>) -> bool {
        if self.malformed {
            return false;
        }
        let granted = granted.unwrap_or("");
        self.scopes
            .iter()
            .all(|need| granted.split(' ').any(|have| have == need))
    }

    /// The required scopes that are valid scope tokens, for the challenge's `scope` attribute.
    pub fn valid(&self) -> impl Iterator<Item = &str> {
        self.scopes.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(headers: &[&str]) -> RequiredScopes {
        RequiredScopes::parse(headers.iter().map(|h| h.as_bytes()))
    }

    #[test]
    fn all_required_scopes_must_be_granted() {
        assert!(parse(&["a b"]).is_satisfied_by(Some("a b c")));
        assert!(!parse(&["a b"]).is_satisfied_by(Some("a")));
        assert!(!parse(&["Read"]).is_satisfied_by(Some("read")));
        assert!(parse(&[""]).is_satisfied_by(None));
        assert!(parse(&[]).is_satisfied_by(None));
        assert!(!parse(&["a"]).is_satisfied_by(None));
    }

    #[test]
    fn several_headers_are_a_union() {
        let r = parse(&["a", "b a"]);
        assert_eq!(r.valid().collect::<Vec<_>>(), vec!["a", "b"]);
        assert!(!r.is_satisfied_by(Some("a")));
        assert!(r.is_satisfied_by(Some("b a")));
    }

    #[test]
    fn invalid_requirements_are_never_met_and_never_echoed() {
        let r = parse(&["a\" error=\"x"]);
        assert!(!r.is_satisfied_by(Some("a\" error=\"x")));
        assert_eq!(r.valid().count(), 0, "neither part is a scope token");
        let r = parse(&["ok bad\""]);
        assert_eq!(r.valid().collect::<Vec<_>>(), vec!["ok"]);
        assert!(!r.is_satisfied_by(Some("ok bad\"")));
        let r = RequiredScopes::parse([&b"\xff"[..]]);
        assert!(!r.is_satisfied_by(Some("anything")));
    }
}
