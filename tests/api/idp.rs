//! A fake identity provider for the tests, in-process on a free port: `/jwks` and
//! `/.well-known/openid-configuration`, serving signing keys made from the test fixtures or
//! generated per test; it counts its fetches and can be taken down.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use actix_web::{web, App, HttpResponse, HttpServer};
use introspectd::clock::unix_now;
use introspectd::config::IssuerSettings;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Map, Value};

pub const IDP: &str = "https://idp.test";

pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(path).unwrap()
}

/// A signing key of the fake identity provider.
pub struct IdpKey {
    pub kid: &'static str,
    pub alg: Algorithm,
    key: EncodingKey,
}

impl IdpKey {
    pub fn new(kid: &'static str, alg: Algorithm, file: &str) -> IdpKey {
        let pem = fixture(file);
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
            _ => EncodingKey::from_rsa_pem(&pem),
        }
        .unwrap();
        IdpKey { kid, alg, key }
    }

    pub fn jwk(&self) -> Value {
        let mut jwk = Jwk::from_encoding_key(&self.key, self.alg).unwrap();
        jwk.common.key_id = Some(self.kid.to_owned());
        serde_json::to_value(jwk).unwrap()
    }

    /// A key generated for this test (P-256, with the `openssl` command `make test` installs).
    pub fn generated(kid: &'static str) -> IdpKey {
        let dir = crate::helpers::TempDir::new();
        let file = dir.0.join("key.pem");
        let status = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
            ])
            .arg(&file)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(status.success(), "openssl made a key");
        let pem = std::fs::read(&file).unwrap();
        IdpKey {
            kid,
            alg: Algorithm::ES256,
            key: EncodingKey::from_ec_pem(&pem).unwrap(),
        }
    }

    /// Signs `claims` with this key, its kid in the header beside `header`'s fields.
    pub fn sign(&self, header: Value, claims: &Map<String, Value>) -> String {
        let mut h = json!({"alg": self.alg, "kid": self.kid});
        for (k, v) in header.as_object().expect("header changes are an object") {
            if v.is_null() {
                h.as_object_mut().unwrap().remove(k);
            } else {
                h[k] = v.clone();
            }
        }
        sign_raw(&h, claims, &self.key, self.alg)
    }

    /// A token for `sub` from `iss`, naming this key's kid (or `kid` when given).
    pub fn token(&self, iss: &str, aud: &str, kid: Option<&str>) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(kid.unwrap_or(self.kid).to_owned());
        let now = unix_now();
        let claims = json!({"sub": "alice", "iss": iss, "aud": aud, "iat": now, "exp": now + 600,
                            "jti": uuid::Uuid::new_v4().to_string()});
        jsonwebtoken::encode(&header, &claims, &self.key).unwrap()
    }
}

pub fn rsa1() -> IdpKey {
    IdpKey::new("rsa-1", Algorithm::RS256, "rs256-private.pem")
}

pub fn rsa2() -> IdpKey {
    IdpKey::new("rsa-2", Algorithm::RS256, "rs256-b-private.pem")
}

#[derive(Default)]
pub struct IdpState {
    jwks: Mutex<Value>,
    discovery_issuer: Mutex<String>,
    jwks_fetches: AtomicUsize,
    down: AtomicBool,
    port: Mutex<u16>,
}

/// The fake identity provider: `/jwks` and `/.well-known/openid-configuration`.
pub struct Idp {
    state: web::Data<IdpState>,
    port: u16,
}

impl Idp {
    pub async fn start(keys: &[&IdpKey]) -> Idp {
        let state = web::Data::new(IdpState::default());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        *state.port.lock().unwrap() = port;
        *state.discovery_issuer.lock().unwrap() = IDP.to_owned();
        let data = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/jwks", web::get().to(jwks))
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(discovery),
                )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        let idp = Idp { state, port };
        idp.serve(keys);
        idp
    }

    pub fn serve(&self, keys: &[&IdpKey]) {
        self.serve_document(json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()}));
    }

    /// Serves this JWKS document as it is.
    pub fn serve_document(&self, document: Value) {
        *self.state.jwks.lock().unwrap() = document;
    }

    pub fn fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The discovery document names this issuer from now on.
    pub fn set_discovery_issuer(&self, issuer: &str) {
        *self.state.discovery_issuer.lock().unwrap() = issuer.to_owned();
    }

    pub fn issuer(&self, algorithms: &[&str], audience: &str) -> IssuerSettings {
        IssuerSettings {
            jwks_url: Some(self.url("/jwks")),
            allow_http: true,
            ..issuer_settings(IDP, algorithms, audience)
        }
    }
}

/// `[[jwt.issuers]]` settings for `name` with the documented defaults and no key source yet.
pub fn issuer_settings(name: &str, algorithms: &[&str], audience: &str) -> IssuerSettings {
    IssuerSettings {
        issuer: name.into(),
        audience: vec![audience.into()],
        algorithms: algorithms.iter().map(|a| a.to_string()).collect(),
        hmac_secret: None,
        public_key_file: None,
        public_keys: vec![],
        jwks_url: None,
        discovery_url: None,
        allow_http: false,
        refresh_secs: 300,
        min_refresh_secs: 60,
        max_refresh_secs: 3600,
        unknown_kid_refetch_secs: 60,
        max_stale_secs: 86_400,
        fetch_timeout_ms: 2_000,
    }
}

async fn jwks(state: web::Data<IdpState>) -> HttpResponse {
    if state.down.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok()
        .insert_header(("cache-control", "public, max-age=120"))
        .json(state.jwks.lock().unwrap().clone())
}

async fn discovery(state: web::Data<IdpState>) -> HttpResponse {
    let port = *state.port.lock().unwrap();
    HttpResponse::Ok().json(json!({
        "issuer": state.discovery_issuer.lock().unwrap().clone(),
        "jwks_uri": format!("http://127.0.0.1:{port}/jwks"),
    }))
}

/// A JWS over any header, signed with `alg` whatever the header says (jsonwebtoken's `Header`
/// cannot carry every field a test needs, nor lie about its algorithm).
pub fn sign_raw(
    header: &Value,
    claims: &Map<String, Value>,
    key: &EncodingKey,
    alg: Algorithm,
) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
    );
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).unwrap();
    format!("{message}.{signature}")
}
