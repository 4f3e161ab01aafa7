//! Keys from an identity provider: a local JWKS / OpenID Connect discovery server started by the
//! test (in-process, free port) serves keys made from the test fixtures, counts its fetches and
//! can be taken down.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use introspectd::clock::unix_now;
use introspectd::config::{Backend, IssuerSettings, Secret};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::helpers::{test_settings, TestApp};

const IDP: &str = "https://idp.test";

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(path).unwrap()
}

/// A signing key of the fake identity provider.
struct IdpKey {
    kid: &'static str,
    alg: Algorithm,
    key: EncodingKey,
}

impl IdpKey {
    fn new(kid: &'static str, alg: Algorithm, file: &str) -> IdpKey {
        let pem = fixture(file);
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
            _ => EncodingKey::from_rsa_pem(&pem),
        }
        .unwrap();
        IdpKey { kid, alg, key }
    }

    fn jwk(&self) -> Value {
        let mut jwk = Jwk::from_encoding_key(&self.key, self.alg).unwrap();
        jwk.common.key_id = Some(self.kid.to_owned());
        serde_json::to_value(jwk).unwrap()
    }

    /// A token for `sub` from `iss`, naming this key's kid (or `kid` when given).
    fn token(&self, iss: &str, aud: &str, kid: Option<&str>) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(kid.unwrap_or(self.kid).to_owned());
        let now = unix_now();
        let claims = json!({"sub": "alice", "iss": iss, "aud": aud, "iat": now, "exp": now + 600,
                            "jti": uuid::Uuid::new_v4().to_string()});
        jsonwebtoken::encode(&header, &claims, &self.key).unwrap()
    }
}

fn rsa1() -> IdpKey {
    IdpKey::new("rsa-1", Algorithm::RS256, "rs256-private.pem")
}

fn rsa2() -> IdpKey {
    IdpKey::new("rsa-2", Algorithm::RS256, "rs256-b-private.pem")
}

#[derive(Default)]
struct IdpState {
    jwks: Mutex<Value>,
    discovery_issuer: Mutex<String>,
    jwks_fetches: AtomicUsize,
    down: AtomicBool,
    port: Mutex<u16>,
}

/// The fake identity provider: `/jwks` and `/.well-known/openid-configuration`.
struct Idp {
    state: web::Data<IdpState>,
    port: u16,
}

