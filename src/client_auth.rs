//! Client authentication for /introspect, /revoke and /revoke/subject: HTTP Basic
//! (`client_secret_basic`, id and secret form-urlencoded inside, RFC 6749 §2.3.1) or form
//! `client_id`/`client_secret` (`client_secret_post`), never both. Secrets are compared as
//! SHA-256 digests in constant time, and an unknown id costs the same comparison as a known one.

use actix_web::http::header;
use actix_web::HttpRequest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

use std::net::IpAddr;

use crate::config::ClientSettings;
use crate::error::ApiError;
use crate::form::Form;
use crate::limiter::FailureLimiter;
use crate::trusted::TrustedProxies;

/// Largest Authorization header value considered for Basic credentials.
const MAX_BASIC_LEN: usize = 4096;

pub struct Clients {
    limiter: FailureLimiter,
    /// Whose X-Forwarded-For names the source the limiter counts.
    trusted: TrustedProxies,
    clients: Vec<(String, [u8; 32])>,
    /// Compared against when the id is unknown, so timing does not reveal which ids exist.
    decoy: [u8; 32],
}

impl Clients {
    pub fn new(
        settings: &[ClientSettings],
        limiter: FailureLimiter,
        trusted: TrustedProxies,
    ) -> Clients {
        Clients {
            limiter,
            trusted,
            clients: settings
                .iter()
                .map(|c| {
                    let secret = c
                        .secret
                        .as_ref()
                        .expect("Settings::load resolves every client secret");
                    (c.id.clone(), digest(secret.expose().as_bytes()))
                })
                .collect(),
            decoy: digest(uuid::Uuid::new_v4().as_bytes()),
        }
    }

    /// Authenticates the caller and returns its client id.
    pub fn authenticate(&self, req: &HttpRequest, form: &Form) -> Result<String, ApiError> {
        let source = self.trusted.source_of(req);
        let basic = match basic_credentials(req) {
            Err(ApiError::InvalidClient) => {
                self.limit(None, source)?;
                self.limiter.record_failure(None, source);
                return Err(ApiError::InvalidClient);
            }
            other => other?,
        };
        let form_id = form.get("client_id")?;
        let form_secret = form.get("client_secret")?;
        let (id, secret) = match (basic, form_id, form_secret) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(ApiError::InvalidRequest(
                    "use one client authentication method, not both",
                ));
            }
            (Some((id, secret)), None, None) => (id, secret),
            (None, Some(id), Some(secret)) => (id.to_owned(), secret.to_owned()),
            (_, form_id, _) => {
                self.limit(form_id, source)?;
                self.limiter.record_failure(form_id, source);
                return Err(ApiError::InvalidClient);
            }
        };
        self.limit(Some(&id), source)?;
        if self.verify(&id, &secret) {
            Ok(id)
        } else {
            // Unknown ids count as well, so the limiter does not reveal which ids exist.
            self.limiter.record_failure(Some(&id), source);
            Err(ApiError::InvalidClient)
        }
    }

    /// 429 before any secret is compared, when the id or the source failed too often.
    fn limit(&self, id: Option<&str>, source: Option<IpAddr>) -> Result<(), ApiError> {
        match self.limiter.blocked_for(id, source) {
            Some(retry_after) => Err(ApiError::TooManyFailures(retry_after)),
            None => Ok(()),
        }
    }

    fn verify(&self, id: &str, secret: &str) -> bool {
        let presented = digest(secret.as_bytes());
        let (expected, known) = match self.clients.iter().find(|(cid, _)| cid == id) {
            Some((_, hash)) => (hash, true),
            None => (&self.decoy, false),
        };
        constant_time_eq(&presented, expected) & known
    }
}

/// Credentials from `Authorization: Basic ...` (scheme case-insensitive), or `None` when there is
/// no Authorization header or it carries another scheme. A malformed Basic value is
/// `invalid_client`.
fn basic_credentials(req: &HttpRequest) -> Result<Option<(String, String)>, ApiError> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::InvalidRequest(
            "more than one Authorization header",
        ));
    }
    parse_basic(value.as_bytes())
}

