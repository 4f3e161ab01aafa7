//! `[store]`: the blocklist backend, how Redis is reached, and how failures are treated.

use serde::Deserialize;

use super::{ConfigError, Secret};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Memory,
    Redis,
    /// A durable file on this node (`store.path`).
    File,
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
    /// The file store's file (`backend = "file"`).
    pub path: std::path::PathBuf,
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
    pub mirror_lease_ms: u64,
    pub mirror_max_entries: usize,
    pub tls_ca_file: String,
    pub tls_cert_file: String,
    pub tls_key_file: String,
    pub tls_insecure_skip_verify: bool,
    pub redis_username: String,
    pub redis_password_file: String,
    pub sentinel_username: String,
    pub sentinel_password_file: String,
}

impl StoreSettings {
    /// Where Redis is, without credentials, for logs: the URL in standalone mode, the seed nodes
    /// or sentinels (with the master's name) otherwise.
    pub fn redis_addresses(&self) -> String {
        let list = || {
            self.redis_urls
                .iter()
                .map(|u| redacted(u.expose()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self.redis_mode {
            RedisMode::Standalone => redacted(self.redis_url.expose()),
            RedisMode::Cluster => format!("cluster seeds {}", list()),
            RedisMode::Sentinel => {
                format!("master {:?} via sentinels {}", self.sentinel_master, list())
            }
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let store = self;
        if store.backend == Backend::File && store.path.as_os_str().is_empty() {
            return Err(ConfigError::new(
                "store.path",
                "must name the file of the file store",
            ));
        }
        // The URL may hold a password, so the message never repeats it.
        check_url("store.redis_url", store.redis_url.expose())?;
        if store.redis_mode != RedisMode::Standalone {
            if store.redis_urls.is_empty() {
                return Err(ConfigError::new(
                    "store.redis_urls",
                    "must list the cluster seed nodes or the sentinels",
                ));
            }
            for (i, url) in store.redis_urls.iter().enumerate() {
                check_url(&format!("store.redis_urls[{i}]"), url.expose())?;
            }
        }
        if store.redis_mode == RedisMode::Sentinel && store.sentinel_master.is_empty() {
            return Err(ConfigError::new(
                "store.sentinel_master",
                "must name the master the sentinels monitor",
            ));
        }
        if store.mirror_lease_ms > 60_000 {
            return Err(ConfigError::new(
                "store.mirror_lease_ms",
                "must be at most 60000 (0 turns the mirror off)",
            ));
        }
        if store.mirror_max_entries == 0 {
            return Err(ConfigError::new(
                "store.mirror_max_entries",
                "must be at least 1",
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
        super::tls::validate(store)?;
        if store.min_replica_acks > 0 && store.pool_max_size <= store.connections {
            return Err(ConfigError::new(
                "store.pool_max_size",
                "must exceed store.connections when store.min_replica_acks is set (revocations then use connections of their own)",
            ));
        }
        Ok(())
    }
}

/// A Redis URL the client can use. The message says what is wrong without repeating the URL,
/// which may hold a password.
fn check_url(key: &str, url: &str) -> Result<(), ConfigError> {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    let message = match scheme {
        None => "must be a URL with a scheme, e.g. redis://localhost:6379/0",
        Some(s) if !s.eq_ignore_ascii_case("redis") && !s.eq_ignore_ascii_case("rediss") => {
            "must start with redis:// or rediss:// (TLS), e.g. redis://localhost:6379/0"
        }
        Some(_) => match redis::IntoConnectionInfo::into_connection_info(url) {
            Ok(_) => return Ok(()),
            Err(_) => "cannot parse as a Redis URL (redis[s]://[user:password@]host:port/db)",
        },
    };
    Err(ConfigError::new(key, message))
}

/// The URL without its user and password, for logs and error messages.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a URL)".to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let host = match rest[..authority_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_without_a_scheme_or_with_tls_get_their_own_message() {
        for (url, message) in [
            ("localhost:6379", "must be a URL with a scheme"),
            ("http://cache:6379", "must start with redis:// or rediss://"),
        ] {
            let err = check_url("store.redis_url", url).unwrap_err();
            assert!(err.message.starts_with(message), "{url}: {}", err.message);
        }
        assert!(check_url("k", "redis://user:pw@cache:6379/2").is_ok());
    }

    #[test]
    fn redacted_urls_keep_host_port_and_db_only() {
        assert_eq!(
            redacted("redis://app:s3cret@cache.internal:6380/2"),
            "redis://cache.internal:6380/2"
        );
        assert_eq!(redacted("redis://:pw@h:1"), "redis://h:1");
        assert_eq!(redacted("redis://h:1/0"), "redis://h:1/0");
        assert_eq!(redacted("h:1"), "(not a URL)");
    }
}