impl Idp {
    async fn start(keys: &[&IdpKey]) -> Idp {
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

    fn serve(&self, keys: &[&IdpKey]) {
        *self.state.jwks.lock().unwrap() =
            json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()});
    }

    fn fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn issuer(&self, algorithms: &[&str], audience: &str) -> IssuerSettings {
        IssuerSettings {
            issuer: IDP.into(),
            audience: vec![audience.into()],
            algorithms: algorithms.iter().map(|a| a.to_string()).collect(),
            hmac_secret: None,
            public_key_file: None,
            public_keys: vec![],
            jwks_url: Some(self.url("/jwks")),
            discovery_url: None,
            allow_http: true,
            refresh_secs: 300,
            min_refresh_secs: 60,
            max_refresh_secs: 3600,
            unknown_kid_refetch_secs: 60,
            max_stale_secs: 86_400,
            fetch_timeout_ms: 2_000,
        }
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

async fn app_with(issuers: Vec<IssuerSettings>) -> TestApp {
    let mut settings = test_settings(Backend::Memory, None);
    settings.jwt.hmac_secret = None;
    settings.jwt.issuer = None;
    settings.jwt.audience.clear();
    settings.jwt.issuers = issuers;
    TestApp::spawn_settings(settings).await
}

async fn ready(app: &TestApp) -> u16 {
    app.get("/readyz").send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn rs256_ps256_es256_and_eddsa_keys_from_a_jwks_verify() {
    let keys = [
        rsa1(),
        IdpKey::new("rsa-ps", Algorithm::PS256, "rs256-b-private.pem"),
        IdpKey::new("ec-1", Algorithm::ES256, "es256-private.pem"),
        IdpKey::new("ed-1", Algorithm::EdDSA, "ed25519-private.pem"),
    ];
    let idp = Idp::start(&keys.iter().collect::<Vec<_>>()).await;
    let app = app_with(vec![
        idp.issuer(&["RS256", "PS256", "ES256", "EdDSA"], "api")
    ])
    .await;
    assert_eq!(ready(&app).await, 200);
    for key in &keys {
        let token = key.token(IDP, "api", None);
        let body = app.assert_active(&token).await;
        assert_eq!(body["iss"], IDP);
        let res = app
            .client
            .get(format!("{}/auth", app.address))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", key.kid);
    }
    // A key's type must fit the token's algorithm: an RS256 token naming the EC key fails.
    app.assert_inactive(&rsa1().token(IDP, "api", Some("ec-1")))
        .await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"introspectd_jwks_keys{issuer="https://idp.test"} 4"#),
        "{metrics}"
    );
    assert!(metrics
        .contains(r#"introspectd_jwks_fetches_total{issuer="https://idp.test",result="ok"}"#));
    assert!(metrics
        .contains(r#"introspectd_jwks_seconds_since_last_success{issuer="https://idp.test"}"#));
}

#[tokio::test]
async fn rotation_is_followed_by_refetching_on_an_unknown_kid() {
    let (old, new) = (rsa1(), rsa2());
    let idp = Idp::start(&[&old]).await;
    let app = app_with(vec![idp.issuer(&["RS256"], "api")]).await;
    assert_eq!(ready(&app).await, 200);
    app.assert_active(&old.token(IDP, "api", None)).await;
    let fetched = idp.fetches();

    // The provider rotates: the new key appears and the old one is removed.
    idp.serve(&[&new]);
    app.assert_active(&new.token(IDP, "api", None)).await;
    assert_eq!(
        idp.fetches(),
        fetched + 1,
        "one refetch for the unknown kid"
    );
    // The removed key stops verifying once the new set is in.
    app.assert_inactive(&old.token(IDP, "api", None)).await;
}

#[tokio::test]
async fn a_flood_of_random_kids_causes_at_most_one_fetch() {
    let key = rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = app_with(vec![idp.issuer(&["RS256"], "api")]).await;
    assert_eq!(ready(&app).await, 200);
    let before = idp.fetches();
    let mut set = tokio::task::JoinSet::new();
    // A flooder has no valid key: one payload and signature under 200 random-kid headers.
    let signed = key.token(IDP, "api", None);
    let (_, rest) = signed.split_once('.').unwrap();
    for i in 0..200 {
        let header = json!({"alg": "RS256", "kid": format!("random-{i}")}).to_string();
        let token = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header));
        let (client, base) = (app.client.clone(), app.address.clone());
        set.spawn(async move {
            client
                .get(format!("{base}/auth"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    while let Some(status) = set.join_next().await {
        assert_eq!(status.unwrap(), 401);
    }
    let caused = idp.fetches() - before;
    assert!(caused <= 1, "{caused} fetches for 200 unknown kids");
    app.assert_active(&key.token(IDP, "api", None)).await;
}

#[tokio::test]
async fn cached_keys_keep_working_while_the_provider_is_down_until_they_are_too_old() {
    let key = rsa1();
    let idp = Idp::start(&[&key]).await;
    let mut issuer = idp.issuer(&["RS256"], "api");
    issuer.max_stale_secs = 1;
    issuer.unknown_kid_refetch_secs = 0;
    let app = app_with(vec![issuer]).await;
    assert_eq!(ready(&app).await, 200);
    idp.set_down(true);
    // An unknown kid makes it try, and fail; the cached key still verifies.
    app.assert_inactive(&key.token(IDP, "api", Some("unknown")))
        .await;
    let token = key.token(IDP, "api", None);
    app.assert_active(&token).await;
    assert_eq!(ready(&app).await, 200);
    assert!(app
        .metrics()
        .await
        .contains(r#"introspectd_jwks_fetches_total{issuer="https://idp.test",result="error"}"#));
    // Past max_stale_secs (1 s here) the keys are no longer trusted; the exact boundary is
    // jwks::tests' paused-clock test, this polls the whole service for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.introspect_json(&token).await["active"] == true {
        assert!(
            std::time::Instant::now() < deadline,
            "stale keys still verify"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.assert_inactive(&token).await;
    assert_eq!(ready(&app).await, 503);
    idp.set_down(false);
    assert_eq!(ready(&app).await, 200, "readiness fetches again");
    app.assert_active(&token).await;
}

#[tokio::test]
async fn readiness_waits_for_the_first_successful_fetch() {
    let key = rsa1();
    let idp = Idp::start(&[&key]).await;
    idp.set_down(true);
    let app = app_with(vec![idp.issuer(&["RS256"], "api")]).await;
    assert_eq!(ready(&app).await, 503);
    app.assert_inactive(&key.token(IDP, "api", None)).await;
    idp.set_down(false);
    assert_eq!(ready(&app).await, 200);
    app.assert_active(&key.token(IDP, "api", None)).await;
}

#[tokio::test]
async fn discovery_leads_to_the_jwks_and_must_name_the_issuer() {
    let key = rsa1();
    let idp = Idp::start(&[&key]).await;
    let mut issuer = idp.issuer(&["RS256"], "api");
    issuer.jwks_url = None;
    issuer.discovery_url = Some(idp.url("/.well-known/openid-configuration"));
    let app = app_with(vec![issuer.clone()]).await;
    assert_eq!(ready(&app).await, 200);
    app.assert_active(&key.token(IDP, "api", None)).await;

    *idp.state.discovery_issuer.lock().unwrap() = "https://someone-else.test".into();
    let other = app_with(vec![issuer]).await;
    assert_eq!(ready(&other).await, 503);
    other.assert_inactive(&key.token(IDP, "api", None)).await;
}

#[tokio::test]
async fn two_issuers_keep_their_own_keys_and_audiences() {
    let key = rsa1();
    let idp = Idp::start(&[&key]).await;
    let secret = "issuer-b-secret-0123456789-abcdefghijkl";
    let b = IssuerSettings {
        issuer: "https://b.test".into(),
        audience: vec!["api-b".into()],
        algorithms: vec!["HS256".into()],
        hmac_secret: Some(Secret::new(secret)),
        jwks_url: None,
        allow_http: false,
        ..idp.issuer(&[], "")
    };
    let app = app_with(vec![idp.issuer(&["RS256"], "api-a"), b]).await;
    assert_eq!(ready(&app).await, 200);
    let hs = |iss: &str, aud: &str| {
        let now = unix_now();
        let claims = json!({"sub": "bob", "iss": iss, "aud": aud, "iat": now, "exp": now + 600});
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    app.assert_active(&key.token(IDP, "api-a", None)).await;
    app.assert_active(&hs("https://b.test", "api-b")).await;
    // Each issuer's audience and keys are its own; an unknown iss matches no issuer.
    app.assert_inactive(&key.token(IDP, "api-b", None)).await;
    app.assert_inactive(&hs("https://b.test", "api-a")).await;
    app.assert_inactive(&hs(IDP, "api-a")).await;
    app.assert_inactive(&key.token("https://b.test", "api-b", None))
        .await;
    app.assert_inactive(&key.token("https://unknown.test", "api-a", None))
        .await;
}

#[tokio::test]
async fn rsa_keys_under_2048_bits_in_a_jwks_are_not_used() {
    // The small keys' JWKs and tokens were made with openssl (tests/fixtures/README.md): the
    // crypto backend will not sign with them. Their tokens expire in 2100, so the app allows
    // long lifetimes; the 2048-bit key's token is the control.
    let small = |bits: &str| -> (Value, String) {
        let jwk = serde_json::from_slice(&fixture(&format!("rs{bits}.jwk.json"))).unwrap();
        let token = String::from_utf8(fixture(&format!("rs{bits}.token"))).unwrap();
        (jwk, token.trim().to_owned())
    };
    let (jwk_1024, token_1024) = small("1024");
    // One bit short: the size is counted in bits, not in bytes of the modulus.
    let (jwk_2047, token_2047) = small("2047");
    let good = rsa1();
    let idp = Idp::start(&[&good]).await;
    *idp.state.jwks.lock().unwrap() = json!({"keys": [jwk_1024, jwk_2047, good.jwk()]});
    let mut settings = test_settings(Backend::Memory, None);
    settings.jwt.hmac_secret = None;
    settings.jwt.issuer = None;
    settings.jwt.audience.clear();
    settings.jwt.max_lifetime_secs = 100 * 366 * 86_400;
    settings.jwt.issuers = vec![idp.issuer(&["RS256"], "api")];
    let app = TestApp::spawn_settings(settings).await;
    assert_eq!(ready(&app).await, 200);
    app.assert_inactive(&token_1024).await;
    app.assert_inactive(&token_2047).await;
    app.assert_active(&good.token(IDP, "api", None)).await;
    assert!(app
        .metrics()
        .await
        .contains(r#"introspectd_jwks_keys{issuer="https://idp.test"} 1"#));
}

#[tokio::test]
async fn a_cached_token_of_a_key_the_provider_removed_is_refused() {
    let (old, new) = (rsa1(), rsa2());
    let idp = Idp::start(&[&old]).await;
    let app = app_with(vec![idp.issuer(&["RS256"], "api")]).await;
    assert_eq!(ready(&app).await, 200);
    let session = old.token(IDP, "api", None);
    app.assert_active(&session).await;
    app.assert_active(&session).await;
    assert_eq!(
        app.metric("introspectd_token_cache_hits_total").await,
        1.0,
        "the second check was served from the cache"
    );

    // The provider rotates; a token naming the new key makes introspectd fetch the new set.
    idp.serve(&[&new]);
    app.assert_active(&new.token(IDP, "api", None)).await;
    // The cached token was verified with a key that is gone: refused at once.
    app.assert_inactive(&session).await;
    assert_eq!(app.requests_total("introspect", "signature").await, 1.0);
}
