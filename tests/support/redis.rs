//! Redis processes for the tests and the bench, one copy for both (each includes this file with
//! `#[path]`): a `redis-server` on a free port with its own directory, killed on drop; a 6-node
//! Redis Cluster; and the `INFO commandstats` parser that counts what a service sent.
// Each including crate uses a different part of this file.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A throwaway directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("introspectd-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir can be created");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("an ephemeral port is available")
        .port()
}

/// A `redis-server` of this test's own: free port, log and data in a temp dir. By default it
/// persists with AOF, so `restart` models a crash of a persistent Redis (data kept); an
/// ephemeral one loses everything on restart.
pub struct TestRedis {
    pub port: u16,
    child: Option<Child>,
    dir: TempDir,
    persistent: bool,
    extra_args: Vec<String>,
}

impl TestRedis {
    pub fn start() -> TestRedis {
        Self::start_with(true)
    }

    /// No persistence: a restart comes back empty.
    pub fn start_ephemeral() -> TestRedis {
        Self::start_with(false)
    }

    /// A replica of `master`, returned once its replication link is up.
    pub fn start_replica(master: &TestRedis) -> TestRedis {
        // The master would otherwise wait 5 s for more replicas before the first sync.
        let _: () = master.cmd(&["CONFIG", "SET", "repl-diskless-sync-delay", "0"]);
        let replica = Self::start_with_args(
            false,
            vec![
                "--replicaof".into(),
                "127.0.0.1".into(),
                master.port.to_string(),
            ],
        );
        master.wait_for_replicas_in_sync(1);
        replica
    }

