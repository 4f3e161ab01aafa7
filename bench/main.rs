//! `make bench`: measures introspectd under load against its own ceiling.
//!
//! Starts its own redis-server (free port, no persistence) and three release introspectd
//! instances (Redis + HS256, memory + HS256, Redis + ES256), preloads revoked entries through the
//! real key scheme, then drives every case with wrk (fixed connections, warm-up, bounded measured
//! run). Prints a Markdown table and writes it to bench/RESULTS.md. Everything it starts is
//! killed on drop, on failure too. It asserts nothing about speed: it reports.
//!
//! Knobs (environment): BENCH_SECONDS (measured run, default 10), BENCH_WARMUP (default 3),
//! BENCH_CONNECTIONS (default 32), BENCH_PRELOAD (revoked entries, default 1000000).

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use deadpool_redis::redis;
use introspectd::store::Keys;
use introspectd::token::{unix_now, TokenId};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: &str = "bench-secret-0123456789-abcdefghijklmnop";
const CLIENT: &str = "bench";
const CLIENT_SECRET: &str = "bench-client-secret";

type Result<T> = std::result::Result<T, String>;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("an ephemeral port is available")
}

/// A child process killed when dropped.
struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(name: &'static str, cmd: &mut Command) -> Result<Proc> {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    Ok(Proc { child })
}

struct Instance {
    proc: Proc,
    port: u16,
}

