//! Signature verification, built once from `[jwt]`: the issuers, each with its algorithm
//! allowlist, keys and claim policy. `verify` is the hot path: length cap, header, issuer,
//! allowlist, key, signature, then claims; it never touches the store.
//!
//! jsonwebtoken does the cryptography (`crypto::verify`), but not the parsing: its `decode`
//! parses the header twice and the claims twice per call, and its claim checks do not fit
//! (see claims.rs). Here each part is decoded and parsed once (jose.rs). Building the issuers
//! from the settings is issuers.rs.

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::cache::TokenCache;
use super::issuers::{
    issuer_source, parse_issuer_algorithms, static_key, IssuerKeys, KeySource, RemoteBuilder,
};
use super::jose::{Segments, UniqueObject};
use super::jwks::RemoteKeys;
use super::keys::{parse_algorithms, KeyEntry, KeyKind};
use super::signed::{has_type, SignedToken, EVENT_TYPES};
use super::{ClaimsPolicy, Inactive, VerifiedToken};
use crate::config::{ConfigError, JwtSettings};

/// Why a token was not verified. `refetch` names an issuer whose JWKS may have a key this token
/// needs (an unknown `kid`): fetching it again may change the answer.
#[derive(Debug)]
pub struct Rejection {
    pub reason: Inactive,
    pub refetch: Option<Arc<RemoteKeys>>,
}

impl From<Inactive> for Rejection {
    fn from(reason: Inactive) -> Self {
        Rejection {
            reason,
            refetch: None,
        }
    }
}

/// A token's claims, parsed.
type Claims = Map<String, Value>;

/// At most this many keys are tried for one token (keys without a `kid`).
const MAX_CANDIDATE_KEYS: usize = 4;

/// Verifies tokens against the configured issuers, keys and claim policies.
pub struct Verifier {
    issuers: Vec<IssuerKeys>,
    /// `iss` → index in `issuers`; empty in single-issuer mode, where `issuers` has one entry.
    by_name: HashMap<String, usize>,
    leeway_secs: i64,
    max_lifetime_secs: i64,
    max_token_bytes: usize,
    /// Tokens that verified, for the next time they are presented.
    cache: TokenCache,
}

impl Verifier {
    /// Builds the verifier; remote (JWKS) issuers start with no keys until `RemoteKeys` fetches.
    pub fn from_settings(jwt: &JwtSettings) -> Result<Verifier, ConfigError> {
        Self::build(jwt, None)
    }

    pub fn build(
        jwt: &JwtSettings,
        remote: Option<&RemoteBuilder<'_>>,
    ) -> Result<Verifier, ConfigError> {
        super::install_crypto_backend();
        let to_i64 =
            |key: &str, v: u64| i64::try_from(v).map_err(|_| ConfigError::new(key, "is too large"));
        let leeway_secs = to_i64("jwt.leeway_secs", jwt.leeway_secs)?;
        let max_lifetime_secs = to_i64("jwt.max_lifetime_secs", jwt.max_lifetime_secs)?;
        let policy = |issuer: Option<String>, audience: Vec<String>| ClaimsPolicy {
            issuer,
            audience,
            leeway_secs,
            max_lifetime_secs,
        };
        let mut issuers = Vec::new();
        let mut by_name = HashMap::new();
        if jwt.issuers.is_empty() {
            let (algorithms, kind) = parse_algorithms(&jwt.algorithms)?;
            let key = static_key(
                kind,
                &algorithms,
                jwt.hmac_secret.as_ref(),
                jwt.public_key_file.as_deref(),
                "jwt",
            )?;
            issuers.push(IssuerKeys {
                algorithms,
                policy: policy(jwt.issuer.clone(), jwt.audience.clone()),
                source: KeySource::Static(vec![KeyEntry {
                    kid: None,
                    kind,
                    alg: None,
                    key,
                }]),
            });
        } else {
            for (i, settings) in jwt.issuers.iter().enumerate() {
                let prefix = format!("jwt.issuers[{i}]");
                let source = issuer_source(i, settings, &prefix, remote)?;
                let algorithms = parse_issuer_algorithms(&settings.algorithms, &prefix, &source)?;
                by_name.insert(settings.issuer.clone(), issuers.len());
                issuers.push(IssuerKeys {
                    algorithms,
                    policy: policy(Some(settings.issuer.clone()), settings.audience.clone()),
                    source,
                });
            }
        }
        Ok(Verifier {
            issuers,
            by_name,
            leeway_secs,
            max_lifetime_secs,
            max_token_bytes: jwt.max_token_bytes,
            cache: TokenCache::disabled(),
        })
    }

    /// Remembers verified tokens in `cache` from now on (see cache.rs).
    pub fn with_cache(mut self, cache: TokenCache) -> Verifier {
        self.cache = cache;
        self
    }

