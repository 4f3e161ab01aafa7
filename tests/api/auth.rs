//! `/auth`: the nginx auth_request / Envoy ext_authz contract, tested directly. Same verdict as
//! /introspect; exactly 200 with identity headers to allow; 401 with a Bearer challenge or 403
//! for scopes to deny; 503 when the store fails; never 400.

use introspectd::config::Backend;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{claims, sign, token, token_with, TestApp};
use crate::introspect::rejected_tokens;
use crate::on_both_backends;

const CHALLENGE: &str = r#"Bearer realm="introspectd""#;
const INVALID: &str = r#"Bearer realm="introspectd", error="invalid_token""#;

impl TestApp {
    pub async fn auth(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.address));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("request is answered")
    }

    pub async fn auth_bearer(&self, token: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let bearer = format!("Bearer {token}");
        let mut all = vec![("authorization", bearer.as_str())];
        all.extend_from_slice(headers);
        self.auth(Method::GET, "/auth", &all).await
    }
}

fn challenge(headers: &HeaderMap) -> &str {
    headers["www-authenticate"].to_str().unwrap()
}

async fn active_token_gets_exactly_200_with_identity_headers(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.auth
            .claim_headers
            .insert("tenant".into(), "X-Auth-Tenant".into());
        s.auth
            .claim_headers
            .insert("level".into(), "X-Auth-Level".into());
    })
    .await;
    let mut c = claims("alice");
    c.insert("client_id".into(), json!("web-app"));
    c.insert("tenant".into(), json!("acme"));
    c.insert("level".into(), json!(3));
    let t = sign(&c);
    let methods = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
    ];
    for path in [
        "/auth",
        "/auth/",
        "/auth/api/v1/orders?id=7",
        "/auth/x%2e%2e%2fy/%E2%9C%93",
    ] {
        for method in methods.clone() {
            let bearer = format!("Bearer {t}");
            let res = app
                .auth(method.clone(), path, &[("authorization", &bearer)])
                .await;
            assert_eq!(res.status(), 200, "{method} {path}");
            let h = res.headers().clone();
            assert_eq!(h["x-auth-subject"], "alice");
            assert_eq!(h["x-auth-scope"], "read write");
            assert_eq!(h["x-auth-client-id"], "web-app");
            assert_eq!(h["x-auth-issuer"], "https://issuer.test");
            assert_eq!(h["x-auth-jti"], c["jti"].as_str().unwrap());
            assert_eq!(h["x-auth-expires"], c["exp"].to_string().as_str());
            assert_eq!(h["x-auth-tenant"], "acme");
            assert_eq!(h["x-auth-level"], "3");
            assert_eq!(h["cache-control"], "no-store");
            assert!(
                res.bytes().await.unwrap().is_empty(),
                "{method} {path}: empty body"
            );
        }
    }
    let without_client = app.auth_bearer(&token("bob"), &[]).await;
    assert_eq!(without_client.status(), 200);
    assert!(without_client.headers().get("x-auth-client-id").is_none());
    assert!(without_client.headers().get("x-auth-tenant").is_none());
    // 4 paths x 7 methods, and bob.
    assert_eq!(app.requests_total("auth", "active").await, 29.0);
}

async fn missing_or_foreign_credentials_get_a_bare_challenge(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = token("alice");
    let basic = "Basic Z2F0ZXdheTpnYXRld2F5LXNlY3JldA==".to_string();
    let query = format!("/auth?access_token={t}");
    for (path, headers) in [
        ("/auth", vec![]),
        ("/auth", vec![("authorization", basic.as_str())]),
        ("/auth", vec![("authorization", "Digest abc")]),
        (query.as_str(), vec![]),
        ("/auth", vec![("cookie", &*format!("access_token={t}"))]),
    ] {
        let res = app.auth(Method::GET, path, &headers).await;
        assert_eq!(res.status(), 401, "{headers:?}");
        assert_eq!(challenge(res.headers()), CHALLENGE);
    }
}

async fn bad_tokens_get_invalid_token_never_400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = token("alice");
    let two = format!("Bearer {t}, Bearer {t}");
    let spaced = format!("Bearer {t} extra");
    for value in [
        "Bearer",
        "Bearer ",
        "Bearer a b",
        two.as_str(),
        spaced.as_str(),
        "Bearer \"quoted\"",
    ] {
        let res = app
            .auth(Method::GET, "/auth", &[("authorization", value)])
            .await;
        assert_eq!(res.status(), 401, "{value}");
        assert_eq!(challenge(res.headers()), INVALID, "{value}");
    }
    let bearer = format!("Bearer {t}");
    let mut req = app.client.get(format!("{}/auth", app.address));
    req = req
        .header("authorization", &bearer)
        .header("authorization", &bearer);
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(challenge(res.headers()), INVALID);
    for scheme in ["bearer", "BEARER"] {
        let value = format!("{scheme} {t}");
        let res = app
            .auth(Method::GET, "/auth", &[("authorization", &value)])
            .await;
        assert_eq!(res.status(), 200, "{scheme}");
    }
}

async fn auth_and_introspect_agree_on_every_rejected_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let revoked = token("carol");
    assert_eq!(app.revoke(&revoked).await.status(), 200);
    let subject_revoked = token_with("dave", json!({"iat": introspectd::clock::unix_now() - 5}));
    assert_eq!(app.revoke_subject("dave").await.status(), 200);
    let mut cases = rejected_tokens();
    cases.push(("revoked", revoked, "revoked"));
    cases.push(("subject revoked", subject_revoked, "subject_revoked"));
    for (what, t, reason) in cases {
        app.assert_inactive(&t).await;
        // Tokens that are not b64token syntax are refused before verification.
        let res = app.auth_bearer(&t, &[]).await;
        assert_eq!(res.status(), 401, "{what}");
        assert_eq!(challenge(res.headers()), INVALID, "{what}");
        if reason == "revoked" || reason == "subject_revoked" {
            assert_eq!(app.requests_total("auth", reason).await, 1.0, "{what}");
        }
    }
}

