//! The revocation store: a small set of operations over two backends, chosen once by
//! `store.backend`. Every operation reports failure; none is retried or swallowed here.
//!
//! - `keys`: the key scheme, shared by both backends.
//! - `memory`: embedded, per process, entries expire on time.
//! - `file`: embedded and durable on one node (redb), the working set in memory.
//! - `redis`: shared by replicas, one command per token check.
//! - `generation`: the Redis store's data-loss detection.
//! - `mirror`: a replica's local copy of the blocklist, from the revocation stream (in progress).

pub mod file;
pub mod generation;
pub mod keys;
pub mod memory;
pub mod mirror;
pub mod redis;
pub mod refusal;

use std::fmt;

pub use file::FileStore;
pub use keys::Keys;
pub use memory::MemoryStore;
pub use redis::RedisStore;

use std::sync::Arc;

use crate::config::{Backend, ConfigError, StoreSettings};
use crate::metrics::Metrics;

/// The entries one check reads: the token's own, its subject's, and its session's (when it
/// carries `sid`); with security events on, also its subject's disabled flag and its email's
/// not-before (when it carries `email`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LookupKeys<'a> {
    pub token: &'a str,
    pub subject: Option<&'a str>,
    pub session: Option<&'a str>,
    pub disabled: Option<&'a str>,
    pub email: Option<&'a str>,
}

/// What the store knows about one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lookup {
    pub revoked: bool,
    /// Tokens of this subject issued before this time (unix seconds) are inactive.
    pub subject_not_before: Option<i64>,
    /// Tokens of this session issued before this time (unix seconds) are inactive.
    pub session_not_before: Option<i64>,
    /// The subject's account is disabled: every token of it is inactive.
    pub disabled: bool,
    /// Tokens carrying this email issued before this time (unix seconds) are inactive.
    pub email_not_before: Option<i64>,
    /// Every token issued before this time is inactive: the store lost its data then. 0: none.
    pub global_not_before: i64,
}

/// A not-before to raise: a subject's or a session's entry.
#[derive(Debug, Clone, Copy)]
pub struct NotBefore<'a> {
    pub key: &'a str,
    /// How long the entry lives: the longest a token can (max lifetime + leeway + margin).
    pub ttl_secs: u64,
    /// The not-before asked for (unix seconds), capped at the store's now; None: now.
    pub at: Option<i64>,
    /// A replay marker and its lifetime in milliseconds: when the marker exists, nothing is
    /// written; otherwise it is set together with the entry. It shares the entry's hash tag.
    pub once: Option<(&'a str, u64)>,
}

/// What raising a not-before did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raised {
    /// The not-before in force afterwards (unix seconds; 0 when a replay found no entry).
    pub not_before: i64,
    /// False when the replay marker existed: nothing was written.
    pub written: bool,
}

/// Why the store is not fit to serve (see `RedisStore::readiness`); readiness.rs turns it into
/// the service's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unfit {
    Unreachable(StoreError),
    /// Redis may evict keys (maxmemory-policy is not noeviction), so revocations could vanish.
    EvictingPolicy,
    /// The store lost its data less than store.data_loss_unready_secs ago.
    DataLoss,
}

/// A store failure. The message is static and safe to log; it never holds a key or a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    Timeout,
    Unavailable(&'static str),
    /// Redis refused us for a reason an operator must fix (TLS, credentials, ACL).
    Refused(refusal::Refusal),
}

impl StoreError {
    /// The `reason` label of `introspectd_store_errors_total`: a small fixed set.
    pub fn reason(&self) -> &'static str {
        match self {
            StoreError::Timeout => "timeout",
            StoreError::Unavailable(_) => "unavailable",
            StoreError::Refused(refusal) => refusal.label(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Timeout => f.write_str("store timed out"),
            StoreError::Unavailable(why) => write!(f, "store unavailable: {why}"),
            StoreError::Refused(refusal) => write!(f, "store refused: {}", refusal.description()),
        }
    }
}

