//! Prometheus metrics. The struct owns its registry (two apps in one process never collide), and
//! every label value is a static string from a bounded set: never a token, `sub` or `jti`.

use std::time::Duration;

mod events;
mod mirror;
mod outcome;
mod record;
mod token_cache;

use mirror::MirrorMetrics;
pub use mirror::MirrorState;
pub use outcome::Outcome;
pub use record::RequestRecord;
pub use token_cache::CacheSize;
use token_cache::TokenCacheMetrics;

use crate::config::Backend;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
    TextEncoder,
};

/// Sub-millisecond resolution at the low end: a decision costs tens of microseconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5, 1.0,
];

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    request_duration: HistogramVec,
    revocations: IntCounterVec,
    store_errors: IntCounterVec,
    store_duration: Histogram,
    ready: prometheus::IntGauge,
    data_loss: IntCounter,
    global_not_before: prometheus::IntGauge,
    evicting_policy: prometheus::IntGauge,
    aof_enabled: prometheus::IntGauge,
    jwks_fetches: IntCounterVec,
    jwks_keys: prometheus::IntGaugeVec,
    jwks_age: prometheus::IntGaugeVec,
    /// Unix time of each issuer's last successful key fetch, for the age gauge at scrape time.
    jwks_success: std::sync::Mutex<std::collections::BTreeMap<String, i64>>,
    /// The verified-token cache's metrics, registered only when the cache is on.
    token_cache: TokenCacheMetrics,
    /// The blocklist mirror's metrics, registered only when the mirror is on.
    mirror: MirrorMetrics,
    /// Security events received, registered only when `[ssf]` is on.
    security_events: IntCounterVec,
}

