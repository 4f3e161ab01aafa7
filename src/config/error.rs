//! Configuration errors: one line naming the key (`config error: KEY: MESSAGE`), and the
//! translation of the `config` crate's messages into that form.

use std::fmt;

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

/// The config crate reports unknown fields and type errors with the key at the end
/// (`... for key `jwt.leway_secs``) or not at all; turn that into `KEY: MESSAGE`.
pub(super) fn from_config_crate(err: config::ConfigError) -> ConfigError {
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
