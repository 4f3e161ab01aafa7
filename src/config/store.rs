//! `[store]`: the blocklist backend, how Redis is reached, and how failures are treated.

use serde::Deserialize;

use super::{ConfigError, Secret};

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

impl StoreSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let store = self;
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
        Ok(())
    }
}
