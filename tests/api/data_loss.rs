//! The store losing its data (FLUSHALL, restart without persistence) must never make a revoked
//! token active again: every token issued before the loss becomes inactive, replicas agree, and
//! the event is counted. Readiness stays 200 once the new marker is adopted (a loss hits every
//! replica at once), unless `store.data_loss_unready_secs` asks otherwise. Evicting memory
//! policies make readiness fail unless explicitly allowed.

use introspectd::config::Backend;
use serde_json::{json, Value};

use crate::helpers::{mirror_off, token_with, TestApp};

async fn readiness(app: &TestApp) -> (u16, Value) {
    let res = app.get("/readyz").send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// Polls `/readyz` until it answers 200, for at most `limit`.
async fn becomes_ready(app: &TestApp, limit: std::time::Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if readiness(app).await.0 == 200 {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_flushed_store_never_reactivates_a_revoked_token() {
    // The MGET path reads the marker with every check, so the loss is seen by the very next one
    // (with the mirror, within a follower read: api::mirror).
    let app = TestApp::spawn_ephemeral(mirror_off).await;
    let replica = app.replica_with(mirror_off).await;
    let now = introspectd::clock::unix_now();
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
    // The replica answers correctly again, so it stays in service.
    assert_eq!(readiness(&app).await.0, 200);
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
    assert_eq!(readiness(&replica).await.0, 200);

    // An instance started after the loss adopts it without calling it a loss of its own.
    let late = app.replica_with(mirror_off).await;
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
async fn after_a_restart_without_persistence_every_replica_is_ready_again_at_once() {
    let mut app = TestApp::spawn_ephemeral(mirror_off).await;
    let replica = app.replica_with(mirror_off).await;
    let now = introspectd::clock::unix_now();
    let before = token_with("alice", json!({"iat": now - 5}));
    assert_eq!(app.revoke(&before).await.status(), 200);
    assert_eq!(readiness(&app).await.0, 200);
    assert_eq!(readiness(&replica).await.0, 200);

    app.redis_mut().restart();

    // No token check needed: the readiness probe reads the marker, adopts the new one, and
    // answers 200 as soon as Redis does.
    let limit = std::time::Duration::from_secs(3);
    assert!(becomes_ready(&app, limit).await, "first replica not ready");
    assert!(
        becomes_ready(&replica, limit).await,
        "second replica not ready"
    );
    for instance in [&app, &replica] {
        assert_eq!(
            instance.metric("introspectd_store_data_loss_total").await,
            1.0
        );
    }
    let not_before = app
        .metric("introspectd_store_global_not_before_seconds")
        .await as i64;
    assert!(not_before >= now, "global not_before {not_before} < {now}");

    // Issued before the loss: inactive everywhere. Issued after: active.
    let other_before = token_with("bob", json!({"iat": now - 5}));
    let after = token_with("carol", json!({"iat": not_before}));
    for instance in [&app, &replica] {
        instance.assert_inactive(&before).await;
        instance.assert_inactive(&other_before).await;
        instance.assert_active(&after).await;
    }
    assert_eq!(app.requests_total("introspect", "store_reset").await, 2.0);

    // A revocation after the restart holds on both replicas.
    assert_eq!(replica.revoke(&after).await.status(), 200);
    app.assert_inactive(&after).await;
    replica.assert_inactive(&after).await;
}

#[tokio::test]
async fn data_loss_unready_secs_keeps_readiness_failing_when_an_operator_asks_for_it() {
    let mut app = TestApp::spawn_ephemeral(|s| s.store.data_loss_unready_secs = 30).await;
    assert_eq!(readiness(&app).await.0, 200);
    app.redis_mut().restart();
    let (status, body) = readiness(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["error_description"],
        "the revocation store lost its data recently"
    );
    assert_eq!(app.metric("introspectd_store_data_loss_total").await, 1.0);
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
