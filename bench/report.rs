//! The Markdown report: the machine, the ceilings of the same run, every case as a ratio of the
//! bare actix-web ceiling, and the targets with the figures they refer to.

use std::fmt::Write as _;
use std::process::Command;

use crate::cases::Target;
use crate::load::WrkResult;

pub struct Row {
    pub case: &'static str,
    pub target: Target,
    pub result: WrkResult,
    pub denied: bool,
    pub commands_per_request: Option<f64>,
}

/// Figures gathered outside the case table.
pub struct Extras {
    pub file: crate::file_store::FileFigures,
    pub redis_get_rps: f64,
    pub per_entry_bytes: f64,
    pub preload_count: u64,
    pub rss_peak_kib: u64,
    pub mirror: crate::mirror_memory::MirrorMemory,
    pub closed: (u64, u64, u64),
    pub wrk: (u64, u64, u64),
    pub settings: String,
}

fn version(cmd: &str, arg: &str) -> String {
    let Ok(out) = Command::new(cmd).arg(arg).output() else {
        return "unknown".into();
    };
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    let text = String::from_utf8_lossy(&text);
    text.lines().next().unwrap_or("").trim().to_owned()
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

pub fn report(rows: &[Row], extras: &Extras) -> String {
    let find = |case: &str| rows.iter().find(|r| r.case == case);
    let rps = |case: &str| find(case).map_or(f64::NAN, |r| r.result.rps());
    let bare = rps("GET / (ceiling)");
    let mut out = String::new();
    let _ = writeln!(out, "# introspectd benchmark results\n");
    let _ = writeln!(
        out,
        "Machine: {} cores, {}. {}; {}; {}. {}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        version("rustc", "--version"),
        version("redis-server", "--version"),
        version("wrk", "-v"),
        extras.settings,
    );
    let _ = writeln!(
        out,
        "Ceilings of this run: a bare actix-web 4 server (`bench/ceiling.rs`, two workers, no \
         middleware, `GET /` answering a small JSON body) under the same wrk settings: \
         **{bare:.0} req/s** = 1.00x; `redis-benchmark -t get -c 32` against the bench's Redis: \
         **{:.0} GET/s**. Every ratio below is against these, never against introspectd itself.\n",
        extras.redis_get_rps
    );
    let _ = writeln!(out, "| case | server | req/s | x bare | x Redis GET | p50 | p99 | p99.9 | non-2xx | expected non-2xx | Redis cmds/req |");
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|");
    for r in rows {
        let w = &r.result;
        let expected_ok = if r.denied {
            w.non2xx == w.requests
        } else {
            w.non2xx == 0
        };
        let socket_errors = match w.socket_errors {
            0 => String::new(),
            n => format!(" ({n} socket errors)"),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.2} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {}{socket_errors} | {}{} | {} |",
            r.case,
            r.target.label(),
            w.rps(),
            w.rps() / bare,
            if r.target.uses_redis() && r.case != "GET /healthz" {
                format!("{:.2}", w.rps() / extras.redis_get_rps)
            } else {
                "-".into()
            },
            w.p50 as f64 / 1000.0,
            w.p99 as f64 / 1000.0,
            w.p999 as f64 / 1000.0,
            w.non2xx,
            if r.denied { "all" } else { "none" },
            if expected_ok { " (ok)" } else { " (MISMATCH)" },
            r.commands_per_request
                .map_or("-".into(), |c| format!("{c:.3}")),
        );
    }
    let hs_memory = rps("/auth valid (memory)");
    let _ = writeln!(out, "\n## Asymmetric keys\n");
    let _ = writeln!(
        out,
        "Identity providers sign with RS256 (2048-bit) or ES256. A session presents one token \
         again and again (the verified-token cache serves it); cold cycles {} distinct tokens on \
         an instance with the cache off, so every request verifies a signature. Same store \
         (memory) as the HS256 row.\n",
        crate::cases::COLD_TOKENS
    );
    let _ = writeln!(
        out,
        "| case | req/s | x bare | x HS256 (memory) | per worker (2) |\n|---|---:|---:|---:|---:|"
    );
    for case in [
        "/auth RS256 session",
        "/auth RS256 cold",
        "/auth ES256 session",
        "/auth ES256 cold",
    ] {
        let r = rps(case);
        let _ = writeln!(
            out,
            "| {case} | {r:.0} | {:.2} | {:.2} | {:.0}/s |",
            r / bare,
            r / hs_memory,
            r / 2.0
        );
    }
    tls(&mut out, rows, bare);
    crate::file_store::section(&mut out, rows, &extras.file);
    targets(&mut out, rows, extras, bare);
    out
}

