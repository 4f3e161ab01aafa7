//! `make bench`: measures introspectd under load against ceilings outside it.
//!
//! In one run it starts a bare actix-web server (bench/ceiling.rs) and its own redis-server (free
//! port, no persistence, measured with `redis-benchmark`) as the ceilings, a Redis Cluster, and
//! release introspectd instances (Redis, memory and cluster with HS256; memory with RS256 and
//! ES256); preloads revoked entries through the real key scheme; then drives every case with
//! wrk (fixed connections, warm-up, bounded measured run). Prints a Markdown table and writes it
//! to bench/RESULTS.md. Everything it starts is killed on drop, on failure too. It asserts
//! nothing about speed: it reports.
//!
//! - `procs`: the HTTP servers, and what is read from Redis.
//! - `support` (tests/support/redis.rs, shared with the tests): redis-server and the cluster.
//! - `load`: wrk, redis-benchmark, the closed-loop client, the service's own counts.
//! - `cases`: the servers, tokens and cases.
//! - `report`: the Markdown report and the targets.
//!
//! Knobs (environment): BENCH_SECONDS (measured run, default 10), BENCH_WARMUP (default 3),
//! BENCH_CONNECTIONS (default 32), BENCH_PRELOAD (revoked entries, default 1000000).

mod cases;
mod file_store;
mod load;
mod mirror_memory;
mod procs;
mod report;
#[path = "../tests/support/redis.rs"]
mod support;
#[path = "../tests/support/tls.rs"]
#[allow(dead_code)]
mod tls_support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use introspectd::store::Keys;
use introspectd::token::TokenId;

use cases::{Case, Target, Tokens};
use load::WrkResult;
use procs::Server;
use report::{Extras, Row};

const SECRET: &str = "bench-secret-0123456789-abcdefghijklmnop";
const CLIENT: &str = "bench";
const CLIENT_SECRET: &str = "bench-client-secret";
const ISSUER: &str = "https://issuer.bench";

type Result<T> = std::result::Result<T, String>;

