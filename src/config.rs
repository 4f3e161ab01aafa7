//! Configuration: one typed tree, built from the compiled-in `config/default.toml`, then the
//! `--config` file, then `INTROSPECTD__SECTION__KEY` environment variables, and validated before
//! any port is bound. Every error names the key it is about.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;

/// The built-in defaults, every key commented.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// A configuration problem, shown to the operator as `config error: KEY: MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config error: {}: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A secret value: deserialised like a string, never printed by `Debug`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub jwt: JwtSettings,
    pub store: StoreSettings,
    pub auth: AuthSettings,
    pub client_auth: ClientAuthSettings,
    pub log: LogSettings,
    #[serde(default)]
    pub clients: Vec<ClientSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: String,
    pub max_body_bytes: usize,
    pub workers: usize,
    pub shutdown_timeout_secs: u64,
    pub shutdown_delay_secs: u64,
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Memory,
    Redis,
}

/// What a token check does when the store cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Fail closed: 503.
    Deny,
    /// Fail open on the revocation lookup only; signature and claims are still enforced.
    Allow,
}

/// How introspectd reaches Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedisMode {
    /// One server at `store.redis_url`.
    Standalone,
    /// Redis Cluster, seeded from `store.redis_urls`.
    Cluster,
    /// The master named `store.sentinel_master`, found through the sentinels in `redis_urls`.
    Sentinel,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    pub backend: Backend,
    pub redis_mode: RedisMode,
    pub redis_url: Secret,
    pub redis_urls: Vec<Secret>,
    pub sentinel_master: String,
    pub key_prefix: String,
    pub on_error: OnError,
    pub revocation_margin_secs: u64,
    pub connect_timeout_ms: u64,
    pub command_timeout_ms: u64,
    pub connections: usize,
    pub pool_max_size: usize,
    pub pool_wait_timeout_ms: u64,
    pub ready_timeout_ms: u64,
    pub allow_evicting_policy: bool,
    pub data_loss_unready_secs: u64,
    pub min_replica_acks: usize,
    pub replica_ack_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub cookie_name: String,
    #[serde(default)]
    pub claim_headers: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAuthSettings {
    pub max_failures: u32,
    pub window_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    pub id: String,
    /// The secret itself, or (after `Settings::load`) the contents of `secret_file`.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// A file holding the secret (e.g. a mounted Kubernetes Secret); one trailing newline is
    /// dropped. Exclusive with `secret`.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
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
            if !path.is_file() {
                return Err(ConfigError::new(
                    "--config",
                    format!("cannot read {}", path.display()),
                ));
            }
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
                .source(Some(env)),
        );
        let mut settings: Settings = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(from_config_crate)?;
        settings.read_secret_files()?;
        settings.validate()?;
        Ok(settings)
    }

    /// `[[jwt.issuers]]`: unique names, one key source each, https unless allowed, sane bounds.
    fn validate_issuers(&self) -> Result<(), ConfigError> {
        let jwt = &self.jwt;
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

    /// Replaces each client's `secret_file` by its contents.
    fn read_secret_files(&mut self) -> Result<(), ConfigError> {
        for (i, client) in self.clients.iter_mut().enumerate() {
            let Some(path) = &client.secret_file else {
                continue;
            };
            let key = format!("clients[{i}].secret_file");
            if client.secret.is_some() {
                return Err(ConfigError::new(
                    key,
                    "set either secret or secret_file, not both",
                ));
            }
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::new(&key, format!("cannot read {}: {e}", path.display()))
            })?;
            let text = text.strip_suffix('\n').unwrap_or(&text);
            let text = text.strip_suffix('\r').unwrap_or(text);
            client.secret = Some(Secret::new(text));
        }
        Ok(())
    }

    /// Checks what the types cannot: ranges, combinations, uniqueness. Key files are read and
    /// parsed later, by the verifier, which names their keys on failure too.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        if self.server.max_body_bytes < 1024 {
            return Err(ConfigError::new(
                "server.max_body_bytes",
                "must be at least 1024",
            ));
        }
        if self.jwt.max_token_bytes == 0 || self.jwt.max_token_bytes > self.server.max_body_bytes {
            return Err(ConfigError::new(
                "jwt.max_token_bytes",
                "must be between 1 and server.max_body_bytes",
            ));
        }
        if self.jwt.max_lifetime_secs == 0 {
            return Err(ConfigError::new(
                "jwt.max_lifetime_secs",
                "must be greater than 0",
            ));
        }
        if let Some(issuer) = &self.jwt.issuer {
            if issuer.is_empty() {
                return Err(ConfigError::new("jwt.issuer", "must not be empty when set"));
            }
        }
        self.validate_issuers()?;
        if self.jwt.audience.iter().any(String::is_empty) {
            return Err(ConfigError::new(
                "jwt.audience",
                "must not contain empty values",
            ));
        }
        let store = &self.store;
        // The URL may hold a password, so the message never repeats it.
        deadpool_redis::redis::Client::open(store.redis_url.expose()).map_err(|_| {
            ConfigError::new(
                "store.redis_url",
                "cannot parse as a redis:// URL (rediss:// needs TLS, which this build does not include)",
            )
        })?;
        if store.redis_mode != RedisMode::Standalone {
            if store.redis_urls.is_empty() {
                return Err(ConfigError::new(
                    "store.redis_urls",
                    "must list the cluster seed nodes or the sentinels",
                ));
            }
            for (i, url) in store.redis_urls.iter().enumerate() {
                deadpool_redis::redis::Client::open(url.expose()).map_err(|_| {
                    ConfigError::new(
                        format!("store.redis_urls[{i}]"),
                        "cannot parse as a redis:// URL (rediss:// needs TLS, which this build does not include)",
                    )
                })?;
            }
        }
        if store.redis_mode == RedisMode::Sentinel && store.sentinel_master.is_empty() {
            return Err(ConfigError::new(
                "store.sentinel_master",
                "must name the master the sentinels monitor",
            ));
        }
        if store.redis_mode == RedisMode::Cluster && store.min_replica_acks > 0 {
            return Err(ConfigError::new(
                "store.min_replica_acks",
                "is not supported with redis_mode = \"cluster\" (WAIT has no key to route by)",
            ));
        }
        if store.key_prefix.contains(['{', '}']) {
            return Err(ConfigError::new(
                "store.key_prefix",
                "must not contain '{' or '}' (they are Redis hash-tag delimiters)",
            ));
        }
        for (key, value) in [
            ("store.connect_timeout_ms", store.connect_timeout_ms),
            ("store.command_timeout_ms", store.command_timeout_ms),
            ("store.pool_wait_timeout_ms", store.pool_wait_timeout_ms),
            ("store.ready_timeout_ms", store.ready_timeout_ms),
            ("store.replica_ack_timeout_ms", store.replica_ack_timeout_ms),
        ] {
            if value == 0 || value > 60_000 {
                return Err(ConfigError::new(key, "must be between 1 and 60000"));
            }
        }
        if store.connections == 0 {
            return Err(ConfigError::new("store.connections", "must be at least 1"));
        }
        if store.pool_max_size < store.connections {
            return Err(ConfigError::new(
                "store.pool_max_size",
                "must be at least store.connections",
            ));
        }
        if store.min_replica_acks > 0 && store.pool_max_size <= store.connections {
            return Err(ConfigError::new(
                "store.pool_max_size",
                "must exceed store.connections when store.min_replica_acks is set (revocations then use connections of their own)",
            ));
        }
        if !self.auth.cookie_name.is_empty()
            && !self
                .auth
                .cookie_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return Err(ConfigError::new(
                "auth.cookie_name",
                "must be a valid cookie name (token characters)",
            ));
        }
        for (claim, header) in &self.auth.claim_headers {
            let key = format!("auth.claim_headers.{claim}");
            let name = actix_web::http::header::HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| ConfigError::new(&key, "is not a valid header name"))?;
            if crate::routes::auth::STANDARD_HEADERS.contains(&name.as_str()) {
                return Err(ConfigError::new(
                    &key,
                    "must not replace a standard X-Auth-* header",
                ));
            }
        }
        if !matches!(
            self.log.level.as_str(),
            "error" | "warn" | "info" | "debug" | "trace"
        ) {
            return Err(ConfigError::new(
                "log.level",
                "must be one of error, warn, info, debug, trace",
            ));
        }
        if self.client_auth.max_failures > 0 && self.client_auth.window_secs == 0 {
            return Err(ConfigError::new(
                "client_auth.window_secs",
                "must be greater than 0 when client_auth.max_failures is set",
            ));
        }
        if self.clients.is_empty() {
            return Err(ConfigError::new(
                "clients",
                "at least one [[clients]] entry is required",
            ));
        }
        for (i, client) in self.clients.iter().enumerate() {
            if client.id.is_empty() || client.id.contains(':') {
                return Err(ConfigError::new(
                    format!("clients[{i}].id"),
                    "must be non-empty and contain no ':'",
                ));
            }
            if client.secret.as_ref().is_none_or(|s| s.expose().is_empty()) {
                return Err(ConfigError::new(
                    format!("clients[{i}].secret"),
                    "is required and must not be empty (or use secret_file)",
                ));
            }
            if self.clients[..i].iter().any(|c| c.id == client.id) {
                return Err(ConfigError::new(
                    format!("clients[{i}].id"),
                    format!("duplicate client id {:?}", client.id),
                ));
            }
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.listen.parse().map_err(|_| {
            ConfigError::new(
                "server.listen",
                "must be an IP address and port, e.g. 127.0.0.1:8080",
            )
        })
    }
}