impl Instance {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn start_introspectd(
    binary: &Path,
    dir: &Path,
    name: &'static str,
    jwt: &str,
    store: &str,
) -> Result<Instance> {
    let port = free_port();
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[jwt]\n{jwt}\nissuer = \"https://issuer.bench\"\n\
             audience = [\"api\"]\n[store]\n{store}\n[log]\nlevel = \"warn\"\n\
             [[clients]]\nid = \"{CLIENT}\"\nsecret = \"{CLIENT_SECRET}\"\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let proc = spawn(name, Command::new(binary).arg("--config").arg(&config))?;
    let instance = Instance { proc, port };
    wait_until(|| http_status(instance.port, "/readyz") == Some(200), name)?;
    Ok(instance)
}

fn wait_until(mut ready: impl FnMut() -> bool, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready() {
        if Instant::now() > deadline {
            return Err(format!("{what} did not become ready"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn http_status(port: u16, path: &str) -> Option<u16> {
    introspectd::healthcheck::probe(([127, 0, 0, 1], port).into(), path).ok()
}

fn sign(claims: &Value, header: Header, key: &EncodingKey) -> String {
    jsonwebtoken::encode(&header, claims, key).expect("bench token signs")
}

fn claims(sub: &str, iat: i64) -> Value {
    json!({
        "sub": sub, "jti": uuid::Uuid::new_v4().to_string(), "iat": iat, "exp": unix_now() + 3600,
        "iss": "https://issuer.bench", "aud": "api", "scope": "read write",
    })
}

/// Writes `count` revoked-token entries through the real key scheme, with TTLs spread over a
/// day like real traffic, in pipelined batches.
fn preload(conn: &mut redis::Connection, count: u64) -> Result<()> {
    let keys = Keys::new("introspectd:");
    let mut pipe = redis::pipe();
    for i in 0..count {
        let key = keys.token(
            Some(&format!("user-{}", i % 100_000)),
            &TokenId::Jti(uuid::Uuid::new_v4().to_string()),
        );
        pipe.cmd("SET")
            .arg(key)
            .arg(1)
            .arg("EX")
            .arg(3600 + (i * 7919) % 82_800)
            .ignore();
        if (i + 1) % 10_000 == 0 || i + 1 == count {
            pipe.query::<()>(conn)
                .map_err(|e| format!("preload: {e}"))?;
            pipe = redis::pipe();
        }
    }
    Ok(())
}

/// A 6-node Redis Cluster (3 masters, 3 replicas) on free ports, no persistence.
fn start_cluster(dir: &Path) -> Result<(Vec<Proc>, Vec<u16>)> {
    let mut procs = Vec::new();
    let mut ports = Vec::new();
    for i in 0..6 {
        let node_dir = dir.join(format!("cluster-{i}"));
        std::fs::create_dir_all(&node_dir).map_err(|e| e.to_string())?;
        let port = free_port();
        procs.push(spawn(
            "redis-server",
            Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--cluster-enabled",
                    "yes",
                ])
                .args([
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "5000",
                ])
                .arg("--dir")
                .arg(&node_dir),
        )?);
        ports.push(port);
    }
    for port in &ports {
        let client =
            redis::Client::open(format!("redis://127.0.0.1:{port}")).map_err(|e| e.to_string())?;
        wait_until(|| client.get_connection().is_ok(), "cluster node")?;
    }
    let status = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(ports.iter().map(|p| format!("127.0.0.1:{p}")))
        .args(["--cluster-replicas", "1", "--cluster-yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("redis-cli: {e}"))?;
    if !status.success() {
        return Err("redis-cli --cluster create failed".into());
    }
    for port in &ports {
        let client =
            redis::Client::open(format!("redis://127.0.0.1:{port}")).map_err(|e| e.to_string())?;
        wait_until(
            || {
                client
                    .get_connection()
                    .ok()
                    .and_then(|mut c| {
                        redis::cmd("CLUSTER")
                            .arg("INFO")
                            .query::<String>(&mut c)
                            .ok()
                    })
                    .is_some_and(|i| i.contains("cluster_state:ok"))
            },
            "the cluster",
        )?;
    }
    Ok((procs, ports))
}

/// Commands the service sent to the cluster nodes since their last CONFIG RESETSTAT (cluster
/// housekeeping and the bench's own calls excluded).
fn cluster_commands(ports: &[u16], reset: bool) -> Result<u64> {
    let mut total = 0;
    for port in ports {
        let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}"))
            .and_then(|c| c.get_connection())
            .map_err(|e| e.to_string())?;
        if reset {
            let _: () = redis::cmd("CONFIG")
                .arg("RESETSTAT")
                .query(&mut conn)
                .map_err(|e| e.to_string())?;
            continue;
        }
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut conn)
            .map_err(|e| e.to_string())?;
        total += command_calls(&info, |name| name == "mget" || name == "get");
    }
    Ok(total)
}

fn info_field(conn: &mut redis::Connection, section: &str, field: &str) -> Result<f64> {
    let info: String = redis::cmd("INFO")
        .arg(section)
        .query(conn)
        .map_err(|e| e.to_string())?;
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("INFO {section} has no {field}"))
}

/// Commands the service sent since the last CONFIG RESETSTAT (the bench's own INFO/CONFIG
/// calls excluded).
fn service_commands(conn: &mut redis::Connection) -> Result<u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(conn)
        .map_err(|e| e.to_string())?;
    Ok(command_calls(&info, |name| {
        name != "info" && !name.starts_with("config|")
    }))
}

/// Sums the `calls=` of the `INFO commandstats` lines whose command name `keep` accepts.
fn command_calls(info: &str, keep: impl Fn(&str) -> bool) -> u64 {
    info.lines()
        .filter_map(|l| l.strip_prefix("cmdstat_")?.split_once(':'))
        .filter(|(name, _)| keep(name))
        .filter_map(|(_, stats)| {
            stats
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

#[derive(Debug, Default, Clone)]
struct WrkResult {
    requests: u64,
    sent: u64,
    duration_us: u64,
    non2xx: u64,
    socket_errors: u64,
    p50: u64,
    p99: u64,
    p999: u64,
}

impl WrkResult {
    fn rps(&self) -> f64 {
        self.requests as f64 / (self.duration_us as f64 / 1e6)
    }
}

fn wrk(
    seconds: u64,
    connections: u64,
    url: &str,
    method: &str,
    body: &str,
    headers: &[(&str, String)],
) -> Result<WrkResult> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/wrk.lua");
    let mut cmd = Command::new("wrk");
    cmd.args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s")])
        .arg("-s")
        .arg(&script)
        .arg(url)
        .arg("--")
        .args([method, url_path(url), body]);
    for (k, v) in headers {
        cmd.arg(k).arg(v);
    }
    let out = cmd.output().map_err(|e| format!("wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| format!("wrk printed no result: {text}"))?;
    let v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    Ok(WrkResult {
        requests: n("requests"),
        sent: n("sent"),
        duration_us: n("duration_us"),
        non2xx: n("non2xx"),
        socket_errors: n("socket_errors"),
        p50: n("p50"),
        p99: n("p99"),
        p999: n("p999"),
    })
}

/// Sends `per_thread` requests on each of `threads` keep-alive connections, each waiting for
/// its response, and returns how many were answered with `expected_status`. Closed loop: every
/// request sent is answered before the next, so the count the service records must match.
fn closed_loop(
    port: u16,
    request: &str,
    threads: usize,
    per_thread: usize,
    expected_status: &str,
) -> Result<usize> {
    use std::io::{BufRead, BufReader, Read, Write};
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let request = request.to_owned();
            let expected = format!("HTTP/1.1 {expected_status}");
            std::thread::spawn(move || -> Result<usize> {
                let stream =
                    std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
                let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
                let mut reader = BufReader::new(stream);
                let mut ok = 0;
                for _ in 0..per_thread {
                    writer
                        .write_all(request.as_bytes())
                        .map_err(|e| e.to_string())?;
                    let mut status = String::new();
                    reader.read_line(&mut status).map_err(|e| e.to_string())?;
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        reader.read_line(&mut line).map_err(|e| e.to_string())?;
                        if line == "\r\n" || line.is_empty() {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).map_err(|e| e.to_string())?;
                    if status.starts_with(&expected) {
                        ok += 1;
                    }
                }
                Ok(ok)
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        total += h
            .join()
            .map_err(|_| "closed-loop thread panicked".to_string())??;
    }
    Ok(total)
}

/// The service's own count of observed requests, summed over `endpoints`.
fn histogram_count(port: u16, endpoints: &[&str]) -> Result<u64> {
    let out = Command::new("curl")
        .args(["-s", &format!("http://127.0.0.1:{port}/metrics")])
        .output()
        .map_err(|e| format!("curl: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("introspectd_request_duration_seconds_count{"))
        .filter(|l| {
            endpoints
                .iter()
                .any(|e| l.contains(&format!("endpoint=\"{e}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum())
}

fn url_path(url: &str) -> &str {
    let rest = url.trim_start_matches("http://");
    &rest[rest.find('/').unwrap_or(rest.len())..]
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

struct Case {
    name: &'static str,
    instance: usize,
    method: &'static str,
    path: &'static str,
    body: String,
    headers: Vec<(&'static str, String)>,
    /// Whether every response should be non-2xx.
    denied: bool,
}

/// Requests sent to the Redis-backed instance against what its histogram counted.
struct Counts {
    wrk_completed: u64,
    wrk_sent: u64,
    wrk_counted: u64,
    closed_sent: u64,
    closed_answered: u64,
    closed_counted: u64,
}

struct Row {
    case: &'static str,
    instance: usize,
    result: WrkResult,
    denied: bool,
    commands_per_request: Option<f64>,
}

fn version(cmd: &str, arg: &str) -> String {
    Command::new(cmd)
        .arg(arg)
        .output()
        .ok()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .unwrap_or_else(|| "unknown".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench failed: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let seconds = env_u64("BENCH_SECONDS", 10);
    let warmup = env_u64("BENCH_WARMUP", 3);
    let connections = env_u64("BENCH_CONNECTIONS", 32);
    let preload_count = env_u64("BENCH_PRELOAD", 1_000_000);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let binary = root.join("target/release/introspectd");
    if !binary.exists() {
        return Err(format!("{} is missing: run `make bench`", binary.display()));
    }
    let dir = std::env::temp_dir().join(format!("introspectd-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = run_in(
        &dir,
        &binary,
        &root,
        seconds,
        warmup,
        connections,
        preload_count,
    );
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[allow(clippy::too_many_arguments)]
fn run_in(
    dir: &Path,
    binary: &Path,
    root: &Path,
    seconds: u64,
    warmup: u64,
    connections: u64,
    preload_count: u64,
) -> Result<()> {
    // Redis of the bench's own: free port, no persistence.
    let redis_port = free_port();
    let _redis = spawn(
        "redis-server",
        Command::new("redis-server")
            .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir),
    )?;
    let redis_url = format!("redis://127.0.0.1:{redis_port}/0");
    let client = redis::Client::open(redis_url.as_str()).map_err(|e| e.to_string())?;
    wait_until(|| client.get_connection().is_ok(), "redis-server")?;
    let mut conn = client.get_connection().map_err(|e| e.to_string())?;

    let before = info_field(&mut conn, "memory", "used_memory")?;
    let started = Instant::now();
    preload(&mut conn, preload_count)?;
    let after = info_field(&mut conn, "memory", "used_memory")?;
    let per_entry = (after - before) / preload_count.max(1) as f64;
    eprintln!(
        "preloaded {preload_count} revoked entries in {:.1}s: {per_entry:.1} bytes each",
        started.elapsed().as_secs_f64()
    );

    let hs = format!("algorithms = [\"HS256\"]\nhmac_secret = \"{SECRET}\"");
    let fixtures = root.join("tests/fixtures");
    let es = format!(
        "algorithms = [\"ES256\"]\npublic_key_file = \"{}\"\nprivate_key_file = \"{}\"",
        fixtures.join("es256-public.pem").display(),
        fixtures.join("es256-private.pem").display()
    );
    let redis_store = format!("backend = \"redis\"\nredis_url = \"{redis_url}\"");
    let (_cluster, cluster_ports) = start_cluster(dir)?;
    let cluster_store = format!(
        "backend = \"redis\"\nredis_mode = \"cluster\"\nredis_urls = [{}]\n\
         connect_timeout_ms = 1000\nready_timeout_ms = 2000",
        cluster_ports
            .iter()
            .map(|p| format!("\"redis://127.0.0.1:{p}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let instances = [
        start_introspectd(binary, dir, "introspectd-redis", &hs, &redis_store)?,
        start_introspectd(
            binary,
            dir,
            "introspectd-memory",
            &hs,
            "backend = \"memory\"",
        )?,
        start_introspectd(binary, dir, "introspectd-es256", &es, &redis_store)?,
        start_introspectd(binary, dir, "introspectd-cluster", &hs, &cluster_store)?,
    ];
    let names = [
        "redis HS256",
        "memory HS256",
        "redis ES256",
        "cluster HS256",
    ];

    // Tokens for every case.
    let hs_key = EncodingKey::from_secret(SECRET.as_bytes());
    let es_key = EncodingKey::from_ec_pem(
        &std::fs::read(fixtures.join("es256-private.pem")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let now = unix_now();
    let valid = sign(
        &claims("bench-valid", now),
        Header::new(Algorithm::HS256),
        &hs_key,
    );
    let revoked = sign(
        &claims("bench-revoked", now),
        Header::new(Algorithm::HS256),
        &hs_key,
    );
    let subject_revoked = sign(
        &claims("bench-subject", now - 60),
        Header::new(Algorithm::HS256),
        &hs_key,
    );
    let mut garbage = valid.clone();
    let last = garbage.pop().expect("token is not empty");
    garbage.push(if last == 'A' { 'B' } else { 'A' });
    let es_valid = sign(
        &claims("bench-es", now),
        Header::new(Algorithm::ES256),
        &es_key,
    );
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT}:{CLIENT_SECRET}"))
    );
    let revoke = |path: &str, body: String| -> Result<()> {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
            .args(["-H", &format!("Authorization: {basic}")])
            .args(["--data", &body])
            .arg(instances[0].url(path))
            .output()
            .map_err(|e| format!("curl: {e}"))?;
        match String::from_utf8_lossy(&out.stdout).as_ref() {
            "200" => Ok(()),
            other => Err(format!("{path} answered {other}")),
        }
    };
    revoke("/revoke", format!("token={revoked}"))?;
    revoke("/revoke/subject", "sub=bench-subject".into())?;

    let bearer = |t: &str| vec![("Authorization", format!("Bearer {t}"))];
    let form = vec![
        ("Authorization", basic.clone()),
        (
            "Content-Type",
            "application/x-www-form-urlencoded".to_string(),
        ),
    ];
    let cases = vec![
        Case {
            name: "GET /healthz (ceiling)",
            instance: 0,
            method: "GET",
            path: "/healthz",
            body: "-".into(),
            headers: vec![],
            denied: false,
        },
        Case {
            name: "/auth valid",
            instance: 0,
            method: "GET",
            path: "/auth",
            body: "-".into(),
            headers: bearer(&valid),
            denied: false,
        },
        Case {
            name: "/auth revoked",
            instance: 0,
            method: "GET",
            path: "/auth",
            body: "-".into(),
            headers: bearer(&revoked),
            denied: true,
        },
        Case {
            name: "/auth subject-revoked",
            instance: 0,
            method: "GET",
            path: "/auth",
            body: "-".into(),
            headers: bearer(&subject_revoked),
            denied: true,
        },
        Case {
            name: "/auth garbage (bad signature)",
            instance: 0,
            method: "GET",
            path: "/auth",
            body: "-".into(),
            headers: bearer(&garbage),
            denied: true,
        },
        Case {
            name: "/introspect valid",
            instance: 0,
            method: "POST",
            path: "/introspect",
            body: format!("token={valid}"),
            headers: form.clone(),
            denied: false,
        },
        Case {
            name: "/introspect revoked",
            instance: 0,
            method: "POST",
            path: "/introspect",
            body: format!("token={revoked}"),
            headers: form.clone(),
            denied: false,
        },
        Case {
            name: "GET /healthz (memory)",
            instance: 1,
            method: "GET",
            path: "/healthz",
            body: "-".into(),
            headers: vec![],
            denied: false,
        },
        Case {
            name: "/auth valid (memory)",
            instance: 1,
            method: "GET",
            path: "/auth",
            body: "-".into(),
            headers: bearer(&valid),
            denied: false,
        },
        Case {
            name: "/auth valid (cluster)",
            instance: 3,
            method: "GET",
            path: "/auth",
            body: "-".into(),
            headers: bearer(&valid),
            denied: false,
        },
        Case {
            name: "/auth valid (ES256)",
            instance: 2,
            method: "GET",
            path: "/auth",
            body: "-".into(),
            headers: bearer(&es_valid),
            denied: false,
        },
    ];

    let mut rows = Vec::new();
    let mut sent_to_first: u64 = 0;
    let mut completed_by_first: u64 = 0;
    let mut rss_peak_kib = 0;
    for case in &cases {
        let instance = &instances[case.instance];
        let url = instance.url(case.path);
        let warm = wrk(
            warmup,
            connections,
            &url,
            case.method,
            &case.body,
            &case.headers,
        )?;
        let _: () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query(&mut conn)
            .map_err(|e| e.to_string())?;
        cluster_commands(&cluster_ports, true)?;
        // Sample RSS of the Redis-backed instance while it is under load.
        let sampling = Arc::new(AtomicBool::new(case.instance == 0));
        let peak = Arc::new(AtomicU64::new(0));
        let sampler = {
            let (sampling, peak, pid) = (
                Arc::clone(&sampling),
                Arc::clone(&peak),
                instance.proc.child.id(),
            );
            std::thread::spawn(move || {
                while sampling.load(Ordering::Relaxed) {
                    peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        let measured = wrk(
            seconds,
            connections,
            &url,
            case.method,
            &case.body,
            &case.headers,
        )?;
        sampling.store(false, Ordering::Relaxed);
        let _ = sampler.join();
        rss_peak_kib = rss_peak_kib.max(peak.load(Ordering::Relaxed));
        let commands = if case.instance == 3 {
            cluster_commands(&cluster_ports, false)?
        } else {
            service_commands(&mut conn)?
        };
        if case.instance == 0 {
            sent_to_first += warm.sent + measured.sent;
            completed_by_first += warm.requests + measured.requests;
        }
        let uses_redis = case.instance != 1 && case.path != "/healthz";
        eprintln!(
            "{:<32} {:>9.0} req/s  p99 {:>6} us  non-2xx {}",
            case.name,
            measured.rps(),
            measured.p99,
            measured.non2xx
        );
        rows.push(Row {
            case: case.name,
            instance: case.instance,
            commands_per_request: uses_redis
                .then(|| commands as f64 / measured.requests.max(1) as f64),
            result: measured,
            denied: case.denied,
        });
    }

    // wrk stops on a timer and abandons requests in flight, some never read by the service, so
    // for those runs the service's count can only lie between what wrk saw answered and what it
    // sent. The exact check is a closed loop: every request waits for its answer.
    let counted_wrk = histogram_count(instances[0].port, &["auth", "introspect", "healthz"])?;
    let closed_loop_requests = 4 * 5_000;
    let before = histogram_count(instances[0].port, &["auth"])?;
    let request =
        format!("GET /auth HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {valid}\r\n\r\n");
    let answered = closed_loop(instances[0].port, &request, 4, 5_000, "200")?;
    let counted_closed = histogram_count(instances[0].port, &["auth"])? - before;
    let counts = Counts {
        wrk_completed: completed_by_first,
        wrk_sent: sent_to_first,
        wrk_counted: counted_wrk,
        closed_sent: closed_loop_requests as u64,
        closed_answered: answered as u64,
        closed_counted: counted_closed,
    };

    let report = report(
        &rows,
        &names,
        per_entry,
        preload_count,
        rss_peak_kib,
        &counts,
        seconds,
        warmup,
        connections,
    );
    println!("{report}");
    std::fs::write(root.join("bench/RESULTS.md"), &report).map_err(|e| e.to_string())?;
    eprintln!("written to bench/RESULTS.md");
    drop(instances);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn report(
    rows: &[Row],
    names: &[&str],
    per_entry: f64,
    preload_count: u64,
    rss_peak_kib: u64,
    counts: &Counts,
    seconds: u64,
    warmup: u64,
    connections: u64,
) -> String {
    let ceiling = |instance: usize| {
        rows.iter()
            // Every instance but the memory one is measured against the first one's ceiling.
            .find(|r| {
                r.case.starts_with("GET /healthz") && r.instance == usize::from(instance == 1)
            })
            .map(|r| r.result.rps())
            .unwrap_or(f64::NAN)
    };
    let rps = |case: &str| {
        rows.iter()
            .find(|r| r.case == case)
            .map(|r| r.result.rps())
            .unwrap_or(f64::NAN)
    };
    let p99 = |case: &str| {
        rows.iter()
            .find(|r| r.case == case)
            .map(|r| r.result.p99)
            .unwrap_or(0)
    };
    let mut out = String::new();
    let _ = writeln!(out, "# introspectd benchmark results\n");
    let _ = writeln!(
        out,
        "Machine: {} cores, {}. {}; {}; {}. Load: wrk -t1 -c{connections}, {warmup} s warm-up then \
         {seconds} s measured per case, on the same cores as Redis and introspectd (2 workers each). \
         Redis preloaded with {preload_count} revoked entries.\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        cpu_model(),
        version("rustc", "--version"),
        version("redis-server", "--version"),
        version("wrk", "-v"),
    );
    let _ = writeln!(out, "| case | backend | req/s | x ceiling | p50 | p99 | p99.9 | non-2xx | expected non-2xx | Redis cmds/req |");
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---|---:|");
    for r in rows {
        let w = &r.result;
        let expected_ok = if r.denied {
            w.non2xx == w.requests
        } else {
            w.non2xx == 0
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.2} | {:.2} ms | {:.2} ms | {:.2} ms | {}{} | {} | {} |",
            r.case,
            names[r.instance],
            w.rps(),
            w.rps() / ceiling(r.instance),
            w.p50 as f64 / 1000.0,
            w.p99 as f64 / 1000.0,
            w.p999 as f64 / 1000.0,
            w.non2xx,
            if w.socket_errors > 0 {
                format!(" ({} socket errors)", w.socket_errors)
            } else {
                String::new()
            },
            if r.denied { "all" } else { "none" }.to_owned()
                + if expected_ok { " (ok)" } else { " (MISMATCH)" },
            r.commands_per_request
                .map_or("-".into(), |c| format!("{c:.3}")),
        );
    }
    let check = |ok: bool| if ok { "met" } else { "MISSED" };
    let auth = rps("/auth valid");
    let auth_mem = rps("/auth valid (memory)");
    let garbage_cmds = rows
        .iter()
        .find(|r| r.case.starts_with("/auth garbage"))
        .and_then(|r| r.commands_per_request)
        .unwrap_or(f64::NAN);
    let valid_cmds = rows
        .iter()
        .find(|r| r.case == "/auth valid")
        .and_then(|r| r.commands_per_request)
        .unwrap_or(f64::NAN);
    let _ = writeln!(out, "\n## Targets\n");
    let _ = writeln!(out, "| target | figure | status |\n|---|---|---|");
    let mut target = |name: &str, figure: String, ok: bool| {
        let _ = writeln!(out, "| {name} | {figure} | {} |", check(ok));
    };
    target(
        "/auth valid, Redis: >= 0.5x ceiling",
        format!("{:.2}x", auth / ceiling(0)),
        auth / ceiling(0) >= 0.5,
    );
    target(
        "/auth valid, memory: >= 0.8x ceiling",
        format!("{:.2}x", auth_mem / ceiling(1)),
        auth_mem / ceiling(1) >= 0.8,
    );
    let revoked_ratio = rps("/auth revoked").min(rps("/auth subject-revoked")) / auth;
    target(
        "revoked >= 0.9x valid",
        format!("{revoked_ratio:.2}x"),
        revoked_ratio >= 0.9,
    );
    let introspect_ratio = rps("/introspect valid") / auth;
    target(
        "/introspect >= 0.8x /auth",
        format!("{introspect_ratio:.2}x"),
        introspect_ratio >= 0.8,
    );
    let p99_ratio = p99("/auth valid") as f64 / p99("GET /healthz (ceiling)").max(1) as f64;
    target(
        "/auth valid p99 <= 2x ceiling p99",
        format!("{p99_ratio:.2}x"),
        p99_ratio <= 2.0,
    );
    target(
        "1 Redis command per valid check",
        format!("{valid_cmds:.3}"),
        (valid_cmds - 1.0).abs() < 0.01,
    );
    target(
        "0 Redis commands per garbage token",
        format!("{garbage_cmds:.3}"),
        garbage_cmds == 0.0,
    );
    target(
        "Redis memory <= 150 B per revoked entry",
        format!("{per_entry:.1} B"),
        per_entry <= 150.0,
    );
    let rss_mb = rss_peak_kib as f64 / 1024.0;
    target(
        "introspectd RSS <= 64 MB under load (Redis backend)",
        format!("{rss_mb:.1} MB"),
        rss_mb <= 64.0,
    );
    target(
        "/metrics histogram count == requests sent (closed loop)",
        format!(
            "{} sent, {} answered 200, {} counted",
            counts.closed_sent, counts.closed_answered, counts.closed_counted
        ),
        counts.closed_counted == counts.closed_sent && counts.closed_answered == counts.closed_sent,
    );
    target(
        "wrk runs: answered <= counted <= sent",
        format!(
            "{} answered, {} counted, {} sent (wrk abandons in-flight requests when it stops)",
            counts.wrk_completed, counts.wrk_counted, counts.wrk_sent
        ),
        counts.wrk_completed <= counts.wrk_counted && counts.wrk_counted <= counts.wrk_sent,
    );
    out
}
