//! Signature verification, built once from `[jwt]`: the algorithm allowlist, the one key that
//! serves it, and the claim policy. `verify` is the hot path: length cap, header, allowlist,
//! signature, then claims; it never touches the store.
//!
//! jsonwebtoken does the cryptography (`crypto::verify`), but not the parsing: its `decode`
//! parses the header twice and the claims twice per call, and its claim checks do not fit
//! (see claims.rs). Here each part is decoded and parsed once.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::jwks::RemoteKeys;
use super::{ClaimsPolicy, Inactive, VerifiedToken};
use crate::config::{ConfigError, IssuerSettings, JwtSettings};

/// The kind of key an algorithm needs. An allowlist may only name algorithms of one kind,
/// because one configured key serves them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Hmac,
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyKind::Hmac => "HMAC",
            KeyKind::Rsa => "RSA",
            KeyKind::EcP256 => "EC P-256",
            KeyKind::EcP384 => "EC P-384",
            KeyKind::Ed25519 => "Ed25519",
        })
    }
}

impl KeyKind {
    pub fn of(alg: Algorithm) -> KeyKind {
        match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => KeyKind::Hmac,
            Algorithm::ES256 => KeyKind::EcP256,
            Algorithm::ES384 => KeyKind::EcP384,
            Algorithm::EdDSA => KeyKind::Ed25519,
            _ => KeyKind::Rsa,
        }
    }
}

/// Parses `jwt.algorithms`: known names only, never `none`, one key kind.
pub fn parse_algorithms(names: &[String]) -> Result<(Vec<Algorithm>, KeyKind), ConfigError> {
    let err = |msg: String| ConfigError::new("jwt.algorithms", msg);
    if names.is_empty() {
        return Err(err("must name at least one algorithm".into()));
    }
    let mut algorithms = Vec::with_capacity(names.len());
    for name in names {
        if name.trim().eq_ignore_ascii_case("none") {
            return Err(err("\"none\" is never allowed".into()));
        }
        let alg = match name.as_str() {
            "HS256" => Algorithm::HS256,
            "HS384" => Algorithm::HS384,
            "HS512" => Algorithm::HS512,
            "RS256" => Algorithm::RS256,
            "RS384" => Algorithm::RS384,
            "RS512" => Algorithm::RS512,
            "PS256" => Algorithm::PS256,
            "PS384" => Algorithm::PS384,
            "PS512" => Algorithm::PS512,
            "ES256" => Algorithm::ES256,
            "ES384" => Algorithm::ES384,
            "EdDSA" => Algorithm::EdDSA,
            other => return Err(err(format!("unknown algorithm {other:?}"))),
        };
        if !algorithms.contains(&alg) {
            algorithms.push(alg);
        }
    }
    let kind = KeyKind::of(algorithms[0]);
    if algorithms.iter().any(|a| KeyKind::of(*a) != kind) {
        return Err(err(
            "mixes algorithms that one key cannot serve (HS*, RS*/PS*, ES256, ES384 and EdDSA each need their own key)"
                .into(),
        ));
    }
    Ok((algorithms, kind))
}

/// The HMAC secret length RFC 7518 §3.2 asks for: at least the hash output size.
pub fn min_hmac_secret_len(algorithms: &[Algorithm]) -> usize {
    algorithms
        .iter()
        .map(|a| match a {
            Algorithm::HS384 => 48,
            Algorithm::HS512 => 64,
            _ => 32,
        })
        .max()
        .unwrap_or(32)
}

/// The HMAC secret named by config key `key`, checked against the allowlist's minimum length.
pub fn hmac_secret<'a>(
    secret: Option<&'a crate::config::Secret>,
    algorithms: &[Algorithm],
    key: &str,
) -> Result<&'a [u8], ConfigError> {
    let secret = secret.ok_or_else(|| ConfigError::new(key, "is required for HS* algorithms"))?;
    let min = min_hmac_secret_len(algorithms);
    if secret.expose().len() < min {
        return Err(ConfigError::new(
            key,
            format!("must be at least {min} bytes"),
        ));
    }
    Ok(secret.expose().as_bytes())
}

/// Reads a PEM key file and checks that it holds the kind of key the allowlist needs.
pub fn read_pem(key: &str, path: &Path, kind: KeyKind) -> Result<Vec<u8>, ConfigError> {
    load_pem(key, path, Some(kind)).map(|(pem, _)| pem)
}

