//! What is measured: the servers (the bare ceiling and one introspectd per store and key type),
//! the tokens each case presents, and the list of cases.

use std::path::Path;

use base64::Engine;
use introspectd::clock::unix_now;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::load::Request;
use crate::{Result, CLIENT, CLIENT_SECRET, ISSUER, SECRET};

/// The server a case runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// The bare actix-web server (bench/ceiling.rs).
    Bare,
    RedisHs256,
    MemoryHs256,
    ClusterHs256,
    MemoryRs256,
    MemoryEs256,
    /// The same with the verified-token cache off: every request verifies (the cold rows).
    MemoryRs256NoCache,
    MemoryEs256NoCache,
    /// Redis with the blocklist mirror on, one of two replicas (key prefix `m2:`).
    MirrorOfTwo,
    /// Redis with the blocklist mirror on, one of four replicas (key prefix `m4:`).
    MirrorOfFour,
    /// The same Redis through its TLS port (a private CA), checks by MGET.
    RedisTlsHs256,
    /// The same Redis through its TLS port with the mirror on, alone (key prefix `mt:`).
    MirrorTls,
    /// The file store on this machine's disk.
    FileHs256,
}

impl Target {
    pub fn label(self) -> &'static str {
        match self {
            Target::Bare => "bare actix-web",
            Target::RedisHs256 => "redis HS256, no mirror",
            Target::MemoryHs256 => "memory HS256",
            Target::ClusterHs256 => "cluster HS256, no mirror",
            Target::MemoryRs256 => "memory RS256",
            Target::MemoryEs256 => "memory ES256",
            Target::MemoryRs256NoCache => "memory RS256, no cache",
            Target::MemoryEs256NoCache => "memory ES256, no cache",
            Target::MirrorOfTwo => "redis HS256, mirror, 2 replicas",
            Target::MirrorOfFour => "redis HS256, mirror, 4 replicas",
            Target::RedisTlsHs256 => "redis over TLS HS256, no mirror",
            Target::MirrorTls => "redis over TLS HS256, mirror",
            Target::FileHs256 => "file HS256",
        }
    }

    /// Whether a token check on this target reads Redis.
    pub fn uses_redis(self) -> bool {
        matches!(
            self,
            Target::RedisHs256
                | Target::ClusterHs256
                | Target::MirrorOfTwo
                | Target::MirrorOfFour
                | Target::RedisTlsHs256
                | Target::MirrorTls
        )
    }
}

pub struct Case {
    pub name: &'static str,
    pub target: Target,
    pub request: Request,
    /// Whether every response should be non-2xx.
    pub denied: bool,
    /// wrk connections for this case, when not the run's (a latency row at low concurrency).
    pub connections: Option<u64>,
}

/// Distinct tokens cycled by the cold cases.
pub const COLD_TOKENS: usize = 10_000;

/// Every token the cases present. The revoked ones are revoked by `main` before the run.
pub struct Tokens {
    pub valid: String,
    pub revoked: String,
    pub subject_revoked: String,
    pub garbage: String,
    /// Revoked again and again by the /revoke rows (never presented to /auth).
    pub valid_to_revoke: String,
    pub rs256: String,
    pub es256: String,
    /// Files of COLD_TOKENS distinct tokens, one a line.
    pub rs256_cold: String,
    pub es256_cold: String,
}

pub struct Keys {
    hs256: EncodingKey,
    rs256: EncodingKey,
    es256: EncodingKey,
}

impl Keys {
    pub fn load(fixtures: &Path) -> Result<Keys> {
        let read = |name: &str| std::fs::read(fixtures.join(name)).map_err(|e| e.to_string());
        Ok(Keys {
            hs256: EncodingKey::from_secret(SECRET.as_bytes()),
            rs256: EncodingKey::from_rsa_pem(&read("rs256-private.pem")?)
                .map_err(|e| e.to_string())?,
            es256: EncodingKey::from_ec_pem(&read("es256-private.pem")?)
                .map_err(|e| e.to_string())?,
        })
    }

    fn sign(&self, alg: Algorithm, sub: &str, iat: i64) -> String {
        let key = match alg {
            Algorithm::RS256 => &self.rs256,
            Algorithm::ES256 => &self.es256,
            _ => &self.hs256,
        };
        jsonwebtoken::encode(&Header::new(alg), &claims(sub, iat), key).expect("bench token signs")
    }
}

fn claims(sub: &str, iat: i64) -> Value {
    json!({
        "sub": sub, "jti": uuid::Uuid::new_v4().to_string(), "iat": iat, "exp": unix_now() + 3600,
        "iss": ISSUER, "aud": "api", "scope": "read write",
    })
}

