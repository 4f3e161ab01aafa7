//! `POST /revoke/subject`: log out everywhere. Tokens of the subject issued before not_before
//! are inactive, later ones active, other subjects untouched.

use introspectd::config::Backend;
use introspectd::store::Keys;
use serde_json::{json, Value};

use crate::helpers::{token, token_with, TestApp};
use crate::on_both_backends;

async fn subject_revocation_inactivates_older_tokens_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let now = introspectd::clock::unix_now();
    let old = token_with("alice", json!({"iat": now - 10}));
    let no_iat = token_with("alice", json!({"iat": null}));
    let bob = token_with("bob", json!({"iat": now - 10}));
    app.assert_active(&old).await;
    app.assert_active(&no_iat).await;

    let res = app.revoke_subject("alice").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["sub"], "alice");
    let nb = body["not_before"].as_i64().expect("not_before is a number");
    assert!(nb >= now, "not_before {nb} < {now}");

    app.assert_inactive(&old).await;
    app.assert_inactive(&no_iat).await;
    app.assert_inactive(&token_with("alice", json!({"iat": nb - 1})))
        .await;
    app.assert_active(&token_with("alice", json!({"iat": nb})))
        .await;
    app.assert_active(&bob).await;
    assert_eq!(
        app.metric(r#"introspectd_revocations_total{kind="subject"}"#)
            .await,
        1.0
    );
    assert_eq!(
        app.requests_total("introspect", "subject_revoked").await,
        3.0
    );
}

async fn subject_is_required(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for form in [&[][..], &[("sub", "")]] {
        let res = app.post_form("/revoke/subject", form).await;
        assert_eq!(res.status(), 400);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
    }
}

on_both_backends! {
    older_tokens_only => subject_revocation_inactivates_older_tokens_only;
    sub_required => subject_is_required;
}

#[tokio::test]
async fn not_before_never_moves_backwards_and_outlives_every_token() {
    let app = TestApp::spawn(Backend::Redis).await;
    let redis = app.redis();
    let key = Keys::new("introspectd:").subject("alice");
    let future = (introspectd::clock::unix_now() + 1000).to_string();
    let _: () = redis.cmd(&["SET", &key, &future]);
    let body: Value = app.revoke_subject("alice").await.json().await.unwrap();
    assert_eq!(body["not_before"].to_string(), future);
    let ttl: i64 = redis.cmd(&["TTL", &key]);
    assert!(
        ttl >= 86_400,
        "subject entry ttl {ttl} is shorter than the longest token lifetime"
    );
    // Other replicas read the same entry.
    let replica = app.replica().await;
    replica.assert_inactive(&token("alice")).await;
}

#[tokio::test]
async fn subjects_that_look_like_keys_do_not_collide() {
    let app = TestApp::spawn(Backend::Redis).await;
    let t = token("alice");
    let jti = serde_json::from_slice::<Value>(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            t.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap()["jti"]
        .as_str()
        .unwrap()
        .to_string();
    for sub in [
        format!("jti:{jti}"),
        "*".into(),
        "a:b".into(),
        "alice\n".into(),
    ] {
        assert_eq!(app.revoke_subject(&sub).await.status(), 200);
    }
    app.assert_active(&t).await;
}
