//! Health, readiness and metrics: the probes answer, readiness follows the store, and the
//! scrape is valid Prometheus text that promtool accepts.

use introspectd::config::Backend;

use crate::helpers::{token, TestApp};

#[tokio::test]
async fn probes_and_metrics_answer() {
    let app = TestApp::spawn(Backend::Memory).await;
    for path in ["/healthz", "/readyz"] {
        let res = app.get(path).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.headers()["cache-control"], "no-store");
    }
    app.assert_active(&token("alice")).await;
    let res = app.get("/metrics").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = res.text().await.unwrap();
    for name in [
        "introspectd_requests_total",
        "introspectd_request_duration_seconds_bucket",
        "introspectd_revocations_total",
        "introspectd_store_errors_total",
        "introspectd_store_duration_seconds_bucket",
    ] {
        assert!(text.contains(name), "{name} missing");
    }
    assert!(text.contains(
        r#"introspectd_request_duration_seconds_bucket{endpoint="introspect",le="0.0005"}"#
    ));
}

#[tokio::test]
async fn metrics_pass_promtool_check_metrics() {
    use std::io::Write;
    let app = TestApp::spawn(Backend::Redis).await;
    let t = token("alice");
    app.assert_active(&t).await;
    assert_eq!(app.revoke(&t).await.status(), 200);
    assert_eq!(app.get("/readyz").send().await.unwrap().status(), 200);
    let scrape = app.metrics().await;
    // `make test` exports PROMTOOL (Debian's, or one unpacked from its package into .tools/).
    let promtool = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let mut child = std::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{promtool} runs (make test provides it): {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(scrape.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{scrape}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_ready_gauge_follows_what_readyz_last_found() {
    let mut app = TestApp::spawn(Backend::Redis).await;
    assert_eq!(app.get("/readyz").send().await.unwrap().status(), 200);
    assert_eq!(app.metric("introspectd_ready").await, 1.0);
    app.redis_mut().stop();
    assert_eq!(app.get("/readyz").send().await.unwrap().status(), 503);
    assert_eq!(app.metric("introspectd_ready").await, 0.0);
    // Liveness does not depend on the store.
    assert_eq!(app.get("/healthz").send().await.unwrap().status(), 200);
    app.redis_mut().restart();
    // The first probe after the restart reconnects; under a loaded test machine it may take
    // longer than store.ready_timeout_ms (and rightly answer 503): poll, bounded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while app.get("/readyz").send().await.unwrap().status() != 200 {
        assert_eq!(app.metric("introspectd_ready").await, 0.0);
        assert!(std::time::Instant::now() < deadline, "never ready again");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(app.metric("introspectd_ready").await, 1.0);
}

/// The Redis store's own facts are exported by the Redis backend only: on the memory backend
/// they would be numbers that mean nothing.
#[tokio::test]
async fn redis_facts_are_exported_only_by_the_redis_backend() {
    let memory = TestApp::spawn(Backend::Memory).await;
    let redis = TestApp::spawn(Backend::Redis).await;
    for app in [&memory, &redis] {
        assert_eq!(app.get("/readyz").send().await.unwrap().status(), 200);
    }
    for series in [
        "introspectd_store_aof_enabled",
        "introspectd_store_evicting_policy",
        "introspectd_store_data_loss_total",
        "introspectd_store_global_not_before_seconds",
    ] {
        assert_eq!(memory.metric_if_exported(series).await, None, "{series}");
        assert!(redis.metric_if_exported(series).await.is_some(), "{series}");
    }
    // Metrics of every backend stay.
    assert_eq!(memory.metric("introspectd_ready").await, 1.0);
}
