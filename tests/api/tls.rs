//! Managed Redis (issue 15): `rediss://` with a private CA, mutual TLS, an ACL user whose password
//! comes from a file, and certificate files rotated without a restart. Real redis-servers with a
//! TLS port beside the plain one (the harness administers them through the plain port), and a PKI
//! made by openssl for each test.

use std::time::{Duration, Instant};

use introspectd::config::{Backend, RedisMode, Secret, Settings};

use crate::helpers::{free_port, test_settings, token, TempDir, TestApp, TestRedis};
use crate::redis_topologies::follows_the_promoted_master;
use crate::sentinel_support::{force_failover, start_sentinels};
use crate::support::wait_until;
use crate::tls_support::Pki;

struct TlsRedis {
    redis: TestRedis,
    tls_port: u16,
    pki: Pki,
    _dir: TempDir,
}

impl TlsRedis {
    /// A Redis whose TLS port presents `server`'s certificate, requiring client certificates or
    /// not.
    fn start(server: &str, client_certs: bool) -> TlsRedis {
        let dir = TempDir::new();
        let pki = Pki::generate(&dir.0);
        let tls_port = free_port();
        let redis =
            TestRedis::start_with_args(false, pki.redis_args(tls_port, server, client_certs));
        TlsRedis {
            redis,
            tls_port,
            pki,
            _dir: dir,
        }
    }

    fn settings(&self, tweak: impl FnOnce(&mut Settings, &Pki)) -> Settings {
        let url = format!("rediss://127.0.0.1:{}/0", self.tls_port);
        let mut settings = test_settings(Backend::Redis, Some(&url));
        settings.store.tls_ca_file = self.pki.file("ca.crt");
        tweak(&mut settings, &self.pki);
        settings
    }
}

async fn readiness(app: &TestApp) -> (u16, String) {
    let res = app.get("/readyz").send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// `/readyz` answers 503 with `description` in its reason, and the failure is counted under
/// `reason`. Returns the body.
async fn refused(app: &TestApp, reason: &str, description: &str) -> String {
    let (status, body) = readiness(app).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(description), "{body}");
    let series = format!("introspectd_store_errors_total{{reason=\"{reason}\"}}");
    assert!(app.metric(&series).await >= 1.0, "{series}");
    body
}

/// Checks, revocations and readiness all work through the TLS port.
async fn serves(app: &TestApp) {
    assert_eq!(readiness(app).await.0, 200);
    let t = token("alice");
    app.assert_active(&t).await;
    assert_eq!(app.revoke(&t).await.status(), 200);
    app.assert_inactive(&t).await;
}

#[tokio::test]
async fn rediss_with_a_private_ca_serves_checks_and_revocations() {
    let redis = TlsRedis::start("server", false);
    let app = TestApp::spawn_settings(redis.settings(|_, _| {})).await;
    serves(&app).await;
    // The entries went through the TLS port to the same server.
    let keys: Vec<String> = redis.redis.cmd(&["KEYS", "introspectd:{*}[jt]*"]);
    assert_eq!(keys.len(), 1);
}

#[tokio::test]
async fn mutual_tls_with_a_client_certificate() {
    let redis = TlsRedis::start("server", true);
    let app = TestApp::spawn_settings(redis.settings(|s, pki| {
        s.store.tls_cert_file = pki.file("client.crt");
        s.store.tls_key_file = pki.file("client.key");
    }))
    .await;
    serves(&app).await;
    // Without a client certificate the server refuses the connection: not ready.
    let without = TestApp::spawn_settings(redis.settings(|_, _| {})).await;
    refused(
        &without,
        "tls_client_certificate_required",
        "requires a client certificate",
    )
    .await;
}