/// The config crate reports unknown fields and type errors with the key at the end
/// (`... for key `jwt.leway_secs``) or not at all; turn that into `KEY: MESSAGE`.
fn from_config_crate(err: config::ConfigError) -> ConfigError {
    let text = err.to_string();
    // "unknown field `leway_secs`, expected one of ..." with an optional " for key `jwt`" suffix.
    if let Some(field) = between(&text, "unknown field `", "`") {
        let key = match between(&text, "for key `", "`") {
            Some(parent) if !parent.is_empty() => format!("{parent}.{field}"),
            _ => field.to_string(),
        };
        return ConfigError::new(key, "unknown key");
    }
    if let Some(key) = between(&text, "missing field `", "`") {
        return ConfigError::new(key, "is required");
    }
    match text.rsplit_once(" for key `") {
        Some((message, rest)) => {
            let key = rest.split('`').next().unwrap_or(rest);
            let message = match allowed_values(key) {
                Some(allowed) if message.contains("variant") => format!("must be one of {allowed}"),
                _ => message.to_string(),
            };
            ConfigError::new(key, message)
        }
        None => ConfigError::new("config", text),
    }
}

/// The accepted values of the keys that are enums, for error messages.
fn allowed_values(key: &str) -> Option<&'static str> {
    match key {
        "store.backend" => Some("\"memory\", \"redis\""),
        "store.on_error" => Some("\"deny\", \"allow\""),
        "store.redis_mode" => Some("\"standalone\", \"cluster\", \"sentinel\""),
        "log.format" => Some("\"text\", \"json\""),
        _ => None,
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let dir = std::env::temp_dir().join(format!("introspectd-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, toml).unwrap();
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let result = Settings::load(&Sources {
            file: Some(&file),
            env,
        });
        std::fs::remove_dir_all(&dir).unwrap();
        result
    }

    /// Appended after each case's own lines, so a case may open any table.
    const BASE: &str = r#"
[[clients]]
id = "gw"
secret = "0123456789abcdef"
"#;

    #[test]
    fn minimal_file_over_defaults_loads() {
        let s = load(BASE, &[]).unwrap();
        assert_eq!(s.server.listen, "127.0.0.1:8080");
        assert_eq!(s.jwt.algorithms, vec!["HS256"]);
        assert_eq!(s.store.backend, Backend::Memory);
        assert_eq!(s.clients[0].id, "gw");
    }

    #[test]
    fn env_overrides_file_and_parses_lists_and_numbers() {
        let s = load(
            BASE,
            &[
                ("INTROSPECTD__STORE__REDIS_URL", "redis://10.0.0.1:6380/2"),
                ("INTROSPECTD__JWT__LEEWAY_SECS", "30"),
                ("INTROSPECTD__JWT__AUDIENCE", "api,web"),
                ("INTROSPECTD_CONFIG", "ignored"),
            ],
        )
        .unwrap();
        assert_eq!(s.store.redis_url.expose(), "redis://10.0.0.1:6380/2");
        assert_eq!(s.jwt.leeway_secs, 30);
        assert_eq!(s.jwt.audience, vec!["api", "web"]);
    }

    #[test]
    fn errors_name_the_key() {
        type Env<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(&str, Env, &str)] = &[
            ("[jwt]\nleway_secs = 1\n", &[], "jwt.leway_secs"),
            ("[stor]\nbackend = \"redis\"\n", &[], "stor"),
            ("[store]\nbackend = \"mongo\"\n", &[], "store.backend"),
            ("[store]\non_error = \"maybe\"\n", &[], "store.on_error"),
            ("[server]\nlisten = \"nowhere\"\n", &[], "server.listen"),
            (
                "[store]\nredis_url = \"http://x\"\n",
                &[],
                "store.redis_url",
            ),
            (
                "",
                &[("INTROSPECTD__JWT__LEEWAY_SECS", "abc")],
                "jwt.leeway_secs",
            ),
            (
                "[[clients]]\nid = \"gw\"\nsecret = \"t\"\n",
                &[],
                "clients[1].id",
            ),
            (
                "[[clients]]\nid = \"x\"\nsecret = \"\"\n",
                &[],
                "clients[0].secret",
            ),
            ("[log]\nlevel = \"loud\"\n", &[], "log.level"),
        ];
        for (extra, env, key) in cases {
            let err = load(&format!("{extra}{BASE}"), env).unwrap_err();
            assert_eq!(&err.key, key, "for {extra:?}: {err}");
            assert!(!err.message.contains("variant"), "{err}");
        }
    }

    #[test]
    fn client_secrets_can_come_from_files() {
        let dir = std::env::temp_dir().join(format!("introspectd-sf-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("gw");
        std::fs::write(&secret, "from-a-file\n").unwrap();
        let toml = format!("[[clients]]\nid = \"k8s\"\nsecret_file = {:?}\n", secret);
        let s = load(&toml, &[]).unwrap();
        assert_eq!(
            s.clients[0].secret.as_ref().unwrap().expose(),
            "from-a-file"
        );
        let both = format!("{toml}secret = \"x\"\n");
        assert_eq!(load(&both, &[]).unwrap_err().key, "clients[0].secret_file");
        let missing = "[[clients]]\nid = \"k8s\"\nsecret_file = \"/nonexistent\"\n";
        assert_eq!(
            load(missing, &[]).unwrap_err().key,
            "clients[0].secret_file"
        );
        let neither = "[[clients]]\nid = \"k8s\"\n";
        assert_eq!(load(neither, &[]).unwrap_err().key, "clients[0].secret");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_clients_is_an_error() {
        let err = load("[jwt]\nleeway_secs = 1\n", &[]).unwrap_err();
        assert_eq!(err.key, "clients");
    }

    #[test]
    fn secrets_are_not_debug_printed() {
        let s = load(BASE, &[]).unwrap();
        let dump = format!("{s:?}");
        assert!(!dump.contains("0123456789abcdef"), "{dump}");
        assert!(dump.contains("Secret(***)"));
    }
}
