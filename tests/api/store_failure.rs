//! A failing Redis: deny answers 503 (never active), allow skips only the lookup, revocations are
//! never acknowledged, readiness follows the store, and the service recovers by itself.

use std::time::Duration;

use introspectd::config::{Backend, OnError};
use serde_json::{json, Value};

use crate::helpers::{mirror_off, token, token_with, TestApp};

async fn assert_unavailable(res: reqwest::Response) {
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(body["error_description"].is_string());
}

// These tests are about the MGET path, where a Redis fault shows at the very next check; with
// the mirror (its own tests: api::mirror) checks are answered from memory for up to a lease.

#[tokio::test]
async fn redis_down_fails_closed_and_recovers_without_restart() {
    let mut app = TestApp::spawn_with(Backend::Redis, mirror_off).await;
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
        json!({"exp": introspectd::clock::unix_now() - 1}),
    ))
    .await;
    assert!(app.metric_sum("introspectd_store_errors_total").await >= 6.0);
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
    let mut app = TestApp::spawn_with(Backend::Redis, |s| {
        mirror_off(s);
        s.store.on_error = OnError::Allow;
    })
    .await;
    let valid = token("alice");
    app.assert_active(&valid).await;
    app.redis_mut().stop();
    app.assert_active(&valid).await;
    app.assert_inactive(&token_with(
        "alice",
        json!({"exp": introspectd::clock::unix_now() - 1}),
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

/// Every endpoint that needs the store, answered while the store does not answer.
async fn assert_every_endpoint_fails_closed(app: &TestApp, still_stalled: impl Fn() -> bool) {
    let valid = token("alice");
    let bearer = format!("Bearer {valid}");
    let requests = [
        app.post("/introspect")
            .basic_auth(
                crate::helpers::CLIENT_ID,
                Some(crate::helpers::CLIENT_SECRET),
            )
            .form(&[("token", valid.as_str())]),
        app.get("/auth/orders").header("authorization", &bearer),
        app.post("/revoke")
            .basic_auth(
                crate::helpers::CLIENT_ID,
                Some(crate::helpers::CLIENT_SECRET),
            )
            .form(&[("token", valid.as_str())]),
        app.post("/revoke/subject")
            .basic_auth(
                crate::helpers::CLIENT_ID,
                Some(crate::helpers::CLIENT_SECRET),
            )
            .form(&[("sub", "alice")]),
        app.get("/readyz"),
    ];
    for request in requests {
        // The answer must come from the service's own store timeout: the store is still
        // stalled when it arrives. (The client timeout only keeps a broken build from hanging.)
        let res = request
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("answered before the guard timeout");
        assert!(still_stalled(), "answered only after the store recovered");
        assert_unavailable(res).await;
    }
}

#[tokio::test]
async fn frozen_redis_gives_503_everywhere_instead_of_hung_requests_and_recovers() {
    let app = TestApp::spawn_with(Backend::Redis, mirror_off).await;
    let valid = token("alice");
    app.assert_active(&valid).await;
    let redis = app.redis();
    redis.freeze();
    assert_every_endpoint_fails_closed(&app, || {
        !app.redis_answers_within(Duration::from_millis(50))
    })
    .await;
    redis.thaw();
    assert_eq!(app.get("/readyz").send().await.unwrap().status(), 200);
    app.assert_active(&valid).await;
    assert_eq!(app.revoke(&valid).await.status(), 200);
    app.assert_inactive(&valid).await;
}

#[tokio::test]
async fn slow_redis_gives_503_everywhere_and_recovers() {
    let app = TestApp::spawn_with(Backend::Redis, mirror_off).await;
    let valid = token("alice");
    app.assert_active(&valid).await;
    let url = app.redis().url();
    // DEBUG SLEEP blocks the whole server; the thread ends when Redis answers again.
    let sleeper = std::thread::spawn(move || {
        let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
        let _: () = redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg("1.5")
            .query(&mut conn)
            .unwrap();
    });
    // Let the sleep begin before the first request.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.redis_answers_within(Duration::from_millis(50)) {
        assert!(
            std::time::Instant::now() < deadline && !sleeper.is_finished(),
            "DEBUG SLEEP did not start"
        );
    }
    assert_every_endpoint_fails_closed(&app, || !sleeper.is_finished()).await;
    sleeper.join().unwrap();
    assert_eq!(app.get("/readyz").send().await.unwrap().status(), 200);
    app.assert_active(&valid).await;
}

#[tokio::test]
async fn the_service_starts_while_redis_is_down() {
    let mut app = TestApp::spawn_with(Backend::Redis, mirror_off).await;
    app.redis_mut().stop();
    let second = app.replica().await;
    assert_eq!(second.get("/healthz").send().await.unwrap().status(), 200);
    assert_unavailable(second.get("/readyz").send().await.unwrap()).await;
    app.redis_mut().restart();
    assert_eq!(second.get("/readyz").send().await.unwrap().status(), 200);
}

/// A full Redis under noeviction refuses writes (OOM): revocations answer 503, reads go on.
#[tokio::test]
async fn a_full_redis_refuses_revocations_with_503_while_checks_go_on() {
    let app = TestApp::spawn_with(Backend::Redis, mirror_off).await;
    let valid = token("alice");
    app.assert_active(&valid).await;
    let _: () = app.redis().cmd(&["CONFIG", "SET", "maxmemory", "1"]);
    assert_unavailable(app.revoke(&valid).await).await;
    assert_unavailable(app.revoke_subject("alice").await).await;
    app.assert_active(&valid).await;
    assert_eq!(
        app.metric(r#"introspectd_revocations_total{kind="token"}"#)
            .await,
        0.0
    );
    let _: () = app.redis().cmd(&["CONFIG", "SET", "maxmemory", "0"]);
    assert_eq!(app.revoke(&valid).await.status(), 200);
    app.assert_inactive(&valid).await;
}
