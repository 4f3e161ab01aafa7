//! Signature verification, built once from `[jwt]`: the algorithm allowlist, the one key that
//! serves it, and the claim policy. `verify` is the hot path: length cap, header, allowlist,
//! signature, then claims; it never touches the store.
//!
//! jsonwebtoken does the cryptography (`crypto::verify`), but not the parsing: its `decode`
//! parses the header twice and the claims twice per call, and its claim checks do not fit
//! (see claims.rs). Here each part is decoded and parsed once.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{ClaimsPolicy, Inactive, VerifiedToken};
use crate::config::{ConfigError, JwtSettings};

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
    fn of(alg: Algorithm) -> KeyKind {
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

/// Reads the HMAC secret, checking its length against the allowlist.
pub fn hmac_secret<'a>(
    jwt: &'a JwtSettings,
    algorithms: &[Algorithm],
) -> Result<&'a [u8], ConfigError> {
    let secret = jwt
        .hmac_secret
        .as_ref()
        .ok_or_else(|| ConfigError::new("jwt.hmac_secret", "is required for HS* algorithms"))?;
    let min = min_hmac_secret_len(algorithms);
    if secret.expose().len() < min {
        return Err(ConfigError::new(
            "jwt.hmac_secret",
            format!("must be at least {min} bytes"),
        ));
    }
    Ok(secret.expose().as_bytes())
}

/// Reads a PEM key file and checks that it holds the kind of key the allowlist needs.
pub fn read_pem(key: &str, path: &Path, kind: KeyKind) -> Result<Vec<u8>, ConfigError> {
    let pem = std::fs::read(path)
        .map_err(|e| ConfigError::new(key, format!("cannot read {}: {e}", path.display())))?;
    let found = pem_key_kind(&pem)
        .ok_or_else(|| ConfigError::new(key, format!("{} is not a PEM key", path.display())))?;
    if found != kind {
        return Err(ConfigError::new(
            key,
            format!("holds an {found} key but jwt.algorithms needs an {kind} key"),
        ));
    }
    Ok(pem)
}

/// Classifies a PEM key by its algorithm OID (and curve OID for EC keys).
fn pem_key_kind(pem: &[u8]) -> Option<KeyKind> {
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

/// Verifies tokens against the configured allowlist, key and claim policy.
pub struct Verifier {
    key: DecodingKey,
    kind: KeyKind,
    algorithms: Vec<Algorithm>,
    policy: ClaimsPolicy,
    max_token_bytes: usize,
}

impl Verifier {
    pub fn from_settings(jwt: &JwtSettings) -> Result<Verifier, ConfigError> {
        super::install_crypto_backend();
        let (algorithms, kind) = parse_algorithms(&jwt.algorithms)?;
        let key = if kind == KeyKind::Hmac {
            DecodingKey::from_secret(hmac_secret(jwt, &algorithms)?)
        } else {
            let path = jwt.public_key_file.as_deref().ok_or_else(|| {
                ConfigError::new(
                    "jwt.public_key_file",
                    "is required for RS*/PS*/ES*/EdDSA algorithms",
                )
            })?;
            let pem = read_pem("jwt.public_key_file", path, kind)?;
            let parsed = match kind {
                KeyKind::Rsa => DecodingKey::from_rsa_pem(&pem),
                KeyKind::EcP256 | KeyKind::EcP384 => DecodingKey::from_ec_pem(&pem),
                KeyKind::Ed25519 => DecodingKey::from_ed_pem(&pem),
                KeyKind::Hmac => unreachable!("HMAC keys are handled above"),
            };
            parsed.map_err(|e| {
                ConfigError::new(
                    "jwt.public_key_file",
                    format!("not a usable public key: {e}"),
                )
            })?
        };
        let to_i64 =
            |key: &str, v: u64| i64::try_from(v).map_err(|_| ConfigError::new(key, "is too large"));
        Ok(Verifier {
            key,
            kind,
            algorithms,
            policy: ClaimsPolicy {
                issuer: jwt.issuer.clone(),
                audience: jwt.audience.clone(),
                leeway_secs: to_i64("jwt.leeway_secs", jwt.leeway_secs)?,
                max_lifetime_secs: to_i64("jwt.max_lifetime_secs", jwt.max_lifetime_secs)?,
            },
            max_token_bytes: jwt.max_token_bytes,
        })
    }

    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    pub fn key_kind(&self) -> KeyKind {
        self.kind
    }

    pub fn policy(&self) -> &ClaimsPolicy {
        &self.policy
    }

    /// Checks `token` at `now` (unix seconds): length, header, allowlist, signature, claims.
    pub fn verify(&self, token: &str, now: i64) -> Result<VerifiedToken, Inactive> {
        if token.is_empty() || token.len() > self.max_token_bytes {
            return Err(Inactive::Malformed);
        }
        // Exactly three segments: header.payload.signature.
        let (message, signature) = token.rsplit_once('.').ok_or(Inactive::Malformed)?;
        let (header, payload) = message.split_once('.').ok_or(Inactive::Malformed)?;
        if payload.contains('.') {
            return Err(Inactive::Malformed);
        }
        // The header parameters introspectd reads: `alg`, and `crit` (refused below). `kid`,
        // `typ` and `cty` are never used, but must be strings when present. `jku`, `x5u`, `jwk`
        // and `x5c` are never used to find a key.
        let header = UniqueObject::from_segment(header).ok_or(Inactive::Malformed)?;
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
        if !self.algorithms.contains(&alg) {
            return Err(Inactive::Signature);
        }
        match jsonwebtoken::crypto::verify(signature, message.as_bytes(), &self.key, alg) {
            Ok(true) => {}
            Ok(false) => return Err(Inactive::Signature),
            Err(e) => return Err(classify(e.kind())),
        }
        // No JWS extension is understood, so any `crit` header makes the token unusable
        // (RFC 7515 §4.1.11).
        if header.contains_key("crit") {
            return Err(Inactive::Malformed);
        }
        let claims = UniqueObject::from_segment(payload).ok_or(Inactive::Malformed)?;
        let checked = self.policy.check(&claims, now)?;
        Ok(VerifiedToken::new(token, claims, checked))
    }
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
    fn hmac_secret_length_follows_the_strongest_algorithm() {
        assert_eq!(min_hmac_secret_len(&[Algorithm::HS256]), 32);
        assert_eq!(
            min_hmac_secret_len(&[Algorithm::HS256, Algorithm::HS512]),
            64
        );
    }
}
