//! A failing Redis: deny answers 503 (never active), allow skips only the lookup, revocations are
//! never acknowledged, readiness follows the store, and the service recovers by itself.

use std::time::Duration;

use introspectd::config::{Backend, OnError};
use serde_json::{json, Value};

use crate::helpers::{token, token_with, TestApp};

async fn assert_unavailable(res: reqwest::Response) {
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(body["error_description"].is_string());
}

#[tokio::test]
async fn redis_down_fails_closed_and_recovers_without_restart() {
    let mut app = TestApp::spawn(Backend::Redis).await;
    let valid = token("alice");
    app.assert_active(&valid).await;
    assert_eq!(app.get("/readyz").send().await.unwrap().status(), 200);

    app.redis_mut().stop();
    for _ in 0..3 {
        assert_unavailable(app.introspect(&valid).await).await;
    }
    assert_unavailable(app.revoke(&valid).await).await;
    assert_unavailable(app.revoke_subject("alice").await).await;
    assert_unavailable(app.get("/readyz").send().await.unwrap()).await;
    assert_eq!(app.metric("introspectd_ready").await, 0.0);
    assert_eq!(app.get("/healthz").send().await.unwrap().status(), 200);
    // Tokens that fail verification need no store.
    app.assert_inactive("garbage").await;
    app.assert_inactive(&token_with(
        "alice",
        json!({"exp": introspectd::token::unix_now() - 1}),
    ))
    .await;
    assert!(app.metric("introspectd_store_errors_total").await >= 6.0);
    assert_eq!(
        app.metric(r#"introspectd_revocations_total{kind="token"}"#)
            .await,
        0.0
    );
    assert_eq!(
        app.requests_total("introspect", "store_unavailable").await,
        3.0
    );

    app.redis_mut().restart();
    assert_eq!(app.get("/readyz").send().await.unwrap().status(), 200);
    assert_eq!(app.metric("introspectd_ready").await, 1.0);
    app.assert_active(&valid).await;
    assert_eq!(app.revoke(&valid).await.status(), 200);
    app.assert_inactive(&valid).await;
}

#[tokio::test]
async fn on_error_allow_skips_only_the_revocation_lookup() {
    let mut app = TestApp::spawn_with(Backend::Redis, |s| s.store.on_error = OnError::Allow).await;
    let valid = token("alice");
    app.assert_active(&valid).await;
    app.redis_mut().stop();
    app.assert_active(&valid).await;
    app.assert_inactive(&token_with(
        "alice",
        json!({"exp": introspectd::token::unix_now() - 1}),
    ))
    .await;
    app.assert_inactive("garbage").await;
    assert_unavailable(app.revoke(&valid).await).await;
    assert_unavailable(app.revoke_subject("alice").await).await;
    assert_eq!(
        app.requests_total("introspect", "allowed_on_store_error")
            .await,
        1.0
    );
}

#[tokio::test]
async fn frozen_redis_gives_503_instead_of_a_hung_request_and_recovers() {
    let app = TestApp::spawn(Backend::Redis).await;
    let valid = token("alice");
    app.assert_active(&valid).await;
    let redis = app.redis();
    redis.freeze();
    // The request must be answered by the service's own store timeout; the client timeout is
    // only a guard against the test hanging.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let res = client
        .post(format!("{}/introspect", app.address))
        .basic_auth(
            crate::helpers::CLIENT_ID,
            Some(crate::helpers::CLIENT_SECRET),
        )
        .form(&[("token", valid.as_str())])
        .send()
        .await
        .expect("answered before the guard timeout");
    assert_unavailable(res).await;
    assert_unavailable(app.get("/readyz").send().await.unwrap()).await;
    redis.thaw();
    assert_eq!(app.get("/readyz").send().await.unwrap().status(), 200);
    app.assert_active(&valid).await;
}

#[tokio::test]
async fn the_service_starts_while_redis_is_down() {
    let mut app = TestApp::spawn(Backend::Redis).await;
    app.redis_mut().stop();
    let second = app.replica().await;
    assert_eq!(second.get("/healthz").send().await.unwrap().status(), 200);
    assert_unavailable(second.get("/readyz").send().await.unwrap()).await;
    app.redis_mut().restart();
    assert_eq!(second.get("/readyz").send().await.unwrap().status(), 200);
}
