//! Load generation and what is read back: wrk runs (bench/wrk.lua), redis-benchmark, a
//! closed-loop client for the exact histogram check, the service's own counts and its RSS.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::Result;

/// One HTTP request shape; a header value may end in `@lines:FILE` (see bench/wrk.lua).
pub struct Request {
    pub method: &'static str,
    pub path: &'static str,
    /// `-` for none.
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
}

#[derive(Debug, Default, Clone)]
pub struct WrkResult {
    pub requests: u64,
    pub sent: u64,
    pub duration_us: u64,
    pub non2xx: u64,
    pub socket_errors: u64,
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
}

impl WrkResult {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / (self.duration_us as f64 / 1e6)
    }
}

pub fn wrk(seconds: u64, connections: u64, port: u16, request: &Request) -> Result<WrkResult> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/wrk.lua");
    let mut cmd = Command::new("wrk");
    cmd.args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s")])
        .arg("-s")
        .arg(&script)
        .arg(format!("http://127.0.0.1:{port}{}", request.path))
        .arg("--")
        .args([request.method, request.path, &request.body]);
    for (k, v) in &request.headers {
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

/// `redis-benchmark -t get -c CONNECTIONS` against the bench's Redis: GET requests per second,
/// the Redis ceiling of the same run.
pub fn redis_benchmark(port: u16, connections: u64, requests: u64) -> Result<f64> {
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-t", "get", "-c", &connections.to_string()])
        .args(["-n", &requests.to_string(), "--csv"])
        .output()
        .map_err(|e| format!("redis-benchmark: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // CSV: a header line, then "GET","<rps>",...
    text.lines()
        .find(|l| l.starts_with("\"GET\""))
        .and_then(|l| l.split(',').nth(1))
        .and_then(|v| v.trim_matches('"').parse().ok())
        .ok_or_else(|| format!("redis-benchmark printed no GET figure: {text}"))
}

/// Sends `per_thread` requests on each of `threads` keep-alive connections, each waiting for
/// its response, and returns how many were answered with `expected_status`. Closed loop: every
/// request sent is answered before the next, so the count the service records must match.
pub fn closed_loop(
    port: u16,
    request: &str,
    threads: usize,
    per_thread: usize,
    expected_status: &str,
) -> Result<usize> {
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let request = request.to_owned();
            let expected = format!("HTTP/1.1 {expected_status}");
            std::thread::spawn(move || send_in_turn(port, &request, per_thread, &expected))
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

fn send_in_turn(port: u16, request: &str, count: usize, expected: &str) -> Result<usize> {
    use std::io::{BufRead, BufReader, Read, Write};
    let stream = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let mut ok = 0;
    for _ in 0..count {
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
        if status.starts_with(expected) {
            ok += 1;
        }
    }
    Ok(ok)
}

/// The service's own count of observed requests, summed over `endpoints`.
pub fn histogram_count(port: u16, endpoints: &[&str]) -> Result<u64> {
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

pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
