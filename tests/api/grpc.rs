//! Envoy ext_authz over gRPC (`server.grpc_listen`): a tonic client sends the CheckRequests
//! Envoy would send, over the whole `/auth` decision table, and asserts the exact gRPC status,
//! HTTP status and headers, and that `/auth` decides the same. gRPC health checking answers
//! like `/readyz`.

use std::collections::HashMap;

use envoy_types::pb::envoy::config::core::v3::{HeaderMap, HeaderValue};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest};
use introspectd::config::{Backend, Settings};
use serde_json::json;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::helpers::{claims, sign, token, token_with, TestApp};
use crate::on_both_backends;

const OK: i32 = 0;
const PERMISSION_DENIED: i32 = 7;
const UNAVAILABLE: i32 = 14;
const UNAUTHENTICATED: i32 = 16;
/// `HeaderValueOption.append_action` OVERWRITE_IF_EXISTS_OR_ADD.
const OVERWRITE: i32 = 2;
const CHALLENGE: &str = r#"Bearer realm="introspectd""#;
const INVALID: &str = r#"Bearer realm="introspectd", error="invalid_token""#;

/// Turns the gRPC listener on (a free port).
pub fn grpc_on(settings: &mut Settings) {
    settings.server.grpc_listen = "127.0.0.1:0".into();
}

/// A CheckResponse, flattened for assertions.
#[derive(Debug)]
pub struct Checked {
    pub code: i32,
    /// The denied response's HTTP status; 200 for an OK response.
    pub http_status: i32,
    /// Header name, value and append action, as Envoy would apply them.
    pub headers: Vec<(String, String, i32)>,
    pub remove: Vec<String>,
    pub body: String,
}

impl Checked {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, v, _)| v.as_str())
    }
}

/// A CheckRequest as Envoy sends it: lowercase header names in `headers`, or in `header_map`
/// when `raw` (Envoy's `encode_raw_headers`), and the route's context extensions.
pub fn check_request(
    headers: &[(&str, &str)],
    extensions: &[(&str, &str)],
    raw: bool,
) -> CheckRequest {
    let mut http = HttpRequest {
        method: "GET".into(),
        path: "/api/orders?page=2".into(),
        ..Default::default()
    };
    if raw {
        http.header_map = Some(HeaderMap {
            headers: headers
                .iter()
                .map(|(k, v)| HeaderValue {
                    key: k.to_string(),
                    value: String::new(),
                    raw_value: v.as_bytes().to_vec(),
                })
                .collect(),
        });
    } else {
        http.headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>();
    }
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(http),
                ..Default::default()
            }),
            context_extensions: extensions
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }),
    }
}

impl TestApp {
    pub async fn grpc_channel(&self) -> Channel {
        let port = self.grpc_port.expect("the test turned gRPC on (grpc_on)");
        Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await
            .expect("the gRPC listener accepts")
    }

    pub async fn check_with(&self, request: CheckRequest) -> Checked {
        let mut client = AuthorizationClient::new(self.grpc_channel().await);
        let response = client
            .check(request)
            .await
            .expect("a decision is never a gRPC error")
            .into_inner();
        let code = response.status.expect("every answer has a status").code;
        let (http_status, headers, remove, body) = match response.http_response {
            Some(HttpResponse::OkResponse(ok)) => {
                (200, ok.headers, ok.headers_to_remove, String::new())
            }
            Some(HttpResponse::DeniedResponse(denied)) => (
                denied.status.expect("a denial has an HTTP status").code,
                denied.headers,
                Vec::new(),
                denied.body,
            ),
            other => panic!("unexpected http_response {other:?}"),
        };
        let headers = headers
            .into_iter()
            .map(|option| {
                #[allow(deprecated)] // Checked precisely because it is deprecated: never set.
                let append = option.append;
                assert_eq!(append, None, "the deprecated append is left unset");
                let header = option.header.expect("a header option has a header");
                (header.key, header.value, option.append_action)
            })
            .collect();
        Checked {
            code,
            http_status,
            headers,
            remove,
            body,
        }
    }

    /// Checks a bearer token with extra request headers and context extensions.
    pub async fn check(
        &self,
        token: Option<&str>,
        headers: &[(&str, &str)],
        extensions: &[(&str, &str)],
    ) -> Checked {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut all: Vec<(&str, &str)> = bearer
            .iter()
            .map(|b| ("authorization", b.as_str()))
            .collect();
        all.extend_from_slice(headers);
        self.check_with(check_request(&all, extensions, false))
            .await
    }
}

