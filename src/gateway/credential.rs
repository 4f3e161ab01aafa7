//! The bearer credential of a gateway request, read the same way from actix-web's headers
//! (`/auth`) and from the header map Envoy sends over gRPC: `Authorization: Bearer <token>`
//! (scheme case-insensitive, RFC 6750 §2.1), or the configured cookie when there is no
//! Authorization header.

/// What the request carried.
#[derive(Debug, PartialEq, Eq)]
pub enum Credential {
    /// No bearer credentials: no Authorization header (and no cookie), or another scheme.
    Missing,
    /// Several Authorization headers, an empty token, or characters outside b64token.
    Malformed,
    Token(String),
}

/// The credential from the values of the request's Authorization headers and Cookie headers
/// (raw bytes, in order). Envoy joins repeated headers with a comma, which is not a b64token
/// character: two Authorization headers are malformed either way.
pub fn bearer_credential<'a>(
    mut authorization: impl Iterator<Item = &'a [u8]>,
    cookies: impl Iterator<Item = &'a [u8]>,
    cookie_name: Option<&str>,
) -> Credential {
    let Some(value) = authorization.next() else {
        return cookie_name.and_then(|name| cookie(cookies, name)).map_or(
            Credential::Missing,
            |t| {
                if is_b64token(&t) {
                    Credential::Token(t)
                } else {
                    Credential::Malformed
                }
            },
        );
    };
    if authorization.next().is_some() {
        return Credential::Malformed;
    }
    let (scheme, rest) = match value.iter().position(|b| *b == b' ') {
        Some(i) => (&value[..i], &value[i..]),
        None => (value, &b""[..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Credential::Missing;
    }
    match std::str::from_utf8(rest.trim_ascii_start()) {
        Ok(token) if is_b64token(token) => Credential::Token(token.to_owned()),
        _ => Credential::Malformed,
    }
}

/// RFC 6750 §2.1 b64token: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

fn cookie<'a>(cookies: impl Iterator<Item = &'a [u8]>, name: &str) -> Option<String> {
    cookies
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(authorization: &[&str], cookies: &[&str]) -> Credential {
        bearer_credential(
            authorization.iter().map(|v| v.as_bytes()),
            cookies.iter().map(|v| v.as_bytes()),
            Some("access_token"),
        )
    }

    #[test]
    fn reads_the_bearer_token_or_the_cookie() {
        assert_eq!(
            read(&["bearer a.b.c"], &[]),
            Credential::Token("a.b.c".into())
        );
        assert_eq!(read(&["Basic eDp5"], &[]), Credential::Missing);
        assert_eq!(read(&[], &[]), Credential::Missing);
        assert_eq!(read(&["Bearer a", "Bearer b"], &[]), Credential::Malformed);
        assert_eq!(read(&["Bearer a,Bearer b"], &[]), Credential::Malformed);
        assert_eq!(read(&["Bearer "], &[]), Credential::Malformed);
        assert_eq!(
            read(&[], &["x=1; access_token=\"t.k\""]),
            Credential::Token("t.k".into())
        );
        assert_eq!(read(&[], &["access_token=a b"]), Credential::Malformed);
    }

    #[test]
    fn b64token_charset() {
        for good in ["abc", "a.b.c", "a-b_c~d+e/f==", "x="] {
            assert!(is_b64token(good), "{good}");
        }
        for bad in ["", "=", "a b", "a,b", "a\"b", "a=b", "tok\u{e9}n"] {
            assert!(!is_b64token(bad), "{bad}");
        }
    }
}
