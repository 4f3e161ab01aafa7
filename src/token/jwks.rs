//! Keys from an identity provider: a JWKS document, found directly (`jwks_url`) or through
//! OpenID Connect discovery (`discovery_url` → `jwks_uri`). Fetched at start-up and refreshed in
//! the background (Cache-Control max-age within bounds); an unknown `kid` triggers a refetch,
//! single-flight and at most once per `unknown_kid_refetch_secs`; when fetching fails, the last
//! good keys stay in use up to `max_stale_secs` after they were fetched; keys gone from the JWKS
//! stop verifying at the next successful fetch. Symmetric (`oct`) and encryption keys are never
//! taken from a JWKS.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::keys::{rsa_modulus_bits, KeyEntry, KeyKind, MIN_RSA_BITS};
use crate::config::IssuerSettings;
use crate::metrics::Metrics;

/// Largest JWKS or discovery document accepted.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// Retry delay after a failed background fetch (bounded by min_refresh_secs).
const RETRY_SECS: u64 = 5;

/// The keys in use and when they were fetched.
#[derive(Default)]
pub struct KeySnapshot {
    pub keys: Vec<KeyEntry>,
    pub fetched_at: Option<Instant>,
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
    pub fn new(settings: &IssuerSettings, metrics: Arc<Metrics>) -> Result<RemoteKeys, String> {
        let source = match (&settings.jwks_url, &settings.discovery_url) {
            (Some(url), None) => Source::Jwks(url.clone()),
            (None, Some(url)) => Source::Discovery(url.clone()),
            _ => return Err("needs jwks_url or discovery_url".into()),
        };
        let timeout = Duration::from_millis(settings.fetch_timeout_ms);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .https_only(!settings.allow_http)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
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
    pub async fn fetch_now(&self) -> Result<Duration, String> {
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

    /// Keeps the keys fresh until the process ends.
    pub fn spawn_refresher(self: &Arc<Self>) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                let next = match this.fetch_now().await {
                    Ok(next) => next,
                    Err(_) => Duration::from_secs(RETRY_SECS).min(this.min_refresh),
                };
                tokio::time::sleep(next).await;
            }
        });
    }

    async fn fetch_locked(&self, state: &mut FetchState) -> Result<Duration, String> {
        match self.download().await {
            Ok((keys, max_age)) => {
                let count = keys.len();
                *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(KeySnapshot {
                    keys,
                    fetched_at: Some(Instant::now()),
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
    async fn download(&self) -> Result<(Vec<KeyEntry>, Option<Duration>), String> {
        let jwks_url = match &self.source {
            Source::Jwks(url) => url.clone(),
            Source::Discovery(url) => {
                let (body, _) = self.get(url).await?;
                let doc: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|e| format!("discovery document: {e}"))?;
                // OpenID Connect Discovery §4.3: the document must name the issuer it is for.
                if doc.get("issuer").and_then(|v| v.as_str()) != Some(self.issuer.as_str()) {
                    return Err("the discovery document names another issuer".into());
                }
                let uri = doc
                    .get("jwks_uri")
                    .and_then(|v| v.as_str())
                    .ok_or("the discovery document has no jwks_uri")?;
                let allowed =
                    uri.starts_with("https://") || (self.allow_http && uri.starts_with("http://"));
                if !allowed {
                    return Err("jwks_uri must be https".into());
                }
                uri.to_owned()
            }
        };
        let (body, max_age) = self.get(&jwks_url).await?;
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| format!("JWKS: {e}"))?;
        let keys: Vec<KeyEntry> = set.keys.iter().filter_map(key_entry).collect();
        if keys.is_empty() {
            return Err("the JWKS has no usable signing key".into());
        }
        Ok((keys, max_age))
    }

    async fn get(&self, url: &str) -> Result<(Vec<u8>, Option<Duration>), String> {
        let res = self
            .client
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("request failed: {}", e.without_url()))?;
        if !res.status().is_success() {
            return Err(format!("HTTP {}", res.status().as_u16()));
        }
        if res
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
        {
            return Err("document too large".into());
        }
        let max_age = res
            .headers()
            .get_all("cache-control")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .find_map(|d| {
                d.trim()
                    .strip_prefix("max-age=")?
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map(Duration::from_secs);
        let body = res
            .bytes()
            .await
            .map_err(|e| format!("reading the body failed: {}", e.without_url()))?;
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err("document too large".into());
        }
        Ok((body.to_vec(), max_age))
    }
}

/// A JWK as a verification key: signature keys of supported types only.
fn key_entry(jwk: &jsonwebtoken::jwk::Jwk) -> Option<KeyEntry> {
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption) | Some(PublicKeyUse::Other(_))
    ) {
        return None;
    }
    let kind = match &jwk.algorithm {
        // RFC 7518 §3.3: RSA keys under 2048 bits are refused.
        AlgorithmParameters::RSA(rsa) => {
            let modulus = base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                rsa.n.as_bytes(),
            )
            .ok()?;
            if rsa_modulus_bits(&modulus) < MIN_RSA_BITS {
                return None;
            }
            KeyKind::Rsa
        }
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => KeyKind::EcP256,
            EllipticCurve::P384 => KeyKind::EcP384,
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            KeyKind::Ed25519
        }
        // Never a shared secret from a published document; unknown types are skipped.
        _ => return None,
    };
    let alg = match jwk.common.key_algorithm {
        Some(a) => Some(Algorithm::try_from(a).ok()?),
        None => None,
    };
    if alg.is_some_and(|a| KeyKind::of(a) != kind) {
        return None;
    }
    Some(KeyEntry {
        kid: jwk.common.key_id.clone(),
        kind,
        alg,
        key: DecodingKey::from_jwk(jwk).ok()?,
    })
}
