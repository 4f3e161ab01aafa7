//! Test harness: a real `redis-server` on a free port (killed on drop) and the real application
//! in-process on 127.0.0.1:0, plus token builders and request helpers.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use deadpool_redis::redis;
use introspectd::clock::unix_now;
use introspectd::config::{Backend, Settings, Sources};
use introspectd::startup::Application;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{json, Map, Value};

pub const SECRET: &str = "test-secret-0123456789-abcdefghijklmnop";
pub const ISSUER: &str = "https://issuer.test";
pub const CLIENT_ID: &str = "gateway";
pub const CLIENT_SECRET: &str = "gateway-secret";

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

    fn start_with_args(persistent: bool, extra_args: Vec<String>) -> TestRedis {
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
            // Only our own server counts: another one may listen on a reused port.
            if let Ok(mut conn) = self.client().get_connection() {
                if let Ok(info) = redis::cmd("INFO").arg("server").query::<String>(&mut conn) {
                    if info.contains(&own) {
                        self.child = Some(child);
                        return true;
                    }
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
        let pid = self.child.as_ref().expect("redis-server is running").id();
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

    pub fn cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let mut conn = self.client().get_connection().expect("test redis answers");
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut conn).expect("test redis command succeeds")
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

/// The configuration every test starts from; `tweak` adjusts it per test.
pub fn test_settings(backend: Backend, redis_url: Option<&str>) -> Settings {
    let dir = TempDir::new();
    let file = dir.0.join("test.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[server]
listen = "127.0.0.1:0"
workers = 1
[jwt]
hmac_secret = "{SECRET}"
issuer = "{ISSUER}"
audience = ["api"]
[store]
backend = "{}"
redis_url = "{}"
[log]
level = "warn"
[[clients]]
id = "{CLIENT_ID}"
secret = "{CLIENT_SECRET}"
[[clients]]
id = "other"
secret = "other-secret"
"#,
            match backend {
                Backend::Memory => "memory",
                Backend::Redis => "redis",
            },
            redis_url.unwrap_or("redis://127.0.0.1:1/0"),
        ),
    )
    .expect("test config is written");
    Settings::load(&Sources {
        file: Some(&file),
        env: vec![],
    })
    .expect("test config is valid")
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub redis: Option<TestRedis>,
}

impl TestApp {
    /// The app on the given backend with default test settings.
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    /// The app on the given backend; a Redis backend gets its own fresh `redis-server`.
    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let redis = (backend == Backend::Redis).then(TestRedis::start);
        Self::spawn_on(redis, backend, tweak).await
    }

    /// The app on a Redis without persistence.
    pub async fn spawn_ephemeral(tweak: impl FnOnce(&mut Settings)) -> TestApp {
        Self::spawn_on(Some(TestRedis::start_ephemeral()), Backend::Redis, tweak).await
    }

    /// The app on a Redis backend the test started itself.
    pub async fn spawn_with_redis(redis: TestRedis) -> TestApp {
        Self::spawn_on(Some(redis), Backend::Redis, |_| {}).await
    }

    async fn spawn_on(
        redis: Option<TestRedis>,
        backend: Backend,
        tweak: impl FnOnce(&mut Settings),
    ) -> TestApp {
        let mut settings = test_settings(backend, redis.as_ref().map(|r| r.url()).as_deref());
        tweak(&mut settings);
        let mut app = Self::spawn_settings(settings).await;
        app.redis = redis;
        app
    }

    /// Another app instance on the same Redis as `self` (a second replica).
    pub async fn replica(&self) -> TestApp {
        let redis = self.redis.as_ref().expect("replicas share a Redis");
        Self::spawn_settings(test_settings(Backend::Redis, Some(&redis.url()))).await
    }

    pub async fn spawn_settings(settings: Settings) -> TestApp {
        let app = Application::build(settings)
            .await
            .expect("the test application builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        TestApp {
            address,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("HTTP client builds"),
            redis: None,
        }
    }

    pub fn redis(&self) -> &TestRedis {
        self.redis
            .as_ref()
            .expect("this test runs on the Redis backend")
    }

    /// Whether this app's Redis answers a PING within `limit` (false while it sleeps or is frozen).
    pub fn redis_answers_within(&self, limit: Duration) -> bool {
        let redis = self.redis();
        let client = redis::Client::open(redis.url()).expect("test URL parses");
        let Ok(mut conn) = client.get_connection_with_timeout(limit) else {
            return false;
        };
        if conn.set_read_timeout(Some(limit)).is_err() {
            return false;
        }
        redis::cmd("PING").query::<String>(&mut conn).is_ok()
    }

    pub fn redis_mut(&mut self) -> &mut TestRedis {
        self.redis
            .as_mut()
            .expect("this test runs on the Redis backend")
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(format!("{}{path}", self.address))
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(format!("{}{path}", self.address))
    }

    /// POSTs a form with the default client's Basic credentials.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.post(path)
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(form)
            .send()
            .await
            .expect("request is answered")
    }

    pub async fn introspect(&self, token: &str) -> Response {
        self.post_form("/introspect", &[("token", token)]).await
    }

    /// Introspects and returns the JSON body, asserting a 200 with no-store.
    pub async fn introspect_json(&self, token: &str) -> Value {
        let res = self.introspect(token).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["cache-control"], "no-store");
        res.json().await.expect("introspection answers JSON")
    }

    /// Asserts the byte-exact inactive answer.
    pub async fn assert_inactive(&self, token: &str) {
        let res = self.introspect(token).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert_eq!(res.text().await.unwrap(), r#"{"active":false}"#);
    }

    pub async fn assert_active(&self, token: &str) -> Value {
        let body = self.introspect_json(token).await;
        assert_eq!(body["active"], true, "expected active, got {body}");
        body
    }

    pub async fn revoke(&self, token: &str) -> Response {
        self.post_form("/revoke", &[("token", token)]).await
    }

    pub async fn revoke_subject(&self, sub: &str) -> Response {
        self.post_form("/revoke/subject", &[("sub", sub)]).await
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// `introspectd_requests_total` for one endpoint and outcome.
    pub async fn requests_total(&self, endpoint: &str, outcome: &str) -> f64 {
        self.metric(&format!(
            r#"introspectd_requests_total{{endpoint="{endpoint}",outcome="{outcome}"}}"#
        ))
        .await
    }

    /// The value of one sample line of `/metrics`; panics when the series is not exported, so a
    /// renamed metric fails every test that reads it (an absent series is not a zero).
    pub async fn metric(&self, series: &str) -> f64 {
        self.metric_if_exported(series)
            .await
            .unwrap_or_else(|| panic!("/metrics has no series {series}"))
    }

    /// The value of one sample line of `/metrics`, or None when it is not exported.
    pub async fn metric_if_exported(&self, series: &str) -> Option<f64> {
        self.metrics()
            .await
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }
}

/// Standard claims for `sub`: issued now, valid an hour, right issuer and audience.
pub fn claims(sub: &str) -> Map<String, Value> {
    let now = unix_now();
    json!({
        "sub": sub,
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": now,
        "exp": now + 3600,
        "iss": ISSUER,
        "aud": "api",
        "scope": "read write",
    })
    .as_object()
    .cloned()
    .expect("literal is an object")
}

pub fn sign(claims: &Map<String, Value>) -> String {
    sign_with(Header::new(Algorithm::HS256), claims, SECRET.as_bytes())
}

pub fn sign_with(header: Header, claims: &Map<String, Value>, secret: &[u8]) -> String {
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret))
        .expect("test token signs")
}

/// A valid token for `sub`.
pub fn token(sub: &str) -> String {
    sign(&claims(sub))
}

/// A token for `sub` with some claims changed (a `null` value removes the claim).
pub fn token_with(sub: &str, changes: Value) -> String {
    let mut c = claims(sub);
    for (k, v) in changes.as_object().expect("changes are an object") {
        if v.is_null() {
            c.remove(k);
        } else {
            c.insert(k.clone(), v.clone());
        }
    }
    sign(&c)
}

/// Runs an async test body once per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident => $body:ident;)*) => {
        $(
            mod $name {
                #[tokio::test]
                async fn memory() {
                    super::$body(introspectd::config::Backend::Memory).await
                }
                #[tokio::test]
                async fn redis() {
                    super::$body(introspectd::config::Backend::Redis).await
                }
            }
        )*
    };
}