/// Parses one Authorization header value as Basic credentials: `None` for another scheme,
/// `invalid_client` when malformed. Both parts are form-urlencoded before being joined with ':'
/// (RFC 6749 §2.3.1); the value is split on the first ':'.
pub fn parse_basic(value: &[u8]) -> Result<Option<(String, String)>, ApiError> {
    let is_basic = value.len() >= 5 && value[..5].eq_ignore_ascii_case(b"basic");
    if !is_basic || value.get(5).is_some_and(|b| *b != b' ') {
        return Ok(None);
    }
    if value.len() > MAX_BASIC_LEN {
        return Err(ApiError::InvalidClient);
    }
    let encoded = value.get(6..).unwrap_or_default().trim_ascii();
    let decoded = STANDARD
        .decode(encoded)
        .map_err(|_| ApiError::InvalidClient)?;
    let colon = decoded
        .iter()
        .position(|b| *b == b':')
        .ok_or(ApiError::InvalidClient)?;
    let form = |part: &[u8]| -> Result<String, ApiError> {
        let mut raw = b"v=".to_vec();
        raw.extend_from_slice(part);
        Form::parse(&raw)
            .ok()
            .and_then(|f| f.get("v").ok().flatten().map(str::to_owned))
            .ok_or(ApiError::InvalidClient)
    };
    Ok(Some((
        form(&decoded[..colon])?,
        form(&decoded[colon + 1..])?,
    )))
}

pub(crate) fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Compares two digests without an early exit.
pub(crate) fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use actix_web::test::TestRequest;

    fn clients() -> Clients {
        let no_limit = FailureLimiter::new(0, std::time::Duration::from_secs(1));
        Clients::new(
            &[
                ClientSettings {
                    id: "gw".into(),
                    secret: Some(Secret::new("s3cret")),
                    secret_file: None,
                },
                ClientSettings {
                    id: "we ird+id".into(),
                    secret: Some(Secret::new("p%ss:wörd")),
                    secret_file: None,
                },
            ],
            no_limit,
            TrustedProxies::default(),
        )
    }

    fn basic(user_pass: &str) -> String {
        format!("Basic {}", STANDARD.encode(user_pass))
    }

    fn auth(header: Option<&str>, body: &[u8]) -> Result<String, ApiError> {
        let mut req = TestRequest::default();
        if let Some(h) = header {
            req = req.insert_header((header::AUTHORIZATION, h));
        }
        clients().authenticate(&req.to_http_request(), &Form::parse(body).unwrap())
    }

    #[test]
    fn accepts_basic_and_post() {
        assert_eq!(auth(Some(&basic("gw:s3cret")), b"").unwrap(), "gw");
        let lower = format!("basic {}", STANDARD.encode("gw:s3cret"));
        assert_eq!(auth(Some(&lower), b"").unwrap(), "gw");
        assert_eq!(
            auth(None, b"client_id=gw&client_secret=s3cret").unwrap(),
            "gw"
        );
        // Form-urlencoded inside Basic, split on the first ':' only.
        let encoded = basic("we+ird%2Bid:p%25ss%3Aw%C3%B6rd");
        assert_eq!(auth(Some(&encoded), b"").unwrap(), "we ird+id");
    }

    #[test]
    fn refuses_missing_wrong_and_malformed_credentials() {
        for (header, body) in [
            (None, &b""[..]),
            (Some(basic("gw:wrong")), b""),
            (Some(basic("nobody:s3cret")), b""),
            (Some("Basic".to_string()), b""),
            (Some("Basic !!!".to_string()), b""),
            (Some(basic("no-colon")), b""),
            (Some(basic(":s3cret")), b""),
            (Some("Bearer abc".to_string()), b""),
            (None, b"client_id=gw"),
            (None, b"client_secret=s3cret"),
            (None, b"client_id=gw&client_secret="),
            (None, b"client_id=gw&client_secret=wrong"),
        ] {
            assert_eq!(
                auth(header.as_deref(), body),
                Err(ApiError::InvalidClient),
                "{header:?} {body:?}"
            );
        }
    }

    #[test]
    fn two_methods_at_once_is_a_bad_request() {
        let err = auth(
            Some(&basic("gw:s3cret")),
            b"client_id=gw&client_secret=s3cret",
        );
        assert!(matches!(err, Err(ApiError::InvalidRequest(_))));
    }
}
