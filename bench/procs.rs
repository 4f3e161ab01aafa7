//! The HTTP servers a bench run starts (introspectd instances, the bare actix-web ceiling), each
//! killed when dropped, and what the bench reads from Redis. Redis itself comes from
//! tests/support/redis.rs, shared with the tests.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{commandstat_calls, free_port};
use crate::{Result, CLIENT, CLIENT_SECRET, ISSUER};

/// A child process killed when dropped.
pub struct Proc {
    child: Child,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn spawn(name: &str, cmd: &mut Command) -> Result<Proc> {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    Ok(Proc { child })
}

pub fn wait_until(mut ready: impl FnMut() -> bool, what: &str) -> Result<()> {
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

/// An HTTP server under test: an introspectd instance or the bare ceiling.
pub struct Server {
    pub proc: Proc,
    pub port: u16,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// The bare actix-web server (bench/ceiling.rs), built next to this binary.
pub fn start_ceiling() -> Result<Server> {
    let binary = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .with_file_name("ceiling");
    let port = free_port();
    let proc = spawn("ceiling", Command::new(&binary).arg(port.to_string()))?;
    wait_until(|| http_status(port, "/") == Some(200), "the ceiling server")?;
    Ok(Server { proc, port })
}

/// An introspectd instance with the given `[jwt]` key lines and `[store]` lines.
pub fn start_introspectd(
    binary: &Path,
    dir: &Path,
    name: &str,
    jwt: &str,
    store: &str,
) -> Result<Server> {
    let port = free_port();
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[jwt]\n{jwt}\nissuer = \"{ISSUER}\"\n\
             audience = [\"api\"]\n[store]\n{store}\n[log]\nlevel = \"warn\"\n\
             [[clients]]\nid = \"{CLIENT}\"\nsecret = \"{CLIENT_SECRET}\"\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let proc = spawn(name, Command::new(binary).arg("--config").arg(&config))?;
    wait_until(|| http_status(port, "/readyz") == Some(200), name)?;
    Ok(Server { proc, port })
}

pub fn client(port: u16) -> Result<redis::Client> {
    redis::Client::open(format!("redis://127.0.0.1:{port}/0")).map_err(|e| e.to_string())
}

pub fn connect(port: u16) -> Result<redis::Connection> {
    client(port)?.get_connection().map_err(|e| e.to_string())
}

pub fn reset_stats(ports: &[u16]) -> Result<()> {
    for port in ports {
        let _: () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query(&mut connect(*port)?)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Commands the service sent to these nodes since their last CONFIG RESETSTAT. With
/// `only_lookups`, MGET alone: a check's one command (every bench token carries `sub`), while
/// everything else in the statistics is background work: the mirror followers' reads and scripts
/// (XREAD, GET of the marker, EVAL with the commands it runs), cluster and replication
/// housekeeping. Otherwise every command but the bench's own and connection set-up.
pub fn service_commands(ports: &[u16], only_lookups: bool) -> Result<u64> {
    let mut total = 0;
    for port in ports {
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut connect(*port)?)
            .map_err(|e| e.to_string())?;
        total += commandstat_calls(&info, |name| {
            if only_lookups {
                name == "mget"
            } else {
                // The mirror replicas' followers read the stream, the clock and the marker and
                // record their position in the background (XREAD, TIME, GET, HSET): not checks.
                // Connection set-up and health checks (HELLO, CLIENT, PING, UNWATCH) are not
                // checks either.
                !matches!(
                    name,
                    "info" | "xread" | "time" | "get" | "hset" | "ping" | "hello" | "unwatch"
                ) && !name.starts_with("config|")
                    && !name.starts_with("client|")
            }
        });
    }
    Ok(total)
}

pub fn info_field(conn: &mut redis::Connection, section: &str, field: &str) -> Result<f64> {
    let info: String = redis::cmd("INFO")
        .arg(section)
        .query(conn)
        .map_err(|e| e.to_string())?;
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("INFO {section} has no {field}"))
}
