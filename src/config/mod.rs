//! Configuration: one typed tree, built from the compiled-in `config/default.toml`, then the
//! `--config` file, then `INTROSPECTD__SECTION__KEY` environment variables, and validated before
//! any port is bound. Every error names the key it is about.
//!
//! One file per section, each with its own `validate()`: `server` (with `[log]`), `jwt`,
//! `store`, `auth`, `cache`, `clients` (with `[client_auth]`), `receivers` (`[backchannel_logout]`,
//! `[ssf]`); `secret` wraps secret values; `error` is the one-line error and the translation of the
//! `config` crate's messages.

mod auth;
mod cache;
mod clients;
mod error;
mod jwt;
mod receivers;
mod secret;
mod server;
mod store;
mod tls;

use std::path::Path;

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;

pub use auth::AuthSettings;
pub use cache::CacheSettings;
pub use clients::{ClientAuthSettings, ClientSettings};
pub use error::ConfigError;
pub use jwt::{IssuerSettings, JwtSettings, PublicKeySettings};
pub use receivers::{BackchannelLogoutSettings, SsfSettings};
pub use secret::Secret;
pub use server::{LogFormat, LogSettings, ServerSettings};
pub use store::{redacted, Backend, OnError, RedisMode, StoreSettings};

/// The built-in defaults, every key commented.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub jwt: JwtSettings,
    pub store: StoreSettings,
    pub auth: AuthSettings,
    pub cache: CacheSettings,
    pub client_auth: ClientAuthSettings,
    pub backchannel_logout: BackchannelLogoutSettings,
    pub ssf: SsfSettings,
    pub log: LogSettings,
    #[serde(default)]
    pub clients: Vec<ClientSettings>,
}

/// Where the settings come from besides the built-in defaults.
#[derive(Debug, Default, Clone)]
pub struct Sources<'a> {
    pub file: Option<&'a Path>,
    /// Environment variables as (name, value); only `INTROSPECTD__*` ones are read.
    pub env: Vec<(String, String)>,
}

impl Settings {
    /// Layers defaults, file and environment, then validates. Nothing is bound or opened.
    pub fn load(sources: &Sources<'_>) -> Result<Settings, ConfigError> {
        let mut builder =
            Config::builder().add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml));
        if let Some(path) = sources.file {
            // Read it here first, so the error carries the OS's reason (no such file,
            // permission denied, a directory).
            std::fs::read_to_string(path).map_err(|e| {
                ConfigError::new("--config", format!("cannot read {}: {e}", path.display()))
            })?;
            builder = builder.add_source(File::from(path).format(FileFormat::Toml));
        }
        let env: config::Map<String, String> = sources
            .env
            .iter()
            .filter(|(k, _)| k.starts_with("INTROSPECTD__"))
            .cloned()
            .collect();
        builder = builder.add_source(
            Environment::with_prefix("INTROSPECTD")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("jwt.algorithms")
                .with_list_parse_key("jwt.audience")
                .with_list_parse_key("store.redis_urls")
                .with_list_parse_key("backchannel_logout.audience")
                .with_list_parse_key("ssf.audience")
                .source(Some(env)),
        );
        let mut settings: Settings = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(error::from_config_crate)?;
        clients::read_secret_files(&mut settings.clients)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what the types cannot: ranges, combinations, uniqueness, section by section. Key
    /// files are read and parsed later, by the verifier, which names their keys on failure too.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate()?;
        self.jwt.validate(self.server.max_body_bytes)?;
        self.store.validate()?;
        self.auth.validate()?;
        self.backchannel_logout.validate(&self.jwt)?;
        self.ssf.validate(&self.jwt)?;
        self.log.validate()?;
        clients::validate(&self.clients, &self.client_auth)
    }

    pub fn listen_addr(&self) -> Result<std::net::SocketAddr, ConfigError> {
        self.server.listen_addr()
    }
}

#[cfg(test)]
mod tests;
