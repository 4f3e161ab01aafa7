//! The real binary: configuration errors stop start-up with one line naming the key, environment
//! overrides work, `mint` output verifies, and nothing secret reaches the logs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

const BIN: &str = env!("CARGO_BIN_EXE_introspectd");
const SECRET: &str = "cli-test-secret-0123456789abcdefghijkl";
const CLIENT_SECRET: &str = "cli-client-secret-xyz";

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .to_str()
        .expect("fixture path is UTF-8")
        .to_owned()
}

struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        let dir = std::env::temp_dir().join(format!("introspectd-cli-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn base_config(jwt: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[jwt]\n{jwt}\n[[clients]]\nid = \"gw\"\nsecret = \"{CLIENT_SECRET}\"\n"
    )
}

fn hs_config() -> String {
    base_config(&format!(
        "hmac_secret = \"{SECRET}\"\nissuer = \"https://issuer.test\"\naudience = [\"api\"]"
    ))
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .env_remove("INTROSPECTD_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

/// Runs the server with `config` and returns its exit and stderr; it must exit by itself.
fn start_and_fail(config: &str, env: &[(&str, &str)]) -> (Output, String) {
    let dir = Dir::new();
    let path = dir.write("c.toml", config);
    let out = run(&["--config", path.to_str().unwrap()], env);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stderr)
}

#[test]
fn bad_configuration_exits_with_one_line_naming_the_key() {
    let ec_public = fixture("es256-public.pem");
    let rsa_public = fixture("rs256-public.pem");
    let not_a_key = fixture("README.md");
    type Env = Vec<(&'static str, &'static str)>;
    let cases: Vec<(String, Env, &str)> = vec![
        (format!("{}[jwt]\nleway_secs = 1\n", ""), vec![], "jwt.leway_secs"),
        (hs_config().replace("[jwt]", "[jwt]\nisuer = \"x\""), vec![], "jwt.isuer"),
        (format!("[stor]\nbackend = \"redis\"\n{}", hs_config()), vec![], "stor"),
        (hs_config() + "[store]\nbackend = \"mongo\"\n", vec![], "store.backend"),
        (hs_config() + "[store]\non_error = \"sometimes\"\n", vec![], "store.on_error"),
        (hs_config() + "[store]\nredis_url = \"not a url\"\n", vec![], "store.redis_url"),
        (hs_config().replace("127.0.0.1:0", "localhost"), vec![], "server.listen"),
        (hs_config(), vec![("INTROSPECTD__JWT__LEEWAY_SECS", "abc")], "jwt.leeway_secs"),
        (hs_config() + "[[clients]]\nid = \"gw\"\nsecret = \"x\"\n", vec![], "clients[1].id"),
        (base_config(&format!("hmac_secret = \"{SECRET}\"")).replace("[[clients]]\nid = \"gw\"\nsecret = \"cli-client-secret-xyz\"\n", ""), vec![], "clients"),
        (base_config("algorithms = [\"none\"]"), vec![], "jwt.algorithms"),
        (base_config(&format!("algorithms = [\"RS256\"]\npublic_key_file = \"{}\"", fixture("rs1024-public.pem"))), vec![], "jwt.public_key_file"),
        (base_config(&format!("algorithms = [\"RS256\"]\npublic_key_file = \"{}\"", fixture("rs2047-public.pem"))), vec![], "jwt.public_key_file"),
        (base_config("[[jwt.issuers]]\nissuer = \"https://idp\"\nalgorithms = [\"RS256\"]\njwks_url = \"http://idp/jwks\""), vec![], "jwt.issuers[0].jwks_url"),
        (base_config("[[jwt.issuers]]\nissuer = \"https://idp\"\nalgorithms = [\"RS256\"]\njwks_url = \"https://idp/jwks\"\ndiscovery_url = \"https://idp/.well-known/openid-configuration\""), vec![], "jwt.issuers[0].issuer"),
        (base_config("[[jwt.issuers]]\nissuer = \"https://idp\"\nalgorithms = [\"none\"]\njwks_url = \"https://idp/jwks\""), vec![], "jwt.issuers[0].algorithms"),
        (base_config(&format!("hmac_secret = \"{SECRET}\"\n[[jwt.issuers]]\nissuer = \"https://idp\"\nalgorithms = [\"RS256\"]\njwks_url = \"https://idp/jwks\"")), vec![], "jwt.hmac_secret"),
        (base_config("[[jwt.issuers]]\nissuer = \"https://a\"\nalgorithms = [\"HS256\"]\nhmac_secret = \"short\""), vec![], "jwt.issuers[0].hmac_secret"),
        (base_config("[[jwt.issuers]]\nissuer = \"https://a\"\nalgorithms = [\"RS256\"]\njwks_url = \"https://a/jwks\"\n[[jwt.issuers]]\nissuer = \"https://a\"\nalgorithms = [\"RS256\"]\njwks_url = \"https://a/jwks\""), vec![], "jwt.issuers[1].issuer"),
        (hs_config() + "[auth.claim_headers]\ntenant = \"bad header\"\n", vec![], "auth.claim_headers.tenant"),
        (hs_config() + "[auth.claim_headers]\nowner = \"X-Auth-Subject\"\n", vec![], "auth.claim_headers.owner"),
        (hs_config() + "[auth]\ncookie_name = \"a b\"\n", vec![], "auth.cookie_name"),
        (base_config(&format!("algorithms = [\"HS256\", \"NoNe\"]\nhmac_secret = \"{SECRET}\"")), vec![], "jwt.algorithms"),
        (base_config("algorithms = [\"XS256\"]"), vec![], "jwt.algorithms"),
        (base_config("algorithms = []"), vec![], "jwt.algorithms"),
        (base_config(&format!("algorithms = [\"HS256\", \"RS256\"]\nhmac_secret = \"{SECRET}\"")), vec![], "jwt.algorithms"),
        (base_config("hmac_secret = \"too-short\""), vec![], "jwt.hmac_secret"),
        (base_config(""), vec![], "jwt.hmac_secret"),
        (base_config(&format!("algorithms = [\"HS512\"]\nhmac_secret = \"{SECRET}\"")), vec![], "jwt.hmac_secret"),
        (base_config("algorithms = [\"RS256\"]"), vec![], "jwt.public_key_file"),
        (base_config("algorithms = [\"RS256\"]\npublic_key_file = \"/nonexistent/key.pem\""), vec![], "jwt.public_key_file"),
        (base_config(&format!("algorithms = [\"RS256\"]\npublic_key_file = \"{not_a_key}\"")), vec![], "jwt.public_key_file"),
        (base_config(&format!("algorithms = [\"RS256\"]\npublic_key_file = \"{ec_public}\"")), vec![], "jwt.public_key_file"),
        (base_config(&format!("algorithms = [\"ES384\"]\npublic_key_file = \"{ec_public}\"")), vec![], "jwt.public_key_file"),
        (base_config(&format!("algorithms = [\"ES256\"]\npublic_key_file = \"{rsa_public}\"")), vec![], "jwt.public_key_file"),
        (base_config(&format!("algorithms = [\"ES256\"]\npublic_key_file = \"{ec_public}\"\nprivate_key_file = \"{}\"", fixture("rs256-private.pem"))), vec![], "jwt.private_key_file"),
    ];
    // The self-test signs a probe with the private key and verifies it with the public one.
    let mismatched = base_config(&format!(
        "algorithms = [\"ES256\"]\npublic_key_file = \"{ec_public}\"\nprivate_key_file = \"{}\"",
        fixture("es256-other-private.pem")
    ));
    let (out, stderr) = start_and_fail(&mismatched, &[]);
    assert!(!out.status.success());
    assert!(
        stderr.starts_with("config error: jwt.private_key_file: start-up self-test failed"),
        "{stderr}"
    );
    for (config, env, key) in cases {
        let (out, stderr) = start_and_fail(&config, &env);
        assert!(!out.status.success(), "{key}: started with {config}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{key}: expected one line, got {stderr:?}");
        assert!(
            lines[0].starts_with(&format!("config error: {key}: ")),
            "{key}: got {:?}",
            lines[0]
        );
        assert!(
            !stderr.contains(SECRET) && !stderr.contains(CLIENT_SECRET),
            "{stderr}"
        );
    }
}

#[test]
fn missing_config_file_is_named() {
    let out = run(&["--config", "/nonexistent/introspectd.toml"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("config error: --config: "));
}

fn decode(token: &str, key: &DecodingKey, alg: Algorithm) -> Map<String, Value> {
    let mut validation = Validation::new(alg);
    validation.set_audience(&["api"]);
    validation.set_issuer(&["https://issuer.test"]);
    validation.leeway = 0;
    jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
        .expect("minted token verifies")
        .claims
}

#[test]
fn mint_prints_a_token_that_verifies() {
    let dir = Dir::new();
    let path = dir.write("c.toml", &hs_config());
    let out = run(
        &[
            "mint",
            "--config",
            path.to_str().unwrap(),
            "--sub",
            "alice",
            "--scope",
            "read write",
            "--ttl",
            "120",
            "--claim",
            "tenant=acme",
            "--claim",
            "level=3",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let claims = decode(
        token.trim(),
        &DecodingKey::from_secret(SECRET.as_bytes()),
        Algorithm::HS256,
    );
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["scope"], "read write");
    assert_eq!(claims["tenant"], "acme");
    assert_eq!(claims["level"], 3);
    assert_eq!(claims["iss"], "https://issuer.test");
    assert_eq!(claims["aud"], "api");
    let jti = claims["jti"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(jti).unwrap().get_version_num(), 4);
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["exp"].as_i64().unwrap(), iat + 120);
}

#[test]
fn mint_signs_with_asymmetric_keys() {
    let cases = [
        ("ES256", Algorithm::ES256, "es256"),
        ("EdDSA", Algorithm::EdDSA, "ed25519"),
        ("RS256", Algorithm::RS256, "rs256"),
    ];
    for (name, alg, file) in cases {
        let dir = Dir::new();
        let config = base_config(&format!(
            "algorithms = [\"{name}\"]\npublic_key_file = \"{}\"\nprivate_key_file = \"{}\"\nissuer = \"https://issuer.test\"\naudience = [\"api\"]",
            fixture(&format!("{file}-public.pem")),
            fixture(&format!("{file}-private.pem")),
        ));
        let path = dir.write("c.toml", &config);
        let out = run(
            &["mint", "--config", path.to_str().unwrap(), "--sub", "bob"],
            &[],
        );
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8(out.stdout).unwrap();
        let pem = std::fs::read(fixture(&format!("{file}-public.pem"))).unwrap();
        let key = match alg {
            Algorithm::ES256 => DecodingKey::from_ec_pem(&pem),
            Algorithm::EdDSA => DecodingKey::from_ed_pem(&pem),
            _ => DecodingKey::from_rsa_pem(&pem),
        }
        .unwrap();
        assert_eq!(decode(token.trim(), &key, alg)["sub"], "bob", "{name}");
    }
}

#[test]
fn mint_without_a_private_key_says_which_key_is_missing() {
    let dir = Dir::new();
    let config = base_config(&format!(
        "algorithms = [\"ES256\"]\npublic_key_file = \"{}\"",
        fixture("es256-public.pem")
    ));
    let path = dir.write("c.toml", &config);
    let out = run(
        &["mint", "--config", path.to_str().unwrap(), "--sub", "bob"],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("config error: jwt.private_key_file: ")
    );
}

/// A running binary, killed on drop. It listens on port 0 and the test reads the bound port from
/// its start-up log line, so parallel tests never race for a port.
struct Server {
    child: std::process::Child,
    base: String,
    logs: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Stops the server (SIGTERM) and returns everything it logged.
    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        let logs = self.logs.lock().unwrap().clone();
        logs
    }
}

impl Server {
    /// Waits (bounded) for the process to exit by itself, asserts success, returns its logs.
    fn stop_after_exit(mut self, limit: Duration) -> String {
        let deadline = std::time::Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not exit"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(status.success(), "exit status {status}");
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        let logs = self.logs.lock().unwrap().clone();
        logs
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port in introspectd's "listening" log line, text (`port=N`) or JSON (`"port":N`).
fn listening_port(line: &str) -> Option<u16> {
    if !line.contains("introspectd listening") {
        return None;
    }
    let rest = line
        .split("port=")
        .nth(1)
        .or_else(|| line.split("\"port\":").nth(1))?;
    rest.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

fn serve(config: &Path, env: &[(&str, &str)]) -> Server {
    use std::io::BufRead;
    let mut child = Command::new(BIN)
        .env_clear()
        .env("INTROSPECTD_CONFIG", config)
        .env("INTROSPECTD__SERVER__LISTEN", "127.0.0.1:0")
        // No drain delay unless a test asks for one.
        .env("INTROSPECTD__SERVER__SHUTDOWN_DELAY_SECS", "0")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let logs = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let sink = std::sync::Arc::clone(&logs);
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(port) = listening_port(&line) {
                let _ = port_tx.send(port);
            }
            let mut logs = sink.lock().unwrap();
            logs.push_str(&line);
            logs.push('\n');
        }
    });
    let port = port_rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("the server did not start: {}", logs.lock().unwrap()));
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        logs,
        reader: Some(reader),
    }
}

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
    let minted = run(
        &[
            "mint",
            "--config",
            config.to_str().unwrap(),
            "--sub",
            "alice",
        ],
        &[],
    );
    let token = String::from_utf8(minted.stdout).unwrap().trim().to_owned();
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
    let minted = run(
        &["mint", "--config", config.to_str().unwrap(), "--sub", "bob"],
        &[],
    );
    let other = String::from_utf8(minted.stdout).unwrap().trim().to_owned();
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
