//! `[auth]`: options of the gateway endpoint `/auth`. Claim header names are checked when the
//! gateway options are built (gateway.rs), which knows the standard headers.

use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub cookie_name: String,
    #[serde(default)]
    pub claim_headers: std::collections::BTreeMap<String, String>,
}

impl AuthSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.cookie_name.is_empty()
            && !self
                .cookie_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return Err(ConfigError::new(
                "auth.cookie_name",
                "must be a valid cookie name (token characters)",
            ));
        }
        Ok(())
    }
}
