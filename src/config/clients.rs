//! `[[clients]]` and `[client_auth]`: who may call /introspect and /revoke, and how failed
//! authentications are limited.

use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, Secret};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAuthSettings {
    pub max_failures: u32,
    pub window_secs: u64,
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

/// Checks the clients and the failure limiter together (the limiter only matters with clients).
pub fn validate(
    clients: &[ClientSettings],
    limits: &ClientAuthSettings,
) -> Result<(), ConfigError> {
    if limits.max_failures > 0 && limits.window_secs == 0 {
        return Err(ConfigError::new(
            "client_auth.window_secs",
            "must be greater than 0 when client_auth.max_failures is set",
        ));
    }
    if clients.is_empty() {
        return Err(ConfigError::new(
            "clients",
            "at least one [[clients]] entry is required",
        ));
    }
    for (i, client) in clients.iter().enumerate() {
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
        if clients[..i].iter().any(|c| c.id == client.id) {
            return Err(ConfigError::new(
                format!("clients[{i}].id"),
                format!("duplicate client id {:?}", client.id),
            ));
        }
    }
    Ok(())
}

/// Replaces each client's `secret_file` by its contents.
pub fn read_secret_files(clients: &mut [ClientSettings]) -> Result<(), ConfigError> {
    for (i, client) in clients.iter_mut().enumerate() {
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
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(&key, format!("cannot read {}: {e}", path.display())))?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        client.secret = Some(Secret::new(text));
    }
    Ok(())
}
