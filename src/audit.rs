//! The request a gateway is asking about, for the decision's log line: the original method and
//! URI that Traefik and Caddy send as `X-Forwarded-Method` / `X-Forwarded-Uri`, nginx (as
//! shipped) as `X-Original-Method` / `X-Original-URI`, and Envoy inside its CheckRequest.
//! Forwarded headers count only from `server.trusted_proxies`. A URI's query can carry a
//! credential (`?access_token=`), so credential-like parameters are logged without their value.

use std::net::IpAddr;

use actix_web::http::header::HeaderMap;

use crate::trusted::TrustedProxies;

/// Longest URI logged; longer ones are cut (marked with `...`).
const MAX_URI: usize = 512;
/// Query parameters whose value is never logged: any name containing one of these.
const SECRET_PARAMETERS: [&str; 6] = ["token", "secret", "password", "code", "key", "auth"];

/// The original method and URI, as far as they are known and believed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct OriginalRequest {
    pub method: Option<String>,
    pub uri: Option<String>,
}

impl OriginalRequest {
    /// From a trusted proxy's forwarded headers; from anyone else, nothing.
    pub fn forwarded(
        trusted: &TrustedProxies,
        peer: Option<IpAddr>,
        headers: &HeaderMap,
    ) -> OriginalRequest {
        let first = |names: [&str; 2]| {
            names
                .iter()
                .find_map(|name| trusted.forwarded(peer, headers.get(*name).map(|v| v.as_bytes())))
        };
        OriginalRequest {
            method: first(["x-forwarded-method", "x-original-method"]).map(bounded),
            uri: first(["x-forwarded-uri", "x-original-uri"]).map(redacted_uri),
        }
    }
}

fn bounded(text: &str) -> String {
    match text.char_indices().nth(MAX_URI) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The URI with the value of every credential-like query parameter replaced by `[redacted]`,
/// and cut at `MAX_URI` characters.
pub fn redacted_uri(uri: &str) -> String {
    let (path, query) = match uri.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (uri, None),
    };
    let Some(query) = query else {
        return bounded(path);
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret(name) => format!("{name}=[redacted]"),
            _ => pair.to_owned(),
        })
        .collect();
    bounded(&format!("{path}?{}", pairs.join("&")))
}

fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMETERS.iter().any(|s| name.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    #[test]
    fn credential_parameters_are_never_logged() {
        assert_eq!(
            redacted_uri("/api/x?page=2&access_token=abc.def&Client_Secret=s&q"),
            "/api/x?page=2&access_token=[redacted]&Client_Secret=[redacted]&q"
        );
        assert_eq!(redacted_uri("/plain"), "/plain");
        let long = format!("/{}", "a".repeat(600));
        assert_eq!(redacted_uri(&long).len(), MAX_URI + 3);
    }

    #[test]
    fn forwarded_request_lines_count_only_from_trusted_proxies() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("x-forwarded-method", "DELETE"),
            ("x-original-uri", "/a?token=t"),
        ] {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let trusted = TrustedProxies::new(vec!["127.0.0.1/32".parse().unwrap()]);
        let from =
            |ip: &str| OriginalRequest::forwarded(&trusted, Some(ip.parse().unwrap()), &headers);
        assert_eq!(
            from("127.0.0.1"),
            OriginalRequest {
                method: Some("DELETE".into()),
                uri: Some("/a?token=[redacted]".into()),
            }
        );
        assert_eq!(from("192.0.2.1"), OriginalRequest::default());
    }
}