/// The same Redis through its plain and its TLS port (issue 15): what TLS costs a check.
fn tls(out: &mut String, rows: &[Row], bare: f64) {
    let find = |case: &str| rows.iter().find(|r| r.case == case);
    let _ = writeln!(out, "\n## Redis over TLS\n");
    let _ = writeln!(
        out,
        "The same redis-server through its plain port and through its TLS port (TLS 1.3, P-256 \
         certificate from a private CA, verified). Without the mirror every check is one MGET \
         over the connection; with the mirror (the default) checks are answered locally and \
         only the follower's reads cross TLS. The plain mirror row is one of two replicas, the \
         TLS one runs alone.\n"
    );
    let _ = writeln!(
        out,
        "| path | plain req/s | TLS req/s | TLS / plain | plain p99 | TLS p99 | x bare (TLS) | Redis cmds/req (TLS) |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (path, plain, over_tls) in [
        ("MGET per check", "/auth valid", "/auth valid (TLS)"),
        (
            "mirror",
            "/auth valid (mirror)",
            "/auth valid (mirror, TLS)",
        ),
    ] {
        let (Some(p), Some(t)) = (find(plain), find(over_tls)) else {
            continue;
        };
        let _ = writeln!(
            out,
            "| {path} | {:.0} | {:.0} | {:.2} | {:.2} ms | {:.2} ms | {:.2} | {} |",
            p.result.rps(),
            t.result.rps(),
            t.result.rps() / p.result.rps(),
            p.result.p99 as f64 / 1000.0,
            t.result.p99 as f64 / 1000.0,
            t.result.rps() / bare,
            t.commands_per_request
                .map_or("-".into(), |c| format!("{c:.3}")),
        );
    }
}

