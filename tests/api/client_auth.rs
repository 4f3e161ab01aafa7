//! Client authentication on /introspect, /revoke and /revoke/subject.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use introspectd::config::Backend;
use serde_json::Value;

use crate::helpers::{client_from, token, TestApp, CLIENT_ID, CLIENT_SECRET};

const ENDPOINTS: [&str; 3] = ["/introspect", "/revoke", "/revoke/subject"];

async fn assert_invalid_client(res: reqwest::Response) -> String {
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Basic realm="introspectd""#
    );
    assert_eq!(res.headers()["cache-control"], "no-store");
    let text = res.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"], "invalid_client");
    text
}

#[tokio::test]
async fn missing_or_wrong_credentials_are_refused_with_identical_bodies() {
    let app = TestApp::spawn(Backend::Memory).await;
    let t = token("alice");
    for path in ENDPOINTS {
        let form = [("token", t.as_str()), ("sub", "alice")];
        let none = app.post(path).form(&form).send().await.unwrap();
        let none = assert_invalid_client(none).await;
        let wrong = app
            .post(path)
            .basic_auth(CLIENT_ID, Some("wrong"))
            .form(&form);
        let wrong = assert_invalid_client(wrong.send().await.unwrap()).await;
        let unknown = app
            .post(path)
            .basic_auth("nobody", Some(CLIENT_SECRET))
            .form(&form);
        let unknown = assert_invalid_client(unknown.send().await.unwrap()).await;
        let crossed = app
            .post(path)
            .basic_auth("other", Some(CLIENT_SECRET))
            .form(&form);
        assert_invalid_client(crossed.send().await.unwrap()).await;
        assert_eq!(
            wrong, unknown,
            "unknown client and wrong secret look the same"
        );
        assert_eq!(none, wrong);
    }
    // Nothing was revoked by the refused calls.
    app.assert_active(&t).await;
    assert_eq!(app.requests_total("revoke", "invalid_client").await, 4.0);
}

#[tokio::test]
async fn malformed_basic_credentials_are_invalid_client_not_errors() {
    let app = TestApp::spawn(Backend::Memory).await;
    let t = token("alice");
    for header in [
        "Basic".to_string(),
        "Basic !!!notbase64".to_string(),
        format!("Basic {}", STANDARD.encode("no-colon")),
        format!("Basic {}", STANDARD.encode(":secret")),
        format!("Basic {}", "A".repeat(8192)),
    ] {
        let res = app
            .post("/introspect")
            .header("authorization", header.as_str())
            .form(&[("token", t.as_str())])
            .send()
            .await
            .unwrap();
        assert_invalid_client(res).await;
    }
}