impl Tokens {
    pub fn sign(keys: &Keys, dir: &Path) -> Result<Tokens> {
        let now = unix_now();
        let valid = keys.sign(Algorithm::HS256, "bench-valid", now);
        let mut garbage = valid.clone();
        let last = garbage.pop().expect("token is not empty");
        garbage.push(if last == 'A' { 'B' } else { 'A' });
        let cold = |alg: Algorithm, name: &str| -> Result<String> {
            let lines: Vec<String> = (0..COLD_TOKENS)
                .map(|i| keys.sign(alg, &format!("bench-cold-{i}"), now))
                .collect();
            let file = dir.join(name);
            std::fs::write(&file, lines.join("\n") + "\n").map_err(|e| e.to_string())?;
            Ok(file.display().to_string())
        };
        Ok(Tokens {
            revoked: keys.sign(Algorithm::HS256, "bench-revoked", now),
            subject_revoked: keys.sign(Algorithm::HS256, "bench-subject", now - 60),
            rs256: keys.sign(Algorithm::RS256, "bench-rs", now),
            es256: keys.sign(Algorithm::ES256, "bench-es", now),
            rs256_cold: cold(Algorithm::RS256, "rs256-cold.txt")?,
            es256_cold: cold(Algorithm::ES256, "es256-cold.txt")?,
            valid_to_revoke: keys.sign(Algorithm::HS256, "bench-revoke-rows", now),
            valid,
            garbage,
        })
    }
}

pub fn basic_credentials() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT}:{CLIENT_SECRET}"))
    )
}

fn get(path: &'static str, headers: Vec<(&'static str, String)>) -> Request {
    Request {
        method: "GET",
        path,
        body: "-".into(),
        headers,
    }
}

fn auth(token: &str) -> Request {
    get("/auth", vec![("Authorization", format!("Bearer {token}"))])
}

fn auth_cycling(file: &str) -> Request {
    get(
        "/auth",
        vec![("Authorization", format!("Bearer @lines:{file}"))],
    )
}

fn introspect(token: &str) -> Request {
    form("/introspect", token)
}

fn form(path: &'static str, token: &str) -> Request {
    Request {
        method: "POST",
        path,
        body: format!("token={token}"),
        headers: vec![
            ("Authorization", basic_credentials()),
            ("Content-Type", "application/x-www-form-urlencoded".into()),
        ],
    }
}

pub fn cases(t: &Tokens) -> Vec<Case> {
    let case = |name, target, request, denied| Case {
        name,
        target,
        request,
        denied,
        connections: None,
    };
    // One revocation at a time: the latency of a revocation in a healthy fleet.
    let one_at_a_time = |name, target, request| Case {
        connections: Some(1),
        ..case(name, target, request, false)
    };
    use Target::*;
    vec![
        case("GET / (ceiling)", Bare, get("/", vec![]), false),
        case("GET /healthz", RedisHs256, get("/healthz", vec![]), false),
        case("/auth valid", RedisHs256, auth(&t.valid), false),
        case("/auth revoked", RedisHs256, auth(&t.revoked), true),
        case(
            "/auth subject-revoked",
            RedisHs256,
            auth(&t.subject_revoked),
            true,
        ),
        case(
            "/auth garbage (bad signature)",
            RedisHs256,
            auth(&t.garbage),
            true,
        ),
        case("/introspect valid", RedisHs256, introspect(&t.valid), false),
        case(
            "/introspect revoked",
            RedisHs256,
            introspect(&t.revoked),
            false,
        ),
        case("/auth valid (memory)", MemoryHs256, auth(&t.valid), false),
        case("/auth valid (file)", FileHs256, auth(&t.valid), false),
        case(
            "/revoke (file)",
            FileHs256,
            form("/revoke", &t.valid_to_revoke),
            false,
        ),
        one_at_a_time(
            "/revoke one at a time (file)",
            FileHs256,
            form("/revoke", &t.valid_to_revoke),
        ),
        case("/auth valid (cluster)", ClusterHs256, auth(&t.valid), false),
        case("/auth valid (TLS)", RedisTlsHs256, auth(&t.valid), false),
        case(
            "/auth valid (mirror, TLS)",
            MirrorTls,
            auth(&t.valid),
            false,
        ),
        case("/auth valid (mirror)", MirrorOfTwo, auth(&t.valid), false),
        case(
            "/auth revoked (mirror)",
            MirrorOfTwo,
            auth(&t.revoked),
            true,
        ),
        case(
            "/revoke, 2 mirror replicas",
            MirrorOfTwo,
            form("/revoke", &t.valid_to_revoke),
            false,
        ),
        case(
            "/revoke, 4 mirror replicas",
            MirrorOfFour,
            form("/revoke", &t.valid_to_revoke),
            false,
        ),
        one_at_a_time(
            "/revoke one at a time, 2 mirror replicas",
            MirrorOfTwo,
            form("/revoke", &t.valid_to_revoke),
        ),
        one_at_a_time(
            "/revoke one at a time, 4 mirror replicas",
            MirrorOfFour,
            form("/revoke", &t.valid_to_revoke),
        ),
        case("/auth RS256 session", MemoryRs256, auth(&t.rs256), false),
        case(
            "/auth RS256 cold",
            MemoryRs256NoCache,
            auth_cycling(&t.rs256_cold),
            false,
        ),
        case("/auth ES256 session", MemoryEs256, auth(&t.es256), false),
        case(
            "/auth ES256 cold",
            MemoryEs256NoCache,
            auth_cycling(&t.es256_cold),
            false,
        ),
    ]
}
