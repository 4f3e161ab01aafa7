//! Keys from an identity provider: a JWKS document, found directly (`jwks_url`) or through
//! OpenID Connect discovery (`discovery_url` → `jwks_uri`). Fetched at start-up and refreshed in
//! the background (Cache-Control max-age within bounds); an unknown `kid` triggers a refetch,
//! single-flight and at most once per `unknown_kid_refetch_secs`; when fetching fails, the last
//! good keys stay in use up to `max_stale_secs` after they were fetched; keys gone from the JWKS
//! stop verifying at the next successful fetch. Symmetric (`oct`) and encryption keys are never
//! taken from a JWKS.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

// tokio's clock, so tests can run the staleness rules on a paused clock.
use tokio::time::Instant;

use jsonwebtoken::jwk::JwkSet;

mod document;

use document::key_entry;
pub use document::FetchError;

use super::keys::KeyEntry;
use crate::config::{ConfigError, IssuerSettings};
use crate::metrics::Metrics;

/// Retry delay after a failed background fetch (bounded by min_refresh_secs).
const RETRY_SECS: u64 = 5;

/// The keys in use and when they were fetched.
#[derive(Default)]
pub struct KeySnapshot {
    pub keys: Vec<KeyEntry>,
    pub fetched_at: Option<Instant>,
    /// Which fetch this is (from 1; 0 for no keys). The verified-token cache remembers it, so a
    /// token verified with an earlier key set is verified again against this one.
    pub generation: u64,
}

#[derive(Debug, Clone)]
enum Source {
    Jwks(String),
    Discovery(String),
}

#[derive(Default)]
struct FetchState {
    last_success: Option<Instant>,
    last_unknown_kid_fetch: Option<Instant>,
}

pub struct RemoteKeys {
    pub issuer: String,
    source: Source,
    allow_http: bool,
    client: reqwest::Client,
    refresh: Duration,
    min_refresh: Duration,
    max_refresh: Duration,
    unknown_kid_refetch: Duration,
    max_stale: Duration,
    snapshot: RwLock<Arc<KeySnapshot>>,
    /// Successful fetches so far: the generation of the next snapshot.
    fetches: AtomicU64,
    /// Held for the duration of a fetch: fetches are single-flight.
    fetch: tokio::sync::Mutex<FetchState>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKeys")
            .field("issuer", &self.issuer)
            .finish()
    }
}

impl RemoteKeys {
    /// Prepares the HTTP client; nothing is fetched yet. `key` names the issuer's entry in
    /// configuration errors.
    pub fn new(
        settings: &IssuerSettings,
        key: &str,
        metrics: Arc<Metrics>,
    ) -> Result<RemoteKeys, ConfigError> {
        let source = match (&settings.jwks_url, &settings.discovery_url) {
            (Some(url), None) => Source::Jwks(url.clone()),
            (None, Some(url)) => Source::Discovery(url.clone()),
            _ => return Err(ConfigError::new(key, "needs jwks_url or discovery_url")),
        };
        let timeout = Duration::from_millis(settings.fetch_timeout_ms);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .https_only(!settings.allow_http)
            .build()
            .map_err(|e| ConfigError::new(key, format!("cannot build the HTTP client: {e}")))?;
        if settings.allow_http {
            tracing::warn!(issuer = %settings.issuer, "allow_http: keys may be fetched over plain HTTP");
        }
        metrics.jwks_keys(&settings.issuer, 0);
        Ok(RemoteKeys {
            issuer: settings.issuer.clone(),
            source,
            allow_http: settings.allow_http,
            client,
            refresh: Duration::from_secs(settings.refresh_secs),
            min_refresh: Duration::from_secs(settings.min_refresh_secs),
            max_refresh: Duration::from_secs(settings.max_refresh_secs),
            unknown_kid_refetch: Duration::from_secs(settings.unknown_kid_refetch_secs),
            max_stale: Duration::from_secs(settings.max_stale_secs),
            snapshot: RwLock::new(Arc::new(KeySnapshot::default())),
            fetches: AtomicU64::new(0),
            fetch: tokio::sync::Mutex::new(FetchState::default()),
            metrics,
        })
    }

