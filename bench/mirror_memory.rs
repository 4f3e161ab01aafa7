//! What a mirror of a large blocklist costs: a revocation stream of `count` entries shaped like
//! real ones (written straight into the stream, ids and `prev` chained as the revocation scripts
//! write them, deadlines spread over a day), a replica that loads it, and its RSS next to an idle
//! replica's. Also Redis's memory per stream entry.

use std::process::Command;
use std::time::{Duration, Instant};

use introspectd::store::Keys;
use introspectd::token::TokenId;

use crate::procs::{self, Server};
use crate::{load, Result};

pub struct MirrorMemory {
    pub entries: u64,
    pub rss_kib: u64,
    pub idle_rss_kib: u64,
    pub redis_bytes_per_entry: f64,
    pub load_secs: f64,
}

/// One metric's value from `server`'s /metrics, if exported.
fn metric(server: &Server, name: &str) -> Option<f64> {
    let out = Command::new("curl")
        .args(["-s", &server.url("/metrics")])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Waits until `server`'s mirror holds `entries` and answers (state current).
fn current_with(server: &Server, entries: u64, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let state = metric(server, r#"introspectd_mirror_state{state="current"}"#);
        let held = metric(server, "introspectd_mirror_entries");
        if state == Some(1.0) && held == Some(entries as f64) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{what}: mirror never current ({held:?} entries)"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Writes `count` revocations into the stream of `prefix`, in pipelined batches.
fn write_stream(conn: &mut redis::Connection, prefix: &str, count: u64) -> Result<()> {
    let keys = Keys::new(prefix);
    let stream = keys.stream();
    let now_ms = introspectd::clock::unix_now_ms();
    let base = now_ms as u64;
    let mut prev = "0-0".to_owned();
    let mut pipe = redis::pipe();
    for i in 0..count {
        let id = format!("{base}-{i}");
        let key = keys.token(
            Some(&format!("user-{}", i % 100_000)),
            &TokenId::Jti(uuid::Uuid::new_v4().to_string()),
        );
        let until = now_ms + 1000 * (3600 + (i as i64 * 7919) % 82_800);
        pipe.cmd("XADD")
            .arg(&stream)
            .arg(&id)
            .arg("prev")
            .arg(&prev)
            .arg("key")
            .arg(key)
            .arg("until")
            .arg(until)
            .ignore();
        prev = id;
        if (i + 1) % 10_000 == 0 || i + 1 == count {
            pipe.query::<()>(conn)
                .map_err(|e| format!("stream preload: {e}"))?;
            pipe = redis::pipe();
        }
    }
    Ok(())
}

/// Measures with `count` mirrored entries; `start(name, store lines)` starts a replica.
pub fn measure(
    redis_port: u16,
    count: u64,
    redis_store: &str,
    start: impl Fn(&'static str, &str) -> Result<Server>,
) -> Result<MirrorMemory> {
    let mut conn = procs::connect(redis_port)?;
    let before = procs::info_field(&mut conn, "memory", "used_memory")?;
    write_stream(&mut conn, "m1m:", count)?;
    let after = procs::info_field(&mut conn, "memory", "used_memory")?;
    let store =
        |prefix: &str| format!("{redis_store}\nmirror_lease_ms = 1000\nkey_prefix = \"{prefix}\"");
    let idle = start("mirror-idle", &store("m0:"))?;
    current_with(&idle, 0, "the idle replica")?;
    let started = Instant::now();
    let full = start("mirror-1m", &store("m1m:"))?;
    current_with(&full, count, "the replica with the large mirror")?;
    let load_secs = started.elapsed().as_secs_f64();
    Ok(MirrorMemory {
        entries: count,
        rss_kib: load::rss_kib(full.proc.pid()),
        idle_rss_kib: load::rss_kib(idle.proc.pid()),
        redis_bytes_per_entry: (after - before) / count.max(1) as f64,
        load_secs,
    })
}
