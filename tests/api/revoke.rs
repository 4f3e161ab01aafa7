//! `POST /revoke` (RFC 7009): acknowledged only once stored; only verified tokens are written;
//! entries expire when the token would have.

use introspectd::config::Backend;
use jsonwebtoken::{Algorithm, Header};
use serde_json::json;

use crate::helpers::{claims, sign, sign_with, token, token_with, TestApp};
use crate::on_both_backends;

async fn revoked_token_is_inactive(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let revoked = token("alice");
    let other = token("alice");
    app.assert_active(&revoked).await;
    let res = app.revoke(&revoked).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.text().await.unwrap(), "{}");
    app.assert_inactive(&revoked).await;
    app.assert_active(&other).await;
    // Revoking again, with any hint, is the same success.
    for hint in ["access_token", "refresh_token", "junk"] {
        let res = app
            .post_form(
                "/revoke",
                &[("token", revoked.as_str()), ("token_type_hint", hint)],
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    app.assert_inactive(&revoked).await;
    assert_eq!(
        app.metric(r#"introspectd_revocations_total{kind="token"}"#)
            .await,
        4.0
    );
    assert_eq!(app.requests_total("introspect", "revoked").await, 2.0);
}

async fn token_without_jti_is_revoked_by_its_hash(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let now = introspectd::clock::unix_now();
    let first = token_with("alice", json!({"jti": null}));
    let second = token_with("alice", json!({"jti": null, "exp": now + 1800}));
    assert_eq!(app.revoke(&first).await.status(), 200);
    app.assert_inactive(&first).await;
    app.assert_active(&second).await;
}

async fn invalid_tokens_are_acknowledged_without_effect(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let live = claims("alice");
    let live_token = sign(&live);
    // A forged token carrying the live token's jti must not revoke it.
    let forged = sign_with(
        Header::new(Algorithm::HS256),
        &live,
        b"forger-secret-forger-secret-0000000",
    );
    let expired = token_with("alice", json!({"exp": introspectd::clock::unix_now() - 5}));
    for t in [forged.as_str(), expired.as_str(), "garbage"] {
        let res = app.revoke(t).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.unwrap(), "{}");
    }
    app.assert_active(&live_token).await;
    assert_eq!(
        app.metric(r#"introspectd_revocations_total{kind="token"}"#)
            .await,
        0.0
    );
    assert_eq!(app.requests_total("revoke", "ignored").await, 3.0);
}

on_both_backends! {
    revoke_then_inactive => revoked_token_is_inactive;
    without_jti => token_without_jti_is_revoked_by_its_hash;
    invalid_tokens => invalid_tokens_are_acknowledged_without_effect;
}

#[tokio::test]
async fn revocation_is_seen_by_every_replica() {
    let a = TestApp::spawn(Backend::Redis).await;
    let b = a.replica().await;
    let tokens: Vec<String> = (0..20).map(|i| token(&format!("user{i}"))).collect();
    for t in &tokens {
        assert_eq!(a.revoke(t).await.status(), 200);
        b.assert_inactive(t).await;
    }
}

#[tokio::test]
async fn blocklist_entry_lives_as_long_as_the_token_and_no_longer() {
    let app = TestApp::spawn_with(Backend::Redis, |s| {
        s.jwt.leeway_secs = 60;
        s.store.revocation_margin_secs = 5;
    })
    .await;
    let now = introspectd::clock::unix_now();
    let redis = app.redis();
    // exp far ahead, and exp just past but within the leeway.
    for exp_in in [120, -5] {
        let _: () = redis.cmd(&["FLUSHALL"]);
        let exp = now + exp_in;
        let t = token_with("alice", json!({"exp": exp}));
        assert_eq!(app.revoke(&t).await.status(), 200);
        // Blocklist entries are the hash-tagged keys (the stream is another key).
        let keys: Vec<String> = redis.cmd(&["KEYS", "introspectd:{*}[jt]*"]);
        assert_eq!(keys.len(), 1, "one entry per revoked token");
        // An absolute deadline: exactly exp + leeway + margin, however long the request took.
        let expires_at_ms: i64 = redis.cmd(&["PEXPIRETIME", &keys[0]]);
        assert_eq!(expires_at_ms, (exp + 60 + 5) * 1000, "exp in {exp_in}s");
    }
}

#[tokio::test]
async fn a_huge_jti_gives_a_bounded_key() {
    let app = TestApp::spawn(Backend::Redis).await;
    // Large claims, with the token still under the 8 KiB cap.
    let t = token_with(&"s".repeat(2500), json!({"jti": "j".repeat(2500)}));
    assert_eq!(app.revoke(&t).await.status(), 200);
    let keys: Vec<String> = app.redis().cmd(&["KEYS", "introspectd:{*}[jt]*"]);
    assert_eq!(keys.len(), 1);
    assert!(keys[0].len() < 64, "{}", keys[0]);
    app.assert_inactive(&t).await;
}

/// Every revocation appends to the revocation stream in the same script as its entry: the
/// entry's key and deadline (tokens) or not-before and deadline (subjects). Entries older than
/// the longest an entry can live are trimmed on the next append.
#[tokio::test]
async fn revocations_are_appended_to_the_stream_with_their_entries() {
    let app = TestApp::spawn(Backend::Redis).await;
    let redis = app.redis();
    // An entry from long ago: its blocklist entry has expired, so it must be trimmed.
    let _: String = redis.cmd(&[
        "XADD",
        "introspectd:{introspectd:generation}revocations",
        "1-0",
        "key",
        "gone",
        "until",
        "1",
    ]);
    let t = token_with("alice", json!({}));
    assert_eq!(app.revoke(&t).await.status(), 200);
    assert_eq!(app.revoke_subject("bob").await.status(), 200);
    let entries: Vec<(String, Vec<String>)> = redis.cmd(&[
        "XRANGE",
        "introspectd:{introspectd:generation}revocations",
        "-",
        "+",
    ]);
    assert_eq!(entries.len(), 2, "{entries:?}");
    let token_keys: Vec<String> = redis.cmd(&["KEYS", "introspectd:{*}j*"]);
    let deadline: i64 = redis.cmd(&["PEXPIRETIME", &token_keys[0]]);
    // Each entry names the one before it (the trimmed 1-0, then the token's).
    assert_eq!(
        entries[0].1,
        [
            "prev",
            "1-0",
            "key",
            token_keys[0].as_str(),
            "until",
            &deadline.to_string()
        ]
    );
    let subject_keys: Vec<String> = redis.cmd(&["KEYS", "introspectd:{*}s"]);
    let not_before: String = redis.cmd(&["GET", &subject_keys[0]]);
    let fields = &entries[1].1;
    assert_eq!(
        fields[..4],
        [
            "prev",
            entries[0].0.as_str(),
            "key",
            subject_keys[0].as_str()
        ]
    );
    assert_eq!(fields[6..], ["not_before", not_before.as_str()]);
    // The subject entry's deadline: its TTL (max lifetime + leeway + margin) from now.
    let subject_deadline: i64 = redis.cmd(&["PEXPIRETIME", &subject_keys[0]]);
    assert_eq!(fields[4], "until");
    let streamed: i64 = fields[5].parse().unwrap();
    assert!(
        (streamed - subject_deadline).abs() < 2000,
        "{streamed} vs {subject_deadline}"
    );
}