/// Reads a PEM key file once: its bytes and its key kind, which must be `expected` when given.
/// RSA keys must have at least `MIN_RSA_BITS`.
fn load_pem(
    key: &str,
    path: &Path,
    expected: Option<KeyKind>,
) -> Result<(Vec<u8>, KeyKind), ConfigError> {
    let pem = std::fs::read(path)
        .map_err(|e| ConfigError::new(key, format!("cannot read {}: {e}", path.display())))?;
    let found = pem_key_kind(&pem)
        .ok_or_else(|| ConfigError::new(key, format!("{} is not a PEM key", path.display())))?;
    if let Some(kind) = expected.filter(|kind| *kind != found) {
        return Err(ConfigError::new(
            key,
            format!("holds an {found} key but jwt.algorithms needs an {kind} key"),
        ));
    }
    if found == KeyKind::Rsa {
        let bits = pem_der(&pem)
            .and_then(|der| largest_integer_bits(&der, 0))
            .unwrap_or(0);
        if bits < MIN_RSA_BITS {
            return Err(ConfigError::new(
                key,
                format!("RSA keys must have at least {MIN_RSA_BITS} bits (this one has {bits})"),
            ));
        }
    }
    Ok((pem, found))
}

/// RFC 7518 §3.3: RSA keys for RS*/PS* must be 2048 bits or larger.
pub const MIN_RSA_BITS: usize = 2048;

/// The DER bytes of the first PEM block.
fn pem_der(pem: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.find("-----BEGIN ")?;
    let body_start = start + text[start..].find('\n')?;
    let end = text[body_start..].find("-----END ")? + body_start;
    let body: String = text[body_start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// The bit length of the largest INTEGER anywhere in a DER structure: for every RSA key format
/// (SPKI, PKCS#1, PKCS#8) that is the modulus.
fn largest_integer_bits(der: &[u8], depth: usize) -> Option<usize> {
    if depth > 8 {
        return None;
    }
    let mut largest = None;
    let mut rest = der;
    while !rest.is_empty() {
        let tag = rest[0];
        let (len, header) = match *rest.get(1)? {
            n if n < 0x80 => (n as usize, 2),
            0x81 => (*rest.get(2)? as usize, 3),
            0x82 => ((*rest.get(2)? as usize) << 8 | *rest.get(3)? as usize, 4),
            _ => return largest,
        };
        let content = rest.get(header..header + len)?;
        let bits = match tag {
            // INTEGER: significant bits, leading zero bytes ignored.
            0x02 => {
                let value: &[u8] = match content.iter().position(|b| *b != 0) {
                    Some(i) => &content[i..],
                    None => &[],
                };
                value
                    .first()
                    .map(|b| value.len() * 8 - b.leading_zeros() as usize)
            }
            // SEQUENCE, OCTET STRING: look inside.
            0x30 | 0x04 => largest_integer_bits(content, depth + 1),
            // BIT STRING: skip the unused-bits byte.
            0x03 => content
                .get(1..)
                .and_then(|c| largest_integer_bits(c, depth + 1)),
            _ => None,
        };
        largest = largest.max(bits);
        rest = &rest[header + len..];
    }
    largest
}

/// Classifies a PEM key by its algorithm OID (and curve OID for EC keys).
pub fn pem_key_kind(pem: &[u8]) -> Option<KeyKind> {
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.find("-----BEGIN ")?;
    let header_end = start + text[start..].find('\n')?;
    let label = &text[start..header_end];
    if label.contains("RSA ") {
        return Some(KeyKind::Rsa);
    }
    let end = text[header_end..].find("-----END ")? + header_end;
    let body: String = text[header_end..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    let has = |oid: &[u8]| der.windows(oid.len()).any(|w| w == oid);
    // 1.2.840.113549.1.1.1 rsaEncryption, 1.2.840.113549.1.1.10 RSASSA-PSS
    if has(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01])
        || has(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a])
    {
        return Some(KeyKind::Rsa);
    }
    // 1.3.101.112 Ed25519
    if has(&[0x06, 0x03, 0x2b, 0x65, 0x70]) {
        return Some(KeyKind::Ed25519);
    }
    // prime256v1 and secp384r1 curve OIDs (also in SEC1 "EC PRIVATE KEY" files)
    if has(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]) {
        return Some(KeyKind::EcP256);
    }
    if has(&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]) {
        return Some(KeyKind::EcP384);
    }
    None
}