impl std::error::Error for StoreError {}

#[derive(Clone)]
pub enum Store {
    Memory(MemoryStore),
    Redis(RedisStore),
    File(FileStore),
}

impl Store {
    /// Builds the configured backend. Must run inside a tokio runtime (the memory store spawns
    /// its purge task). Redis is connected lazily.
    /// `max_entry_secs` is the longest a blocklist entry can live (max token lifetime + leeway
    /// + margin).
    pub fn from_settings(
        settings: &StoreSettings,
        keys: &Keys,
        max_entry_secs: u64,
        metrics: Arc<Metrics>,
    ) -> Result<Store, ConfigError> {
        Ok(match settings.backend {
            Backend::Memory => Store::Memory(MemoryStore::start()),
            Backend::Redis => Store::Redis(
                RedisStore::new(settings, keys, max_entry_secs, metrics)
                    .map_err(|e| ConfigError::new("store.redis_url", e.to_string()))?,
            ),
            Backend::File => Store::File(
                FileStore::open(&settings.path, metrics)
                    .map_err(|why| ConfigError::new("store.path", why))?,
            ),
        })
    }

    /// Reads a token's entry, its subject's and its session's in one round trip.
    ///
    /// The Redis operations are boxed: their futures (timeouts, pool, retry) are about 10 KB,
    /// and every request's future would otherwise carry and copy that much, memory store or not
    /// (perf showed the copies as 9% of a memory-store `/auth`). One small allocation per Redis
    /// round trip is the price.
    pub async fn lookup(&self, keys: LookupKeys<'_>) -> Result<Lookup, StoreError> {
        match self {
            Store::Memory(m) => m.lookup(keys),
            Store::Redis(r) => Box::pin(r.lookup(keys)).await,
            Store::File(f) => f.lookup(keys),
        }
    }

    /// Marks a token revoked until `expires_at_ms` (unix milliseconds, an absolute deadline, so
    /// the entry ends at the same instant however long the request took); returns only once the
    /// store has it.
    pub async fn revoke_token(&self, key: &str, expires_at_ms: i64) -> Result<(), StoreError> {
        match self {
            Store::Memory(m) => m.revoke_token(key, expires_at_ms),
            Store::Redis(r) => Box::pin(r.revoke_token(key, expires_at_ms)).await,
            Store::File(f) => f.revoke_token(key, expires_at_ms).await,
        }
    }

    /// Raises a subject's or a session's not-before to the store's "now" (or `at`, when
    /// earlier), never backwards; returns once the store has it.
    pub async fn revoke_before(&self, request: NotBefore<'_>) -> Result<Raised, StoreError> {
        match self {
            Store::Memory(m) => m.revoke_before(&request),
            Store::Redis(r) => Box::pin(r.revoke_before(request)).await,
            Store::File(f) => f.revoke_before(request).await,
        }
    }

    /// Lifts a flag set by `revoke_token` (a subject's disabled flag) at once, on every replica;
    /// with a replay marker that exists already, does nothing. Returns whether it wrote.
    pub async fn lift(&self, key: &str, once: Option<(&str, u64)>) -> Result<bool, StoreError> {
        match self {
            Store::Memory(m) => m.lift(key, once),
            Store::Redis(r) => Box::pin(r.lift(key, once)).await,
            Store::File(f) => f.lift(key, once).await,
        }
    }

    /// Where the store is, for logs: the Redis address without credentials, or "memory".
    pub fn address(&self) -> &str {
        match self {
            Store::Memory(_) => "memory",
            Store::Redis(r) => r.address(),
            Store::File(f) => f.address(),
        }
    }

    /// Whether the store is fit to serve (see `RedisStore::readiness`).
    pub async fn readiness(&self) -> Result<(), Unfit> {
        match self {
            Store::Memory(_) => Ok(()),
            Store::Redis(r) => Box::pin(r.readiness()).await,
            Store::File(f) => f.readiness().await,
        }
    }
}
