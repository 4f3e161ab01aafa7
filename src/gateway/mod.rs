//! The gateway decision, whatever the protocol: a bearer credential and the required scopes go
//! in, an allow with identity headers or a deny comes out. `/auth` (routes/auth.rs, for nginx,
//! Envoy HTTP, Traefik and Caddy) and Envoy's gRPC ext_authz (grpc/authz.rs) only read their
//! request into a `credential::Credential` and present the `decision::Decision`.
//!
//! This file holds what an allowed request is told: the standard `X-Auth-*` identity headers,
//! and the extra claim headers of `[auth]`, prepared once at start-up.

pub mod credential;
pub mod decision;

use actix_web::http::header::HeaderName;

use crate::config::{AuthSettings, ConfigError};

/// Headers set on every allowed request, in this order (deploy/envoy/check_envoy.py reads this
/// list, so Envoy's allowed headers cannot drift from it).
pub const STANDARD_HEADERS: [&str; 6] = [
    "x-auth-subject",
    "x-auth-scope",
    "x-auth-client-id",
    "x-auth-issuer",
    "x-auth-jti",
    "x-auth-expires",
];

/// Claims copied to the standard headers, index for index.
pub const STANDARD_CLAIMS: [&str; 6] = ["sub", "scope", "client_id", "iss", "jti", "exp"];

/// `/auth` settings prepared at start-up.
#[derive(Debug, Clone, Default)]
pub struct AuthOptions {
    pub cookie_name: Option<String>,
    /// Claim name and the header it is copied to.
    pub claim_headers: Vec<(String, HeaderName)>,
}

impl AuthOptions {
    /// Parses the claim header names; an invalid name, or one that would replace a standard
    /// header, stops start-up naming its key.
    pub fn from_settings(settings: &AuthSettings) -> Result<AuthOptions, ConfigError> {
        let mut claim_headers = Vec::with_capacity(settings.claim_headers.len());
        for (claim, header) in &settings.claim_headers {
            let key = format!("auth.claim_headers.{claim}");
            let name = HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| ConfigError::new(&key, "is not a valid header name"))?;
            if STANDARD_HEADERS.contains(&name.as_str()) {
                return Err(ConfigError::new(
                    &key,
                    "must not replace a standard X-Auth-* header",
                ));
            }
            claim_headers.push((claim.clone(), name));
        }
        Ok(AuthOptions {
            cookie_name: Some(settings.cookie_name.clone()).filter(|c| !c.is_empty()),
            claim_headers,
        })
    }

    /// Every header an allow may set: the standard ones, then the claim headers. A request
    /// header of one of these names that the answer does not set must not reach the upstream.
    pub fn identity_headers(&self) -> impl Iterator<Item = &str> {
        STANDARD_HEADERS
            .iter()
            .copied()
            .chain(self.claim_headers.iter().map(|(_, name)| name.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> AuthSettings {
        AuthSettings {
            cookie_name: String::new(),
            claim_headers: pairs
                .iter()
                .map(|(c, h)| (c.to_string(), h.to_string()))
                .collect(),
        }
    }

    #[test]
    fn claim_headers_are_parsed_once_and_checked() {
        let options = AuthOptions::from_settings(&settings(&[("tenant", "X-Tenant")])).unwrap();
        assert_eq!(options.claim_headers[0].1.as_str(), "x-tenant");
        assert_eq!(options.cookie_name, None);
        for (header, message) in [
            ("bad header", "is not a valid header name"),
            (
                "X-Auth-Subject",
                "must not replace a standard X-Auth-* header",
            ),
        ] {
            let err = AuthOptions::from_settings(&settings(&[("tenant", header)])).unwrap_err();
            assert_eq!(err.key, "auth.claim_headers.tenant");
            assert_eq!(err.message, message);
        }
    }
}