    /// The keys in use; empty when none were ever fetched or the last good set is older than
    /// `max_stale_secs`.
    pub fn keys(&self) -> Arc<KeySnapshot> {
        let snapshot = self
            .snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match snapshot.fetched_at {
            Some(at) if at.elapsed() <= self.max_stale => snapshot,
            _ => Arc::new(KeySnapshot::default()),
        }
    }

    /// Whether there are keys to verify with.
    pub fn is_usable(&self) -> bool {
        !self.keys().keys.is_empty()
    }

    /// Fetches now (waiting for a fetch already under way instead of starting another).
    /// Returns when the next background refresh is due.
    pub async fn fetch_now(&self) -> Result<Duration, FetchError> {
        let started = Instant::now();
        let mut state = self.fetch.lock().await;
        if state.last_success.is_some_and(|t| t >= started) {
            return Ok(self.refresh);
        }
        self.fetch_locked(&mut state).await
    }

    /// A token named a `kid` this issuer's keys lack: fetch again, unless a fetch for that
    /// reason happened within `unknown_kid_refetch_secs`. True when new keys arrived (also when
    /// a concurrent fetch brought them), so the caller may verify once more.
    pub async fn refetch_for_unknown_kid(&self) -> bool {
        let started = Instant::now();
        let mut state = self.fetch.lock().await;
        if state.last_success.is_some_and(|t| t >= started) {
            return true;
        }
        if state
            .last_unknown_kid_fetch
            .is_some_and(|t| t.elapsed() < self.unknown_kid_refetch)
        {
            return false;
        }
        state.last_unknown_kid_fetch = Some(Instant::now());
        self.fetch_locked(&mut state).await.is_ok()
    }

