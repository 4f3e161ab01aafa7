//! `introspectd mint`: tokens that verify, with HMAC and asymmetric keys.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::support::*;

fn decode(token: &str, key: &DecodingKey, alg: Algorithm) -> Map<String, Value> {
    let mut validation = Validation::new(alg);
    validation.set_audience(&["api"]);
    validation.set_issuer(&["https://issuer.test"]);
    validation.leeway = 0;
    jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
        .expect("minted token verifies")
        .claims
}

#[test]
fn mint_prints_a_token_that_verifies() {
    let dir = Dir::new();
    let path = dir.write("c.toml", &hs_config());
    let out = run(
        &[
            "mint",
            "--config",
            path.to_str().unwrap(),
            "--sub",
            "alice",
            "--scope",
            "read write",
            "--ttl",
            "120",
            "--claim",
            "tenant=acme",
            "--claim",
            "level=3",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let claims = decode(
        token.trim(),
        &DecodingKey::from_secret(SECRET.as_bytes()),
        Algorithm::HS256,
    );
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["scope"], "read write");
    assert_eq!(claims["tenant"], "acme");
    assert_eq!(claims["level"], 3);
    assert_eq!(claims["iss"], "https://issuer.test");
    assert_eq!(claims["aud"], "api");
    let jti = claims["jti"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(jti).unwrap().get_version_num(), 4);
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["exp"].as_i64().unwrap(), iat + 120);
}

#[test]
fn mint_signs_with_asymmetric_keys() {
    let cases = [
        ("ES256", Algorithm::ES256, "es256"),
        ("EdDSA", Algorithm::EdDSA, "ed25519"),
        ("RS256", Algorithm::RS256, "rs256"),
    ];
    for (name, alg, file) in cases {
        let dir = Dir::new();
        let config = base_config(&format!(
            "algorithms = [\"{name}\"]\npublic_key_file = \"{}\"\nprivate_key_file = \"{}\"\nissuer = \"https://issuer.test\"\naudience = [\"api\"]",
            fixture(&format!("{file}-public.pem")),
            fixture(&format!("{file}-private.pem")),
        ));
        let path = dir.write("c.toml", &config);
        let out = run(
            &["mint", "--config", path.to_str().unwrap(), "--sub", "bob"],
            &[],
        );
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8(out.stdout).unwrap();
        let pem = std::fs::read(fixture(&format!("{file}-public.pem"))).unwrap();
        let key = match alg {
            Algorithm::ES256 => DecodingKey::from_ec_pem(&pem),
            Algorithm::EdDSA => DecodingKey::from_ed_pem(&pem),
            _ => DecodingKey::from_rsa_pem(&pem),
        }
        .unwrap();
        assert_eq!(decode(token.trim(), &key, alg)["sub"], "bob", "{name}");
    }
}

#[test]
fn mint_without_a_private_key_says_which_key_is_missing() {
    let dir = Dir::new();
    let config = base_config(&format!(
        "algorithms = [\"ES256\"]\npublic_key_file = \"{}\"",
        fixture("es256-public.pem")
    ));
    let path = dir.write("c.toml", &config);
    let out = run(
        &["mint", "--config", path.to_str().unwrap(), "--sub", "bob"],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("config error: jwt.private_key_file: ")
    );
}
