//! The file store with the real binary: revocations survive SIGKILL; one process per file; a
//! file it cannot read, a directory it cannot write and a full disk each get one clear error,
//! and nothing is lost or resurrected.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{hs_config, mint, serve, start_and_fail, Dir, Server, CLIENT_SECRET};

/// A config on the file store at `path`.
fn file_config(path: &Path) -> String {
    hs_config()
        + &format!(
            "[store]\nbackend = \"file\"\npath = \"{}\"\n",
            path.display()
        )
}

fn kill(mut server: Server) {
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

async fn revoke(client: &reqwest::Client, base: &str, token: &str) -> u16 {
    client
        .post(format!("{base}/revoke"))
        .basic_auth("gw", Some(CLIENT_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

async fn is_active(client: &reqwest::Client, base: &str, token: &str) -> bool {
    let res = client
        .post(format!("{base}/introspect"))
        .basic_auth("gw", Some(CLIENT_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<serde_json::Value>().await.unwrap()["active"] == true
}

#[tokio::test]
async fn acknowledged_revocations_survive_sigkill_at_any_moment() {
    let dir = Dir::new();
    let path = dir.0.join("data/revocations.redb");
    let config = dir.write("c.toml", &file_config(&path));
    let client = reqwest::Client::new();
    // Tokens minted up front (minting runs the binary): enough for every round.
    let tokens: Vec<String> = (0..400).map(|i| mint(&config, &format!("u{i}"))).collect();
    let mut acknowledged: Vec<String> = Vec::new();
    let mut next = 0;
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for round in 0..20 {
        let server = serve(&config, &[]);
        // Everything acknowledged before is still revoked after the restart.
        for token in &acknowledged {
            assert!(
                !is_active(&client, &server.base, token).await,
                "round {round}: an acknowledged revocation was lost"
            );
        }
        // Four clients revoke at once; the server is SIGKILLed at a random moment.
        let batch: Vec<String> = tokens[next..next + 20].to_vec();
        next += 20;
        let mut tasks = tokio::task::JoinSet::new();
        for chunk in batch.chunks(5) {
            let (client, base, chunk) = (client.clone(), server.base.clone(), chunk.to_vec());
            tasks.spawn(async move {
                let mut acked = Vec::new();
                for token in chunk {
                    if revoke(&client, &base, &token).await == 200 {
                        acked.push(token);
                    }
                }
                acked
            });
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(seed % 40)).await;
        kill(server);
        while let Some(acked) = tasks.join_next().await {
            acknowledged.extend(acked.unwrap());
        }
    }
    let server = serve(&config, &[]);
    for token in &acknowledged {
        assert!(!is_active(&client, &server.base, token).await);
    }
    println!(
        "file store: 20 SIGKILLs, {} acknowledged revocations, 0 lost",
        acknowledged.len()
    );
    assert!(
        !acknowledged.is_empty(),
        "no revocation was ever acknowledged"
    );
}

#[tokio::test]
async fn a_second_process_on_the_same_file_fails_with_one_line() {
    let dir = Dir::new();
    let path = dir.0.join("revocations.redb");
    let config = file_config(&path);
    let first = serve(&dir.write("c.toml", &config), &[]);
    let (out, stderr) = start_and_fail(&config, &[]);
    assert!(!out.status.success());
    let line = stderr.trim();
    assert_eq!(line.lines().count(), 1, "{stderr}");
    assert!(line.contains("store.path"), "{line}");
    assert!(line.contains("another introspectd"), "{line}");
    // The first one is unharmed.
    let client = reqwest::Client::new();
    let token = mint(&dir.0.join("c.toml"), "alice");
    assert_eq!(revoke(&client, &first.base, &token).await, 200);
    assert!(!is_active(&client, &first.base, &token).await);
}

/// A token of the test configuration's issuer, made here (minting through the binary for
/// thousands of tokens would take long).
fn token(sub: &str) -> String {
    token_issued(sub, introspectd::clock::unix_now())
}

fn token_issued(sub: &str, iat: i64) -> String {
    let now = introspectd::clock::unix_now();
    let claims = serde_json::json!({"sub": sub, "jti": uuid::Uuid::new_v4().to_string(),
        "iat": iat, "exp": now + 600, "iss": "https://issuer.test", "aud": "api"});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(crate::support::SECRET.as_bytes()),
    )
    .unwrap()
}

/// A store with one revocation in it, stopped.
async fn store_with_a_revocation(dir: &Dir) -> (PathBuf, String) {
    let path = dir.0.join("revocations.redb");
    let config = dir.write("c.toml", &file_config(&path));
    let token = mint(&config, "alice");
    let server = serve(&config, &[]);
    assert_eq!(
        revoke(&reqwest::Client::new(), &server.base, &token).await,
        200
    );
    server.stop();
    (path, token)
}

#[tokio::test]
async fn a_file_it_cannot_read_stops_start_up_instead_of_starting_empty() {
    let dir = Dir::new();
    let (path, _) = store_with_a_revocation(&dir).await;
    let whole = std::fs::read(&path).unwrap();
    for (what, bytes) in [
        ("truncated", whole[..whole.len() / 2].to_vec()),
        ("empty", Vec::new()),
        ("garbage", b"not a database at all, just bytes".repeat(100)),
    ] {
        std::fs::write(&path, &bytes).unwrap();
        let (out, stderr) = start_and_fail(&file_config(&path), &[]);
        assert!(!out.status.success(), "{what}");
        let line = stderr.trim();
        assert_eq!(line.lines().count(), 1, "{what}: {stderr}");
        assert!(
            line.starts_with("config error: store.path: "),
            "{what}: {line}"
        );
        assert!(line.contains("move it away"), "{what}: {line}");
        // Refused, not rewritten: the bytes are as they were.
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{what}");
    }
}

#[tokio::test]
async fn a_directory_it_cannot_create_stops_start_up() {
    let dir = Dir::new();
    // A regular file where the directory should be: no user, root included, can create it.
    let blocker = dir.write("not-a-directory", "x");
    let (out, stderr) = start_and_fail(&file_config(&blocker.join("revocations.redb")), &[]);
    assert!(!out.status.success());
    let line = stderr.trim();
    assert_eq!(line.lines().count(), 1, "{stderr}");
    assert!(
        line.starts_with("config error: store.path: cannot create the directory"),
        "{line}"
    );
}

/// A full disk while running: the file may not grow past a size limit (the shell's `ulimit
/// -f`, with SIGXFSZ ignored so that writes fail with EFBIG, as on a full disk). Revocations then
/// answer 503 and readiness fails; what was acknowledged before stays revoked.
#[tokio::test]
async fn a_full_disk_answers_503_and_loses_nothing_acknowledged() {
    let dir = Dir::new();
    let (path, before) = store_with_a_revocation(&dir).await;
    let size = std::fs::metadata(&path).unwrap().len();
    let config = dir.write("c.toml", &file_config(&path));
    // In 512-byte blocks: room for the file as it is, and not a page more.
    let blocks = size / 512 + 1;
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" --config \"$1\""
        ))
        .arg(crate::support::BIN)
        .arg(&config)
        .env_clear()
        .env("INTROSPECTD__SERVER__LISTEN", "127.0.0.1:0")
        .env("INTROSPECTD__SERVER__SHUTDOWN_DELAY_SECS", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let limited = Server::attach(child);
    let base = limited.base.clone();
    let client = reqwest::Client::new();
    assert!(!is_active(&client, &base, &before).await);
    // Revoke, 32 at a time, until the file cannot grow.
    let mut refused = 0;
    let mut acked = Vec::new();
    for round in 0..500 {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..32 {
            let (client, base) = (client.clone(), base.clone());
            let token = token(&format!("full-{round}-{i}"));
            tasks.spawn(async move { (revoke(&client, &base, &token).await, token) });
        }
        while let Some(done) = tasks.join_next().await {
            match done.unwrap() {
                (200, token) => acked.push(token),
                (503, _) => refused += 1,
                (other, _) => panic!("unexpected {other}"),
            }
        }
        if refused > 0 {
            break;
        }
    }
    assert!(
        refused > 0,
        "the file never filled up (limit {blocks} blocks)"
    );
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let reason: serde_json::Value = ready.json().await.unwrap();
    assert!(
        reason["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("store")),
        "{reason}"
    );
    for token in acked.iter().chain([&before]) {
        assert!(!is_active(&client, &base, token).await);
    }
    kill(limited);
    // Restarted without the limit: every acknowledged revocation is there.
    let server = serve(&config, &[]);
    for token in acked.iter().chain([&before]) {
        assert!(!is_active(&client, &server.base, token).await);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while client
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap()
        .status()
        != 200
    {
        assert!(
            Instant::now() < deadline,
            "not ready after the disk had room"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A file removed while the store runs is a loss: older tokens become inactive, and the new
/// file carries that and every revocation known, across a SIGKILL and a restart.
#[tokio::test]
async fn a_file_removed_while_running_is_a_loss_that_a_restart_remembers() {
    let dir = Dir::new();
    let path = dir.0.join("revocations.redb");
    let config = dir.write("c.toml", &file_config(&path));
    let client = reqwest::Client::new();
    let revoked = token("alice");
    let now = introspectd::clock::unix_now();
    let older = token_issued("bob", now - 5);
    let server = serve(&config, &[]);
    assert_eq!(revoke(&client, &server.base, &revoked).await, 200);
    assert!(is_active(&client, &server.base, &older).await);
    std::fs::remove_file(&path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while is_active(&client, &server.base, &older).await {
        assert!(Instant::now() < deadline, "the loss went unnoticed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    kill(server);
    let server = serve(&config, &[]);
    assert!(!is_active(&client, &server.base, &revoked).await);
    assert!(!is_active(&client, &server.base, &older).await);
    // Issued now, not before the loss: active.
    assert!(is_active(&client, &server.base, &token("carol")).await);
}

/// A directory made read-only: a read-only bind mount of itself when running as root (root
/// ignores permission bits), mode 0555 otherwise. Unmounted on drop.
struct ReadOnly {
    path: PathBuf,
    mounted: bool,
}

impl ReadOnly {
    fn make(path: PathBuf) -> Option<ReadOnly> {
        std::fs::create_dir_all(&path).unwrap();
        let uid = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o555)).ok()?;
            return Some(ReadOnly {
                path,
                mounted: false,
            });
        }
        let mount = |args: &[&str]| {
            Command::new("mount")
                .args(args)
                .arg(&path)
                .arg(&path)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !mount(&["--bind"]) {
            return None;
        }
        let ro = ReadOnly {
            path: path.clone(),
            mounted: true,
        };
        mount(&["-o", "remount,bind,ro"]).then_some(ro)
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.path).status();
        }
    }
}

#[tokio::test]
async fn a_read_only_directory_stops_start_up() {
    let dir = Dir::new();
    let Some(read_only) = ReadOnly::make(dir.0.join("read-only")) else {
        println!("skipped: this machine cannot make a read-only directory (no mount, root)");
        return;
    };
    let (out, stderr) = start_and_fail(&file_config(&read_only.path.join("revocations.redb")), &[]);
    assert!(!out.status.success());
    let line = stderr.trim();
    assert_eq!(line.lines().count(), 1, "{stderr}");
    assert!(
        line.starts_with("config error: store.path: cannot open"),
        "{line}"
    );
    assert!(
        line.contains("Read-only file system") || line.contains("Permission denied"),
        "{line}"
    );
}
