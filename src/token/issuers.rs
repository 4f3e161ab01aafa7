//! The issuers a verifier trusts, built from `[jwt]` or `[[jwt.issuers]]`: each one's key
//! source (static keys read once at start-up, or a JWKS kept fresh by jwks.rs) and allowlist.

use std::path::Path;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey};

use super::claims::ClaimsPolicy;
use super::jwks::RemoteKeys;
use super::keys::{hmac_secret, parse_algorithms, KeyEntry, KeyKind};
use super::pem::{load_pem, read_pem};
use crate::config::{ConfigError, IssuerSettings, Secret};

/// Where an issuer's keys come from.
pub enum KeySource {
    Static(Vec<KeyEntry>),
    Remote(Arc<RemoteKeys>),
}

/// One trusted issuer: its keys, algorithms and claim policy.
pub struct IssuerKeys {
    pub algorithms: Vec<Algorithm>,
    pub policy: ClaimsPolicy,
    pub source: KeySource,
}

impl IssuerKeys {
    /// The generation of the keys in use: 0 for static keys, which never change while the
    /// process runs; the current snapshot's for a JWKS.
    pub fn key_generation(&self) -> u64 {
        match &self.source {
            KeySource::Static(_) => 0,
            KeySource::Remote(remote) => remote.keys().generation,
        }
    }
}

/// Builds the remote key set of `[[jwt.issuers]]` entry `i` (the service supplies it; it needs
/// an HTTP client and metrics).
pub type RemoteBuilder<'a> =
    dyn Fn(usize, &IssuerSettings) -> Result<Arc<RemoteKeys>, ConfigError> + 'a;

/// The key of a static source: an HMAC secret or one PEM public key.
pub fn static_key(
    kind: KeyKind,
    algorithms: &[Algorithm],
    secret: Option<&Secret>,
    public_key_file: Option<&Path>,
    prefix: &str,
) -> Result<DecodingKey, ConfigError> {
    if kind == KeyKind::Hmac {
        let secret = hmac_secret(secret, algorithms, &format!("{prefix}.hmac_secret"))?;
        return Ok(DecodingKey::from_secret(secret));
    }
    let key = format!("{prefix}.public_key_file");
    let path = public_key_file
        .ok_or_else(|| ConfigError::new(&key, "is required for RS*/PS*/ES*/EdDSA algorithms"))?;
    public_key(&key, path, kind)
}

/// Reads and parses a PEM public key of the given kind.
fn public_key(key: &str, path: &Path, kind: KeyKind) -> Result<DecodingKey, ConfigError> {
    let pem = read_pem(key, path, kind)?;
    decoding_key(key, &pem, kind)
}

/// Parses PEM bytes already known to hold a public key of `kind`.
fn decoding_key(key: &str, pem: &[u8], kind: KeyKind) -> Result<DecodingKey, ConfigError> {
    let parsed = match kind {
        KeyKind::Rsa => DecodingKey::from_rsa_pem(pem),
        KeyKind::EcP256 | KeyKind::EcP384 => DecodingKey::from_ec_pem(pem),
        KeyKind::Ed25519 => DecodingKey::from_ed_pem(pem),
        KeyKind::Hmac => unreachable!("HMAC keys are not PEM files"),
    };
    parsed.map_err(|e| ConfigError::new(key, format!("not a usable public key: {e}")))
}

/// An issuer entry's key source.
pub fn issuer_source(
    index: usize,
    settings: &IssuerSettings,
    prefix: &str,
    remote: Option<&RemoteBuilder<'_>>,
) -> Result<KeySource, ConfigError> {
    if settings.jwks_url.is_some() || settings.discovery_url.is_some() {
        let remote = remote.ok_or_else(|| {
            ConfigError::new(
                format!("{prefix}.issuer"),
                "remote keys need the service (not available here)",
            )
        })?;
        return Ok(KeySource::Remote(remote(index, settings)?));
    }
    if let Some(secret) = &settings.hmac_secret {
        let (algorithms, kind) = parse_algorithms(&settings.algorithms)
            .map_err(|e| ConfigError::new(format!("{prefix}.algorithms"), e.message))?;
        if kind != KeyKind::Hmac {
            return Err(ConfigError::new(
                format!("{prefix}.algorithms"),
                "hmac_secret serves HS* algorithms only",
            ));
        }
        let key = static_key(kind, &algorithms, Some(secret), None, prefix)?;
        return Ok(KeySource::Static(vec![KeyEntry {
            kid: None,
            kind,
            alg: None,
            key,
        }]));
    }
    let files: Vec<(Option<&str>, &Path, String)> = match &settings.public_key_file {
        Some(path) => vec![(None, path.as_path(), format!("{prefix}.public_key_file"))],
        None => settings
            .public_keys
            .iter()
            .enumerate()
            .map(|(k, p)| {
                (
                    Some(p.kid.as_str()),
                    p.file.as_path(),
                    format!("{prefix}.public_keys[{k}].file"),
                )
            })
            .collect(),
    };
    let mut keys = Vec::new();
    for (kid, path, key) in files {
        let (pem, kind) = load_pem(&key, path, None)?;
        keys.push(KeyEntry {
            kid: kid.map(str::to_owned),
            kind,
            alg: None,
            key: decoding_key(&key, &pem, kind)?,
        });
    }
    Ok(KeySource::Static(keys))
}

/// An issuer's allowlist: known names, never `none`. Several key kinds may mix when the keys
/// are a set (JWKS, several files); each static key must serve some allowed algorithm.
pub fn parse_issuer_algorithms(
    names: &[String],
    prefix: &str,
    source: &KeySource,
) -> Result<Vec<Algorithm>, ConfigError> {
    let key = format!("{prefix}.algorithms");
    let mut algorithms = Vec::new();
    for name in names {
        let (parsed, _) = parse_algorithms(std::slice::from_ref(name))
            .map_err(|e| ConfigError::new(&key, e.message))?;
        if !algorithms.contains(&parsed[0]) {
            algorithms.push(parsed[0]);
        }
    }
    if algorithms.is_empty() {
        return Err(ConfigError::new(key, "must name at least one algorithm"));
    }
    if let KeySource::Static(keys) = source {
        if let Some(unused) = keys.iter().find(|k| !algorithms.iter().any(|a| k.fits(*a))) {
            return Err(ConfigError::new(
                key,
                format!("allows no algorithm for the {} key", unused.kind),
            ));
        }
    }
    Ok(algorithms)
}
