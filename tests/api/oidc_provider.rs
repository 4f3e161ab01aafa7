//! A real identity provider: node-oidc-provider (npm, installed by `make test` into
//! tests/idp/node_modules) with back-channel logout on and a client whose
//! `backchannel_logout_uri` is introspectd's. tests/idp/provider.mjs logs a user in through the
//! provider's real login, consent and token endpoints, then ends the session at its end-session
//! endpoint, which sends the logout token and waits for introspectd's answer.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use introspectd::config::Backend;
use serde_json::Value;

use crate::helpers::{free_port, TestApp};
use crate::idp::issuer_settings;

struct NodeProvider {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl NodeProvider {
    fn start(port: u16, logout_uri: &str) -> NodeProvider {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/idp");
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "oidc-provider is missing: `make test` installs it into tests/idp/node_modules"
        );
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .arg(port.to_string())
            .current_dir(&dir)
            .env("LOGOUT_URI", logout_uri)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        let mut provider = NodeProvider {
            child,
            stdin,
            lines,
        };
        provider.answer("ready");
        provider
    }

    /// The next line starting with `prefix` (the provider's notices are skipped).
    fn answer(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("the provider never answered {prefix:?}"));
            assert!(!line.starts_with("error"), "the provider failed: {line}");
            if line.starts_with(prefix) {
                return line;
            }
        }
    }

    fn command(&mut self, line: &str, prefix: &str) -> String {
        writeln!(self.stdin, "{line}").unwrap();
        self.answer(prefix)
    }
}

impl Drop for NodeProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn logging_out_at_a_real_provider_ends_the_session_at_once() {
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let app = TestApp::spawn_with(Backend::Redis, |s| {
        s.jwt.hmac_secret = None;
        s.jwt.issuer = None;
        s.jwt.audience.clear();
        s.jwt.issuers = vec![introspectd::config::IssuerSettings {
            discovery_url: Some(format!("{issuer}/.well-known/openid-configuration")),
            allow_http: true,
            ..issuer_settings(&issuer, &["RS256"], "api")
        }];
        s.backchannel_logout.enabled = true;
        s.backchannel_logout.audience = vec!["orders-web".into()];
    })
    .await;
    let mut provider = NodeProvider::start(port, &format!("{}/backchannel-logout", app.address));
    // Readiness fetches the provider's keys through its discovery document.
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.get("/readyz").send().await.unwrap().status() != 200 {
        assert!(
            Instant::now() < deadline,
            "the provider's keys were never fetched"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let tokens: Value = serde_json::from_str(&provider.command("login alice", "{")).unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let body = app.assert_active(&access).await;
    assert_eq!(body["sub"], "alice");
    assert_eq!(body["iss"], issuer);
    assert!(
        body["sid"].is_string(),
        "the access token names its session"
    );

    // Not-befores have one-second resolution: a token issued in the very second of its
    // session's logout stays active. Log out in the next second, as a user would.
    let iat = body["iat"].as_i64().unwrap();
    while introspectd::clock::unix_now() <= iat {
        assert!(introspectd::clock::unix_now() < iat + 5);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let done = provider.command("logout", "logged-out");
    assert_eq!(done, "logged-out 303", "the end-session endpoint finished");
    // The provider waited for introspectd's 200: the token is inactive right after.
    app.assert_inactive(&access).await;
    assert_eq!(app.auth_bearer(&access, &[]).await.status(), 401);
    assert_eq!(
        app.metric(r#"introspectd_revocations_total{kind="session"}"#)
            .await,
        1.0
    );
    assert_eq!(
        app.requests_total("backchannel_logout", "revoked").await,
        1.0
    );
}
