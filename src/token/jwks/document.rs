//! What comes over the wire from an identity provider: documents fetched with a size cap and
//! their Cache-Control max-age, the errors of doing so, and JWKs turned into verification keys.

use std::fmt;
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::token::keys::{rsa_modulus_bits, KeyEntry, KeyKind, MIN_RSA_BITS};

/// Largest JWKS or discovery document accepted.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Why keys could not be had from the identity provider. The text is safe to log: it never
/// holds a URL's query or a response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The request failed before an answer (connection, TLS, timeout).
    Request(String),
    /// The provider answered with this non-success status.
    Status(u16),
    /// The document is over 1 MiB.
    TooLarge,
    /// The document is not the JSON it should be.
    Unparsable {
        document: &'static str,
        cause: String,
    },
    /// The document parsed but cannot be used (wrong issuer, no jwks_uri, no usable key...).
    Unusable(&'static str),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Request(cause) => write!(f, "request failed: {cause}"),
            FetchError::Status(status) => write!(f, "HTTP {status}"),
            FetchError::TooLarge => f.write_str("document too large"),
            FetchError::Unparsable { document, cause } => write!(f, "{document}: {cause}"),
            FetchError::Unusable(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for FetchError {}

/// GETs a JSON document (at most 1 MiB) and its Cache-Control max-age.
pub async fn get(
    client: &reqwest::Client,
    url: &str,
) -> Result<(Vec<u8>, Option<Duration>), FetchError> {
    let res = client
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| FetchError::Request(e.without_url().to_string()))?;
    if !res.status().is_success() {
        return Err(FetchError::Status(res.status().as_u16()));
    }
    if res
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(FetchError::TooLarge);
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
        .map_err(|e| FetchError::Request(e.without_url().to_string()))?;
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(FetchError::TooLarge);
    }
    Ok((body.to_vec(), max_age))
}

/// A JWK as a verification key: signature keys of supported types only.
pub fn key_entry(jwk: &jsonwebtoken::jwk::Jwk) -> Option<KeyEntry> {
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
