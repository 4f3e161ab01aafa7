//! The README's two quick starts, run as written: each fenced `sh` block under "Quick start" and
//! "With Redis" runs in bash, and its output must match the `# {...}` lines the README shows
//! (`...` stands for anything). Only what cannot run here as written is substituted: the build
//! (`make release`: cargo test has built the binary already), the binary's path, and the ports
//! (free ones instead of 8080, 8081 and 6379, so tests never race for a port).

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("an ephemeral port is available")
        .port()
}

/// The first `sh` block after `heading`.
fn block_after(readme: &str, heading: &str) -> String {
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README has {heading:?}"));
    let rest = &readme[start..];
    let body = rest
        .split("```sh\n")
        .nth(1)
        .unwrap_or_else(|| panic!("{heading:?} has an sh block"));
    body.split("\n```").next().unwrap().to_owned()
}

/// A bash process group, killed as a whole on drop (the servers it started in the background
/// too, should the script fail before its own `kill`).
struct Script(Child);

impl Drop for Script {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

/// Runs `script` from the repository root; returns its stdout once it exits successfully.
fn run(script: &str, env: &[(&str, String)]) -> String {
    let mut child = Command::new("bash")
        .args(["-e", "-c", script])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env_remove("INTROSPECTD_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("bash runs");
    let mut stdout = child.stdout.take().unwrap();
    let mut script_guard = Script(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = script_guard.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the README block did not finish");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    stdout.read_to_string(&mut out).unwrap();
    assert!(
        status.success(),
        "the README block failed ({status}):\n{out}"
    );
    out
}

/// The outputs the block promises: its `# {...}` comment lines, joined as curl prints them
/// (without newlines), then split at each `...` into fragments that must appear in order.
fn expected_fragments(block: &str) -> Vec<String> {
    let shown: String = block
        .lines()
        .filter_map(|l| l.trim().strip_prefix("# {").map(|rest| format!("{{{rest}")))
        .collect();
    shown
        .split("...")
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect()
}

fn assert_output_matches(block: &str, out: &str) {
    let fragments = expected_fragments(block);
    assert!(fragments.len() >= 2, "the block shows its outputs");
    let mut rest = out;
    for fragment in &fragments {
        let at = rest
            .find(fragment.as_str())
            .unwrap_or_else(|| panic!("{fragment:?} not in the output, in order:\n{out}"));
        rest = &rest[at + fragment.len()..];
    }
}

/// The block with the build dropped, the binary's path and the ports replaced.
fn runnable(block: &str, ports: &[(&str, u16)]) -> String {
    let binary = env!("CARGO_BIN_EXE_introspectd");
    let mut script: String = block
        .lines()
        .filter(|l| !l.starts_with("make release"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(Path::new(binary).exists());
    script = script.replace("target/release/introspectd", binary);
    for (port, free) in ports {
        script = script.replace(port, &free.to_string());
    }
    script
}

#[test]
fn the_quick_start_runs_as_written() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let block = block_after(&readme, "## Quick start");
    let port = free_port();
    let script = runnable(&block, &[("8080", port)]);
    // config/example.toml listens on 8080; the environment moves it like the script's URLs.
    let listen = format!("127.0.0.1:{port}");
    let out = run(&script, &[("INTROSPECTD__SERVER__LISTEN", listen)]);
    assert_output_matches(&block, &out);
}

#[test]
fn two_replicas_share_revocations_through_redis_as_written() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let block = block_after(&readme, "## With Redis");
    let script = runnable(
        &block,
        &[
            ("8080", free_port()),
            ("8081", free_port()),
            ("6379", free_port()),
        ],
    );
    let out = run(&script, &[]);
    assert_output_matches(&block, &out);
}