#[tokio::test]
async fn basic_post_and_lowercase_scheme_are_accepted() {
    let app = TestApp::spawn(Backend::Memory).await;
    let t = token("alice");
    let post = app
        .post("/introspect")
        .form(&[
            ("token", t.as_str()),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(post.json::<Value>().await.unwrap()["active"], true);
    let lower = format!(
        "basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let res = app
        .post("/introspect")
        .header("authorization", lower)
        .form(&[("token", t.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["active"], true);
    // Any configured client may revoke any token (trusted gateways; see README).
    let res = app
        .post("/revoke")
        .basic_auth("other", Some("other-secret"))
        .form(&[("token", t.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.assert_inactive(&t).await;
}

#[tokio::test]
async fn two_authentication_methods_at_once_are_a_bad_request() {
    let app = TestApp::spawn(Backend::Memory).await;
    let t = token("alice");
    for path in ENDPOINTS {
        let res = app
            .post(path)
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[
                ("token", t.as_str()),
                ("sub", "alice"),
                ("client_id", "other"),
                ("client_secret", "other-secret"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{path}");
        assert_eq!(
            res.json::<Value>().await.unwrap()["error"],
            "invalid_request"
        );
    }
    app.assert_active(&t).await;
}

#[tokio::test]
async fn repeated_failures_are_limited_per_client_and_per_source() {
    let app = TestApp::spawn_with(Backend::Memory, |s| s.client_auth.max_failures = 5).await;
    let t = token("alice");
    let (a, b, c) = (
        client_from("127.0.0.2"),
        client_from("127.0.0.3"),
        client_from("127.0.0.4"),
    );
    let introspect = |client: &reqwest::Client, id: &str, secret: &str| {
        client
            .post(format!("{}/introspect", app.address))
            .basic_auth(id, Some(secret))
            .form(&[("token", t.as_str())])
            .send()
    };
    // Per client: five wrong secrets for "gateway" from one address...
    for _ in 0..5 {
        assert_invalid_client(introspect(&a, CLIENT_ID, "wrong").await.unwrap()).await;
    }
    let res = introspect(&a, CLIENT_ID, "wrong").await.unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    // ...lock that id everywhere, even with the right secret; other ids still work.
    let res = introspect(&b, CLIENT_ID, CLIENT_SECRET).await.unwrap();
    assert_eq!(res.status(), 429);
    let res = introspect(&b, "other", "other-secret").await.unwrap();
    assert_eq!(res.status(), 200);

    // Per source: five failures with assorted ids from one address lock that address.
    for id in ["x1", "x2", "x3", "x4", "x5"] {
        assert_invalid_client(introspect(&c, id, "guess").await.unwrap()).await;
    }
    assert_eq!(
        introspect(&c, "other", "other-secret")
            .await
            .unwrap()
            .status(),
        429
    );
    assert_eq!(
        introspect(&b, "other", "other-secret")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(app.requests_total("introspect", "rate_limited").await, 3.0);
    assert_eq!(
        app.requests_total("introspect", "invalid_client").await,
        10.0
    );
}

/// `X-Forwarded-For` names the source only when a trusted proxy sent it (`server.trusted_proxies`).
#[tokio::test]
async fn forged_forwarded_for_neither_spreads_failures_nor_locks_out_an_innocent() {
    let app = TestApp::spawn_with(Backend::Memory, |s| {
        s.client_auth.max_failures = 3;
        s.server.trusted_proxies = vec!["127.0.0.5".into()];
    })
    .await;
    let t = token("alice");
    let (attacker, proxy) = (client_from("127.0.0.6"), client_from("127.0.0.5"));
    let introspect = |client: &reqwest::Client, forwarded: &str, id: &str, secret: &str| {
        client
            .post(format!("{}/introspect", app.address))
            .basic_auth(id, Some(secret))
            .header("x-forwarded-for", forwarded)
            .form(&[("token", t.as_str())])
            .send()
    };
    // An untrusted peer claims a new address with every guess (and a new id, so that only the
    // source limit can stop it): its own address is locked all the same.
    for (i, id) in ["g1", "g2", "g3"].iter().enumerate() {
        let fake = format!("198.51.100.{i}");
        assert_invalid_client(introspect(&attacker, &fake, id, "guess").await.unwrap()).await;
    }
    let res = introspect(&attacker, "198.51.100.200", "other", "other-secret")
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        429,
        "the forged addresses did not spread the failures"
    );
    // It named an innocent address every time: the innocent, behind the trusted proxy, is
    // not locked out (nor is any of the fake addresses).
    for innocent in ["198.51.100.0", "198.51.100.1", "198.51.100.2"] {
        let res = introspect(&proxy, innocent, "other", "other-secret")
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{innocent} was locked out by a forgery");
    }
    // Through the trusted proxy, the forwarded address is the source: failures lock that
    // client (its forged left-hand entries are ignored), not the proxy's other clients.
    for id in ["h1", "h2", "h3"] {
        let chain = format!("6.6.6.{}, 203.0.113.9", id.len());
        assert_invalid_client(introspect(&proxy, &chain, id, "guess").await.unwrap()).await;
    }
    let res = introspect(&proxy, "203.0.113.9", "other", "other-secret")
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let res = introspect(&proxy, "203.0.113.10", "other", "other-secret")
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(app.requests_total("introspect", "rate_limited").await, 2.0);
}
