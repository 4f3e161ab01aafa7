//! `[cache]`: the verified-token cache (token/cache.rs).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    /// Bytes the cache may hold (tokens plus an estimate of their claims); 0 turns it off.
    pub max_bytes: u64,
}