fn targets(out: &mut String, rows: &[Row], extras: &Extras, bare: f64) {
    let find = |case: &str| rows.iter().find(|r| r.case == case);
    let rps = |case: &str| find(case).map_or(f64::NAN, |r| r.result.rps());
    let cmds = |case: &str| find(case).and_then(|r| r.commands_per_request);
    let cmds = |case: &str| cmds(case).unwrap_or(f64::NAN);
    let auth = rps("/auth valid");
    let hs_memory = rps("/auth valid (memory)");
    let _ = writeln!(out, "\n## Targets\n");
    let _ = writeln!(
        out,
        "Ratios marked \"x bare\" refer to the bare actix-web ceiling of this run. A benchmark \
         reports; `make test` asserts nothing about speed.\n"
    );
    let _ = writeln!(out, "| target | figure | status |\n|---|---|---|");
    let mut target = |name: &str, figure: String, ok: Option<bool>| {
        let status = match ok {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "reported",
        };
        let _ = writeln!(out, "| {name} | {figure} | {status} |");
    };
    let ratio = |r: f64| format!("{r:.2}x");
    target(
        "/auth valid, memory HS256: >= 0.75x bare (issue 13)",
        ratio(hs_memory / bare),
        Some(hs_memory / bare >= 0.75),
    );
    for (case, name) in [
        (
            "/auth RS256 session",
            "RS256 session >= 0.9x HS256, same store (issue 13)",
        ),
        (
            "/auth ES256 session",
            "ES256 session >= 0.9x HS256, same store (issue 13)",
        ),
    ] {
        let r = rps(case) / hs_memory;
        target(name, ratio(r), Some(r >= 0.9));
    }
    let mirror = rps("/auth valid (mirror)");
    target(
        "/auth valid, Redis with the mirror: >= 0.9x memory store (issue 14)",
        format!("{:.2}x", mirror / hs_memory),
        Some(mirror >= 0.9 * hs_memory),
    );
    target(
        "/auth valid, Redis with the mirror: >= 0.70x bare (issue 14)",
        ratio(mirror / bare),
        Some(mirror / bare >= 0.70),
    );
    let mirror_cmds = cmds("/auth valid (mirror)");
    target(
        "0.00 Redis commands per check with the mirror (issue 14)",
        format!("{mirror_cmds:.3}"),
        Some(mirror_cmds < 0.005),
    );
    for replicas in [2, 4] {
        let row = |case: String| find(&case).map_or((0, 0), |r| (r.result.p50, r.result.p99));
        let (p50, p99) = row(format!("/revoke one at a time, {replicas} mirror replicas"));
        let (loaded_p50, loaded_p99) = row(format!("/revoke, {replicas} mirror replicas"));
        let ms = |us: u64| us as f64 / 1000.0;
        target(
            &format!("/revoke p99 <= 5 ms, {replicas} healthy mirror replicas (issue 14)"),
            format!(
                "one at a time: p50 {:.2} ms, p99 {:.2} ms; under the run's load: p50 {:.2} ms, p99 {:.2} ms",
                ms(p50),
                ms(p99),
                ms(loaded_p50),
                ms(loaded_p99)
            ),
            Some(p99 > 0 && p99 <= 5_000),
        );
    }
    let (plain, over_tls) = (rps("/auth valid"), rps("/auth valid (TLS)"));
    target(
        "/auth valid over TLS, no mirror (issue 15: reported)",
        format!(
            "{:.2}x plain ({over_tls:.0} vs {plain:.0} req/s); with the mirror {:.2}x plain",
            over_tls / plain,
            rps("/auth valid (mirror, TLS)") / rps("/auth valid (mirror)")
        ),
        None,
    );
    target(
        "/auth valid, Redis HS256 (x bare)",
        ratio(auth / bare),
        None,
    );
    target(
        "/auth valid, Redis HS256 (x redis-benchmark GET)",
        ratio(auth / extras.redis_get_rps),
        None,
    );
    let revoked = rps("/auth revoked").min(rps("/auth subject-revoked"));
    target(
        "revoked >= 0.9x valid (x bare)",
        format!("{:.2}x vs {:.2}x", revoked / bare, auth / bare),
        Some(revoked >= 0.9 * auth),
    );
    let introspect = rps("/introspect valid");
    target(
        "/introspect >= 0.8x /auth (x bare)",
        format!("{:.2}x vs {:.2}x", introspect / bare, auth / bare),
        Some(introspect >= 0.8 * auth),
    );
    let p99 = |case: &str| find(case).map_or(0, |r| r.result.p99);
    let p99_ratio = p99("/auth valid") as f64 / p99("GET / (ceiling)").max(1) as f64;
    target(
        "/auth valid (Redis) p99 <= 2x bare p99",
        ratio(p99_ratio),
        Some(p99_ratio <= 2.0),
    );
    let valid_cmds = cmds("/auth valid");
    target(
        "1 Redis command per valid check",
        format!("{valid_cmds:.3}"),
        Some((valid_cmds - 1.0).abs() < 0.01),
    );
    let garbage_cmds = cmds("/auth garbage (bad signature)");
    target(
        "0 Redis commands per garbage token",
        format!("{garbage_cmds:.3}"),
        Some(garbage_cmds == 0.0),
    );
    target(
        "Redis memory <= 150 B per revoked entry",
        format!(
            "{:.1} B ({} entries)",
            extras.per_entry_bytes, extras.preload_count
        ),
        Some(extras.per_entry_bytes <= 150.0),
    );
    let m = &extras.mirror;
    let mb = |kib: u64| kib as f64 / 1024.0;
    target(
        "RSS with 1,000,000 mirrored entries <= 150 MB (issue 14)",
        format!(
            "{:.1} MB with {} entries ({:.1} MB idle: {:.0} B per entry); loaded in {:.1} s; \
             Redis {:.1} B per stream entry",
            mb(m.rss_kib),
            m.entries,
            mb(m.idle_rss_kib),
            (m.rss_kib.saturating_sub(m.idle_rss_kib) * 1024) as f64 / m.entries.max(1) as f64,
            m.load_secs,
            m.redis_bytes_per_entry
        ),
        Some(m.entries >= 1_000_000 && mb(m.rss_kib) <= 150.0),
    );
    let rss_mb = extras.rss_peak_kib as f64 / 1024.0;
    target(
        "introspectd RSS <= 64 MB under load (peak of any instance, default cache)",
        format!("{rss_mb:.1} MB"),
        Some(rss_mb <= 64.0),
    );
    let (sent, answered, counted) = extras.closed;
    target(
        "/metrics histogram count == requests sent (closed loop)",
        format!("{sent} sent, {answered} answered 200, {counted} counted"),
        Some(counted == sent && answered == sent),
    );
    let (completed, counted, sent) = extras.wrk;
    target(
        "wrk runs: answered <= counted <= sent",
        format!(
            "{completed} answered, {counted} counted, {sent} sent (wrk abandons in-flight requests when it stops)"
        ),
        Some(completed <= counted && counted <= sent),
    );
}
