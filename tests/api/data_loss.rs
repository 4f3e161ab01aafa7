//! The store losing its data (FLUSHALL, restart without persistence) must never make a revoked
//! token active again: every token issued before the loss becomes inactive, replicas agree,
//! readiness fails for a while, and the event is counted. Evicting memory policies make
//! readiness fail unless explicitly allowed.

use introspectd::config::Backend;
use serde_json::{json, Value};

use crate::helpers::{token_with, TestApp};

async fn readiness(app: &TestApp) -> (u16, Value) {
    let res = app.get("/readyz").send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn a_flushed_store_never_reactivates_a_revoked_token() {
    let app = TestApp::spawn_ephemeral(|_| {}).await;
    let replica = app.replica().await;
    let now = introspectd::token::unix_now();
    let revoked = token_with("alice", json!({"iat": now - 5}));
    let other = token_with("bob", json!({"iat": now - 5}));
    assert_eq!(app.revoke(&revoked).await.status(), 200);
    app.assert_inactive(&revoked).await;
    replica.assert_active(&other).await;
    assert_eq!(readiness(&app).await.0, 200);

    let _: () = app.redis().cmd(&["FLUSHALL"]);

    app.assert_inactive(&revoked).await;
    app.assert_inactive(&other).await;
    assert_eq!(app.requests_total("introspect", "store_reset").await, 2.0);
    assert_eq!(app.metric("introspectd_store_data_loss_total").await, 1.0);
    let not_before = app
        .metric("introspectd_store_global_not_before_seconds")
        .await as i64;
    assert!(not_before >= now, "global not_before {not_before} < {now}");
    let (status, body) = readiness(&app).await;
    assert_eq!(status, 503);
    assert_eq!(
        body["error_description"],
        "the revocation store lost its data recently"
    );
    // Tokens issued from the loss on are fine.
    app.assert_active(&token_with("carol", json!({"iat": not_before})))
        .await;
    app.assert_inactive(&token_with("carol", json!({"iat": not_before - 1})))
        .await;

    // The replica sees the marker the first instance installed, and agrees.
    replica.assert_inactive(&revoked).await;
    replica.assert_inactive(&other).await;
    assert_eq!(
        replica.metric("introspectd_store_data_loss_total").await,
        1.0
    );
    assert_eq!(readiness(&replica).await.0, 503);

    // An instance started after the loss adopts it without calling it a loss of its own.
    let late = app.replica().await;
    late.assert_inactive(&other).await;
    assert_eq!(readiness(&late).await.0, 200);
    assert_eq!(late.metric("introspectd_store_data_loss_total").await, 0.0);
    assert_eq!(
        late.metric("introspectd_store_global_not_before_seconds")
            .await as i64,
        not_before
    );
}

#[tokio::test]
async fn a_restart_without_persistence_is_a_data_loss_and_readiness_notices_it() {
    let mut app = TestApp::spawn_ephemeral(|_| {}).await;
    let now = introspectd::token::unix_now();
    let revoked = token_with("alice", json!({"iat": now - 5}));
    assert_eq!(app.revoke(&revoked).await.status(), 200);
    assert_eq!(readiness(&app).await.0, 200);
    app.redis_mut().restart();
    // No token check needed: the readiness probe reads the marker too.
    let (status, body) = readiness(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(app.metric("introspectd_store_data_loss_total").await, 1.0);
    app.assert_inactive(&revoked).await;
    assert_eq!(app.requests_total("introspect", "store_reset").await, 1.0);
}

#[tokio::test]
async fn readiness_reports_whether_redis_persists() {
    let persistent = TestApp::spawn(Backend::Redis).await;
    assert_eq!(readiness(&persistent).await.0, 200);
    assert_eq!(
        persistent.metric("introspectd_store_aof_enabled").await,
        1.0
    );
    let ephemeral = TestApp::spawn_ephemeral(|_| {}).await;
    // Without AOF the service still serves (with a warning): data loss is detected anyway.
    assert_eq!(readiness(&ephemeral).await.0, 200);
    assert_eq!(ephemeral.metric("introspectd_store_aof_enabled").await, 0.0);
}

#[tokio::test]
async fn a_persistent_restart_is_not_a_data_loss() {
    let mut app = TestApp::spawn(Backend::Redis).await;
    let t = token_with("alice", json!({}));
    app.assert_active(&t).await;
    app.redis_mut().restart();
    app.assert_active(&t).await;
    assert_eq!(readiness(&app).await.0, 200);
    assert_eq!(app.metric("introspectd_store_data_loss_total").await, 0.0);
}

#[tokio::test]
async fn an_evicting_memory_policy_fails_readiness_unless_allowed() {
    let app = TestApp::spawn(Backend::Redis).await;
    let allowed = TestApp::spawn_settings({
        let mut s = crate::helpers::test_settings(Backend::Redis, Some(&app.redis().url()));
        s.store.allow_evicting_policy = true;
        s
    })
    .await;
    assert_eq!(readiness(&app).await.0, 200);
    assert_eq!(app.metric("introspectd_store_evicting_policy").await, 0.0);
    for policy in [
        "allkeys-lru",
        "volatile-lru",
        "volatile-ttl",
        "allkeys-random",
    ] {
        let _: () = app
            .redis()
            .cmd(&["CONFIG", "SET", "maxmemory-policy", policy]);
        let (status, body) = readiness(&app).await;
        assert_eq!(status, 503, "{policy}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("noeviction"),
            "{body}"
        );
        assert_eq!(app.metric("introspectd_store_evicting_policy").await, 1.0);
        assert_eq!(
            readiness(&allowed).await.0,
            200,
            "{policy} with allow_evicting_policy"
        );
    }
    let _: () = app
        .redis()
        .cmd(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    assert_eq!(readiness(&app).await.0, 200);
    assert_eq!(app.metric("introspectd_store_evicting_policy").await, 0.0);
}
