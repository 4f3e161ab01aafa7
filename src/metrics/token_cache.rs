//! The verified-token cache's metrics (registered only when the cache is on).

use prometheus::IntCounter;

/// Hits, misses and evictions of the verified-token cache, and its size at scrape time.
pub(super) struct TokenCacheMetrics {
    pub(super) hits: IntCounter,
    pub(super) misses: IntCounter,
    pub(super) evictions: IntCounter,
    pub(super) entries: prometheus::IntGauge,
    pub(super) bytes: prometheus::IntGauge,
    /// Reads (entries, bytes) from the cache; set when the cache is enabled.
    pub(super) size: std::sync::Mutex<Option<CacheSize>>,
}

pub type CacheSize = Box<dyn Fn() -> (u64, u64) + Send + Sync>;

impl TokenCacheMetrics {
    pub(super) fn new() -> TokenCacheMetrics {
        let counter = |name: &str, help: &str| {
            IntCounter::new(name, help).expect("static metric definition is valid")
        };
        let gauge = |name: &str, help: &str| {
            prometheus::IntGauge::new(name, help).expect("static metric definition is valid")
        };
        TokenCacheMetrics {
            hits: counter(
                "introspectd_token_cache_hits_total",
                "Token checks served from the verified-token cache (no signature verification).",
            ),
            misses: counter(
                "introspectd_token_cache_misses_total",
                "Token checks not in the verified-token cache (or verified with an older key set).",
            ),
            evictions: counter(
                "introspectd_token_cache_evictions_total",
                "Entries evicted from the verified-token cache to stay within cache.max_bytes.",
            ),
            entries: gauge(
                "introspectd_token_cache_entries",
                "Tokens in the verified-token cache.",
            ),
            bytes: gauge(
                "introspectd_token_cache_bytes",
                "Bytes the verified-token cache holds, as weighed against cache.max_bytes.",
            ),
            size: std::sync::Mutex::new(None),
        }
    }
}
