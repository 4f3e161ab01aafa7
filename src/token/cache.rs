//! The verified-token cache. A token whose signature and claims verified is remembered, keyed by
//! its exact bytes (the hash only indexes the table; a hit needs byte equality of the whole
//! token), so a session presenting the same token again skips decoding and signature
//! verification, the costly part with RS256 and ES256. Nothing else is skipped: `exp` and `nbf`
//! are checked again at every hit, an entry verified with an issuer's earlier JWKS key set never
//! hits (the token is verified again against the current keys), and the revocation lookup runs
//! on every request as before (policy.rs). Bounded by bytes, each entry expiring with its token;
//! a token that failed verification is never cached.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::notification::RemovalCause;
use moka::sync::Cache;
use moka::Expiry;

use super::VerifiedToken;
use crate::clock::unix_now_ms;
use crate::metrics::Metrics;

/// Bytes counted for an entry besides the token and its claims: the table slot, the shared
/// token's header and the store keys computed for it.
const ENTRY_OVERHEAD_BYTES: usize = 256;

/// What a hit returns: the verified token, and what it was verified with.
#[derive(Clone)]
pub struct Entry {
    pub token: VerifiedToken,
    /// Index of the issuer whose keys verified it.
    pub issuer: usize,
    /// That issuer's key set generation then (see `KeySnapshot::generation`; 0 for static keys).
    pub generation: u64,
    /// When the entry is of no more use: the token's exp plus the leeway, unix milliseconds.
    expires_at_ms: i64,
    weight: u32,
}

/// Entries live until their token's exp (plus leeway), never longer.
struct UntilExpiry;

impl Expiry<Arc<str>, Entry> for UntilExpiry {
    fn expire_after_create(&self, _: &Arc<str>, entry: &Entry, _: Instant) -> Option<Duration> {
        let remaining = entry.expires_at_ms.saturating_sub(unix_now_ms()).max(0);
        Some(Duration::from_millis(remaining as u64))
    }
}

/// The cache, or nothing when `cache.max_bytes = 0`.
#[derive(Clone, Default)]
pub struct TokenCache {
    inner: Option<Inner>,
}

#[derive(Clone)]
struct Inner {
    entries: Cache<Arc<str>, Entry>,
    metrics: Arc<Metrics>,
}

impl TokenCache {
    pub fn disabled() -> TokenCache {
        TokenCache::default()
    }

    /// A cache of at most `max_bytes` (token bytes plus an estimate of the parsed claims);
    /// registers its metrics. `max_bytes = 0` disables it.
    pub fn new(max_bytes: u64, metrics: Arc<Metrics>) -> TokenCache {
        if max_bytes == 0 {
            return TokenCache::disabled();
        }
        let evictions = Arc::clone(&metrics);
        let entries = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_: &Arc<str>, entry: &Entry| entry.weight)
            .expire_after(UntilExpiry)
            .eviction_listener(move |_, _, cause| {
                if cause == RemovalCause::Size {
                    evictions.token_cache_evicted();
                }
            })
            .build();
        let size = entries.clone();
        metrics.enable_token_cache(Box::new(move || {
            // Pending inserts and evictions are applied first, so the figures are exact.
            size.run_pending_tasks();
            (size.entry_count(), size.weighted_size())
        }));
        TokenCache {
            inner: Some(Inner { entries, metrics }),
        }
    }

    /// The entry for exactly `token`, if it was verified with the key set its issuer has now
    /// (`generation_of(issuer)`). Counts a hit or a miss.
    pub fn get(&self, token: &str, generation_of: impl Fn(usize) -> u64) -> Option<Entry> {
        let inner = self.inner.as_ref()?;
        let found = inner
            .entries
            .get(token)
            .filter(|entry| entry.generation == generation_of(entry.issuer));
        inner.metrics.token_cache_lookup(found.is_some());
        found
    }

    /// Remembers a token that verified. `payload_len` (its claims segment) sizes the estimate
    /// of the parsed claims; `expires_at` is its exp plus the leeway, unix seconds.
    pub fn insert(
        &self,
        token: &str,
        verified: &VerifiedToken,
        issuer: usize,
        generation: u64,
        payload_len: usize,
        expires_at: i64,
    ) {
        let Some(inner) = &self.inner else { return };
        // Parsed JSON takes about twice the bytes of its base64url text.
        let weight = token.len() + payload_len * 2 + ENTRY_OVERHEAD_BYTES;
        inner.entries.insert(
            Arc::from(token),
            Entry {
                token: verified.clone(),
                issuer,
                generation,
                expires_at_ms: expires_at.saturating_mul(1000),
                weight: u32::try_from(weight).unwrap_or(u32::MAX),
            },
        );
    }
}
