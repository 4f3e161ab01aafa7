//! Keys as the verifier and the JWKS fetcher share them: the kind of key each algorithm needs,
//! the algorithm allowlist, HMAC secret and RSA size minimums, and one key entry.

use jsonwebtoken::{Algorithm, DecodingKey};

use crate::config::{ConfigError, Secret};

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
    secret: Option<&'a Secret>,
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

/// RFC 7518 §3.3: RSA keys for RS*/PS* must be 2048 bits or larger.
pub const MIN_RSA_BITS: usize = 2048;

/// The one RSA size check, for PEM files and JWKs alike: `modulus` is the big-endian modulus
/// (leading zero bytes allowed); its significant bits must reach `MIN_RSA_BITS`.
pub fn rsa_modulus_bits(modulus: &[u8]) -> usize {
    let value = match modulus.iter().position(|b| *b != 0) {
        Some(i) => &modulus[i..],
        None => &[],
    };
    value
        .first()
        .map_or(0, |b| value.len() * 8 - b.leading_zeros() as usize)
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
    pub fn fits(&self, alg: Algorithm) -> bool {
        self.kind == KeyKind::of(alg) && self.alg.is_none_or(|a| a == alg)
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

    #[test]
    fn rsa_bits_are_counted_exactly() {
        let mut modulus = vec![0u8, 0x7f];
        modulus.extend([0xff; 255]);
        // 0x7f is 7 significant bits: 7 + 255 * 8 = 2047.
        assert_eq!(rsa_modulus_bits(&modulus), 2047);
        modulus[1] = 0x80;
        assert_eq!(rsa_modulus_bits(&modulus), 2048);
        assert_eq!(rsa_modulus_bits(&[0, 0]), 0);
    }
}