    /// The single issuer's allowlist (single-issuer mode; the first issuer's otherwise).
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.issuers[0].algorithms
    }

    /// The single issuer's key kind (single-issuer mode).
    pub fn key_kind(&self) -> KeyKind {
        match &self.issuers[0].source {
            KeySource::Static(keys) => keys.first().map_or(KeyKind::Hmac, |k| k.kind),
            KeySource::Remote(_) => KeyKind::Rsa,
        }
    }

    pub fn leeway_secs(&self) -> i64 {
        self.leeway_secs
    }

    pub fn max_lifetime_secs(&self) -> i64 {
        self.max_lifetime_secs
    }

    /// The issuer a session of `verified` belongs to, for its session's entry: the configured
    /// issuer that verified it (its `iss`), or "" in single-issuer mode without `jwt.issuer`,
    /// where a token's `iss` is not checked and so cannot name the session's issuer.
    pub fn session_issuer<'a>(&'a self, verified: &'a VerifiedToken) -> &'a str {
        if self.by_name.is_empty() {
            self.issuers[0].policy.issuer.as_deref().unwrap_or("")
        } else {
            verified.str_claim("iss").unwrap_or("")
        }
    }

    /// The configured issuers' names (`iss`): `jwt.issuer` in single-issuer mode (none when
    /// unset), every `[[jwt.issuers]]` entry's otherwise.
    pub fn issuer_names(&self) -> impl Iterator<Item = &str> {
        self.issuers
            .iter()
            .filter_map(|issuer| issuer.policy.issuer.as_deref())
    }

    /// Every remote key set, for refreshers, readiness and metrics.
    pub fn remote_keys(&self) -> impl Iterator<Item = &Arc<RemoteKeys>> {
        self.issuers.iter().filter_map(|i| match &i.source {
            KeySource::Remote(r) => Some(r),
            KeySource::Static(_) => None,
        })
    }

    /// Checks `token` at `now` (unix seconds): length, header, issuer, allowlist, key,
    /// signature, claims. Each step is a function below; the first failure decides.
    pub fn verify(&self, token: &str, now: i64) -> Result<VerifiedToken, Rejection> {
        if token.is_empty() || token.len() > self.max_token_bytes {
            return Err(Inactive::Malformed.into());
        }
        // The same token, verified with the key set its issuer has now: only the time rules
        // can have changed.
        let generation_of = |i: usize| self.issuers[i].key_generation();
        if let Some(hit) = self.cache.get(token, generation_of) {
            let policy = &self.issuers[hit.issuer].policy;
            policy.check_time(hit.token.checked(), now)?;
            return Ok(hit.token);
        }
        let segments = Segments::split(token).ok_or(Inactive::Malformed)?;
        let (header, alg) = parse_header(segments.header)?;
        // A logout token or a security event is never an access token (RFC 8725 §3.11).
        if EVENT_TYPES.iter().any(|t| has_type(&header, t)) {
            return Err(Inactive::Claims.into());
        }
        let kid = header.get("kid").and_then(Value::as_str);
        let (index, claims) = self.choose_issuer(segments.payload)?;
        let issuer = &self.issuers[index];
        if !issuer.algorithms.contains(&alg) {
            return Err(Inactive::Signature.into());
        }
        let generation = check_signature(issuer, &segments, alg, kid)?;
        // No JWS extension is understood, so any `crit` header makes the token unusable
        // (RFC 7515 §4.1.11).
        if header.contains_key("crit") {
            return Err(Inactive::Malformed.into());
        }
        let claims = match claims {
            Some(claims) => claims,
            None => UniqueObject::from_segment(segments.payload).ok_or(Inactive::Malformed)?,
        };
        let checked = issuer.policy.check(&claims, now)?;
        let expires_at = checked.exp.saturating_add(self.leeway_secs);
        let verified = VerifiedToken::new(token, claims, checked);
        let payload_len = segments.payload.len();
        self.cache
            .insert(token, &verified, index, generation, payload_len, expires_at);
        Ok(verified)
    }

    /// Verifies a signed token that is not an access token (a logout token, a security event
    /// token): length, header, issuer (its `iss` must name a configured issuer, in single-issuer
    /// mode too), allowlist, key, signature, `crit`. The claims are the caller's to check; nothing
    /// is cached. A rejection for the issuer is `Claims`, for the key or signature `Signature`.
    pub fn verify_signed(&self, token: &str) -> Result<SignedToken, Rejection> {
        if token.is_empty() || token.len() > self.max_token_bytes {
            return Err(Inactive::Malformed.into());
        }
        let segments = Segments::split(token).ok_or(Inactive::Malformed)?;
        let (header, alg) = parse_header(segments.header)?;
        let claims = UniqueObject::from_segment(segments.payload).ok_or(Inactive::Malformed)?;
        let iss = claims.get("iss").and_then(Value::as_str);
        let index = match (iss, self.by_name.is_empty()) {
            (Some(iss), false) => self.by_name.get(iss).copied(),
            (Some(iss), true) => {
                (self.issuers[0].policy.issuer.as_deref() == Some(iss)).then_some(0)
            }
            (None, _) => None,
        }
        .ok_or(Inactive::Claims)?;
        let issuer = &self.issuers[index];
        if !issuer.algorithms.contains(&alg) {
            return Err(Inactive::Signature.into());
        }
        let kid = header.get("kid").and_then(Value::as_str);
        check_signature(issuer, &segments, alg, kid)?;
        if header.contains_key("crit") {
            return Err(Inactive::Malformed.into());
        }
        Ok(SignedToken { header, claims })
    }

    /// The issuer whose keys to try. With several issuers the (not yet verified) `iss` only
    /// chooses; the claims, parsed here once, are checked after the signature.
    fn choose_issuer(&self, payload: &str) -> Result<(usize, Option<Claims>), Inactive> {
        if self.by_name.is_empty() {
            return Ok((0, None));
        }
        let claims = UniqueObject::from_segment(payload).ok_or(Inactive::Malformed)?;
        let index = claims
            .get("iss")
            .and_then(Value::as_str)
            .and_then(|iss| self.by_name.get(iss))
            .ok_or(Inactive::Claims)?;
        Ok((*index, Some(claims)))
    }
}

