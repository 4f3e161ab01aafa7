//! Redis Sentinel for the tests: a set of three sentinels watching one master, each with its own
//! directory and free port, killed on drop; and the forced failover the tests make them run.
//! The harness talks to the sentinels through their plain port (with `admin`'s credentials);
//! extra configuration lines (TLS, ACL users) are the test's.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{free_port, wait_until, TempDir, TestRedis};

/// One sentinel process.
pub struct Sentinel {
    pub port: u16,
    child: Child,
    admin: String,
    _dir: TempDir,
}

impl Sentinel {
    /// The plain port, as the harness reaches it.
    pub fn url(&self) -> String {
        format!("redis://{}127.0.0.1:{}", self.admin, self.port)
    }

    pub fn cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> redis::RedisResult<T> {
        let mut conn = redis::Client::open(self.url())?.get_connection()?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut conn)
    }

    /// The port of the master this sentinel names, once it names one.
    pub fn master_port(&self) -> Option<String> {
        self.cmd::<Vec<String>>(&["SENTINEL", "get-master-addr-by-name", "mymaster"])
            .ok()
            .and_then(|v| v.get(1).cloned())
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three sentinels monitoring `mymaster` at 127.0.0.1:`master_port`, returned once each knows
/// the master and the two others. `extra(i)` is added to the i-th one's configuration file
/// (after `port`, before `sentinel monitor`); `admin` is the URL userinfo (`user:password@`, or
/// empty) the harness connects with.
pub fn start_sentinels(
    master_port: u16,
    extra: impl Fn(usize) -> String,
    admin: &str,
) -> Vec<Sentinel> {
    let sentinels: Vec<Sentinel> = (0..3)
        .map(|i| {
            let dir = TempDir::new();
            let conf = dir.0.join("sentinel.conf");
            let port = free_port();
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\n{}\n\
                     sentinel monitor mymaster 127.0.0.1 {master_port} 2\n\
                     sentinel down-after-milliseconds mymaster 1000\n\
                     sentinel failover-timeout mymaster 5000\n",
                    extra(i)
                ),
            )
            .unwrap();
            let child = Command::new("redis-server")
                .arg(&conf)
                .arg("--sentinel")
                .arg("--dir")
                .arg(&dir.0)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server --sentinel runs");
            Sentinel {
                port,
                child,
                admin: admin.to_owned(),
                _dir: dir,
            }
        })
        .collect();
    wait_until(
        "the sentinels to know the master and each other",
        Duration::from_secs(20),
        || {
            sentinels.iter().all(|s| {
                s.master_port().as_deref() == Some(&master_port.to_string())
                    && s.cmd::<Vec<redis::Value>>(&["SENTINEL", "sentinels", "mymaster"])
                        .is_ok_and(|v| v.len() == 2)
            })
        },
    );
    sentinels
}

/// Forces a failover and waits for both halves of the switch: `replica` promoted and `master`
/// demoted (before that, a write to the old master is the loss Redis documents for failovers),
/// and every sentinel naming `promoted_port`.
pub fn force_failover(
    sentinels: &[Sentinel],
    master: &TestRedis,
    replica: &TestRedis,
    promoted_port: u16,
) {
    let _: () = sentinels[0]
        .cmd(&["SENTINEL", "FAILOVER", "mymaster"])
        .unwrap();
    wait_until(
        "the replica to become master",
        Duration::from_secs(30),
        || {
            replica.info("replication").contains("role:master")
                && master.info("replication").contains("role:slave")
                && sentinels
                    .iter()
                    .all(|s| s.master_port().as_deref() == Some(&promoted_port.to_string()))
        },
    );
}