async fn required_scopes_are_enforced(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = token("alice"); // scope "read write"
    let ok = |headers: Vec<(&'static str, &'static str)>| (200, headers, None);
    let forbidden = |headers: Vec<(&'static str, &'static str)>, scope: &'static str| {
        (403, headers, Some(scope))
    };
    for (status, headers, scope) in [
        ok(vec![("x-required-scope", "read")]),
        ok(vec![("x-required-scope", "write read")]),
        ok(vec![("x-required-scope", "")]),
        ok(vec![
            ("x-required-scope", "read"),
            ("x-required-scope", "write"),
        ]),
        forbidden(vec![("x-required-scope", "read admin")], "read admin"),
        forbidden(vec![("x-required-scope", "Read")], "Read"),
        forbidden(
            vec![("x-required-scope", "read"), ("x-required-scope", "admin")],
            "read admin",
        ),
        forbidden(vec![("x-required-scope", "read admin\"")], "read"),
        forbidden(vec![("x-required-scope", "read\" error=\"x")], ""),
    ] {
        let res = app.auth_bearer(&t, &headers).await;
        assert_eq!(res.status(), status, "{headers:?}");
        if let Some(scope) = scope {
            let mut expected =
                String::from(r#"Bearer realm="introspectd", error="insufficient_scope""#);
            if !scope.is_empty() {
                expected.push_str(&format!(r#", scope="{scope}""#));
            }
            assert_eq!(challenge(res.headers()), expected, "{headers:?}");
        }
    }
    let odd = token_with("alice", json!({"scope": ["read", "write"]}));
    assert_eq!(
        app.auth_bearer(&odd, &[("x-required-scope", "read")])
            .await
            .status(),
        403
    );
    assert_eq!(app.auth_bearer(&odd, &[]).await.status(), 200);
    assert_eq!(app.requests_total("auth", "insufficient_scope").await, 6.0);
}

async fn hostile_claims_cannot_split_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = token_with("alice\r\nX-Evil: 1", json!({"scope": "read\nX-Evil: 2"}));
    let res = app.auth_bearer(&t, &[]).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("x-evil").is_none());
    assert_eq!(res.headers()["x-auth-subject"], "alice%0D%0AX-Evil: 1");
    assert_eq!(res.headers()["x-auth-scope"], "read%0AX-Evil: 2");
    // /introspect returns the exact value, JSON-escaped.
    assert_eq!(app.introspect_json(&t).await["sub"], "alice\r\nX-Evil: 1");
}

on_both_backends! {
    allow => active_token_gets_exactly_200_with_identity_headers;
    bare_challenge => missing_or_foreign_credentials_get_a_bare_challenge;
    invalid_token => bad_tokens_get_invalid_token_never_400;
    agrees_with_introspect => auth_and_introspect_agree_on_every_rejected_token;
    scopes => required_scopes_are_enforced;
    header_injection => hostile_claims_cannot_split_headers;
}

#[tokio::test]
async fn token_is_read_from_the_configured_cookie_only() {
    let app = TestApp::spawn_with(Backend::Memory, |s| {
        s.auth.cookie_name = "access_token".into()
    })
    .await;
    let t = token("alice");
    let cookie = format!("theme=dark; access_token={t}; lang=en");
    let res = app
        .auth(Method::GET, "/auth/x", &[("cookie", &cookie)])
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-auth-subject"], "alice");
    // The Authorization header wins when both are present.
    let res = app
        .auth(
            Method::GET,
            "/auth",
            &[("cookie", &cookie), ("authorization", "Bearer garbage")],
        )
        .await;
    assert_eq!(res.status(), 401);
    let res = app
        .auth(Method::GET, "/auth", &[("cookie", "access_token=a b")])
        .await;
    assert_eq!(challenge(res.headers()), INVALID);
}

#[tokio::test]
async fn store_failure_is_503_with_retry_after_not_200() {
    // The MGET path: the failure shows at the very next check.
    let mut app = TestApp::spawn_with(Backend::Redis, crate::helpers::mirror_off).await;
    let t = token("alice");
    assert_eq!(app.auth_bearer(&t, &[]).await.status(), 200);
    app.redis_mut().stop();
    let res = app.auth_bearer(&t, &[]).await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    assert!(res.headers().get("x-auth-subject").is_none());
    // Bad tokens are still refused as such: no store needed.
    assert_eq!(app.auth_bearer("garbage", &[]).await.status(), 401);
    app.redis_mut().restart();
    assert_eq!(app.auth_bearer(&t, &[]).await.status(), 200);
}

#[tokio::test]
async fn checks_through_auth_cost_one_redis_command_and_garbage_none() {
    let app = TestApp::spawn(Backend::Redis).await;
    let t = token("alice");
    assert_eq!(app.auth_bearer(&t, &[]).await.status(), 200);
    let redis = app.redis();
    redis.reset_stats();
    for _ in 0..5 {
        assert_eq!(app.auth_bearer(&t, &[]).await.status(), 200);
        assert_eq!(app.auth_bearer("a.b.c", &[]).await.status(), 401);
    }
    assert_eq!(redis.command_calls(), 5);
}