    /// Waits until `count` replicas are online and have acknowledged everything the master has
    /// (as the master sees it).
    pub fn wait_for_replicas_in_sync(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let info: String = self.cmd(&["INFO", "replication"]);
            let master_offset: Option<u64> = info
                .lines()
                .find_map(|l| l.strip_prefix("master_repl_offset:")?.trim().parse().ok());
            let in_sync = info
                .lines()
                .filter(|l| l.starts_with("slave") && l.contains("state=online"))
                .filter(|l| {
                    let offset = l
                        .split(',')
                        .find_map(|kv| kv.strip_prefix("offset="))
                        .and_then(|v| v.parse::<u64>().ok());
                    offset.is_some() && offset == master_offset
                })
                .count();
            if in_sync >= count {
                return;
            }
            assert!(Instant::now() < deadline, "replicas not in sync: {info}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A persistent server started with extra redis-server arguments (kept across restarts).
    pub fn start_persistent_with(extra: &[&str]) -> TestRedis {
        Self::start_with_args(true, extra.iter().map(|a| a.to_string()).collect())
    }

    fn start_with(persistent: bool) -> TestRedis {
        Self::start_with_args(persistent, vec![])
    }

    /// A server with extra redis-server arguments (kept across restarts).
    pub fn start_with_args(persistent: bool, extra_args: Vec<String>) -> TestRedis {
        let mut redis = TestRedis {
            port: 0,
            child: None,
            dir: TempDir::new(),
            persistent,
            extra_args,
        };
        // A port found free may be taken again before redis-server binds it: try another.
        for _ in 0..5 {
            redis.port = free_port();
            if redis.spawn() {
                return redis;
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// Starts redis-server on `self.port`; false when it exited at once (port taken).
    fn spawn(&mut self) -> bool {
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", ""])
            // DEBUG SLEEP simulates a slow Redis in the outage tests.
            .args(["--enable-debug-command", "yes"])
            .args(["--appendonly", if self.persistent { "yes" } else { "no" }])
            .args(&self.extra_args)
            .args([
                "--dir",
                self.dir.0.to_str().expect("temp dir path is UTF-8"),
            ])
            .args(["--logfile", "redis.log"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (make test installs it)");
        let own = format!("process_id:{}\r\n", child.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            // Only our own server counts: another one may listen on a reused port. And only
            // once it has loaded its AOF: until then it answers most commands with LOADING.
            // Its own "Ready to accept connections" log line is the proof: INFO's loading:0
            // has been seen between the AOF's base and incremental files.
            if let Ok(mut conn) = self.client().get_connection() {
                let info = redis::cmd("INFO")
                    .arg("server")
                    .arg("persistence")
                    .query::<String>(&mut conn);
                if info.is_ok_and(|i| i.contains(&own) && i.contains("loading:0\r\n"))
                    && self.logged_ready(child.id())
                {
                    self.child = Some(child);
                    return true;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the server with this pid logged that it is ready (after loading its data).
    fn logged_ready(&self, pid: u32) -> bool {
        let log = std::fs::read_to_string(self.dir.0.join("redis.log")).unwrap_or_default();
        let own = format!("{pid}:");
        log.lines()
            .any(|l| l.starts_with(&own) && l.contains("Ready to accept connections"))
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("test URL parses")
    }

    /// Kills the server (as a crash would) and waits until its port refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is answered.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.pid();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// Starts the server again on the same port (with its data when persistent).
    pub fn restart(&mut self) {
        self.stop();
        assert!(
            self.spawn(),
            "redis-server could not restart on port {}",
            self.port
        );
    }

    /// A copy of the server's data directory (its AOF) as it is now.
    pub fn snapshot(&self) -> TempDir {
        let copy = TempDir::new();
        copy_tree(&self.dir.0, &copy.0);
        copy
    }

    /// Kills the server and starts it again from `snapshot`: a restart that lost every write
    /// since the snapshot, as an AOF without `fsync` may, or a failover to a replica that lags.
    pub fn restart_from(&mut self, snapshot: &TempDir) {
        self.stop();
        std::fs::remove_dir_all(&self.dir.0).expect("the data directory is removed");
        copy_tree(&snapshot.0, &self.dir.0);
        assert!(
            self.spawn(),
            "redis-server could not restart on port {}",
            self.port
        );
    }

    /// Runs one command; panics when it fails (use `try_cmd` on a server that may be down).
    pub fn cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        self.try_cmd(args).expect("test redis command succeeds")
    }

    pub fn try_cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> redis::RedisResult<T> {
        let mut conn = self.client().get_connection()?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut conn)
    }

    /// One INFO section's text; empty when the server does not answer.
    pub fn info(&self, section: &str) -> String {
        self.try_cmd(&["INFO", section]).unwrap_or_default()
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("redis-server is running").id()
    }

    /// Total calls of every command since the last `CONFIG RESETSTAT`, from `INFO commandstats`.
    pub fn command_calls(&self) -> u64 {
        let info: String = self.cmd(&["INFO", "commandstats"]);
        // The INFO and CONFIG calls the test itself makes are not the service's.
        commandstat_calls(&info, |name| name != "info" && !name.starts_with("config|"))
    }

    pub fn calls_of(&self, command: &str) -> u64 {
        let info: String = self.cmd(&["INFO", "commandstats"]);
        commandstat_calls(&info, |name| name == command)
    }

    pub fn reset_stats(&self) {
        let _: () = self.cmd(&["CONFIG", "RESETSTAT"]);
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sums the `calls=` of the `INFO commandstats` lines whose command name `keep` accepts.
pub fn commandstat_calls(info: &str, keep: impl Fn(&str) -> bool) -> u64 {
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

/// Waits for `done`, polling every 50 ms, for at most `limit`.
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn cluster_state_ok(node: &TestRedis) -> bool {
    node.try_cmd::<String>(&["CLUSTER", "INFO"])
        .is_ok_and(|i| i.contains("cluster_state:ok"))
}

/// A Redis Cluster of 3 masters and 3 replicas on free ports, returned once every node reports
/// `cluster_state:ok`. `persistent` turns AOF on; `node_timeout_ms` is how fast a dead master
/// is failed over.
pub fn start_cluster(persistent: bool, node_timeout_ms: u64) -> Vec<TestRedis> {
    start_cluster_with(persistent, node_timeout_ms, |_| Vec::new())
}

/// The same, with `extra(i)` added to node `i`'s arguments (a TLS port, say).
pub fn start_cluster_with(
    persistent: bool,
    node_timeout_ms: u64,
    extra: impl Fn(usize) -> Vec<String>,
) -> Vec<TestRedis> {
    let args: Vec<String> = [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-node-timeout",
        &node_timeout_ms.to_string(),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let nodes: Vec<TestRedis> = (0..6)
        .map(|i| {
            let mut node_args = args.clone();
            node_args.extend(extra(i));
            TestRedis::start_with_args(persistent, node_args)
        })
        .collect();
    let status = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)))
        .args(["--cluster-replicas", "1", "--cluster-yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("redis-cli runs");
    assert!(status.success(), "redis-cli --cluster create failed");
    wait_until("the cluster to be ok", Duration::from_secs(20), || {
        nodes.iter().all(cluster_state_ok)
    });
    nodes
}

/// Whether every running node of a cluster reports `cluster_state:ok`.
pub fn cluster_is_ok(nodes: &[&TestRedis]) -> bool {
    nodes.iter().all(|n| cluster_state_ok(n))
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("the copy's directory is made");
    for entry in std::fs::read_dir(from).expect("the directory is read") {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("a file is copied");
        }
    }
}
