//! `[jwt]` and `[[jwt.issuers]]`: which tokens are trusted, with which keys, for how long.

use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, Secret};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    pub algorithms: Vec<String>,
    pub hmac_secret: Option<Secret>,
    pub public_key_file: Option<PathBuf>,
    pub private_key_file: Option<PathBuf>,
    pub issuer: Option<String>,
    pub audience: Vec<String>,
    pub leeway_secs: u64,
    pub max_lifetime_secs: u64,
    pub max_token_bytes: usize,
    /// Several issuers, each with its own keys, audience and algorithms; the token's `iss` picks
    /// one. When set, `[jwt]`'s own key, issuer and audience settings must be left unset.
    #[serde(default)]
    pub issuers: Vec<IssuerSettings>,
}

/// One trusted issuer (`[[jwt.issuers]]`). Exactly one key source: `hmac_secret`,
/// `public_key_file`, `public_keys`, `jwks_url` or `discovery_url`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSettings {
    pub issuer: String,
    #[serde(default)]
    pub audience: Vec<String>,
    pub algorithms: Vec<String>,
    #[serde(default)]
    pub hmac_secret: Option<Secret>,
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
    #[serde(default)]
    pub public_keys: Vec<PublicKeySettings>,
    #[serde(default)]
    pub jwks_url: Option<String>,
    #[serde(default)]
    pub discovery_url: Option<String>,
    /// Permit http:// for jwks_url / discovery_url (local testing only; logged as a warning).
    #[serde(default)]
    pub allow_http: bool,
    /// Refresh interval when the JWKS response has no Cache-Control max-age.
    #[serde(default = "defaults::refresh_secs")]
    pub refresh_secs: u64,
    /// Bounds applied to a Cache-Control max-age.
    #[serde(default = "defaults::min_refresh_secs")]
    pub min_refresh_secs: u64,
    #[serde(default = "defaults::max_refresh_secs")]
    pub max_refresh_secs: u64,
    /// At most one refetch triggered by unknown `kid`s per this many seconds.
    #[serde(default = "defaults::unknown_kid_refetch_secs")]
    pub unknown_kid_refetch_secs: u64,
    /// When fetching fails, the last good keys stay in use this long after they were fetched.
    #[serde(default = "defaults::max_stale_secs")]
    pub max_stale_secs: u64,
    #[serde(default = "defaults::fetch_timeout_ms")]
    pub fetch_timeout_ms: u64,
}

/// A PEM public key with the `kid` tokens name it by.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeySettings {
    pub file: PathBuf,
    pub kid: String,
}

/// Defaults of `[[jwt.issuers]]` keys (arrays of tables cannot carry defaults in
/// default.toml; they are documented there).
mod defaults {
    pub fn refresh_secs() -> u64 {
        300
    }
    pub fn min_refresh_secs() -> u64 {
        60
    }
    pub fn max_refresh_secs() -> u64 {
        3600
    }
    pub fn unknown_kid_refetch_secs() -> u64 {
        30
    }
    pub fn max_stale_secs() -> u64 {
        86_400
    }
    pub fn fetch_timeout_ms() -> u64 {
        2_000
    }
}

impl JwtSettings {
    /// `max_body_bytes` bounds the token size (a token arrives in a form body).
    pub fn validate(&self, max_body_bytes: usize) -> Result<(), ConfigError> {
        if self.max_token_bytes == 0 || self.max_token_bytes > max_body_bytes {
            return Err(ConfigError::new(
                "jwt.max_token_bytes",
                "must be between 1 and server.max_body_bytes",
            ));
        }
        if self.max_lifetime_secs == 0 {
            return Err(ConfigError::new(
                "jwt.max_lifetime_secs",
                "must be greater than 0",
            ));
        }
        if let Some(issuer) = &self.issuer {
            if issuer.is_empty() {
                return Err(ConfigError::new("jwt.issuer", "must not be empty when set"));
            }
        }
        self.validate_issuers()?;
        if self.audience.iter().any(String::is_empty) {
            return Err(ConfigError::new(
                "jwt.audience",
                "must not contain empty values",
            ));
        }
        Ok(())
    }

    /// `[[jwt.issuers]]`: unique names, one key source each, https unless allowed, sane bounds.
    fn validate_issuers(&self) -> Result<(), ConfigError> {
        let jwt = self;
        if jwt.issuers.is_empty() {
            return Ok(());
        }
        for (key, set) in [
            ("jwt.hmac_secret", jwt.hmac_secret.is_some()),
            ("jwt.public_key_file", jwt.public_key_file.is_some()),
            ("jwt.issuer", jwt.issuer.is_some()),
            ("jwt.audience", !jwt.audience.is_empty()),
        ] {
            if set {
                return Err(ConfigError::new(
                    key,
                    "must be unset when [[jwt.issuers]] is used (set it per issuer)",
                ));
            }
        }
        for (i, issuer) in jwt.issuers.iter().enumerate() {
            let key = |name: &str| format!("jwt.issuers[{i}].{name}");
            if issuer.issuer.is_empty() {
                return Err(ConfigError::new(key("issuer"), "must not be empty"));
            }
            if jwt.issuers[..i].iter().any(|o| o.issuer == issuer.issuer) {
                return Err(ConfigError::new(
                    key("issuer"),
                    format!("duplicate issuer {:?}", issuer.issuer),
                ));
            }
            if issuer.audience.iter().any(String::is_empty) {
                return Err(ConfigError::new(
                    key("audience"),
                    "must not contain empty values",
                ));
            }
            let sources = [
                issuer.hmac_secret.is_some(),
                issuer.public_key_file.is_some(),
                !issuer.public_keys.is_empty(),
                issuer.jwks_url.is_some(),
                issuer.discovery_url.is_some(),
            ];
            if sources.iter().filter(|s| **s).count() != 1 {
                return Err(ConfigError::new(
                    key("issuer"),
                    "needs exactly one key source: hmac_secret, public_key_file, public_keys, jwks_url or discovery_url",
                ));
            }
            for (name, url) in [
                ("jwks_url", &issuer.jwks_url),
                ("discovery_url", &issuer.discovery_url),
            ] {
                let Some(url) = url else { continue };
                let lower = url.to_ascii_lowercase();
                if lower.starts_with("http://") {
                    if !issuer.allow_http {
                        return Err(ConfigError::new(
                            key(name),
                            "must be https:// (set allow_http = true for local testing)",
                        ));
                    }
                } else if !lower.starts_with("https://") {
                    return Err(ConfigError::new(key(name), "must be an https:// URL"));
                }
            }
            if issuer.min_refresh_secs == 0 || issuer.min_refresh_secs > issuer.max_refresh_secs {
                return Err(ConfigError::new(
                    key("min_refresh_secs"),
                    "must be at least 1 and at most max_refresh_secs",
                ));
            }
            if issuer.fetch_timeout_ms == 0 || issuer.fetch_timeout_ms > 60_000 {
                return Err(ConfigError::new(
                    key("fetch_timeout_ms"),
                    "must be between 1 and 60000",
                ));
            }
        }
        Ok(())
    }
}
