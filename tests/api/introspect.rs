//! `POST /introspect`: active answers carry the claims; every inactive reason gives the same
//! byte-exact answer and is counted under its own bounded reason; bad tokens never reach the store.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use introspectd::config::Backend;
use jsonwebtoken::{Algorithm, Header};
use serde_json::json;

use crate::helpers::{claims, sign, sign_with, token, token_with, TestApp, SECRET};
use crate::on_both_backends;

fn b64(v: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// Tokens that must be inactive before any store access, with the reason label each is counted
/// under.
pub fn rejected_tokens() -> Vec<(&'static str, String, &'static str)> {
    let now = introspectd::clock::unix_now();
    let valid = token("alice");
    let payload = valid.split('.').nth(1).unwrap().to_string();
    let signature = valid.split('.').nth(2).unwrap().to_string();
    let mut crit = Header::new(Algorithm::HS256);
    crit.crit = Some(vec!["exp".into()]);
    vec![
        ("garbage", "not-a-token".into(), "malformed"),
        (
            "two segments",
            format!("{}.{payload}", b64(&json!({"alg":"HS256"}))),
            "malformed",
        ),
        (
            "alg none",
            format!("{}.{payload}.", b64(&json!({"alg":"none"}))),
            "malformed",
        ),
        (
            "alg NONE with signature",
            format!("{}.{payload}.{signature}", b64(&json!({"alg":"NONE"}))),
            "malformed",
        ),
        (
            "crit header",
            sign_with(crit, &claims("alice"), SECRET.as_bytes()),
            "malformed",
        ),
        (
            "oversized",
            format!(
                "{}.{}.{signature}",
                b64(&json!({"alg":"HS256"})),
                "A".repeat(9000)
            ),
            "malformed",
        ),
        (
            "wrong secret",
            sign_with(
                Header::new(Algorithm::HS256),
                &claims("alice"),
                b"another-secret-another-secret-000000",
            ),
            "signature",
        ),
        (
            "empty signature",
            format!("{}.{payload}.", valid.split('.').next().unwrap()),
            "signature",
        ),
        (
            "algorithm not allowed",
            sign_with(
                Header::new(Algorithm::HS384),
                &claims("alice"),
                SECRET.as_bytes(),
            ),
            "signature",
        ),
        (
            "swapped payload",
            format!(
                "{}.{}.{signature}",
                valid.split('.').next().unwrap(),
                b64(&json!({"sub":"mallory","exp":now+60,"iss":"https://issuer.test","aud":"api"}))
            ),
            "signature",
        ),
        (
            "expired",
            token_with("alice", json!({"exp": now - 1})),
            "expired",
        ),
        (
            "not yet valid",
            token_with("alice", json!({"nbf": now + 60})),
            "not_yet_valid",
        ),
        (
            "issued in the future",
            token_with("alice", json!({"iat": now + 3600})),
            "not_yet_valid",
        ),
        (
            "no exp",
            token_with("alice", json!({"exp": null})),
            "claims",
        ),
        (
            "string exp",
            token_with("alice", json!({"exp": (now + 60).to_string()})),
            "claims",
        ),
        (
            "wrong issuer",
            token_with("alice", json!({"iss": "https://ISSUER.test"})),
            "claims",
        ),
        (
            "issuer array",
            token_with("alice", json!({"iss": ["evil", "https://issuer.test"]})),
            "claims",
        ),
        (
            "no issuer",
            token_with("alice", json!({"iss": null})),
            "claims",
        ),
        (
            "wrong audience",
            token_with("alice", json!({"aud": "web"})),
            "claims",
        ),
        (
            "no audience",
            token_with("alice", json!({"aud": null})),
            "claims",
        ),
        (
            "numeric sub",
            token_with("alice", json!({"sub": 123})),
            "claims",
        ),
        (
            "lifetime too long",
            token_with("alice", json!({"exp": now + 86_400 * 2})),
            "claims",
        ),
    ]
}

async fn active_token_reports_its_claims(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut c = claims("alice");
    c.insert("client_id".into(), json!("web-app"));
    c.insert("username".into(), json!("Alice"));
    c.insert("tenant".into(), json!({"id": 7}));
    c.insert("aud".into(), json!(["web", "api"]));
    c.insert("active".into(), json!(false));
    let body = app.assert_active(&sign(&c)).await;
    assert_eq!(body["token_type"], "Bearer");
    for name in [
        "sub",
        "jti",
        "iat",
        "exp",
        "iss",
        "aud",
        "scope",
        "client_id",
        "username",
        "tenant",
    ] {
        assert_eq!(body[name], c[name], "{name}");
    }
    assert_eq!(app.requests_total("introspect", "active").await, 1.0);
}

async fn every_inactive_reason_gets_the_same_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases = rejected_tokens();
    for (what, token, _) in &cases {
        let res = app.introspect(token).await;
        assert_eq!(res.status(), 200, "{what}");
        assert_eq!(res.text().await.unwrap(), r#"{"active":false}"#, "{what}");
    }
    for reason in [
        "malformed",
        "signature",
        "expired",
        "not_yet_valid",
        "claims",
    ] {
        let expected = cases.iter().filter(|(_, _, r)| *r == reason).count() as f64;
        assert_eq!(
            app.requests_total("introspect", reason).await,
            expected,
            "{reason}"
        );
    }
}

async fn leeway_and_fractional_exp_are_honoured(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.jwt.leeway_secs = 30).await;
    let now = introspectd::clock::unix_now();
    app.assert_active(&token_with("alice", json!({"exp": now - 10})))
        .await;
    app.assert_inactive(&token_with("alice", json!({"exp": now - 40})))
        .await;
    app.assert_active(&token_with("alice", json!({"exp": now as f64 + 60.5})))
        .await;
}

async fn unconfigured_audience_is_not_checked(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.jwt.audience.clear();
        s.jwt.issuer = None;
    })
    .await;
    app.assert_active(&token_with("alice", json!({"aud": "x", "iss": null})))
        .await;
}

on_both_backends! {
    active_token => active_token_reports_its_claims;
    inactive_reasons => every_inactive_reason_gets_the_same_answer;
    leeway => leeway_and_fractional_exp_are_honoured;
    no_audience_configured => unconfigured_audience_is_not_checked;
}

#[tokio::test]
async fn rejected_tokens_cost_no_redis_command_and_a_valid_check_costs_one() {
    // The MGET path (with the mirror a valid check costs none: api::mirror).
    let app = TestApp::spawn_with(Backend::Redis, crate::helpers::mirror_off).await;
    let redis = app.redis();
    redis.reset_stats();
    for (what, token, _) in rejected_tokens() {
        app.assert_inactive(&token).await;
        assert_eq!(redis.command_calls(), 0, "{what} reached Redis");
    }
    for (what, token, _) in rejected_tokens() {
        assert_eq!(app.revoke(&token).await.status(), 200, "{what}");
    }
    assert_eq!(redis.command_calls(), 0, "a rejected token was written");
    // Warm the shared connections, then count.
    app.assert_active(&token("alice")).await;
    app.assert_active(&token("alice")).await;
    redis.reset_stats();
    for _ in 0..10 {
        app.assert_active(&token("alice")).await;
    }
    assert_eq!(redis.calls_of("mget"), 10);
    assert_eq!(redis.command_calls(), 10, "exactly one command per check");
}
