//! store.min_replica_acks: a revocation is answered 200 only once enough replicas acknowledged
//! it (Redis WAIT), tested against a real replica; too few acknowledgements is a 503, never a
//! silent success, and a retry after recovery takes effect.

use introspectd::config::Backend;
use introspectd::store::Keys;
use serde_json::Value;

use crate::helpers::{test_settings, token, TestApp, TestRedis};

async fn app_requiring(acks: usize, master: &TestRedis) -> TestApp {
    let mut settings = test_settings(Backend::Redis, Some(&master.url()));
    settings.store.min_replica_acks = acks;
    settings.store.replica_ack_timeout_ms = 1000;
    TestApp::spawn_settings(settings).await
}

fn jti(token: &str) -> String {
    use base64::Engine;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.split('.').nth(1).unwrap())
        .unwrap();
    serde_json::from_slice::<Value>(&payload).unwrap()["jti"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn acknowledged_revocations_are_on_the_replica_and_a_missing_ack_is_503() {
    let master = TestRedis::start();
    let replica = TestRedis::start_replica(&master);
    let app = app_requiring(1, &master).await;
    let keys = Keys::new("introspectd:");

    let t = token("alice");
    assert_eq!(app.revoke(&t).await.status(), 200);
    // 200 means the replica has it already: WAIT returned only after it acknowledged.
    let key = keys.token(Some("alice"), &introspectd::token::TokenId::Jti(jti(&t)));
    let on_replica: i64 = replica.cmd(&["EXISTS", &key]);
    assert_eq!(on_replica, 1);
    app.assert_inactive(&t).await;
    let res = app.revoke_subject("alice").await;
    assert_eq!(res.status(), 200);
    let on_replica: i64 = replica.cmd(&["EXISTS", &keys.subject("alice")]);
    assert_eq!(on_replica, 1);

    // The replica stops acknowledging: revocations are refused, not pretended.
    replica.freeze();
    let pending = token("bob");
    let res = app.revoke(&pending).await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "temporarily_unavailable"
    );
    assert_eq!(app.revoke_subject("bob").await.status(), 503);
    assert_eq!(
        app.metric(r#"introspectd_revocations_total{kind="token"}"#)
            .await,
        1.0
    );
    // Checks do not wait for replicas.
    app.assert_active(&token("carol")).await;

    replica.thaw();
    master.wait_for_replicas_in_sync(1);
    assert_eq!(app.revoke(&pending).await.status(), 200);
    app.assert_inactive(&pending).await;
}

#[tokio::test]
async fn more_acks_than_replicas_is_always_503() {
    let master = TestRedis::start();
    let _replica = TestRedis::start_replica(&master);
    let app = app_requiring(2, &master).await;
    assert_eq!(app.revoke(&token("alice")).await.status(), 503);
}
