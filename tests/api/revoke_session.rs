//! `POST /revoke/session`: log out one session. Tokens carrying that `sid` (of that issuer)
//! issued before not_before are inactive on every replica; other sessions, tokens without `sid`
//! and later logins stay active.

use introspectd::config::Backend;
use introspectd::store::Keys;
use serde_json::{json, Value};

use crate::helpers::{token_with, TestApp, ISSUER};
use crate::on_both_backends;

async fn session_revocation_inactivates_that_sessions_older_tokens_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let now = introspectd::clock::unix_now();
    let s1 = token_with("alice", json!({"sid": "s1", "iat": now - 10}));
    let s1_no_iat = token_with("alice", json!({"sid": "s1", "iat": null}));
    let s2 = token_with("alice", json!({"sid": "s2", "iat": now - 10}));
    let no_sid = token_with("alice", json!({"iat": now - 10}));
    app.assert_active(&s1).await;
    assert_eq!(
        app.metric(r#"introspectd_revocations_total{kind="session"}"#)
            .await,
        0.0
    );

    let res = app.post_form("/revoke/session", &[("sid", "s1")]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["sid"], "s1");
    let nb = body["not_before"].as_i64().expect("not_before is a number");
    assert!(nb >= now, "not_before {nb} < {now}");
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");

    app.assert_inactive(&s1).await;
    app.assert_inactive(&s1_no_iat).await;
    app.assert_inactive(&token_with("alice", json!({"sid": "s1", "iat": nb - 1})))
        .await;
    // A later login that reuses the session id, another session, a token without one.
    app.assert_active(&token_with("bob", json!({"sid": "s1", "iat": nb})))
        .await;
    app.assert_active(&s2).await;
    app.assert_active(&no_sid).await;
    // The gateway endpoint agrees.
    assert_eq!(app.auth_bearer(&s1, &[]).await.status(), 401);
    assert_eq!(
        app.metric(r#"introspectd_revocations_total{kind="session"}"#)
            .await,
        1.0
    );
    assert_eq!(
        app.requests_total("introspect", "session_revoked").await,
        3.0
    );
    assert_eq!(app.requests_total("revoke_session", "revoked").await, 1.0);
}

async fn sid_is_required_and_iss_must_be_configured(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (form, why) in [
        (&[][..], "the sid parameter is required"),
        (&[("sid", "")][..], "the sid parameter is required"),
        (&[("sid", "s"), ("sid", "t")][..], "a parameter is repeated"),
        (
            &[("sid", "s"), ("iss", "https://elsewhere.example")][..],
            "iss is not a configured issuer",
        ),
    ] {
        let res = app.post_form("/revoke/session", form).await;
        assert_eq!(res.status(), 400, "{form:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
        assert_eq!(body["error_description"], why);
    }
    // The configured issuer, named or implied, is the same session.
    let t = token_with(
        "alice",
        json!({"sid": "s9", "iat": introspectd::clock::unix_now() - 5}),
    );
    let res = app
        .post_form("/revoke/session", &[("sid", "s9"), ("iss", ISSUER)])
        .await;
    assert_eq!(res.status(), 200);
    app.assert_inactive(&t).await;
    // Without credentials, nothing happens.
    let res = app
        .post("/revoke/session")
        .form(&[("sid", "s10")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

on_both_backends! {
    session_older_tokens_only => session_revocation_inactivates_that_sessions_older_tokens_only;
    session_parameters => sid_is_required_and_iss_must_be_configured;
}

/// With several issuers the same `sid` names different sessions, and `iss` is required.
#[tokio::test]
async fn with_several_issuers_iss_is_required_and_sessions_are_per_issuer() {
    use introspectd::config::{IssuerSettings, Secret};
    let second = "https://second.example";
    let issuer = |name: &str| IssuerSettings {
        hmac_secret: Some(Secret::new(crate::helpers::SECRET)),
        ..crate::idp::issuer_settings(name, &["HS256"], "api")
    };
    let app = TestApp::spawn_with(Backend::Memory, |s| {
        s.jwt.hmac_secret = None;
        s.jwt.issuer = None;
        s.jwt.audience.clear();
        s.jwt.issuers = vec![issuer(ISSUER), issuer(second)];
    })
    .await;
    let iat = introspectd::clock::unix_now() - 5;
    let first_s = token_with("alice", json!({"sid": "s", "iat": iat}));
    let second_s = token_with("alice", json!({"sid": "s", "iat": iat, "iss": second}));
    app.assert_active(&first_s).await;
    app.assert_active(&second_s).await;
    let res = app.post_form("/revoke/session", &[("sid", "s")]).await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["error_description"],
        "iss is required when several issuers are configured"
    );
    let res = app
        .post_form("/revoke/session", &[("sid", "s"), ("iss", second)])
        .await;
    assert_eq!(res.status(), 200);
    app.assert_active(&first_s).await;
    app.assert_inactive(&second_s).await;
}

/// The entry is shared by every replica (through Redis, and through the mirrors at once) and outlives every token it can make inactive; it is
/// not a subject's entry, whatever the strings.
#[tokio::test]
async fn a_session_entry_is_shared_and_lives_as_long_as_a_token() {
    let app = TestApp::spawn_with(Backend::Redis, crate::helpers::mirror_off).await;
    let replica = app.replica_with(crate::helpers::mirror_off).await;
    // A replica answering from its mirror (the default) holds the revocation at once too.
    let mirrored = app.replica().await;
    let iat = introspectd::clock::unix_now() - 5;
    let t = token_with("alice", json!({"sid": "alice", "iat": iat}));
    replica.assert_active(&t).await;
    mirrored.assert_active(&t).await;
    assert_eq!(
        app.post_form("/revoke/session", &[("sid", "alice")])
            .await
            .status(),
        200
    );
    replica.assert_inactive(&t).await;
    mirrored.assert_inactive(&t).await;
    // Not a subject revocation: alice's other tokens live on.
    replica
        .assert_active(&token_with("alice", json!({"iat": iat})))
        .await;
    let key = Keys::new("introspectd:").session(ISSUER, "alice");
    let ttl: i64 = app.redis().cmd(&["TTL", &key]);
    assert!(
        ttl >= 86_400,
        "session entry ttl {ttl} is shorter than the longest token lifetime"
    );
}