/// A JSON object whose names are unique, parsed in full (every string validated, nesting
/// bounded by serde_json's recursion limit). RFC 7515 §5.2 and RFC 7519 §4 let a parser reject
/// duplicate names or keep the last; rejecting leaves no doubt about which `alg`, `jti` or `sub`
/// a token carries.
struct UniqueObject(Map<String, Value>);

impl UniqueObject {
    /// Decodes a base64url segment into an object.
    fn from_segment(segment: &str) -> Option<Map<String, Value>> {
        let json = URL_SAFE_NO_PAD.decode(segment).ok()?;
        serde_json::from_slice::<UniqueObject>(&json)
            .ok()
            .map(|o| o.0)
    }
}

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object with unique names")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<UniqueObject, A::Error> {
                let mut claims = Map::new();
                while let Some((name, value)) = map.next_entry::<String, Value>()? {
                    if claims.contains_key(&name) {
                        return Err(serde::de::Error::custom("duplicate name"));
                    }
                    claims.insert(name, value);
                }
                Ok(UniqueObject(claims))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// One public key (or secret) an issuer signs with.
pub struct KeyEntry {
    /// The `kid` tokens name this key by; `None` for a key chosen by algorithm.
    pub kid: Option<String>,
    pub kind: KeyKind,
    /// When set (a JWK's `alg`), the key verifies only this algorithm.
    pub alg: Option<Algorithm>,
    pub key: DecodingKey,
}

impl KeyEntry {
    fn fits(&self, alg: Algorithm) -> bool {
        self.kind == KeyKind::of(alg) && self.alg.is_none_or(|a| a == alg)
    }
}

/// Where an issuer's keys come from.
pub enum KeySource {
    Static(Vec<KeyEntry>),
    Remote(Arc<RemoteKeys>),
}

/// One trusted issuer: its keys, algorithms and claim policy.
pub struct IssuerKeys {
    algorithms: Vec<Algorithm>,
    policy: ClaimsPolicy,
    source: KeySource,
}

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

