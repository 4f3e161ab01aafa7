//! The file store's figures beside the case table (issue 18): the file's size for
//! BENCH_PRELOAD (1,000,000) live entries written through the library (group commits), and the
//! report's section: /auth against the memory store, acknowledged revocations per second with
//! the run's connections, and the latency of one durable commit (one revocation at a time).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use introspectd::config::Backend;
use introspectd::metrics::Metrics;
use introspectd::store::{FileStore, Keys};
use introspectd::token::TokenId;

use crate::report::Row;
use crate::Result;

pub struct FileFigures {
    pub entries: u64,
    pub bytes: u64,
    /// Revocations per second while filling (1,024 writers in one process).
    pub fill_per_sec: f64,
}

/// Writes `count` revoked-token entries into a new file store at `path` and measures the file.
pub fn fill(path: &Path, count: u64) -> Result<FileFigures> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let store = FileStore::open(path, Arc::new(Metrics::new(Backend::File)))?;
        let keys = Keys::new("introspectd:");
        let until = introspectd::clock::unix_now_ms() + 3_600_000;
        let writers = 1024u64;
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..writers {
            let (store, keys) = (store.clone(), keys.clone());
            tasks.spawn(async move {
                let mut i = w;
                while i < count {
                    let key = keys.token(
                        Some(&format!("user-{}", i % 100_000)),
                        &TokenId::Jti(format!("jti-{i}")),
                    );
                    store.revoke_token(&key, until).await?;
                    i += writers;
                }
                Ok::<_, introspectd::store::StoreError>(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
        }
        let secs = started.elapsed().as_secs_f64();
        let bytes = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
        Ok(FileFigures {
            entries: count,
            bytes,
            fill_per_sec: count as f64 / secs,
        })
    })
}

pub fn section(out: &mut String, rows: &[Row], figures: &FileFigures) {
    let find = |case: &str| rows.iter().find(|r| r.case == case);
    let rps = |case: &str| find(case).map_or(f64::NAN, |r| r.result.rps());
    let file_auth = rps("/auth valid (file)");
    let memory_auth = rps("/auth valid (memory)");
    let revokes = rps("/revoke (file)");
    let one = find("/revoke one at a time (file)").map(|r| &r.result);
    let _ = writeln!(out, "\n## File store\n");
    let _ = writeln!(
        out,
        "`store.backend = \"file\"` on this machine's disk: checks read the in-memory working \
         set; each revocation is acknowledged after its group commit is fsynced. One revocation \
         at a time, its latency is one durable commit (the fsync).\n"
    );
    let _ = writeln!(out, "| target | figure | status |\n|---|---|---|");
    let ratio = file_auth / memory_auth;
    let _ = writeln!(
        out,
        "| /auth valid, file store: >= 0.9x memory store (issue 18) | {ratio:.2}x ({file_auth:.0} vs {memory_auth:.0} req/s) | {} |",
        if ratio >= 0.9 { "met" } else { "MISSED" }
    );
    let _ = writeln!(
        out,
        "| acknowledged revocations, file store, wrk's connections: >= 5,000/s (issue 18) | {revokes:.0}/s | {} |",
        if revokes >= 5_000.0 { "met" } else { "MISSED" }
    );
    if let Some(one) = one {
        let _ = writeln!(
            out,
            "| durable commit (fsync) latency, one revocation at a time | p50 {:.2} ms, p99 {:.2} ms ({:.0}/s) | reported |",
            one.p50 as f64 / 1000.0,
            one.p99 as f64 / 1000.0,
            one.rps()
        );
    }
    let _ = writeln!(
        out,
        "| file size for {} live entries | {:.1} MiB, {:.0} bytes each (written at {:.0}/s by 1,024 writers in one process) | reported |",
        figures.entries,
        figures.bytes as f64 / (1024.0 * 1024.0),
        figures.bytes as f64 / figures.entries.max(1) as f64,
        figures.fill_per_sec
    );
}
