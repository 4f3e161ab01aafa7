//! The local mirror of the blocklist (`store.mirror_lease_ms`, on by default for the Redis
//! store): replicas answer checks from memory, with no Redis round trip, and a revocation on any
//! replica is refused by every other one as soon as it was answered 200.

use std::time::{Duration, Instant};

use introspectd::config::Backend;
use serde_json::json;

use crate::helpers::{test_settings, token, token_with, TestApp, TestRedis};

const LEASE_MS: u64 = 500;
const ACKS: &str = "introspectd:{introspectd:generation}mirror_acks";
const STREAM: &str = "introspectd:{introspectd:generation}revocations";

async fn replica_on(redis: &TestRedis) -> TestApp {
    let mut settings = test_settings(Backend::Redis, Some(&redis.url()));
    settings.store.mirror_lease_ms = LEASE_MS;
    TestApp::spawn_settings(settings).await
}

/// Waits until `app` answers checks without Redis: a check then costs no MGET.
async fn mirror_serves(app: &TestApp, redis: &TestRedis) {
    let probe = token("probe");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before = redis.calls_of("mget");
        app.assert_active(&probe).await;
        if redis.calls_of("mget") == before {
            return;
        }
        assert!(Instant::now() < deadline, "the mirror never took over");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Revokes `token` on `app` in a task, so the test can watch the answer being held.
fn revoke_in_background(app: &TestApp, token: String) -> tokio::task::JoinHandle<u16> {
    let (client, base) = (app.client.clone(), app.address.clone());
    tokio::spawn(async move {
        client
            .post(format!("{base}/revoke"))
            .basic_auth(
                crate::helpers::CLIENT_ID,
                Some(crate::helpers::CLIENT_SECRET),
            )
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

/// The Redis clock, in unix milliseconds.
fn redis_ms(redis: &TestRedis) -> i64 {
    let (secs, micros): (i64, i64) = redis.cmd(&["TIME"]);
    secs * 1000 + micros / 1000
}

/// A stream id as (ms, seq), ordered as Redis orders them.
fn stream_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').expect("a stream id");
    (ms.parse().unwrap(), seq.parse().unwrap())
}

/// Waits until the one live replica acknowledged stream entry `id`.
async fn read_up_to(redis: &TestRedis, id: &str) {
    let id = stream_id(id);
    let deadline = Instant::now() + Duration::from_secs(10);
    while acked_position(redis).is_none_or(|p| p < id) {
        assert!(Instant::now() < deadline, "entry {id:?} never read");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The position the one live replica acknowledged, if any.
fn acked_position(redis: &TestRedis) -> Option<(u64, u64)> {
    let acks: Vec<String> = redis.cmd(&["HGETALL", ACKS]);
    acks.chunks(2)
        .find(|pair| !pair[0].starts_with('_'))
        .map(|pair| stream_id(pair[1].split(' ').next().unwrap()))
}

#[tokio::test]
async fn checks_are_answered_from_memory_with_no_redis_command() {
    let redis = TestRedis::start();
    let a = replica_on(&redis).await;
    mirror_serves(&a, &redis).await;
    let revoked = token("alice");
    assert_eq!(a.revoke(&revoked).await.status(), 200);
    let before = redis.calls_of("mget");
    for i in 0..100 {
        a.assert_active(&token(&format!("user-{i}"))).await;
        a.assert_inactive(&revoked).await;
    }
    assert_eq!(redis.calls_of("mget"), before, "a check went to Redis");
    assert_eq!(
        a.metric(r#"introspectd_mirror_state{state="current"}"#)
            .await,
        1.0
    );
    assert_eq!(
        a.metric(r#"introspectd_mirror_state{state="resyncing"}"#)
            .await,
        0.0
    );
    assert!(a.metric("introspectd_mirror_entries").await >= 1.0);
    assert!(a.metric("introspectd_mirror_lease_age_seconds").await < 60.0);
    // On by default for the Redis store; with 0, no mirror and none of its metrics.
    let default = TestApp::spawn(Backend::Redis).await;
    mirror_serves(&default, default.redis()).await;
    let off = TestApp::spawn_with(Backend::Redis, crate::helpers::mirror_off).await;
    assert_eq!(
        off.metric_if_exported("introspectd_mirror_entries").await,
        None
    );
    let before = off.redis().calls_of("mget");
    off.assert_active(&token("bob")).await;
    assert_eq!(off.redis().calls_of("mget"), before + 1);
}

#[tokio::test]
async fn a_revocation_on_one_replica_is_refused_at_once_by_the_others() {
    let redis = TestRedis::start();
    let a = replica_on(&redis).await;
    let b = replica_on(&redis).await;
    let c = replica_on(&redis).await;
    for app in [&a, &b, &c] {
        mirror_serves(app, &redis).await;
    }
    let mut accepted = 0;
    for round in 0..300 {
        let sub = format!("user-{round}");
        let t = token(&sub);
        // Known active on B and C first (so any stale answer would be active)...
        b.assert_active(&t).await;
        c.assert_active(&t).await;
        let (revoker, checkers) = match round % 3 {
            0 => (&a, [&b, &c]),
            1 => (&b, [&a, &c]),
            _ => (&c, [&a, &b]),
        };
        assert_eq!(revoker.revoke(&t).await.status(), 200);
        // ...then checked on both at once, right after the 200.
        let (x, y) = tokio::join!(
            checkers[0].introspect_json(&t),
            checkers[1].introspect_json(&t)
        );
        accepted += usize::from(x["active"] == true) + usize::from(y["active"] == true);
        if round % 10 == 0 {
            // A subject revocation too: older tokens of that subject refused everywhere.
            let older = token_with(&sub, json!({ "iat": introspectd::clock::unix_now() - 5 }));
            b.assert_active(&older).await;
            assert_eq!(revoker.revoke_subject(&sub).await.status(), 200);
            for checker in checkers {
                accepted += usize::from(checker.introspect_json(&older).await["active"] == true);
            }
        }
    }
    assert_eq!(
        accepted, 0,
        "revoked tokens accepted after their revocation was answered"
    );
    // The mirrors answered: checks after warm-up cost no MGET.
    let before = redis.calls_of("mget");
    b.assert_active(&token("late")).await;
    assert_eq!(redis.calls_of("mget"), before);
}

#[tokio::test]
async fn a_replica_started_late_loads_every_revocation_and_serves_correctly_before() {
    let redis = TestRedis::start();
    let a = replica_on(&redis).await;
    let revoked: Vec<String> = (0..300).map(|i| token(&format!("user-{i}"))).collect();
    for t in &revoked {
        assert_eq!(a.revoke(t).await.status(), 200);
    }
    let late = replica_on(&redis).await;
    // Before and after its mirror takes over, every answer is right.
    for t in &revoked {
        late.assert_inactive(t).await;
    }
    mirror_serves(&late, &redis).await;
    let before = redis.calls_of("mget");
    for t in &revoked {
        late.assert_inactive(t).await;
    }
    assert_eq!(
        redis.calls_of("mget"),
        before,
        "the late replica's mirror is complete"
    );
}

#[tokio::test]
async fn while_redis_is_frozen_the_mirror_stops_answering_when_its_lease_ends() {
    let redis = TestRedis::start();
    let a = replica_on(&redis).await;
    mirror_serves(&a, &redis).await;
    let t = token("alice");
    a.assert_active(&t).await;
    redis.freeze();
    // Within the lease the mirror may answer; after it, checks need Redis, which is frozen:
    // 503 (fail closed), never a stale answer held beyond the lease.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = a.introspect(&t).await.status();
        if status == 503 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            Instant::now() < deadline,
            "the mirror kept answering without Redis"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(a.metric("introspectd_mirror_fallbacks_total").await >= 1.0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while a
        .metric(r#"introspectd_mirror_state{state="lagging"}"#)
        .await
        != 1.0
    {
        assert!(
            Instant::now() < deadline,
            "the mirror never reported lagging"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    redis.thaw();
    mirror_serves(&a, &redis).await;
    assert_eq!(
        a.metric(r#"introspectd_mirror_state{state="current"}"#)
            .await,
        1.0
    );
}

/// A revocation waits for every replica that holds a lease to read it: here a replica that
/// acknowledged an earlier position and holds a long lease. The revocation is answered only
/// once that replica's acknowledgement reaches its stream entry; an expired acknowledgement is
/// not waited for.
#[tokio::test]
async fn a_revocation_waits_for_every_replica_holding_a_lease_to_read_it() {
    let redis = TestRedis::start();
    let mut settings = test_settings(Backend::Redis, Some(&redis.url()));
    // Long enough that giving up on the slow replica cannot be what ends the wait.
    settings.store.mirror_lease_ms = 30_000;
    let a = TestApp::spawn_settings(settings).await;
    mirror_serves(&a, &redis).await;
    let redis_ms = || redis_ms(&redis);
    // Another replica, as Redis sees it: read up to 0-1, lease valid for a minute.
    let valid = (redis_ms() + 60_000).to_string();
    let _: () = redis.cmd(&["HSET", ACKS, "slow", &format!("0-1 {valid}")]);

    let revocation = revoke_in_background(&a, token("alice"));
    // The entry is written...
    let deadline = Instant::now() + Duration::from_secs(10);
    let entry = loop {
        let entries: Vec<(String, Vec<String>)> = redis.cmd(&["XRANGE", STREAM, "-", "+"]);
        if let Some((id, _)) = entries.last() {
            break id.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the revocation was never written"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    // ...but not answered while the slow replica has not read it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !revocation.is_finished(),
        "answered before every lease holder read it"
    );
    let _: () = redis.cmd(&["HSET", ACKS, "slow", &format!("{entry} {valid}")]);
    let status = tokio::time::timeout(Duration::from_secs(10), revocation)
        .await
        .expect("answered once the replica read it")
        .unwrap();
    assert_eq!(status, 200);

    // A replica whose lease expired is not waited for.
    let expired = (redis_ms() - 1).to_string();
    let _: () = redis.cmd(&["HSET", ACKS, "slow", &format!("0-1 {expired}")]);
    let status = tokio::time::timeout(Duration::from_secs(10), a.revoke(&token("bob")))
        .await
        .expect("not held up by an expired lease");
    assert_eq!(status.status(), 200);
}

/// A data loss with the mirror on: no revoked token is ever accepted while the replicas notice
/// it (the mirror still holds every revocation), and then every token issued before the loss is
/// inactive, on every replica, as without the mirror.
async fn a_lost_store_never_reactivates_a_revoked_token_with_the_mirror_on(
    lose: impl FnOnce(&mut TestRedis),
) {
    let mut redis = TestRedis::start_ephemeral();
    let a = replica_on(&redis).await;
    let b = replica_on(&redis).await;
    for app in [&a, &b] {
        mirror_serves(app, &redis).await;
    }
    let now = introspectd::clock::unix_now();
    let revoked = token_with("alice", json!({ "iat": now - 5 }));
    let other = token_with("bob", json!({ "iat": now - 5 }));
    assert_eq!(a.revoke(&revoked).await.status(), 200);
    b.assert_active(&other).await;

    lose(&mut redis);

    let deadline = Instant::now() + Duration::from_secs(10);
    for app in [&a, &b] {
        loop {
            app.assert_inactive(&revoked).await;
            if app.introspect_json(&other).await["active"] == false {
                break;
            }
            assert!(Instant::now() < deadline, "the loss went unnoticed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(app.metric("introspectd_store_data_loss_total").await, 1.0);
    }
    // The new marker's installation is recorded: acknowledgements from before it are gone.
    let installed: bool = redis.cmd(&["HEXISTS", ACKS, "_installed"]);
    assert!(installed);
    // Tokens issued from the loss on are fine, through the reloaded mirrors, and a revocation
    // after the loss holds on both.
    let not_before = a
        .metric("introspectd_store_global_not_before_seconds")
        .await as i64;
    let fresh = token_with("carol", json!({ "iat": not_before }));
    for app in [&a, &b] {
        mirror_serves(app, &redis).await;
        app.assert_active(&fresh).await;
        app.assert_inactive(&revoked).await;
    }
    assert_eq!(b.revoke(&fresh).await.status(), 200);
    a.assert_inactive(&fresh).await;
}

#[tokio::test]
async fn a_flushed_store_never_reactivates_a_revoked_token_with_the_mirror_on() {
    a_lost_store_never_reactivates_a_revoked_token_with_the_mirror_on(|redis| {
        let _: () = redis.cmd(&["FLUSHALL"]);
    })
    .await;
}

#[tokio::test]
async fn a_restart_without_persistence_never_reactivates_a_revoked_token_with_the_mirror_on() {
    a_lost_store_never_reactivates_a_revoked_token_with_the_mirror_on(TestRedis::restart).await;
}

/// A Redis restart that lost the end of its AOF (as `appendfsync everysec` may after a crash, and
/// like a failover to a replica that lags): the revocations it lost are lost as without the
/// mirror, but one made after the restart is refused by every replica at once, even by a replica
/// whose lease began before the restart and whose latest acknowledgements the restart lost: for
/// a lease after a restart, a revocation waits out the lease instead of relying on them.
#[tokio::test]
async fn after_a_restart_that_lost_the_end_of_the_aof_a_new_revocation_holds_everywhere() {
    let mut redis = TestRedis::start_persistent_with(&["--appendfsync", "always"]);
    let long_lease = |redis: &TestRedis| {
        let mut settings = test_settings(Backend::Redis, Some(&redis.url()));
        // Long enough that B's lease from before the restart is surely still running.
        settings.store.mirror_lease_ms = 5_000;
        TestApp::spawn_settings(settings)
    };
    let a = long_lease(&redis).await;
    let b = long_lease(&redis).await;
    for app in [&a, &b] {
        mirror_serves(app, &redis).await;
    }
    let kept = token("kept");
    assert_eq!(a.revoke(&kept).await.status(), 200);
    let snapshot = redis.snapshot();
    assert_eq!(a.revoke(&token("lost")).await.status(), 200);
    b.assert_inactive(&kept).await;

    redis.restart_from(&snapshot);
    // As if every acknowledgement had been lost with the end of the AOF.
    let acks: Vec<String> = redis.cmd(&["HKEYS", ACKS]);
    for field in acks.iter().filter(|f| !f.starts_with('_')) {
        let _: () = redis.cmd(&["HDEL", ACKS, field]);
    }
    let fresh = token("after-the-restart");
    let deadline = Instant::now() + Duration::from_secs(30);
    while a.revoke(&fresh).await.status() != 200 {
        assert!(Instant::now() < deadline, "revocations never recovered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.assert_inactive(&fresh).await;
    for app in [&a, &b] {
        app.assert_inactive(&kept).await;
    }
}

/// After a data loss the acknowledgements of leases still running are gone with it. So for a
/// lease's length after the generation marker is installed, a revocation does not rely on the
/// acknowledgements and waits out the lease; afterwards it relies on them again.
#[tokio::test]
async fn right_after_the_marker_is_installed_a_revocation_waits_out_the_lease() {
    let redis = TestRedis::start();
    let mut settings = test_settings(Backend::Redis, Some(&redis.url()));
    settings.store.mirror_lease_ms = 30_000;
    let a = TestApp::spawn_settings(settings).await;
    mirror_serves(&a, &redis).await;
    // No other replica acknowledged anything: only the installation time holds the answer.
    let now_ms = redis_ms(&redis);
    let _: () = redis.cmd(&["HSET", ACKS, "_installed", &now_ms.to_string()]);
    let held = revoke_in_background(&a, token("alice"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !held.is_finished(),
        "answered on acknowledgements that may have been lost"
    );
    held.abort();
    let long_ago = (now_ms - 40_000).to_string();
    let _: () = redis.cmd(&["HSET", ACKS, "_installed", &long_ago]);
    let answered = tokio::time::timeout(Duration::from_secs(10), a.revoke(&token("bob")))
        .await
        .expect("once a lease has passed since the installation, acknowledgements count");
    assert_eq!(answered.status(), 200);
}

/// Each stream entry names the one before it. An entry that follows the last one read is
/// applied; one that names an entry the replica never read (lost in a failover to a replica
/// that lags, or trimmed) makes it load the stream again before it acknowledges anything.
#[tokio::test]
async fn an_entry_that_does_not_follow_the_last_one_read_makes_the_replica_reload() {
    let redis = TestRedis::start();
    let a = replica_on(&redis).await;
    mirror_serves(&a, &redis).await;
    let revoked = token("alice");
    assert_eq!(a.revoke(&revoked).await.status(), 200);
    let last = || -> String {
        let entries: Vec<(String, Vec<String>)> =
            redis.cmd(&["XREVRANGE", STREAM, "+", "-", "COUNT", "1"]);
        entries[0].0.clone()
    };
    let until = (redis_ms(&redis) + 60_000).to_string();
    let loads = redis.calls_of("xrange");
    let follows: String = redis.cmd(&[
        "XADD",
        STREAM,
        "*",
        "prev",
        &last(),
        "key",
        "k1",
        "until",
        &until,
    ]);
    read_up_to(&redis, &follows).await;
    assert_eq!(redis.calls_of("xrange"), loads, "reloaded with no gap");

    let gap: String = redis.cmd(&[
        "XADD", STREAM, "*", "prev", "1-1", "key", "k2", "until", &until,
    ]);
    read_up_to(&redis, &gap).await;
    assert!(redis.calls_of("xrange") > loads, "a gap went unnoticed");
    mirror_serves(&a, &redis).await;
    a.assert_inactive(&revoked).await;
}

/// A replica that is gone leaves its acknowledgement behind; replicas sweep the ones whose lease
/// ended long ago when they load, and keep the live ones.
#[tokio::test]
async fn acknowledgements_of_replicas_long_gone_are_swept() {
    let redis = TestRedis::start();
    let _: () = redis.cmd(&["HSET", ACKS, "gone", "0-1 1"]);
    let _: () = redis.cmd(&["HSET", ACKS, "garbled", "x"]);
    let a = replica_on(&redis).await;
    mirror_serves(&a, &redis).await;
    let mut fields: Vec<String> = redis.cmd(&["HKEYS", ACKS]);
    // The live replica's alone, beside the hash's own bookkeeping.
    fields.retain(|f| !f.starts_with('_'));
    assert_eq!(fields.len(), 1, "{fields:?}");
    assert!(!fields.contains(&"gone".to_owned()) && !fields.contains(&"garbled".to_owned()));
}