/// Builds the remote key set of `[[jwt.issuers]]` entry `i` (the service supplies it; it needs
/// an HTTP client and metrics).
pub type RemoteBuilder<'a> =
    dyn Fn(usize, &IssuerSettings) -> Result<Arc<RemoteKeys>, ConfigError> + 'a;

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
        })
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

    /// Every remote key set, for refreshers, readiness and metrics.
    pub fn remote_keys(&self) -> impl Iterator<Item = &Arc<RemoteKeys>> {
        self.issuers.iter().filter_map(|i| match &i.source {
            KeySource::Remote(r) => Some(r),
            KeySource::Static(_) => None,
        })
    }

    /// Checks `token` at `now` (unix seconds): length, header, issuer, allowlist, key,
    /// signature, claims.
    pub fn verify(&self, token: &str, now: i64) -> Result<VerifiedToken, Rejection> {
        if token.is_empty() || token.len() > self.max_token_bytes {
            return Err(Inactive::Malformed.into());
        }
        // Exactly three segments: header.payload.signature.
        let (message, signature) = token.rsplit_once('.').ok_or(Inactive::Malformed)?;
        let (header, payload) = message.split_once('.').ok_or(Inactive::Malformed)?;
        if payload.contains('.') {
            return Err(Inactive::Malformed.into());
        }
        // The header parameters introspectd reads: `alg`, `kid` (to choose a key; it is only
        // ever looked up among configured keys), and `crit` (refused below). `typ` and `cty`
        // are not used but must be strings. `jku`, `x5u`, `jwk` and `x5c` are never used.
        let header = UniqueObject::from_segment(header).ok_or(Inactive::Malformed)?;
        let alg = header
            .get("alg")
            .and_then(|v| Algorithm::deserialize(v).ok())
            .ok_or(Inactive::Malformed)?;
        if ["kid", "typ", "cty"]
            .iter()
            .any(|name| header.get(*name).is_some_and(|v| !v.is_string()))
        {
            return Err(Inactive::Malformed.into());
        }
        let kid = header.get("kid").and_then(Value::as_str);
        // With several issuers the (not yet verified) `iss` only chooses whose keys to try; the
        // claims are checked after the signature.
        let (issuer, claims) = if self.by_name.is_empty() {
            (&self.issuers[0], None)
        } else {
            let claims = UniqueObject::from_segment(payload).ok_or(Inactive::Malformed)?;
            let index = claims
                .get("iss")
                .and_then(Value::as_str)
                .and_then(|iss| self.by_name.get(iss))
                .ok_or(Inactive::Claims)?;
            (&self.issuers[*index], Some(claims))
        };
        if !issuer.algorithms.contains(&alg) {
            return Err(Inactive::Signature.into());
        }
        let snapshot;
        let keys: &[KeyEntry] = match &issuer.source {
            KeySource::Static(keys) => keys,
            KeySource::Remote(remote) => {
                snapshot = remote.keys();
                &snapshot.keys
            }
        };
        // Keys named by the token's kid first; only when none is named, keys chosen by
        // algorithm (those without a kid, or any when the token has none), at most a few.
        let named = keys
            .iter()
            .filter(|k| kid.is_some() && k.kid.as_deref() == kid && k.fits(alg));
        let unnamed = keys
            .iter()
            .filter(|k| (k.kid.is_none() || kid.is_none()) && k.fits(alg))
            .take(MAX_CANDIDATE_KEYS);
        let mut tried = 0;
        let mut verified = false;
        let has_named = named.clone().next().is_some();
        let candidates: &mut dyn Iterator<Item = &KeyEntry> = if has_named {
            &mut { named }
        } else {
            &mut { unnamed }
        };
        for candidate in candidates {
            tried += 1;
            match jsonwebtoken::crypto::verify(signature, message.as_bytes(), &candidate.key, alg) {
                Ok(true) => {
                    verified = true;
                    break;
                }
                Ok(false) => {}
                Err(e) => {
                    if classify(e.kind()) == Inactive::Malformed {
                        return Err(Inactive::Malformed.into());
                    }
                }
            }
        }
        if tried == 0 {
            return Err(Rejection {
                reason: Inactive::Signature,
                refetch: match (&issuer.source, kid) {
                    (KeySource::Remote(remote), Some(_)) => Some(Arc::clone(remote)),
                    _ => None,
                },
            });
        }
        if !verified {
            return Err(Inactive::Signature.into());
        }
        // No JWS extension is understood, so any `crit` header makes the token unusable
        // (RFC 7515 §4.1.11).
        if header.contains_key("crit") {
            return Err(Inactive::Malformed.into());
        }
        let claims = match claims {
            Some(claims) => claims,
            None => UniqueObject::from_segment(payload).ok_or(Inactive::Malformed)?,
        };
        let checked = issuer.policy.check(&claims, now)?;
        Ok(VerifiedToken::new(token, claims, checked))
    }
}

/// The key of a static source: an HMAC secret or one PEM public key.
fn static_key(
    kind: KeyKind,
    algorithms: &[Algorithm],
    secret: Option<&crate::config::Secret>,
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
fn issuer_source(
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
fn parse_issuer_algorithms(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn allowlist_refuses_none_unknown_empty_and_mixed() {
        for bad in [
            &["none"][..],
            &["NoNe"],
            &["HS256", " none"],
            &["HS257"],
            &["hs256"],
            &[],
            &["HS256", "RS256"],
            &["ES256", "ES384"],
            &["RS256", "EdDSA"],
        ] {
            let err = parse_algorithms(&names(bad)).unwrap_err();
            assert_eq!(err.key, "jwt.algorithms", "{bad:?}");
        }
        assert_eq!(
            parse_algorithms(&names(&["RS256", "PS256"])).unwrap().1,
            KeyKind::Rsa
        );
    }

    #[test]
    fn rsa_modulus_size_is_read_from_every_key_format() {
        let fixture = |name: &str| {
            std::fs::read(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures")
                    .join(name),
            )
            .unwrap()
        };
        for (file, bits) in [
            ("rs256-public.pem", 2048),
            ("rs256-pkcs1-public.pem", 2048),
            ("rs256-private.pem", 2048),
            ("rs1024-public.pem", 1024),
        ] {
            let der = pem_der(&fixture(file)).unwrap();
            assert_eq!(largest_integer_bits(&der, 0), Some(bits), "{file}");
        }
    }

    #[test]
    fn hmac_secret_length_follows_the_strongest_algorithm() {
        assert_eq!(min_hmac_secret_len(&[Algorithm::HS256]), 32);
        assert_eq!(
            min_hmac_secret_len(&[Algorithm::HS256, Algorithm::HS512]),
            64
        );
    }
}