/// The header parameters introspectd reads: `alg`, `kid` (to choose a key; it is only ever
/// looked up among configured keys), and `crit` (refused after the signature). `typ` and `cty`
/// are not used but must be strings. `jku`, `x5u`, `jwk` and `x5c` are never used.
fn parse_header(segment: &str) -> Result<(Map<String, Value>, Algorithm), Inactive> {
    let header = UniqueObject::from_segment(segment).ok_or(Inactive::Malformed)?;
    let alg = header
        .get("alg")
        .and_then(|v| Algorithm::deserialize(v).ok())
        .ok_or(Inactive::Malformed)?;
    if ["kid", "typ", "cty"]
        .iter()
        .any(|name| header.get(*name).is_some_and(|v| !v.is_string()))
    {
        return Err(Inactive::Malformed);
    }
    Ok((header, alg))
}

/// Verifies the signature with the issuer's candidate keys: keys named by the token's `kid`
/// first; only when none is named, keys chosen by algorithm (those without a kid, or any when
/// the token has none), at most a few. No candidate at all for a `kid` of a JWKS issuer asks
/// the caller to refetch that issuer's keys. Returns the generation of the key set that
/// verified it (0 for static keys).
fn check_signature(
    issuer: &IssuerKeys,
    segments: &Segments<'_>,
    alg: Algorithm,
    kid: Option<&str>,
) -> Result<u64, Rejection> {
    let snapshot;
    let (keys, generation): (&[KeyEntry], u64) = match &issuer.source {
        KeySource::Static(keys) => (keys, 0),
        KeySource::Remote(remote) => {
            snapshot = remote.keys();
            (&snapshot.keys, snapshot.generation)
        }
    };
    let named = keys
        .iter()
        .filter(|k| kid.is_some() && k.kid.as_deref() == kid && k.fits(alg));
    let unnamed = keys
        .iter()
        .filter(|k| (k.kid.is_none() || kid.is_none()) && k.fits(alg))
        .take(MAX_CANDIDATE_KEYS);
    let has_named = named.clone().next().is_some();
    let candidates: &mut dyn Iterator<Item = &KeyEntry> = if has_named {
        &mut { named }
    } else {
        &mut { unnamed }
    };
    let message = segments.message.as_bytes();
    let mut tried = 0;
    for candidate in candidates {
        tried += 1;
        match jsonwebtoken::crypto::verify(segments.signature, message, &candidate.key, alg) {
            Ok(true) => return Ok(generation),
            Ok(false) => {}
            Err(e) if classify(e.kind()) == Inactive::Malformed => {
                return Err(Inactive::Malformed.into())
            }
            Err(_) => {}
        }
    }
    if tried > 0 {
        return Err(Inactive::Signature.into());
    }
    Err(Rejection {
        reason: Inactive::Signature,
        refetch: match (&issuer.source, kid) {
            (KeySource::Remote(remote), Some(_)) => Some(Arc::clone(remote)),
            _ => None,
        },
    })
}

fn classify(kind: &ErrorKind) -> Inactive {
    match kind {
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat
        // A signature that is not base64url cannot be right.
        | ErrorKind::Base64(_) => Inactive::Signature,
        _ => Inactive::Malformed,
    }
}
