//! A real nginx (Debian's package) with its own prefix and free port, using the shipped
//! `deploy/nginx/introspectd.conf` verbatim, in front of a tiny upstream that echoes the identity
//! headers it receives.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use introspectd::config::Backend;
use serde_json::json;

use crate::helpers::{free_port, token, token_with, TempDir, TestApp};
use crate::upstream::spawn_upstream;

struct TestNginx {
    port: u16,
    child: Child,
    prefix: TempDir,
}

impl TestNginx {
    fn start(introspectd_port: u16, app_port: u16) -> TestNginx {
        let prefix = TempDir::new();
        let port = free_port();
        let p = prefix.0.display();
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx/introspectd.conf");
        std::fs::create_dir_all(prefix.0.join("tmp")).unwrap();
        let conf = format!(
            r#"
daemon off;
master_process off;
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {p}/tmp/body;
    proxy_temp_path {p}/tmp/proxy;
    fastcgi_temp_path {p}/tmp/fastcgi;
    uwsgi_temp_path {p}/tmp/uwsgi;
    scgi_temp_path {p}/tmp/scgi;
    upstream introspectd {{ server 127.0.0.1:{introspectd_port}; }}
    upstream app {{ server 127.0.0.1:{app_port}; }}
    server {{
        listen 127.0.0.1:{port};
        # Proves the test talks to its own nginx, not another listener on a reused port.
        location = /__test_marker {{ return 200 "{marker}"; }}
        include {shipped};
    }}
}}
"#,
            shipped = shipped.display(),
            marker = prefix.0.display(),
        );
        let conf_path = prefix.0.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let binary = ["/usr/sbin/nginx", "nginx"]
            .into_iter()
            .find(|b| {
                Command::new(b)
                    .arg("-v")
                    .stderr(Stdio::null())
                    .status()
                    .is_ok()
            })
            .expect("nginx is installed (make test installs it)");
        let child = Command::new(binary)
            .arg("-p")
            .arg(&prefix.0)
            .arg("-e")
            .arg(prefix.0.join("error.log"))
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let mut nginx = TestNginx {
            port,
            child,
            prefix,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                panic!("nginx exited with {status}: {}", nginx.error_log());
            }
            if nginx.marker().as_deref() == Some(&nginx.prefix.0.display().to_string()) {
                return nginx;
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {}",
                nginx.error_log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The body of the marker location, if something answers on our port.
    fn marker(&self) -> Option<String> {
        use std::io::{Read, Write};
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream
            .write_all(b"GET /__test_marker HTTP/1.0\r\nHost: test\r\n\r\n")
            .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        response.split("\r\n\r\n").nth(1).map(str::to_owned)
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.prefix.0.join("error.log")).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for TestNginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn get(client: &reqwest::Client, url: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("nginx answers")
}

#[tokio::test]
async fn nginx_auth_request_allows_only_active_tokens_with_the_right_scope() {
    // The MGET path: "Redis down" is then down at once (a mirror would absorb it for a lease).
    let mut app = TestApp::spawn_with(Backend::Redis, crate::helpers::mirror_off).await;
    let upstream = spawn_upstream().await;
    let introspectd_port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let nginx = TestNginx::start(introspectd_port, upstream.port);
    let client = reqwest::Client::new();
    let api = nginx.url("/api/orders");
    let admin = nginx.url("/api/admin/users");

    // A valid token reaches the upstream, which sees the subject nginx took from /auth.
    let valid = token("alice");
    let res = get(&client, &api, Some(&valid)).await;
    assert_eq!(res.status(), 200, "{}", nginx.error_log());
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["subject"], "alice");
    assert_eq!(body["scope"], "read write");
    assert_eq!(upstream.hits(), 1);

    // A client cannot forge the identity header.
    let res = client
        .get(&api)
        .bearer_auth(&valid)
        .header("x-auth-subject", "root")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["subject"],
        "alice"
    );
    assert_eq!(upstream.hits(), 2);

    // No token, a bad token and a revoked token: 401 with the Bearer challenge.
    let revoked = token("bob");
    assert_eq!(app.revoke(&revoked).await.status(), 200);
    let expired = token_with("alice", json!({"exp": introspectd::clock::unix_now() - 1}));
    for (what, t, challenge) in [
        ("none", None, r#"Bearer realm="introspectd""#),
        (
            "garbage",
            Some("garbage"),
            r#"Bearer realm="introspectd", error="invalid_token""#,
        ),
        (
            "expired",
            Some(expired.as_str()),
            r#"Bearer realm="introspectd", error="invalid_token""#,
        ),
        (
            "revoked",
            Some(revoked.as_str()),
            r#"Bearer realm="introspectd", error="invalid_token""#,
        ),
    ] {
        let res = get(&client, &api, t).await;
        assert_eq!(res.status(), 401, "{what}");
        assert_eq!(res.headers()["www-authenticate"], challenge, "{what}");
    }
    assert_eq!(
        upstream.hits(),
        2,
        "denied requests never reach the upstream"
    );

    // The admin location requires the "admin" scope.
    let res = get(&client, &admin, Some(&valid)).await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Bearer realm="introspectd", error="insufficient_scope", scope="admin""#
    );
    let admin_token = token_with("carol", json!({"scope": "read admin"}));
    let res = get(&client, &admin, Some(&admin_token)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["subject"],
        "carol"
    );
    assert_eq!(upstream.hits(), 3);

    // Redis down: an error at the client, nothing reaches the upstream.
    app.redis_mut().stop();
    let res = get(&client, &api, Some(&valid)).await;
    assert_eq!(res.status(), 500);
    assert_eq!(upstream.hits(), 3);

    app.redis_mut().restart();
    assert_eq!(get(&client, &api, Some(&valid)).await.status(), 200);
    assert_eq!(upstream.hits(), 4);
}