struct Knobs {
    seconds: u64,
    warmup: u64,
    connections: u64,
    preload: u64,
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> ExitCode {
    let knobs = Knobs {
        seconds: env_u64("BENCH_SECONDS", 10),
        warmup: env_u64("BENCH_WARMUP", 3),
        connections: env_u64("BENCH_CONNECTIONS", 32),
        preload: env_u64("BENCH_PRELOAD", 1_000_000),
    };
    let dir = std::env::temp_dir().join(format!("introspectd-bench-{}", uuid::Uuid::new_v4()));
    let result = std::fs::create_dir_all(&dir)
        .map_err(|e| e.to_string())
        .and_then(|()| run(&dir, &knobs));
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench failed: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Writes `count` revoked-token entries through the real key scheme, with expiries spread over a
/// day like real traffic, in pipelined batches.
fn preload(conn: &mut redis::Connection, count: u64) -> Result<()> {
    let keys = Keys::new("introspectd:");
    let mut pipe = redis::pipe();
    for i in 0..count {
        let key = keys.token(
            Some(&format!("user-{}", i % 100_000)),
            &TokenId::Jti(uuid::Uuid::new_v4().to_string()),
        );
        let ttl = 3600 + (i * 7919) % 82_800;
        pipe.cmd("SET").arg(key).arg(1).arg("EX").arg(ttl).ignore();
        if (i + 1) % 10_000 == 0 || i + 1 == count {
            pipe.query::<()>(conn)
                .map_err(|e| format!("preload: {e}"))?;
            pipe = redis::pipe();
        }
    }
    Ok(())
}

/// Sends a revocation to `server` and expects 200.
fn revoke(server: &Server, path: &str, body: &str) -> Result<()> {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .args([
            "-H",
            &format!("Authorization: {}", cases::basic_credentials()),
        ])
        .args(["--data", body])
        .arg(server.url(path))
        .output()
        .map_err(|e| format!("curl: {e}"))?;
    match String::from_utf8_lossy(&out.stdout).as_ref() {
        "200" => Ok(()),
        other => Err(format!("{path} answered {other}")),
    }
}

/// Runs `measure` while sampling the RSS of process `pid` every 100 ms; returns the peak.
fn with_peak_rss<T>(pid: u32, measure: impl FnOnce() -> T) -> (T, u64) {
    let sampling = Arc::new(AtomicBool::new(true));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (sampling, peak) = (Arc::clone(&sampling), Arc::clone(&peak));
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(load::rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let result = measure();
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.join();
    (result, peak.load(Ordering::Relaxed))
}

fn run(dir: &Path, knobs: &Knobs) -> Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let binary = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .parent()
        .and_then(Path::parent)
        .map(|release| release.join("introspectd"))
        .filter(|b| b.exists())
        .ok_or("target/release/introspectd is missing: run `make bench`")?;

    // One Redis with a TLS port beside the plain one (a private CA made by openssl), so the TLS
    // rows differ from the plain ones by TLS alone.
    let pki_dir = dir.join("pki");
    std::fs::create_dir_all(&pki_dir).map_err(|e| e.to_string())?;
    let pki = tls_support::Pki::generate(&pki_dir);
    let tls_port = support::free_port();
    let redis =
        support::TestRedis::start_with_args(false, pki.redis_args(tls_port, "server", false));
    let redis_port = redis.port;
    let mut conn = procs::connect(redis_port)?;
    let before = procs::info_field(&mut conn, "memory", "used_memory")?;
    let started = Instant::now();
    preload(&mut conn, knobs.preload)?;
    let after = procs::info_field(&mut conn, "memory", "used_memory")?;
    let per_entry_bytes = (after - before) / knobs.preload.max(1) as f64;
    eprintln!(
        "preloaded {} revoked entries in {:.1}s: {per_entry_bytes:.1} bytes each",
        knobs.preload,
        started.elapsed().as_secs_f64()
    );
    let redis_get_rps = load::redis_benchmark(redis_port, knobs.connections, 500_000)?;
    eprintln!("redis-benchmark GET: {redis_get_rps:.0}/s");

    let fixtures = root.join("tests/fixtures");
    let fixture = |name: &str| fixtures.join(name).display().to_string();
    let hs = format!("algorithms = [\"HS256\"]\nhmac_secret = \"{SECRET}\"");
    let key_pair = |alg: &str, public: &str, private: &str| {
        format!(
            "algorithms = [\"{alg}\"]\npublic_key_file = \"{}\"\nprivate_key_file = \"{}\"",
            fixture(public),
            fixture(private)
        )
    };
    let rs = key_pair("RS256", "rs256-public.pem", "rs256-private.pem");
    let es = key_pair("ES256", "es256-public.pem", "es256-private.pem");
    let redis_url =
        format!("backend = \"redis\"\nredis_url = \"redis://127.0.0.1:{redis_port}/0\"");
    // The MGET path: every check asks Redis (the mirror, on by default, is measured apart).
    let redis_store = format!("{redis_url}\nmirror_lease_ms = 0");
    let memory_store = "backend = \"memory\"";
    let mirror_store =
        |prefix: &str| format!("{redis_url}\nmirror_lease_ms = 1000\nkey_prefix = \"{prefix}\"");
    let no_cache = format!("{memory_store}\n[cache]\nmax_bytes = 0");
    let file_store = format!(
        "backend = \"file\"\npath = \"{}\"",
        dir.join("file-hs256.redb").display()
    );
    let tls_url = format!(
        "backend = \"redis\"\nredis_url = \"rediss://127.0.0.1:{tls_port}/0\"\n\
         tls_ca_file = \"{}\"",
        pki.file("ca.crt")
    );
    let tls_store = format!("{tls_url}\nmirror_lease_ms = 0");
    let tls_mirror_store = format!("{tls_url}\nmirror_lease_ms = 1000\nkey_prefix = \"mt:\"");
    let cluster = support::start_cluster(false, 5000);
    let cluster_ports: Vec<u16> = cluster.iter().map(|n| n.port).collect();
    let seeds: Vec<String> = cluster_ports
        .iter()
        .map(|p| format!("\"redis://127.0.0.1:{p}\""))
        .collect();
    let cluster_store = format!(
        "backend = \"redis\"\nredis_mode = \"cluster\"\nredis_urls = [{}]\n\
         connect_timeout_ms = 1000\nready_timeout_ms = 2000\nmirror_lease_ms = 0",
        seeds.join(", ")
    );
    let start =
        |name, jwt: &str, store: &str| procs::start_introspectd(&binary, dir, name, jwt, store);
    let servers: HashMap<Target, Server> = HashMap::from([
        (Target::Bare, procs::start_ceiling()?),
        (Target::RedisHs256, start("redis-hs256", &hs, &redis_store)?),
        (
            Target::MemoryHs256,
            start("memory-hs256", &hs, memory_store)?,
        ),
        (
            Target::ClusterHs256,
            start("cluster-hs256", &hs, &cluster_store)?,
        ),
        (
            Target::MemoryRs256,
            start("memory-rs256", &rs, memory_store)?,
        ),
        (
            Target::MemoryEs256,
            start("memory-es256", &es, memory_store)?,
        ),
        (
            Target::MemoryRs256NoCache,
            start("rs256-nocache", &rs, &no_cache)?,
        ),
        (
            Target::MemoryEs256NoCache,
            start("es256-nocache", &es, &no_cache)?,
        ),
        (
            Target::MirrorOfTwo,
            start("mirror-2a", &hs, &mirror_store("introspectd:"))?,
        ),
        (
            Target::MirrorOfFour,
            start("mirror-4a", &hs, &mirror_store("m4:"))?,
        ),
        (Target::RedisTlsHs256, start("redis-tls", &hs, &tls_store)?),
        (
            Target::MirrorTls,
            start("mirror-tls", &hs, &tls_mirror_store)?,
        ),
        (Target::FileHs256, start("file-hs256", &hs, &file_store)?),
    ]);
    // The other replicas of each mirror group: they follow the stream and acknowledge, so a
    // revocation through the measured one waits for them.
    let _other_replicas = [
        start("mirror-2b", &hs, &mirror_store("introspectd:"))?,
        start("mirror-4b", &hs, &mirror_store("m4:"))?,
        start("mirror-4c", &hs, &mirror_store("m4:"))?,
        start("mirror-4d", &hs, &mirror_store("m4:"))?,
    ];

    let started = Instant::now();
    let tokens = Tokens::sign(&cases::Keys::load(&fixtures)?, dir)?;
    eprintln!(
        "signed the tokens in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let redis_server = &servers[&Target::RedisHs256];
    revoke(
        redis_server,
        "/revoke",
        &format!("token={}", tokens.revoked),
    )?;
    revoke(redis_server, "/revoke/subject", "sub=bench-subject")?;

    let mut rows = Vec::new();
    let (mut sent_to_redis, mut completed_by_redis) = (0, 0);
    let mut rss_peak_kib = 0;
    for case in cases::cases(&tokens) {
        let server = &servers[&case.target];
        let (warm, measured, commands, peak) =
            measure(server, &case, knobs, redis_port, &cluster_ports)?;
        if case.target == Target::RedisHs256 {
            sent_to_redis += warm.sent + measured.sent;
            completed_by_redis += warm.requests + measured.requests;
        }
        if case.target != Target::Bare {
            rss_peak_kib = rss_peak_kib.max(peak);
        }
        eprintln!(
            "{:<32} {:>9.0} req/s  p99 {:>6} us  non-2xx {}",
            case.name,
            measured.rps(),
            measured.p99,
            measured.non2xx
        );
        let checks_tokens = case.target.uses_redis() && case.request.path != "/healthz";
        rows.push(Row {
            case: case.name,
            target: case.target,
            commands_per_request: checks_tokens
                .then(|| commands as f64 / measured.requests.max(1) as f64),
            result: measured,
            denied: case.denied,
        });
    }

    // wrk stops on a timer and abandons requests in flight, some never read by the service, so
    // for those runs the service's count can only lie between what wrk saw answered and what it
    // sent. The exact check is a closed loop: every request waits for its answer.
    let port = redis_server.port;
    let counted_wrk = load::histogram_count(port, &["auth", "introspect", "healthz"])?;
    let (threads, per_thread) = (4, 5_000);
    let before = load::histogram_count(port, &["auth"])?;
    let request = format!(
        "GET /auth HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {}\r\n\r\n",
        tokens.valid
    );
    let answered = load::closed_loop(port, &request, threads, per_thread, "200")?;
    let counted_closed = load::histogram_count(port, &["auth"])? - before;
    let mirror = mirror_memory::measure(redis_port, knobs.preload, &redis_url, |name, store| {
        start(name, &hs, store)
    })?;
    eprintln!(
        "mirror of {} entries: RSS {} KiB (idle {} KiB), loaded in {:.1}s",
        mirror.entries, mirror.rss_kib, mirror.idle_rss_kib, mirror.load_secs
    );
    let file = file_store::fill(&dir.join("fill.redb"), knobs.preload)?;
    eprintln!(
        "file store of {} entries: {} bytes, filled at {:.0}/s",
        file.entries, file.bytes, file.fill_per_sec
    );
    let extras = Extras {
        file,
        redis_get_rps,
        per_entry_bytes,
        preload_count: knobs.preload,
        rss_peak_kib,
        mirror,
        closed: (
            (threads * per_thread) as u64,
            answered as u64,
            counted_closed,
        ),
        wrk: (completed_by_redis, counted_wrk, sent_to_redis),
        settings: format!(
            "Load: wrk -t1 -c{}, {} s warm-up then {} s measured per case, on the same cores as \
             Redis and the servers (introspectd: one worker per core). Redis preloaded with {} \
             revoked entries.",
            knobs.connections, knobs.warmup, knobs.seconds, knobs.preload
        ),
    };
    let report = report::report(&rows, &extras);
    println!("{report}");
    std::fs::write(root.join("bench/RESULTS.md"), &report).map_err(|e| e.to_string())?;
    eprintln!("written to bench/RESULTS.md");
    Ok(())
}

/// Warms up, then measures one case; returns the warm-up, the measured run, the Redis commands
/// the service sent during it, and the server's peak RSS.
fn measure(
    server: &Server,
    case: &Case,
    knobs: &Knobs,
    redis_port: u16,
    cluster_ports: &[u16],
) -> Result<(WrkResult, WrkResult, u64, u64)> {
    let connections = case.connections.unwrap_or(knobs.connections);
    let warm = load::wrk(knobs.warmup, connections, server.port, &case.request)?;
    let nodes = if case.target == Target::ClusterHs256 {
        cluster_ports.to_vec()
    } else {
        vec![redis_port]
    };
    procs::reset_stats(&nodes)?;
    let (measured, peak) = with_peak_rss(server.proc.pid(), || {
        load::wrk(knobs.seconds, connections, server.port, &case.request)
    });
    // A check's one command is MGET (the bench's tokens all carry `sub`); revocations count
    // everything they send.
    let checks = !case.request.path.starts_with("/revoke");
    let commands = procs::service_commands(&nodes, checks || case.target == Target::ClusterHs256)?;
    Ok((warm, measured?, commands, peak))
}
