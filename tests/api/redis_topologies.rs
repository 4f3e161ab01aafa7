//! Scale-out stores on loopback, started and stopped by the harness: a 6-node Redis Cluster
//! (3 masters, 3 replicas) and a Sentinel set-up (1 master, 1 replica, 3 sentinels), each with a
//! failover the service must follow without a restart.

use std::time::{Duration, Instant};

use introspectd::config::{Backend, RedisMode, Secret};

use crate::helpers::{commandstat_calls, test_settings, token, token_with, TestApp, TestRedis};
use crate::sentinel_support::{force_failover, start_sentinels};
use crate::support::{cluster_is_ok, start_cluster, wait_until};

/// Token checks (MGET) the service made on these nodes since their last CONFIG RESETSTAT. The
/// generation watcher's GET, once a second, and cluster housekeeping are not checks.
fn service_calls(nodes: &[TestRedis]) -> u64 {
    nodes
        .iter()
        .map(|n| commandstat_calls(&n.info("commandstats"), |c| c == "mget"))
        .sum()
}

/// The index of `master`'s replica in `nodes`, once it has every write `master` took (so a
/// failover to it loses nothing and the cluster lets it take over).
fn promoted_on_failure(nodes: &[TestRedis], master: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = nodes[master].info("replication");
        let port = info
            .lines()
            .find_map(|l| l.strip_prefix("slave0:"))
            .and_then(|l| l.split(',').find_map(|f| f.strip_prefix("port=")))
            .and_then(|p| p.parse::<u16>().ok());
        let in_sync = port.and_then(|port| nodes.iter().position(|n| n.port == port));
        let acked: i64 = nodes[master].cmd(&["WAIT", "1", "1000"]);
        if let Some(replica) = in_sync.filter(|_| acked == 1) {
            if nodes[replica]
                .info("replication")
                .contains("master_link_status:up")
            {
                return replica;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the master's replica never caught up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn ready(app: &TestApp) -> u16 {
    app.get("/readyz").send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_serves_checks_in_one_command_and_survives_a_master_failover() {
    let mut nodes = start_cluster(true, 1000);
    let mut settings = test_settings(Backend::Redis, None);
    // The MGET path (the mirror in cluster mode: the test below).
    settings.store.mirror_lease_ms = 0;
    settings.store.redis_mode = RedisMode::Cluster;
    settings.store.connect_timeout_ms = 2000;
    settings.store.ready_timeout_ms = 3000;
    settings.store.redis_urls = nodes.iter().map(|n| Secret::new(n.url())).collect();
    let app = TestApp::spawn_settings(settings).await;
    assert_eq!(ready(&app).await, 200);

    // Revocations across many subjects land on every master.
    let tokens: Vec<(String, String)> = (0..60)
        .map(|i| {
            let sub = format!("user-{i}");
            (token(&sub), sub)
        })
        .collect();
    for (t, _) in &tokens[..40] {
        assert_eq!(app.revoke(t).await.status(), 200);
    }
    let masters: Vec<&TestRedis> = nodes
        .iter()
        .filter(|n| n.info("replication").contains("role:master"))
        .collect();
    assert_eq!(masters.len(), 3);
    for master in &masters {
        let keys: i64 = master.cmd(&["DBSIZE"]);
        assert!(keys > 0, "a master holds no revocation");
    }
    // One command per check, in cluster mode too.
    for t in &tokens[40..] {
        app.assert_active(&t.0).await;
    }
    for node in &nodes {
        let _: () = node.cmd(&["CONFIG", "RESETSTAT"]);
    }
    for (t, _) in &tokens {
        assert_eq!(app.introspect(t).await.status(), 200);
    }
    assert_eq!(
        service_calls(&nodes),
        tokens.len() as u64,
        "one MGET per check"
    );
    // A token with a session also reads its session's entry, which lives in its own slot: a GET
    // pipelined beside the MGET. A session revocation reaches the checks.
    let iat = introspectd::clock::unix_now() - 5;
    let in_session = token_with("user-0", serde_json::json!({"sid": "cs", "iat": iat}));
    let other_session = token_with("user-0", serde_json::json!({"sid": "other", "iat": iat}));
    let res = app.post_form("/revoke/session", &[("sid", "cs")]).await;
    assert_eq!(res.status(), 200);
    let gets = |nodes: &[TestRedis]| -> u64 {
        nodes
            .iter()
            .map(|n| commandstat_calls(&n.info("commandstats"), |c| c == "get"))
            .sum()
    };
    for node in &nodes {
        let _: () = node.cmd(&["CONFIG", "RESETSTAT"]);
    }
    app.assert_inactive(&in_session).await;
    app.assert_active(&other_session).await;
    assert_eq!((service_calls(&nodes), gets(&nodes)), (2, 2));

    // Let the replicas catch up, then kill a master: its replica is promoted and the service
    // follows without a restart; no revocation replicated before the kill is lost.
    for master in &masters {
        let _: i64 = master.cmd(&["WAIT", "1", "2000"]);
    }
    let victim = nodes
        .iter()
        .position(|n| n.info("replication").contains("role:master"))
        .unwrap();
    promoted_on_failure(&nodes, victim);
    nodes[victim].stop();
    let survivors: Vec<&TestRedis> = nodes.iter().filter(|n| n.is_running()).collect();
    wait_until("a replica to be promoted", Duration::from_secs(30), || {
        cluster_is_ok(&survivors)
    });
    // During the window some checks are denied (503); afterwards every check succeeds again.
    let mut unavailable = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut all_answered = true;
        for (t, _) in &tokens {
            let status = app.introspect(t).await.status();
            if status != 200 {
                assert_eq!(status, 503, "during a failover the answer is deny");
                unavailable += 1;
                all_answered = false;
            }
        }
        if all_answered {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the service did not follow the failover"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (t, _) in &tokens[..40] {
        app.assert_inactive(t).await;
    }
    for (t, _) in &tokens[40..] {
        app.assert_active(t).await;
    }
    assert_eq!(ready(&app).await, 200);
    println!("cluster failover: {unavailable} checks answered 503 during the window");

    // A data loss on the cluster (every master flushed) is noticed without any readiness probe:
    // the generation marker is read in the background every second, so the revoked tokens, whose
    // entries are gone, become inactive with every other token issued before the loss.
    assert_eq!(app.metric("introspectd_store_data_loss_total").await, 0.0);
    for node in nodes.iter().filter(|n| n.is_running()) {
        if node.info("replication").contains("role:master") {
            let _: () = node.cmd(&["FLUSHALL"]);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.introspect_json(&tokens[0].0).await["active"] != false {
        assert!(
            Instant::now() < deadline,
            "the cluster flush went unnoticed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (t, _) in &tokens {
        app.assert_inactive(t).await;
    }
    assert_eq!(app.metric("introspectd_store_data_loss_total").await, 1.0);
    let not_before = app
        .metric("introspectd_store_global_not_before_seconds")
        .await as i64;
    app.assert_active(&token_with(
        "after-the-loss",
        serde_json::json!({"iat": not_before}),
    ))
    .await;
}

/// The mirror in cluster mode: the stream and the acknowledgements share the generation
/// marker's slot, each revocation writes its entry and then appends to the stream. Checks cost
/// no command on any node; a revocation on one replica is refused by the other at once; when the
/// master that holds the stream dies, no revoked token is accepted while its replica is
/// promoted, and the mirrors serve again afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mirror_serves_a_cluster_with_no_command_per_check_and_survives_a_failover() {
    let mut nodes = start_cluster(true, 1000);
    let mut settings = test_settings(Backend::Redis, None);
    settings.store.redis_mode = RedisMode::Cluster;
    settings.store.connect_timeout_ms = 2000;
    settings.store.ready_timeout_ms = 3000;
    settings.store.redis_urls = nodes.iter().map(|n| Secret::new(n.url())).collect();
    let a = TestApp::spawn_settings(settings.clone()).await;
    let b = TestApp::spawn_settings(settings).await;
    for app in [&a, &b] {
        assert_eq!(ready(app).await, 200);
    }
    // Read-your-revocation across replicas, subjects spread over every master.
    let tokens: Vec<String> = (0..100).map(|i| token(&format!("user-{i}"))).collect();
    for (i, t) in tokens.iter().enumerate() {
        let (writer, reader) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        assert_eq!(writer.revoke(t).await.status(), 200);
        reader.assert_inactive(t).await;
    }
    // Once both mirrors hold their lease, checks send nothing to any node.
    let probe = token("probe");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for node in &nodes {
            let _: () = node.cmd(&["CONFIG", "RESETSTAT"]);
        }
        for app in [&a, &b] {
            app.assert_active(&probe).await;
            for t in &tokens {
                app.assert_inactive(t).await;
            }
        }
        if service_calls(&nodes) == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the mirrors never took over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Kill the master that holds the stream (after its replica caught up).
    let stream = "introspectd:{introspectd:generation}revocations";
    let victim = nodes
        .iter()
        .position(|n| {
            n.info("replication").contains("role:master")
                && n.try_cmd::<i64>(&["EXISTS", stream]) == Ok(1)
        })
        .expect("a master holds the stream");
    let replica = promoted_on_failure(&nodes, victim);
    nodes[victim].stop();
    let mut unavailable = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut all_answered = true;
        for app in [&a, &b] {
            for t in tokens.iter().step_by(10) {
                let res = app.introspect(t).await;
                match res.status().as_u16() {
                    200 => assert_eq!(res.text().await.unwrap(), r#"{"active":false}"#),
                    503 => {
                        unavailable += 1;
                        all_answered = false;
                    }
                    other => panic!("unexpected status {other}"),
                }
            }
        }
        let survivors: Vec<&TestRedis> = nodes.iter().filter(|n| n.is_running()).collect();
        let promoted = nodes[replica].info("replication").contains("role:master");
        if all_answered && promoted && cluster_is_ok(&survivors) {
            break;
        }
        assert!(Instant::now() < deadline, "the failover never completed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A revocation after the failover holds on the other replica at once.
    let after = token("after-the-failover");
    let deadline = Instant::now() + Duration::from_secs(30);
    while a.revoke(&after).await.status() != 200 {
        assert!(Instant::now() < deadline, "revocations never recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.assert_inactive(&after).await;
    for t in &tokens {
        a.assert_inactive(t).await;
        b.assert_inactive(t).await;
    }
    println!("cluster mirror failover: {unavailable} checks answered 503 during the window");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_mode_follows_a_forced_failover() {
    let master = TestRedis::start();
    let replica = TestRedis::start_with_args(
        false,
        vec![
            "--replicaof".into(),
            "127.0.0.1".into(),
            master.port.to_string(),
        ],
    );
    wait_until("the replica link", Duration::from_secs(10), || {
        replica
            .info("replication")
            .contains("master_link_status:up")
    });
    let sentinels = start_sentinels(master.port, |_| String::new(), "");

    let mut settings = test_settings(Backend::Redis, None);
    settings.store.redis_mode = RedisMode::Sentinel;
    settings.store.sentinel_master = "mymaster".into();
    settings.store.redis_urls = sentinels.iter().map(|s| Secret::new(s.url())).collect();
    let app = TestApp::spawn_settings(settings).await;
    assert_eq!(ready(&app).await, 200);
    let revoked = token("alice");
    let active = token("bob");
    assert_eq!(app.revoke(&revoked).await.status(), 200);
    app.assert_inactive(&revoked).await;
    let _: i64 = master.cmd(&["WAIT", "1", "2000"]);

    force_failover(&sentinels, &master, &replica, replica.port);
    let unavailable = follows_the_promoted_master(&app, &master, &replica, &revoked, &active).await;
    println!("sentinel failover: {unavailable} revocations answered 503 during the window");
}

/// After a forced failover from `master` to `replica`: revocations reach the promoted master
/// (503 until the service follows it, never a lost 200), `revoked` stays inactive, `active`
/// active, and the service is ready. Returns the revocations answered 503 meanwhile.
pub async fn follows_the_promoted_master(
    app: &TestApp,
    master: &TestRedis,
    replica: &TestRedis,
    revoked: &str,
    active: &str,
) -> u32 {
    let mut unavailable = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // A revocation must reach the new master: it answers 200 only when a master took it.
        let res = app.revoke(&token("carol")).await;
        if res.status() == 200 {
            break;
        }
        assert_eq!(res.status(), 503);
        unavailable += 1;
        assert!(
            Instant::now() < deadline,
            "the service did not follow the new master"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let on_new_master: i64 = replica.cmd(&["DBSIZE"]);
    assert!(
        on_new_master >= 3,
        "revocations are written to the promoted master ({on_new_master} keys there, {} on the old master)",
        master.try_cmd::<i64>(&["DBSIZE"]).unwrap_or(-1)
    );
    app.assert_inactive(revoked).await;
    app.assert_active(active).await;
    assert_eq!(ready(app).await, 200);
    unavailable
}
