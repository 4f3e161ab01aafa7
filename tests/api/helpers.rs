//! Test harness: the real application in-process on 127.0.0.1:0, plus token builders and request
//! helpers. Redis processes come from tests/support/redis.rs, shared with the bench.

use std::time::Duration;

use introspectd::clock::unix_now;
use introspectd::config::{Backend, Settings, Sources};
use introspectd::startup::Application;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{json, Map, Value};

pub use crate::support::{commandstat_calls, free_port, TempDir, TestRedis};

pub const SECRET: &str = "test-secret-0123456789-abcdefghijklmnop";
pub const ISSUER: &str = "https://issuer.test";
pub const CLIENT_ID: &str = "gateway";
pub const CLIENT_SECRET: &str = "gateway-secret";

/// Logs of every app in the test process go to stderr when `TEST_LOG` is set (its value is
/// the level, e.g. `TEST_LOG=debug`; any other value means `info`), and nowhere otherwise, so a
/// failing test can be rerun with its logs (after zero2prod's `TEST_LOG`).
fn init_test_log() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let Ok(level) = std::env::var("TEST_LOG") else {
            return;
        };
        let level = match level.as_str() {
            "error" | "warn" | "info" | "debug" | "trace" => level,
            _ => "info".to_owned(),
        };
        introspectd::telemetry::init(&introspectd::config::LogSettings {
            level,
            format: introspectd::config::LogFormat::Text,
        });
    });
}

/// The configuration every test starts from; `tweak` adjusts it per test.
/// Pins the Redis store to its MGET path (no local mirror): for tests of what every check
/// sends to Redis, which the mirror would answer from memory instead.
pub fn mirror_off(settings: &mut Settings) {
    settings.store.mirror_lease_ms = 0;
}

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
                Backend::File => "file",
            },
            redis_url.unwrap_or("redis://127.0.0.1:1/0"),
        ),
    )
    .expect("test config is written");
    let mut settings = Settings::load(&Sources {
        file: Some(&file),
        env: vec![],
    })
    .expect("test config is valid");
    // The file store's file, in a directory of its own that the app removes when dropped.
    let store_dir = std::env::temp_dir().join(format!("introspectd-file-{}", uuid::Uuid::new_v4()));
    settings.store.path = store_dir.join("revocations.redb");
    settings
}

pub struct TestApp {
    /// The file store's directory, removed on drop (file backend).
    pub _store_dir: Option<TempDir>,
    pub address: String,
    /// The ext_authz gRPC port, when the test set `server.grpc_listen`.
    pub grpc_port: Option<u16>,
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

    /// The app on `redis` (a Redis backend the test started itself), with its settings tweaked.
    pub async fn spawn_on(
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
        self.replica_with(|_| {}).await
    }

    /// Another instance on the same Redis, with its settings tweaked.
    pub async fn replica_with(&self, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let redis = self.redis.as_ref().expect("replicas share a Redis");
        let mut settings = test_settings(Backend::Redis, Some(&redis.url()));
        tweak(&mut settings);
        Self::spawn_settings(settings).await
    }

    pub async fn spawn_settings(settings: Settings) -> TestApp {
        init_test_log();
        let store_dir = (settings.store.backend == Backend::File)
            .then(|| settings.store.path.parent().map(|d| TempDir(d.to_owned())))
            .flatten();
        let app = Application::build(settings)
            .await
            .expect("the test application builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let grpc_port = app.grpc_port();
        tokio::spawn(app.run_until_stopped());
        TestApp {
            _store_dir: store_dir,
            address,
            grpc_port,
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

    /// The sum of every labelled series of metric `name`.
    pub async fn metric_sum(&self, name: &str) -> f64 {
        let prefix = format!("{name}{{");
        self.metrics()
            .await
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
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
/// A client whose requests come from `ip` (any 127.0.0.0/8 address works on loopback).
pub fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(Some(ip.parse().expect("an IP address")))
        .build()
        .expect("a client bound to a local address")
}

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
/// Runs a test body on every backend: memory, Redis and the file store.
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
                #[tokio::test]
                async fn file() {
                    super::$body(introspectd::config::Backend::File).await
                }
            }
        )*
    };
}
