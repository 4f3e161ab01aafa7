//! Keys from an identity provider: the fake one of idp.rs (JWKS and OpenID Connect discovery,
//! in-process on a free port) serves keys made from the test fixtures, counts its fetches and
//! can be taken down.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use introspectd::clock::unix_now;
use introspectd::config::{Backend, IssuerSettings, Secret};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::helpers::{test_settings, TestApp};
use crate::idp::{fixture, rsa1, rsa2, Idp, IdpKey, IDP};

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

    idp.set_discovery_issuer("https://someone-else.test");
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
    idp.serve_document(json!({"keys": [jwk_1024, jwk_2047, good.jwk()]}));
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