fn assert_denied(checked: &Checked, code: i32, status: i32, challenge: &str, what: &str) {
    assert_eq!(checked.code, code, "{what}: {checked:?}");
    assert_eq!(checked.http_status, status, "{what}");
    assert_eq!(
        checked.header("www-authenticate"),
        Some(challenge),
        "{what}"
    );
    assert_eq!(checked.header("x-auth-subject"), None, "{what}");
}

async fn valid_tokens_are_allowed_with_their_identity_set_over_the_clients(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        grpc_on(s);
        s.auth
            .claim_headers
            .insert("tenant".into(), "X-Auth-Tenant".into());
    })
    .await;
    assert_eq!(
        app.metric_if_exported(
            r#"introspectd_requests_total{endpoint="ext_authz_grpc",outcome="active"}"#
        )
        .await,
        None
    );
    let mut c = claims("alice");
    c.insert("scope".into(), json!("read write"));
    let t = sign(&c);
    // Forged identity: one header the answer sets, one it does not (no tenant claim).
    let forged = [
        ("x-auth-subject", "mallory"),
        ("x-auth-tenant", "evil"),
        ("x-other", "kept"),
    ];
    for raw in [false, true] {
        let bearer = format!("Bearer {t}");
        let mut headers = vec![("authorization", bearer.as_str())];
        headers.extend_from_slice(&forged);
        let checked = app.check_with(check_request(&headers, &[], raw)).await;
        assert_eq!(checked.code, OK, "raw={raw}: {checked:?}");
        assert_eq!(checked.http_status, 200);
        let names: Vec<&str> = checked.headers.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "x-auth-subject",
                "x-auth-scope",
                "x-auth-issuer",
                "x-auth-jti",
                "x-auth-expires"
            ]
        );
        assert!(checked
            .headers
            .iter()
            .all(|(_, _, action)| *action == OVERWRITE));
        assert_eq!(checked.header("x-auth-subject"), Some("alice"));
        assert_eq!(checked.header("x-auth-scope"), Some("read write"));
        // Removed: only the identity header the client sent and the answer does not set.
        assert_eq!(checked.remove, ["x-auth-tenant"], "raw={raw}");
    }
    // The same request over HTTP: the same identity.
    let res = app.auth_bearer(&t, &forged).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-auth-subject"], "alice");
    assert!(res.headers().get("x-auth-tenant").is_none());
    assert_eq!(app.requests_total("ext_authz_grpc", "active").await, 2.0);
    assert_eq!(app.requests_total("auth", "active").await, 1.0);
}

async fn bad_missing_and_revoked_tokens_are_unauthenticated(backend: Backend) {
    let app = TestApp::spawn_with(backend, grpc_on).await;
    let missing = app.check(None, &[], &[]).await;
    assert_denied(&missing, UNAUTHENTICATED, 401, CHALLENGE, "missing");
    assert_eq!(missing.body, "", "no credentials: a bare challenge");
    let basic = app
        .check(None, &[("authorization", "Basic eDp5")], &[])
        .await;
    assert_denied(&basic, UNAUTHENTICATED, 401, CHALLENGE, "basic");
    let revoked = token("carol");
    assert_eq!(app.revoke(&revoked).await.status(), 200);
    let subject_revoked = token_with("dave", json!({"iat": introspectd::clock::unix_now() - 5}));
    assert_eq!(app.revoke_subject("dave").await.status(), 200);
    let expired = token_with("erin", json!({"exp": introspectd::clock::unix_now() - 10}));
    let two = format!("{t}, Bearer {t}", t = token("frank"));
    for (what, t, outcome) in [
        ("garbage", "garbage".to_owned(), "malformed"),
        ("expired", expired, "expired"),
        ("revoked", revoked, "revoked"),
        ("subject revoked", subject_revoked, "subject_revoked"),
        ("two credentials", two, "malformed"),
    ] {
        let checked = app.check(Some(&t), &[], &[]).await;
        assert_denied(&checked, UNAUTHENTICATED, 401, INVALID, what);
        let body: serde_json::Value = serde_json::from_str(&checked.body).unwrap();
        assert_eq!(body["error"], "invalid_token", "{what}");
        assert_eq!(
            checked.header("content-type"),
            Some("application/json"),
            "{what}"
        );
        // /auth agrees.
        let res = app.auth_bearer(&t, &[]).await;
        assert_eq!(res.status(), 401, "{what}");
        assert_eq!(res.headers()["www-authenticate"], INVALID, "{what}");
        assert!(
            app.requests_total("ext_authz_grpc", outcome).await >= 1.0,
            "{what}"
        );
    }
    assert_eq!(
        app.requests_total("ext_authz_grpc", "missing_token").await,
        2.0
    );
    assert_eq!(app.requests_total("ext_authz_grpc", "revoked").await, 1.0);
}