    /// Keeps the keys fresh in the background. The task holds only a weak reference between
    /// fetches, so it ends once the key set is dropped (a rebuilt verifier, a test's app).
    pub fn spawn_refresher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(this) = weak.upgrade() else { return };
                let next = match this.fetch_now().await {
                    Ok(next) => next,
                    Err(_) => Duration::from_secs(RETRY_SECS).min(this.min_refresh),
                };
                drop(this);
                tokio::time::sleep(next).await;
            }
        })
    }

    async fn fetch_locked(&self, state: &mut FetchState) -> Result<Duration, FetchError> {
        match self.download().await {
            Ok((keys, max_age)) => {
                let count = keys.len();
                let generation = self.fetches.fetch_add(1, Ordering::Relaxed) + 1;
                *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(KeySnapshot {
                    keys,
                    fetched_at: Some(Instant::now()),
                    generation,
                });
                state.last_success = Some(Instant::now());
                self.metrics.jwks_fetch(&self.issuer, true);
                self.metrics.jwks_keys(&self.issuer, count);
                self.metrics
                    .jwks_success_at(&self.issuer, crate::clock::unix_now());
                tracing::info!(issuer = %self.issuer, keys = count, "signing keys fetched");
                Ok(max_age
                    .map(|age| age.clamp(self.min_refresh, self.max_refresh))
                    .unwrap_or(self.refresh))
            }
            Err(err) => {
                self.metrics.jwks_fetch(&self.issuer, false);
                tracing::warn!(issuer = %self.issuer, error = %err, "fetching signing keys failed; keeping the last good keys");
                Err(err)
            }
        }
    }

    /// Downloads and parses the key set; also returns the response's Cache-Control max-age.
    async fn download(&self) -> Result<(Vec<KeyEntry>, Option<Duration>), FetchError> {
        let jwks_url =
            match &self.source {
                Source::Jwks(url) => url.clone(),
                Source::Discovery(url) => {
                    let (body, _) = document::get(&self.client, url).await?;
                    let doc: serde_json::Value =
                        serde_json::from_slice(&body).map_err(|e| FetchError::Unparsable {
                            document: "discovery document",
                            cause: e.to_string(),
                        })?;
                    // OpenID Connect Discovery §4.3: the document must name the issuer it is for.
                    if doc.get("issuer").and_then(|v| v.as_str()) != Some(self.issuer.as_str()) {
                        return Err(FetchError::Unusable(
                            "the discovery document names another issuer",
                        ));
                    }
                    let uri = doc.get("jwks_uri").and_then(|v| v.as_str()).ok_or(
                        FetchError::Unusable("the discovery document has no jwks_uri"),
                    )?;
                    let allowed = uri.starts_with("https://")
                        || (self.allow_http && uri.starts_with("http://"));
                    if !allowed {
                        return Err(FetchError::Unusable("jwks_uri must be https"));
                    }
                    uri.to_owned()
                }
            };
        let (body, max_age) = document::get(&self.client, &jwks_url).await?;
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| FetchError::Unparsable {
            document: "JWKS",
            cause: e.to_string(),
        })?;
        let keys: Vec<KeyEntry> = set.keys.iter().filter_map(key_entry).collect();
        if keys.is_empty() {
            return Err(FetchError::Unusable("the JWKS has no usable signing key"));
        }
        Ok((keys, max_age))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::keys::KeyKind;
    use jsonwebtoken::DecodingKey;

    fn settings(jwks_url: &str, max_stale_secs: u64) -> IssuerSettings {
        IssuerSettings {
            issuer: "https://idp.test".into(),
            audience: vec![],
            algorithms: vec!["RS256".into()],
            hmac_secret: None,
            public_key_file: None,
            public_keys: vec![],
            jwks_url: Some(jwks_url.into()),
            discovery_url: None,
            allow_http: true,
            refresh_secs: 300,
            min_refresh_secs: 60,
            max_refresh_secs: 3600,
            unknown_kid_refetch_secs: 30,
            max_stale_secs,
            fetch_timeout_ms: 2000,
        }
    }

    /// A key set as a successful fetch leaves it.
    fn install(remote: &RemoteKeys) {
        *remote.snapshot.write().unwrap() = Arc::new(KeySnapshot {
            keys: vec![KeyEntry {
                kid: Some("k1".into()),
                kind: KeyKind::Hmac,
                alg: None,
                key: DecodingKey::from_secret(b"only the snapshot's age matters here"),
            }],
            fetched_at: Some(Instant::now()),
            generation: 1,
        });
    }

    #[tokio::test(start_paused = true)]
    async fn fetched_keys_stay_usable_for_max_stale_secs_and_not_a_moment_longer() {
        let remote = RemoteKeys::new(
            &settings("http://127.0.0.1:1/jwks", 10),
            "jwt.issuers[0].issuer",
            Arc::new(Metrics::new(crate::config::Backend::Memory)),
        )
        .unwrap();
        assert!(!remote.is_usable(), "nothing fetched yet");
        install(&remote);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(remote.is_usable());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(!remote.is_usable());
    }

    #[tokio::test(start_paused = true)]
    async fn the_refresher_ends_when_its_key_set_is_dropped() {
        // Port 1 refuses at once, so every fetch fails and the refresher waits to retry.
        let remote = Arc::new(
            RemoteKeys::new(
                &settings("http://127.0.0.1:1/jwks", 10),
                "jwt.issuers[0].issuer",
                Arc::new(Metrics::new(crate::config::Backend::Memory)),
            )
            .unwrap(),
        );
        let refresher = remote.spawn_refresher();
        tokio::task::yield_now().await;
        assert!(!refresher.is_finished());
        drop(remote);
        tokio::time::timeout(Duration::from_secs(3600), refresher)
            .await
            .expect("the refresher ended")
            .unwrap();
    }
}