#[tokio::test]
async fn an_acl_user_with_its_password_in_a_file() {
    let redis = TlsRedis::start("server", false);
    let _: () = redis.redis.cmd(&[
        "ACL",
        "SETUSER",
        "introspectd",
        "on",
        ">pw-from-a-file",
        "~introspectd:*",
        "+@all",
    ]);
    let _: () = redis.redis.cmd(&["ACL", "SETUSER", "default", "off"]);
    let dir = TempDir::new();
    let password = dir.0.join("password");
    std::fs::write(&password, "pw-from-a-file\n").unwrap();
    let app = TestApp::spawn_settings(redis.settings(|s, _| {
        s.store.redis_username = "introspectd".into();
        s.store.redis_password_file = password.to_str().unwrap().into();
    }))
    .await;
    serves(&app).await;
    // A wrong password: not ready, and the reason holds no password.
    let wrong = dir.0.join("wrong");
    std::fs::write(&wrong, "not-the-password").unwrap();
    let bad = TestApp::spawn_settings(redis.settings(|s, _| {
        s.store.redis_username = "introspectd".into();
        s.store.redis_password_file = wrong.to_str().unwrap().into();
    }))
    .await;
    let body = refused(&bad, "authentication", "wrong user name or password").await;
    assert!(!body.contains("not-the-password") && !body.contains("pw-from-a-file"));
}

