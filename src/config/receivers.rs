//! `[backchannel_logout]` and `[ssf]`: the receivers of revocations pushed by an identity
//! provider (OpenID Connect Back-Channel Logout, Shared Signals). Both are off by default; when
//! on, the token's `iss` must name a configured issuer, so one must be configured.

use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, JwtSettings, Secret};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackchannelLogoutSettings {
    pub enabled: bool,
    /// Client ids: a logout token's `aud` must contain one of them.
    pub audience: Vec<String>,
    /// A logout token issued longer ago than this is refused; a replay within it is a no-op.
    pub max_age_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsfSettings {
    pub enabled: bool,
    /// What a Security Event Token's `aud` must contain (one of these).
    pub audience: Vec<String>,
    /// A file whose contents the transmitter must present as `Authorization: Bearer ...`;
    /// empty: none required.
    pub bearer_token_file: PathBuf,
    /// A SET issued longer ago than this is refused; a replay within it is a no-op.
    pub max_age_secs: u64,
}

impl BackchannelLogoutSettings {
    pub fn validate(&self, jwt: &JwtSettings) -> Result<(), ConfigError> {
        validate_receiver(
            "backchannel_logout",
            self.enabled,
            &self.audience,
            self.max_age_secs,
            jwt,
        )
    }
}

impl SsfSettings {
    pub fn validate(&self, jwt: &JwtSettings) -> Result<(), ConfigError> {
        validate_receiver("ssf", self.enabled, &self.audience, self.max_age_secs, jwt)?;
        if self.enabled {
            self.bearer_token()?;
        }
        Ok(())
    }

    /// The bearer token the transmitter must present, read from `bearer_token_file` (one
    /// trailing newline dropped); None when no file is named.
    pub fn bearer_token(&self) -> Result<Option<Secret>, ConfigError> {
        const KEY: &str = "ssf.bearer_token_file";
        if self.bearer_token_file.as_os_str().is_empty() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&self.bearer_token_file).map_err(|e| {
            ConfigError::new(
                KEY,
                format!("cannot read {}: {e}", self.bearer_token_file.display()),
            )
        })?;
        let token = text.strip_suffix('\n').unwrap_or(&text);
        let token = token.strip_suffix('\r').unwrap_or(token);
        if token.is_empty() {
            return Err(ConfigError::new(KEY, "the file is empty"));
        }
        Ok(Some(Secret::new(token)))
    }
}

fn validate_receiver(
    section: &str,
    enabled: bool,
    audience: &[String],
    max_age_secs: u64,
    jwt: &JwtSettings,
) -> Result<(), ConfigError> {
    if !enabled {
        return Ok(());
    }
    if audience.is_empty() || audience.iter().any(String::is_empty) {
        return Err(ConfigError::new(
            format!("{section}.audience"),
            "must name at least one audience, none empty, when enabled",
        ));
    }
    if max_age_secs == 0 {
        return Err(ConfigError::new(
            format!("{section}.max_age_secs"),
            "must be greater than 0",
        ));
    }
    if jwt.issuer.is_none() && jwt.issuers.is_empty() {
        return Err(ConfigError::new(
            format!("{section}.enabled"),
            "needs jwt.issuer or [[jwt.issuers]]: the token's iss must name a configured issuer",
        ));
    }
    Ok(())
}