impl Metrics {
    /// Defines and registers every metric; the Redis store's own facts (data loss, eviction
    /// policy, AOF) only for that backend, where they mean something. One piece on purpose: it
    /// is a flat list of definitions, and splitting it would only scatter the names a reader
    /// looks for.
    pub fn new(backend: Backend) -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "introspectd_requests_total",
                "Requests by endpoint and outcome.",
            ),
            &["endpoint", "outcome"],
        )
        .expect("static metric definition is valid");
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "introspectd_request_duration_seconds",
                "Time to answer a request, by endpoint.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["endpoint"],
        )
        .expect("static metric definition is valid");
        let revocations = IntCounterVec::new(
            Opts::new(
                "introspectd_revocations_total",
                "Revocations acknowledged by the store, by kind (token, subject).",
            ),
            &["kind"],
        )
        .expect("static metric definition is valid");
        let store_errors = IntCounterVec::new(
            Opts::new(
                "introspectd_store_errors_total",
                "Store operations that failed or timed out, by reason (timeout, unavailable, or \
                 what Redis refused: TLS, authentication, ACL).",
            ),
            &["reason"],
        )
        .expect("static metric definition is valid");
        // Exported at 0 from the start, so an absent series is never mistaken for no errors.
        for reason in ["timeout", "unavailable"] {
            store_errors.with_label_values(&[reason]);
        }
        let store_duration = Histogram::with_opts(
            HistogramOpts::new(
                "introspectd_store_duration_seconds",
                "Time of one store operation.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .expect("static metric definition is valid");
        let ready = prometheus::IntGauge::new(
            "introspectd_ready",
            "1 when the last readiness check (/readyz) found the store answering, else 0.",
        )
        .expect("static metric definition is valid");
        let data_loss = IntCounter::new(
            "introspectd_store_data_loss_total",
            "Times this instance found the store had lost its data (generation marker gone or changed).",
        )
        .expect("static metric definition is valid");
        let global_not_before = prometheus::IntGauge::new(
            "introspectd_store_global_not_before_seconds",
            "Tokens issued before this unix time are inactive because the store lost its data; 0: none.",
        )
        .expect("static metric definition is valid");
        let evicting_policy = prometheus::IntGauge::new(
            "introspectd_store_evicting_policy",
            "1 when Redis maxmemory-policy can evict keys (blocklist entries could vanish).",
        )
        .expect("static metric definition is valid");
        let aof_enabled = prometheus::IntGauge::new(
            "introspectd_store_aof_enabled",
            "1 when every Redis node the readiness check saw has AOF persistence on.",
        )
        .expect("static metric definition is valid");
        let jwks_fetches = IntCounterVec::new(
            Opts::new(
                "introspectd_jwks_fetches_total",
                "Fetches of an issuer's signing keys (JWKS), by issuer and result (ok, error).",
            ),
            &["issuer", "result"],
        )
        .expect("static metric definition is valid");
        let jwks_keys = prometheus::IntGaugeVec::new(
            Opts::new("introspectd_jwks_keys", "Signing keys loaded, by issuer."),
            &["issuer"],
        )
        .expect("static metric definition is valid");
        let jwks_age = prometheus::IntGaugeVec::new(
            Opts::new(
                "introspectd_jwks_seconds_since_last_success",
                "Seconds since an issuer's signing keys were last fetched successfully.",
            ),
            &["issuer"],
        )
        .expect("static metric definition is valid");
        let mut collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(jwks_fetches.clone()),
            Box::new(jwks_keys.clone()),
            Box::new(jwks_age.clone()),
            Box::new(ready.clone()),
            Box::new(requests.clone()),
            Box::new(request_duration.clone()),
            Box::new(revocations.clone()),
            Box::new(store_errors.clone()),
            Box::new(store_duration.clone()),
        ];
        // A store that can lose its data (Redis, or the file store's file) says so.
        if backend != Backend::Memory {
            collectors.extend([
                Box::new(data_loss.clone()) as Box<dyn prometheus::core::Collector>,
                Box::new(global_not_before.clone()),
            ]);
        }
        if backend == Backend::Redis {
            collectors.extend([
                Box::new(aof_enabled.clone()) as Box<dyn prometheus::core::Collector>,
                Box::new(evicting_policy.clone()),
            ]);
        }
        for collector in collectors {
            registry
                .register(collector)
                .expect("metric names are unique within the registry");
        }
        // Every kind exists from the start, so a rate() over them is defined before the first
        // revocation.
        for kind in ["token", "subject", "session"] {
            revocations.with_label_values(&[kind]);
        }
        Metrics {
            registry,
            requests,
            request_duration,
            revocations,
            store_errors,
            store_duration,
            ready,
            data_loss,
            global_not_before,
            evicting_policy,
            aof_enabled,
            jwks_fetches,
            jwks_keys,
            jwks_age,
            jwks_success: std::sync::Mutex::new(std::collections::BTreeMap::new()),
            token_cache: TokenCacheMetrics::new(),
            mirror: MirrorMetrics::new(),
            security_events: events::security_events(),
        }
    }

    /// Registers the mirror's metrics (state starts as resyncing).
    /// Registers the security event counter (`[ssf]` on).
    pub fn enable_security_events(&self) {
        let _ = self
            .registry
            .register(Box::new(self.security_events.clone()));
    }

    /// One security event: its type's label and what became of it (`events::RESULTS`).
    pub fn security_event(&self, event: &'static str, result: &'static str) {
        debug_assert!(events::RESULTS.contains(&result));
        self.security_events
            .with_label_values(&[event, result])
            .inc();
    }

    pub fn enable_mirror(&self) {
        let m = &self.mirror;
        for collector in [
            Box::new(m.state.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.entries.clone()),
            Box::new(m.lease_age.clone()),
            Box::new(m.fallbacks.clone()),
        ] {
            let _ = self.registry.register(collector);
        }
        m.set_state(MirrorState::Resyncing);
    }

    pub fn mirror_state(&self, state: MirrorState, entries: usize) {
        self.mirror.set_state(state);
        self.mirror.entries.set(entries as i64);
    }

    pub fn mirror_lease_renewed(&self, at: std::time::Instant) {
        *self
            .mirror
            .renewed
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(at);
    }

    pub fn mirror_fallback(&self) {
        self.mirror.fallbacks.inc();
    }

    /// Registers the verified-token cache's metrics; `size` reads (entries, bytes) at scrape.
    pub fn enable_token_cache(&self, size: CacheSize) {
        let c = &self.token_cache;
        for collector in [
            Box::new(c.hits.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(c.misses.clone()),
            Box::new(c.evictions.clone()),
            Box::new(c.entries.clone()),
            Box::new(c.bytes.clone()),
        ] {
            // A second cache in one registry would be a bug of the caller; its metrics are
            // then the first one's.
            let _ = self.registry.register(collector);
        }
        *c.size.lock().unwrap_or_else(|p| p.into_inner()) = Some(size);
    }

    pub fn token_cache_lookup(&self, hit: bool) {
        if hit {
            self.token_cache.hits.inc();
        } else {
            self.token_cache.misses.inc();
        }
    }

    pub fn token_cache_evicted(&self) {
        self.token_cache.evictions.inc();
    }

    /// Issuer labels come from the configuration only, so the series count stays bounded.
    pub fn jwks_fetch(&self, issuer: &str, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.jwks_fetches.with_label_values(&[issuer, result]).inc();
    }

    pub fn jwks_keys(&self, issuer: &str, count: usize) {
        self.jwks_keys
            .with_label_values(&[issuer])
            .set(count as i64);
    }

    pub fn jwks_success_at(&self, issuer: &str, unix_seconds: i64) {
        self.jwks_success
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(issuer.to_owned(), unix_seconds);
    }

    /// This instance found the store reset; tokens issued before `not_before` are inactive.
    pub fn store_data_loss(&self, not_before: i64) {
        self.data_loss.inc();
        self.global_not_before.set(not_before);
    }

    /// A reset found earlier (by another replica, or before a restart) is in force.
    pub fn store_data_loss_seen(&self, not_before: i64) {
        self.global_not_before.set(not_before);
    }

    pub fn set_aof_enabled(&self, enabled: bool) {
        self.aof_enabled.set(i64::from(enabled));
    }

    pub fn set_evicting_policy(&self, evicting: bool) {
        self.evicting_policy.set(i64::from(evicting));
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
    }

    pub fn observe_request(&self, endpoint: &'static str, outcome: Outcome, took: Duration) {
        self.requests
            .with_label_values(&[endpoint, outcome.label()])
            .inc();
        self.request_duration
            .with_label_values(&[endpoint])
            .observe(took.as_secs_f64());
    }

    pub fn revoked(&self, kind: &'static str) {
        self.revocations.with_label_values(&[kind]).inc();
    }

    /// One store operation: its time, and the reason it failed (`StoreError::reason`), if it did.
    pub fn observe_store(&self, took: Duration, failure: Option<&'static str>) {
        self.store_duration.observe(took.as_secs_f64());
        if let Some(reason) = failure {
            self.store_errors.with_label_values(&[reason]).inc();
        }
    }

    /// The registry in Prometheus text exposition format.
    pub fn render(&self) -> String {
        let now = crate::clock::unix_now();
        for (issuer, at) in self
            .jwks_success
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            self.jwks_age.with_label_values(&[issuer]).set(now - at);
        }
        if let Some(size) = self
            .token_cache
            .size
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            let (entries, bytes) = size();
            self.token_cache.entries.set(entries as i64);
            self.token_cache.bytes.set(bytes as i64);
        }
        if let Some(at) = *self
            .mirror
            .renewed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
        {
            self.mirror.lease_age.set(at.elapsed().as_secs_f64());
        }
        let mut out = Vec::with_capacity(8192);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding of gathered metrics cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}