/// The CA file is read again for every new connection: a replica that trusted the wrong CA
/// becomes ready once the right one is in the file, without a restart.
#[tokio::test]
async fn a_rotated_ca_file_is_picked_up_without_a_restart() {
    let redis = TlsRedis::start("server", false);
    let dir = TempDir::new();
    let ca = dir.0.join("ca.pem");
    std::fs::copy(redis.pki.file("other-ca.crt"), &ca).unwrap();
    let app = TestApp::spawn_settings(redis.settings(|s, _| {
        s.store.tls_ca_file = ca.to_str().unwrap().into();
    }))
    .await;
    refused(&app, "tls_certificate_not_trusted", "does not verify").await;
    std::fs::copy(redis.pki.file("ca.crt"), &ca).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while readiness(&app).await.0 != 200 {
        assert!(Instant::now() < deadline, "the rotated CA was never used");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    serves(&app).await;
}

/// A client certificate rotated on disk is presented by the next new connection.
#[tokio::test]
async fn a_rotated_client_certificate_is_picked_up_without_a_restart() {
    let redis = TlsRedis::start("server", true);
    let dir = TempDir::new();
    let (crt, key) = (dir.0.join("client.crt"), dir.0.join("client.key"));
    // First a certificate from a CA the server does not trust.
    std::fs::copy(redis.pki.file("stranger.crt"), &crt).unwrap();
    std::fs::copy(redis.pki.file("stranger.key"), &key).unwrap();
    let app = TestApp::spawn_settings(redis.settings(|s, _| {
        s.store.tls_cert_file = crt.to_str().unwrap().into();
        s.store.tls_key_file = key.to_str().unwrap().into();
    }))
    .await;
    refused(
        &app,
        "tls_client_certificate_rejected",
        "refused the client certificate",
    )
    .await;
    std::fs::copy(redis.pki.file("client.key"), &key).unwrap();
    std::fs::copy(redis.pki.file("client.crt"), &crt).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while readiness(&app).await.0 != 200 {
        assert!(
            Instant::now() < deadline,
            "the rotated certificate was never used"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    serves(&app).await;
}

/// A server certificate for another host name: not ready, with that reason.
#[tokio::test]
async fn a_server_certificate_for_another_name_is_refused() {
    let redis = TlsRedis::start("wrong-name", false);
    let app = TestApp::spawn_settings(redis.settings(|_, _| {})).await;
    refused(&app, "tls_hostname_mismatch", "not valid for the host name").await;
}

/// The minimal ACL that deploy/redis/README.md documents: exactly these commands, on keys under
/// the prefix. It is enough for checks, revocations, the mirror and readiness; without one
/// command, readiness fails and names it.
pub const MINIMAL_ACL: &[&str] = &[
    "resetkeys",
    "~introspectd:*",
    "resetchannels",
    "-@all",
    "+mget",
    "+get",
    "+set",
    "+eval",
    "+xadd",
    "+xinfo|stream",
    "+xread",
    "+xrange",
    "+exists",
    "+hset",
    "+hget",
    "+hgetall",
    "+hdel",
    "+info",
    "+time",
    "+wait",
    "+ping",
    "+unwatch",
];

fn set_user(redis: &TlsRedis, name: &str, rules: &[&str]) {
    let mut args = vec!["ACL", "SETUSER", name, "reset", "on", ">acl-password"];
    args.extend_from_slice(rules);
    let _: () = redis.redis.cmd(&args);
}

#[tokio::test]
async fn the_documented_minimal_acl_is_enough_and_each_command_in_it_is_needed() {
    let redis = TlsRedis::start("server", false);
    let dir = TempDir::new();
    let password = dir.0.join("password");
    std::fs::write(&password, "acl-password").unwrap();
    let as_user = |name: &str| {
        let name = name.to_owned();
        let password = password.to_str().unwrap().to_owned();
        redis.settings(move |s, _| {
            s.store.redis_username = name;
            s.store.redis_password_file = password;
        })
    };
    // The Redis guide documents exactly this ACL.
    let guide = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/redis/README.md"
    ))
    .unwrap();
    let documented = format!(
        "ACL SETUSER introspectd on >PASSWORD {}",
        MINIMAL_ACL.join(" ")
    );
    assert!(guide.contains(&documented), "{documented}");
    set_user(&redis, "minimal", MINIMAL_ACL);
    let app = TestApp::spawn_settings(as_user("minimal")).await;
    serves(&app).await;
    // The mirror follows the stream and answers checks with this ACL too.
    let deadline = Instant::now() + Duration::from_secs(10);
    while app
        .metric(r#"introspectd_mirror_state{state="current"}"#)
        .await
        != 1.0
    {
        assert!(Instant::now() < deadline, "the mirror never became current");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Without XADD (revocations and the stream), readiness names it.
    let without: Vec<&str> = MINIMAL_ACL
        .iter()
        .copied()
        .filter(|r| *r != "+xadd")
        .collect();
    set_user(&redis, "no-xadd", &without);
    let app = TestApp::spawn_settings(as_user("no-xadd")).await;
    refused(&app, "acl_no_permission", "may not run xadd").await;
    // Keys outside the prefix are not enough either.
    let mut elsewhere: Vec<&str> = MINIMAL_ACL.to_vec();
    elsewhere[1] = "~other:*";
    set_user(&redis, "elsewhere", &elsewhere);
    let app = TestApp::spawn_settings(as_user("elsewhere")).await;
    refused(&app, "acl_no_permission", "ACL user").await;
}

/// Cluster over TLS (`--tls-cluster yes`): TLS applies to every node the cluster discovers
/// (CLUSTER SLOTS names the TLS ports to a TLS client); revocations and checks on keys in every
/// master's slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_over_tls_serves_keys_on_every_master() {
    let dir = TempDir::new();
    let pki = Pki::generate(&dir.0);
    let tls_ports: Vec<u16> = (0..6).map(|_| free_port()).collect();
    let nodes = crate::support::start_cluster_with(false, 2000, |i| {
        let mut args = pki.redis_args(tls_ports[i], "server", false);
        args.extend(["--tls-cluster", "yes", "--tls-replication", "yes"].map(String::from));
        args
    });
    let mut settings = test_settings(Backend::Redis, None);
    settings.store.redis_mode = RedisMode::Cluster;
    settings.store.connect_timeout_ms = 2000;
    settings.store.ready_timeout_ms = 3000;
    settings.store.tls_ca_file = pki.file("ca.crt");
    settings.store.redis_urls = tls_ports
        .iter()
        .map(|p| Secret::new(format!("rediss://127.0.0.1:{p}")))
        .collect();
    let app = TestApp::spawn_settings(settings).await;
    assert_eq!(readiness(&app).await.0, 200);
    let tokens: Vec<String> = (0..40).map(|i| token(&format!("user-{i}"))).collect();
    for t in &tokens {
        assert_eq!(app.revoke(t).await.status(), 200);
        app.assert_inactive(t).await;
    }
    let masters: Vec<&TestRedis> = nodes
        .iter()
        .filter(|n| n.info("replication").contains("role:master"))
        .collect();
    assert_eq!(masters.len(), 3);
    for master in masters {
        let keys: i64 = master.cmd(&["DBSIZE"]);
        assert!(keys > 0, "a master holds no revocation");
    }
    app.assert_active(&token("someone-else")).await;
}

/// Sentinel over TLS with mutual TLS everywhere and credentials that differ: the data nodes
/// (TLS port, `--tls-replication yes`) take an ACL user `app`, the sentinels (TLS port, their
/// default user off) take `watcher`, each password from its own file. A forced failover is
/// followed over TLS, and every connection the service holds on the promoted master is `app`'s,
/// on the TLS port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_over_tls_follows_a_forced_failover() {
    let dir = TempDir::new();
    let pki = Pki::generate(&dir.0);
    let data_node = |tls_port: u16, extra: &[String]| {
        let mut args = pki.redis_args(tls_port, "server", true);
        args.extend(
            [
                "--tls-replication",
                "yes",
                "--repl-diskless-sync-delay",
                "0",
            ]
            .iter()
            .chain(&["--user", "app", "on", ">data-password", "~*", "&*", "+@all"])
            .map(|a| a.to_string()),
        );
        args.extend_from_slice(extra);
        TestRedis::start_with_args(false, args)
    };
    let (master_tls, replica_tls) = (free_port(), free_port());
    let master = data_node(master_tls, &[]);
    let replica = data_node(
        replica_tls,
        &[
            "--replicaof".into(),
            "127.0.0.1".into(),
            master_tls.to_string(),
        ],
    );
    wait_until("the replica link over TLS", Duration::from_secs(10), || {
        replica
            .info("replication")
            .contains("master_link_status:up")
    });
    let sentinel_tls: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let sentinels = start_sentinels(
        master_tls,
        |i| {
            // The data nodes' TLS settings, as configuration lines.
            let tls: Vec<String> = pki
                .redis_args(sentinel_tls[i], "server", true)
                .chunks(2)
                .map(|kv| format!("{} {}", kv[0].trim_start_matches("--"), kv[1]))
                .collect();
            format!(
                "{}\ntls-replication yes\n\
                 user default off\nuser watcher on >sentinel-password ~* &* +@all\n\
                 sentinel sentinel-user watcher\nsentinel sentinel-pass sentinel-password",
                tls.join("\n")
            )
        },
        "watcher:sentinel-password@",
    );
    std::fs::write(pki.file("data-password"), "data-password").unwrap();
    std::fs::write(pki.file("sentinel-password"), "sentinel-password\n").unwrap();

    let mut settings = test_settings(Backend::Redis, None);
    settings.store.redis_mode = RedisMode::Sentinel;
    settings.store.sentinel_master = "mymaster".into();
    settings.store.redis_urls = sentinel_tls
        .iter()
        .map(|p| Secret::new(format!("rediss://127.0.0.1:{p}")))
        .collect();
    settings.store.tls_ca_file = pki.file("ca.crt");
    settings.store.tls_cert_file = pki.file("client.crt");
    settings.store.tls_key_file = pki.file("client.key");
    settings.store.redis_username = "app".into();
    settings.store.redis_password_file = pki.file("data-password");
    settings.store.sentinel_username = "watcher".into();
    settings.store.sentinel_password_file = pki.file("sentinel-password");
    // Two TLS handshakes per connection (a sentinel, then the master) in a debug build.
    settings.store.connect_timeout_ms = 1000;
    settings.store.ready_timeout_ms = 3000;
    let app = TestApp::spawn_settings(settings).await;
    let (status, body) = readiness(&app).await;
    assert_eq!(status, 200, "{body}");
    let (revoked, active) = (token("alice"), token("bob"));
    assert_eq!(app.revoke(&revoked).await.status(), 200);
    app.assert_inactive(&revoked).await;
    let _: i64 = master.cmd(&["WAIT", "1", "2000"]);

    force_failover(&sentinels, &master, &replica, replica_tls);
    let unavailable = follows_the_promoted_master(&app, &master, &replica, &revoked, &active).await;
    let clients: String = replica.cmd(&["CLIENT", "LIST"]);
    let ours: Vec<&str> = clients
        .lines()
        .filter(|l| l.contains(" user=app "))
        .collect();
    assert!(!ours.is_empty(), "no connection as app: {clients}");
    let on_tls = format!(" laddr=127.0.0.1:{replica_tls} ");
    assert!(ours.iter().all(|l| l.contains(&on_tls)), "{clients}");
    println!("sentinel over TLS failover: {unavailable} revocations answered 503 meanwhile");
}
