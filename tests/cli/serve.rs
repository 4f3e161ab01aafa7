//! The running binary: environment overrides, no secret in trace logs, the healthcheck
//! subcommand, and SIGTERM draining.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

#[tokio::test]
async fn environment_overrides_and_no_secret_in_trace_logs() {
    let dir = Dir::new();
    let config = dir.write("c.toml", &hs_config());
    // Configured through INTROSPECTD_CONFIG and INTROSPECTD__ variables only.
    let server = serve(
        &config,
        &[
            ("INTROSPECTD__LOG__LEVEL", "trace"),
            ("INTROSPECTD__LOG__FORMAT", "json"),
            ("INTROSPECTD__AUTH__COOKIE_NAME", "session"),
        ],
    );
    let token = mint(&config, "alice");
    let http = reqwest::Client::new();
    let post = |path: &str, form: Vec<(&'static str, String)>| {
        http.post(format!("{}{path}", server.base))
            .basic_auth("gw", Some(CLIENT_SECRET))
            .form(&form)
            .send()
    };
    let active: Value = post("/introspect", vec![("token", token.clone())])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(active["active"], true);
    assert_eq!(
        post("/revoke", vec![("token", token.clone())])
            .await
            .unwrap()
            .status(),
        200
    );
    let inactive = post("/introspect", vec![("token", token.clone())])
        .await
        .unwrap();
    assert_eq!(inactive.text().await.unwrap(), r#"{"active":false}"#);
    assert_eq!(
        post("/revoke/subject", vec![("sub", "alice".into())])
            .await
            .unwrap()
            .status(),
        200
    );
    // Credentials in the wrong places, and a token in a query string.
    let wrong = http
        .post(format!("{}/introspect", server.base))
        .basic_auth("gw", Some("wrong-secret"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let query = http
        .get(format!(
            "{}/introspect?token={token}&client_secret={CLIENT_SECRET}",
            server.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 405);
    // The gateway paths: Bearer header, cookie, and a token where it does not belong.
    let other = mint(&config, "bob");
    let auth = http
        .get(format!("{}/auth/api", server.base))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(auth.status(), 200);
    let cookie = http
        .get(format!("{}/auth", server.base))
        .header("cookie", format!("session={other}"))
        .send()
        .await
        .unwrap();
    assert_eq!(cookie.status(), 200);
    let in_query = http
        .get(format!("{}/auth?access_token={other}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(in_query.status(), 401);

    let logs = server.stop();
    let jti = token_claims(&token)["jti"].as_str().unwrap().to_owned();
    // The logs are JSON lines, and they did record the work, by jti.
    assert!(
        logs.lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "{logs}"
    );
    assert!(
        logs.contains("token revoked") && logs.contains(&jti),
        "{logs}"
    );
    let mut secrets = vec![
        other.clone(),
        token.clone(),
        SECRET.to_owned(),
        CLIENT_SECRET.to_owned(),
        "wrong-secret".to_owned(),
    ];
    secrets.extend(token.split('.').map(str::to_owned));
    secrets.extend(other.split('.').map(str::to_owned));
    for secret in secrets {
        assert!(
            !logs.contains(&secret),
            "a secret leaked into the logs: {secret}"
        );
    }
}

fn token_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.split('.').nth(1).unwrap())
        .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

#[test]
fn healthcheck_probes_the_running_service() {
    let dir = Dir::new();
    let config = dir.write("c.toml", &hs_config());
    let server = serve(&config, &[]);
    let listen = server.base.trim_start_matches("http://").to_owned();
    let check = |extra: &[&str]| {
        let mut args = vec!["healthcheck", "--config", config.to_str().unwrap()];
        args.extend_from_slice(extra);
        run(&args, &[("INTROSPECTD__SERVER__LISTEN", &listen)])
            .status
            .success()
    };
    assert!(check(&[]));
    assert!(check(&["--ready"]));
    drop(server);
    assert!(
        !check(&[]),
        "healthcheck succeeded with the service stopped"
    );
}

/// Reads one HTTP response's status line from a raw connection.
fn status_line(stream: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    while !response.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&response)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn sigterm_turns_unready_at_once_drains_and_lets_in_flight_requests_finish() {
    use std::io::Write;
    let dir = Dir::new();
    let config = dir.write("c.toml", &hs_config());
    let server = serve(
        &config,
        &[
            ("INTROSPECTD__SERVER__SHUTDOWN_DELAY_SECS", "1"),
            ("INTROSPECTD__SERVER__SHUTDOWN_TIMEOUT_SECS", "20"),
        ],
    );
    let addr = server.base.trim_start_matches("http://").to_owned();
    let ready = |addr: &str| {
        let mut s = std::net::TcpStream::connect(addr).ok()?;
        s.write_all(b"GET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .ok()?;
        Some(status_line(&mut s))
    };
    assert_eq!(ready(&addr).as_deref(), Some("HTTP/1.1 200 OK"));

    // A request in flight: headers and half of the body sent.
    let body = "token=not-a-jwt";
    let mut in_flight = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        in_flight,
        "POST /introspect HTTP/1.1\r\nHost: t\r\nAuthorization: Basic {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("gw:{CLIENT_SECRET}")
        ),
        body.len(),
        &body[..6]
    )
    .unwrap();

    let _ = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status();
    // Unready at once, while still answering.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = ready(&addr);
        if status.as_deref() == Some("HTTP/1.1 503 Service Unavailable") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "readyz stayed {status:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Then the listener closes...
    while std::net::TcpStream::connect(&addr).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the listener never closed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // ...but the request in flight still completes.
    in_flight.write_all(&body.as_bytes()[6..]).unwrap();
    assert_eq!(status_line(&mut in_flight), "HTTP/1.1 200 OK");
    drop(in_flight);
    let logs = server.stop_after_exit(Duration::from_secs(20));
    assert!(logs.contains("shutdown requested"), "{logs}");
}

#[test]
fn the_redis_address_is_logged_without_its_password() {
    let dir = Dir::new();
    // Nothing listens on port 1: readiness fails, and its log names where Redis was sought.
    let config = dir.write(
        "c.toml",
        &(hs_config()
            + "[store]\nbackend = \"redis\"\nredis_url = \"redis://app:hunter2-secret@127.0.0.1:1/3\"\n"),
    );
    let server = serve(&config, &[]);
    let status = introspectd::healthcheck::probe(
        server.base.trim_start_matches("http://").parse().unwrap(),
        "/readyz",
    )
    .unwrap();
    assert_eq!(status, 503);
    let logs = server.stop();
    let mentions = logs
        .lines()
        .filter(|l| l.contains("redis://127.0.0.1:1/3"))
        .count();
    assert!(
        mentions >= 2,
        "start-up and readiness lines name Redis:\n{logs}"
    );
    assert!(logs.contains("not ready"), "{logs}");
    assert!(
        !logs.contains("hunter2"),
        "the password reached the logs:\n{logs}"
    );
}

/// The decision's log line names the original method and URI that a trusted proxy forwarded
/// (credential parameters redacted) or that Envoy put in its CheckRequest; forwarded headers
/// from anyone else are not believed; the token is never logged.
#[tokio::test]
async fn decisions_log_the_original_request_from_trusted_proxies_only() {
    use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
    use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
    use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest};

    let dir = Dir::new();
    let config = dir.write(
        "c.toml",
        &hs_config().replace(
            "[server]",
            "[server]\ngrpc_listen = \"127.0.0.1:0\"\ntrusted_proxies = [\"127.0.0.5/32\"]",
        ),
    );
    let server = serve(
        &config,
        &[
            ("INTROSPECTD__LOG__LEVEL", "debug"),
            ("INTROSPECTD__LOG__FORMAT", "json"),
        ],
    );
    let token = mint(&config, "alice");
    let from = |ip: &str| {
        reqwest::Client::builder()
            .local_address(Some(ip.parse().unwrap()))
            .build()
            .unwrap()
    };
    for (client, uri) in [
        (
            from("127.0.0.5"),
            "/trusted/orders?page=2&access_token=query-secret",
        ),
        (from("127.0.0.6"), "/forged/path"),
    ] {
        let res = client
            .get(format!("{}/auth", server.base))
            .bearer_auth(&token)
            .header("x-forwarded-method", "DELETE")
            .header("x-forwarded-uri", uri)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let channel =
        tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{}", server.grpc_port()))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let http = HttpRequest {
        method: "PUT".into(),
        path: "/envoy/items?id_token=grpc-secret".into(),
        headers: [("authorization".to_string(), format!("Bearer {token}"))].into(),
        ..Default::default()
    };
    let request = CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(http),
                ..Default::default()
            }),
            ..Default::default()
        }),
    };
    let answer = AuthorizationClient::new(channel)
        .check(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.status.unwrap().code, 0);
    let logs = server.stop();
    let decisions: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["fields"]["message"] == "request")
        .filter(|line| {
            matches!(
                line["fields"]["endpoint"].as_str(),
                Some("auth" | "ext_authz_grpc")
            )
        })
        .map(|line| line["fields"].clone())
        .collect();
    assert_eq!(decisions.len(), 3, "{logs}");
    assert_eq!(decisions[0]["original_method"], "DELETE");
    assert_eq!(
        decisions[0]["original_uri"],
        "/trusted/orders?page=2&access_token=[redacted]"
    );
    assert_eq!(
        decisions[1]["original_method"],
        Value::Null,
        "forged: {logs}"
    );
    assert_eq!(decisions[1]["original_uri"], Value::Null, "forged: {logs}");
    assert_eq!(decisions[2]["endpoint"], "ext_authz_grpc");
    assert_eq!(decisions[2]["original_method"], "PUT");
    assert_eq!(
        decisions[2]["original_uri"],
        "/envoy/items?id_token=[redacted]"
    );
    for secret in [
        token.as_str(),
        "query-secret",
        "grpc-secret",
        "/forged/path",
    ] {
        assert!(!logs.contains(secret), "logged: {secret}");
    }
}
