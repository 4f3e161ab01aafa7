//! What the CLI tests share: the binary's path, fixtures, throwaway directories, configs, and a
//! running server read from its logs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_introspectd");
pub const SECRET: &str = "cli-test-secret-0123456789abcdefghijkl";
pub const CLIENT_SECRET: &str = "cli-client-secret-xyz";

pub fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .to_str()
        .expect("fixture path is UTF-8")
        .to_owned()
}

pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new() -> Dir {
        let dir = std::env::temp_dir().join(format!("introspectd-cli-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
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

pub fn base_config(jwt: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[jwt]\n{jwt}\n[[clients]]\nid = \"gw\"\nsecret = \"{CLIENT_SECRET}\"\n"
    )
}

pub fn hs_config() -> String {
    base_config(&format!(
        "hmac_secret = \"{SECRET}\"\nissuer = \"https://issuer.test\"\naudience = [\"api\"]"
    ))
}

pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .env_remove("INTROSPECTD_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

/// A token for `sub` minted by `introspectd mint` with `config`'s key.
pub fn mint(config: &Path, sub: &str) -> String {
    let minted = run(
        &["mint", "--config", config.to_str().unwrap(), "--sub", sub],
        &[],
    );
    assert!(minted.status.success(), "mint failed");
    String::from_utf8(minted.stdout).unwrap().trim().to_owned()
}

/// Runs the server with `config` and returns its exit and stderr; it must exit by itself.
pub fn start_and_fail(config: &str, env: &[(&str, &str)]) -> (Output, String) {
    let dir = Dir::new();
    let path = dir.write("c.toml", config);
    let out = run(&["--config", path.to_str().unwrap()], env);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stderr)
}

/// A running binary, killed on drop. It listens on port 0 and the test reads the bound port from
/// its start-up log line, so parallel tests never race for a port.
pub struct Server {
    pub child: std::process::Child,
    pub base: String,
    logs: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Stops the server (SIGTERM) and returns everything it logged.
    pub fn stop(mut self) -> String {
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
    /// The ext_authz gRPC port from its start-up log line (logged before the HTTP one).
    pub fn grpc_port(&self) -> u16 {
        let logs = self.logs.lock().unwrap();
        logs.lines()
            .filter(|line| line.contains("ext_authz gRPC listening"))
            .find_map(port_field)
            .unwrap_or_else(|| panic!("no gRPC listening line: {logs}"))
    }

    /// Waits (bounded) for the process to exit by itself, asserts success, returns its logs.
    pub fn stop_after_exit(mut self, limit: Duration) -> String {
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
pub fn listening_port(line: &str) -> Option<u16> {
    if !line.contains("introspectd listening") {
        return None;
    }
    port_field(line)
}

/// The `port` field of a log line, text (`port=N`) or JSON (`"port":N`).
fn port_field(line: &str) -> Option<u16> {
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

pub fn serve(config: &Path, env: &[(&str, &str)]) -> Server {
    let child = Command::new(BIN)
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
    Server::attach(child)
}

impl Server {
    /// A started server (its stderr piped), once it logged the port it listens on.
    pub fn attach(mut child: std::process::Child) -> Server {
        use std::io::BufRead;
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
}