async fn route_scopes_and_header_scopes_are_both_required(backend: Backend) {
    let app = TestApp::spawn_with(backend, grpc_on).await;
    let t = token_with("alice", json!({"scope": "read orders:write"}));
    let route = [("required_scope", "orders:write")];
    type Pairs<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Pairs, Pairs, Option<&str>); 5] = [
        (&[("x-required-scope", "read")], &[], None),
        (&[], &route, None),
        (&[("x-required-scope", "read")], &route, None),
        // The client cannot lift the route's requirement with a header of its own.
        (
            &[("x-required-scope", "")],
            &[("required_scope", "admin")],
            Some("admin"),
        ),
        (
            &[("x-required-scope", "admin")],
            &route,
            Some("admin orders:write"),
        ),
    ];
    for (headers, extensions, missing) in cases {
        let checked = app.check(Some(&t), headers, extensions).await;
        match missing {
            None => assert_eq!(checked.code, OK, "{headers:?} {extensions:?}: {checked:?}"),
            Some(scope) => {
                let challenge = format!(
                    r#"Bearer realm="introspectd", error="insufficient_scope", scope="{scope}""#
                );
                assert_denied(&checked, PERMISSION_DENIED, 403, &challenge, scope);
            }
        }
    }
    assert_eq!(
        app.requests_total("ext_authz_grpc", "insufficient_scope")
            .await,
        2.0
    );
}

on_both_backends! {
    grpc_allows_valid_tokens => valid_tokens_are_allowed_with_their_identity_set_over_the_clients;
    grpc_denies_bad_tokens => bad_missing_and_revoked_tokens_are_unauthenticated;
    grpc_requires_route_and_header_scopes => route_scopes_and_header_scopes_are_both_required;
}

#[tokio::test]
async fn store_down_is_unavailable_with_retry_after_and_health_not_serving() {
    let mut app = TestApp::spawn_with(Backend::Redis, |s| {
        grpc_on(s);
        crate::helpers::mirror_off(s);
    })
    .await;
    let t = token("alice");
    let mut health = HealthClient::new(app.grpc_channel().await);
    let status = |service: &str| HealthCheckRequest {
        service: service.into(),
    };
    for service in ["", "envoy.service.auth.v3.Authorization"] {
        let answer = health.check(status(service)).await.unwrap().into_inner();
        assert_eq!(answer.status, ServingStatus::Serving as i32, "{service:?}");
    }
    let unknown = health.check(status("other.Service")).await.unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    let mut watch = health.watch(status("")).await.unwrap().into_inner();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status,
        ServingStatus::Serving as i32
    );
    assert_eq!(app.check(Some(&t), &[], &[]).await.code, OK);

    app.redis_mut().stop();
    let checked = app.check(Some(&t), &[], &[]).await;
    assert_eq!(checked.code, UNAVAILABLE, "{checked:?}");
    assert_eq!(checked.http_status, 503);
    assert_eq!(checked.header("retry-after"), Some("1"));
    assert_eq!(checked.header("x-auth-subject"), None);
    let body: serde_json::Value = serde_json::from_str(&checked.body).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(app.get("/readyz").send().await.unwrap().status(), 503);
    let answer = health.check(status("")).await.unwrap().into_inner();
    assert_eq!(answer.status, ServingStatus::NotServing as i32);
    // Watch sends the change.
    assert_eq!(
        watch.message().await.unwrap().unwrap().status,
        ServingStatus::NotServing as i32
    );
    // Bad tokens are still refused as such.
    assert_eq!(
        app.check(Some("garbage"), &[], &[]).await.code,
        UNAUTHENTICATED
    );
    assert_eq!(
        app.requests_total("ext_authz_grpc", "store_unavailable")
            .await,
        1.0
    );

    // Recovery: health turns SERVING again (polled, bounded: a loaded test machine may need
    // more than the first probe's timeout to reconnect), then checks are allowed.
    app.redis_mut().restart();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while health.check(status("")).await.unwrap().into_inner().status
        != ServingStatus::Serving as i32
    {
        assert!(
            std::time::Instant::now() < deadline,
            "health never recovered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(app.check(Some(&t), &[], &[]).await.code, OK);
    assert_eq!(
        watch.message().await.unwrap().unwrap().status,
        ServingStatus::Serving as i32
    );
}

#[tokio::test]
async fn grpc_is_off_unless_configured() {
    let app = TestApp::spawn(Backend::Memory).await;
    assert_eq!(app.grpc_port, None);
    assert!(
        !app.metrics().await.contains("ext_authz_grpc"),
        "no gRPC series without a gRPC listener"
    );
}
