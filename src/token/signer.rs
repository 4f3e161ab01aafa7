//! Signing, for `introspectd mint` and for the start-up self-test that proves the crypto backend
//! and the configured keys work before the service accepts traffic.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Map, Value};

use super::keys::{hmac_secret, parse_algorithms, KeyKind};
use super::pem::read_pem;
use super::{Inactive, Verifier};
use crate::config::{ConfigError, JwtSettings};

/// Signs tokens with `jwt.hmac_secret` or `jwt.private_key_file`, using the first allowed algorithm.
pub struct Signer {
    key: EncodingKey,
    alg: Algorithm,
}

impl Signer {
    /// `Ok(None)` when no signing key is configured (an asymmetric set-up without a private key).
    pub fn from_settings(jwt: &JwtSettings) -> Result<Option<Signer>, ConfigError> {
        super::install_crypto_backend();
        let (algorithms, kind) = parse_algorithms(&jwt.algorithms)?;
        let alg = algorithms[0];
        if kind == KeyKind::Hmac {
            let secret = hmac_secret(jwt.hmac_secret.as_ref(), &algorithms, "jwt.hmac_secret")?;
            return Ok(Some(Signer {
                key: EncodingKey::from_secret(secret),
                alg,
            }));
        }
        let Some(path) = jwt.private_key_file.as_deref() else {
            return Ok(None);
        };
        let pem = read_pem("jwt.private_key_file", path, kind)?;
        let key = match kind {
            KeyKind::Rsa => EncodingKey::from_rsa_pem(&pem),
            KeyKind::EcP256 | KeyKind::EcP384 => EncodingKey::from_ec_pem(&pem),
            KeyKind::Ed25519 => EncodingKey::from_ed_pem(&pem),
            KeyKind::Hmac => unreachable!("HMAC keys are handled above"),
        }
        .map_err(|e| {
            ConfigError::new(
                "jwt.private_key_file",
                format!("not a usable private key: {e}"),
            )
        })?;
        Ok(Some(Signer { key, alg }))
    }

    pub fn sign(&self, claims: &Map<String, Value>) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(self.alg), claims, &self.key)
    }
}

/// What `introspectd mint` puts in a token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MintRequest {
    pub sub: String,
    pub scope: Option<String>,
    pub ttl_secs: i64,
    /// Extra claims; a value that parses as JSON is kept as JSON, anything else is a string.
    pub extra: Vec<(String, String)>,
}

/// Builds the claims of a new token: `sub`, `jti` (UUID v4), `iat`, `exp`, and `iss`/`aud`
/// when configured.
pub fn mint_claims(jwt: &JwtSettings, req: &MintRequest, now: i64) -> Map<String, Value> {
    let mut claims = Map::new();
    for (k, v) in &req.extra {
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.clone()));
        claims.insert(k.clone(), value);
    }
    claims.insert("sub".into(), json!(req.sub));
    claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now.saturating_add(req.ttl_secs)));
    if let Some(scope) = &req.scope {
        claims.insert("scope".into(), json!(scope));
    }
    if let Some(iss) = &jwt.issuer {
        claims.insert("iss".into(), json!(iss));
    }
    match jwt.audience.as_slice() {
        [] => {}
        [one] => {
            claims.insert("aud".into(), json!(one));
        }
        many => {
            claims.insert("aud".into(), json!(many));
        }
    }
    claims
}

/// Signs and verifies a probe token (when a signing key is configured), and checks that a
/// forged probe is refused as a bad signature rather than crashing the crypto backend.
pub fn self_test(jwt: &JwtSettings, verifier: &Verifier, now: i64) -> Result<(), ConfigError> {
    let fail = |key: &str, what: String| {
        ConfigError::new(key, format!("start-up self-test failed: {what}"))
    };
    let req = MintRequest {
        sub: "introspectd-self-test".into(),
        ttl_secs: 60,
        ..MintRequest::default()
    };
    let claims = mint_claims(jwt, &req, now);
    if let Some(signer) = Signer::from_settings(jwt)? {
        let key = if verifier.key_kind() == KeyKind::Hmac {
            "jwt.hmac_secret"
        } else {
            "jwt.private_key_file"
        };
        let token = signer
            .sign(&claims)
            .map_err(|e| fail(key, format!("cannot sign: {e}")))?;
        verifier.verify(&token, now).map_err(|r| {
            fail(
                key,
                format!("probe token is inactive ({})", r.reason.as_str()),
            )
        })?;
    }
    // A well-formed token with a signature of plausible length that cannot be right.
    let header = URL_SAFE_NO_PAD.encode(
        json!({"alg": format!("{:?}", verifier.algorithms()[0]), "typ": "JWT"}).to_string(),
    );
    let payload = URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string());
    let signature = URL_SAFE_NO_PAD.encode([0x5a_u8; 64]);
    let forged = format!("{header}.{payload}.{signature}");
    // A panic here stops start-up; the verifier is not used after it.
    let probe =
        std::panic::AssertUnwindSafe(|| verifier.verify(&forged, now).map_err(|r| r.reason));
    let outcome = std::panic::catch_unwind(probe)
        .map_err(|_| fail("jwt.algorithms", "the crypto backend panicked".into()))?;
    match outcome {
        Err(Inactive::Signature) => Ok(()),
        other => Err(fail(
            "jwt.algorithms",
            format!("a forged probe was not refused as a bad signature ({other:?})"),
        )),
    }
}
