//! Request hygiene: malformed bodies, limits, methods and unknown paths all get the OAuth error
//! JSON with the right status and `Cache-Control: no-store`.

use introspectd::config::Backend;
use serde_json::Value;

use crate::helpers::{token, TestApp, CLIENT_ID, CLIENT_SECRET};

async fn assert_error(res: reqwest::Response, status: u16, error: &str) {
    assert_eq!(res.status(), status);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.headers()["content-type"], "application/json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], error);
    assert!(body["error_description"]
        .as_str()
        .is_some_and(|d| !d.is_empty()));
}

#[tokio::test]
async fn malformed_bodies_are_invalid_request() {
    let app = TestApp::spawn(Backend::Memory).await;
    let t = token("alice");
    let form_ct = "application/x-www-form-urlencoded";
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("/introspect", form_ct, b"".to_vec()),
        ("/introspect", form_ct, b"token=".to_vec()),
        ("/revoke", form_ct, b"token=".to_vec()),
        (
            "/introspect",
            form_ct,
            format!("token={t}&token={t}").into_bytes(),
        ),
        (
            "/introspect",
            form_ct,
            format!("token={t}&token_type_hint=a&token_type_hint=b").into_bytes(),
        ),
        ("/revoke/subject", form_ct, b"sub=a&sub=b".to_vec()),
        ("/introspect", form_ct, b"token=%zz".to_vec()),
        ("/introspect", form_ct, b"token=%FF%FE".to_vec()),
        (
            "/introspect",
            "application/json",
            format!(r#"{{"token":"{t}"}}"#).into_bytes(),
        ),
        (
            "/introspect",
            "multipart/form-data; boundary=x",
            b"--x--".to_vec(),
        ),
        (
            "/introspect",
            "application/x-www-form-urlencoded; charset=latin1",
            format!("token={t}").into_bytes(),
        ),
    ];
    for (path, content_type, body) in cases {
        let res = app
            .post(path)
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_error(res, 400, "invalid_request").await;
    }
    let gzip = app
        .post("/introspect")
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .header("content-type", form_ct)
        .header("content-encoding", "gzip")
        .body(vec![0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0])
        .send()
        .await
        .unwrap();
    assert_error(gzip, 400, "invalid_request").await;
    assert_eq!(
        app.requests_total("introspect", "invalid_request").await,
        10.0
    );
}

#[tokio::test]
async fn oversized_bodies_are_413_and_the_server_keeps_serving() {
    let app = TestApp::spawn(Backend::Memory).await;
    let big = format!("token={}", "a".repeat(17 * 1024));
    let res = app
        .post("/introspect")
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_error(res, 413, "invalid_request").await;
    // Chunked, without a Content-Length.
    let stream = futures_util::stream::iter(
        big.into_bytes()
            .chunks(1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let res = app
        .post("/introspect")
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_error(res, 413, "invalid_request").await;
    app.assert_active(&token("alice")).await;
}

#[tokio::test]
async fn unknown_hints_and_parameters_are_ignored() {
    let app = TestApp::spawn(Backend::Memory).await;
    let t = token("alice");
    let plain: Value = app.introspect(&t).await.json().await.unwrap();
    for extra in [
        ("token_type_hint", "refresh_token"),
        ("token_type_hint", "foo"),
        ("unrelated", "x"),
    ] {
        let res = app
            .post_form("/introspect", &[("token", t.as_str()), extra])
            .await;
        assert_eq!(res.json::<Value>().await.unwrap(), plain);
    }
}

#[tokio::test]
async fn wrong_methods_and_unknown_paths_get_json_errors() {
    let app = TestApp::spawn(Backend::Memory).await;
    let t = token("alice");
    let res = app
        .get(&format!(
            "/introspect?token={t}&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["allow"], "POST");
    assert_error(res, 405, "invalid_request").await;
    let res = app.post("/healthz").send().await.unwrap();
    assert_error(res, 405, "invalid_request").await;
    // "/auth" matches as a path prefix, whole segments only.
    for path in ["/nope", "/authx", "/authorize"] {
        let res = app.get(path).send().await.unwrap();
        assert_error(res, 404, "not_found").await;
    }
    assert_eq!(
        app.requests_total("introspect", "method_not_allowed").await,
        1.0
    );
}
