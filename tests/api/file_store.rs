//! The file store in-process: entries expire at their deadline and leave the file after the
//! sweep, and a restart reads back what is live; a file removed while the store runs is a loss
//! (every older token inactive, a new file started with everything known).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use introspectd::clock::{unix_now, unix_now_ms};
use introspectd::config::Backend;
use introspectd::metrics::Metrics;
use introspectd::store::{FileStore, LookupKeys};
use serde_json::json;

use crate::helpers::{test_settings, token, token_with, TempDir, TestApp};

fn keys(key: &str) -> LookupKeys<'_> {
    LookupKeys {
        token: key,
        ..LookupKeys::default()
    }
}

/// The entries the file holds, read with redb itself once the store has let go of it.
async fn entries_in_file(path: &Path) -> usize {
    use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};
    const ENTRIES: TableDefinition<&str, (i64, i64)> = TableDefinition::new("entries");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match redb::Database::open(path) {
            Ok(db) => {
                let read = db.begin_read().unwrap();
                return read.open_table(ENTRIES).unwrap().len().unwrap() as usize;
            }
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                assert!(
                    Instant::now() < deadline,
                    "the store never let go of its file"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(other) => panic!("{other}"),
        }
    }
}

#[tokio::test]
async fn entries_expire_at_their_deadline_and_leave_the_file_after_the_sweep() {
    let dir = TempDir::new();
    let path = dir.0.join("revocations.redb");
    let metrics = Arc::new(Metrics::new(Backend::File));
    let store = FileStore::open(&path, Arc::clone(&metrics)).unwrap();
    let deadline_ms = unix_now_ms() + 400;
    store.revoke_token("short", deadline_ms).await.unwrap();
    store
        .revoke_token("long", unix_now_ms() + 3_600_000)
        .await
        .unwrap();
    assert!(store.lookup(keys("short")).unwrap().revoked);
    while unix_now_ms() < deadline_ms {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !store.lookup(keys("short")).unwrap().revoked,
        "expired at its deadline"
    );
    assert!(store.lookup(keys("long")).unwrap().revoked);
    // The sweep runs every second; then the file holds the live entry only.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    drop(store);
    assert_eq!(entries_in_file(&path).await, 1);
    // Read back: the live entry is there, the expired one is not.
    let store = FileStore::open(&path, metrics).unwrap();
    assert!(store.lookup(keys("long")).unwrap().revoked);
    assert!(!store.lookup(keys("short")).unwrap().revoked);
}

/// After many entries expired, the sweep deletes them and the file is compacted: its size
/// follows the live entries down.
#[tokio::test]
async fn the_file_shrinks_when_its_entries_expire() {
    let dir = TempDir::new();
    let path = dir.0.join("revocations.redb");
    let store = FileStore::open(&path, Arc::new(Metrics::new(Backend::File))).unwrap();
    // Far enough ahead that the file is measured full before anything expires.
    let soon = unix_now_ms() + 10_000;
    let mut tasks = tokio::task::JoinSet::new();
    // 512 writers: large group commits, so the writing takes little of the entries' life.
    for w in 0..512 {
        let store = store.clone();
        tasks.spawn(async move {
            for i in 0..20 {
                let key = format!("expiring-{w}-{i}-{}", "x".repeat(64));
                store.revoke_token(&key, soon).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    store
        .revoke_token("kept", unix_now_ms() + 3_600_000)
        .await
        .unwrap();
    let full = std::fs::metadata(&path).unwrap().len();
    assert!(
        unix_now_ms() < soon,
        "writing took longer than the entries live"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let size = std::fs::metadata(&path).unwrap().len();
        if size < full / 2 {
            break;
        }
        assert!(Instant::now() < deadline, "still {size} bytes (was {full})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(store.lookup(keys("kept")).unwrap().revoked);
    drop(store);
    // What is left in the file is read back.
    let deadline = Instant::now() + Duration::from_secs(5);
    let store = loop {
        match FileStore::open(&path, Arc::new(Metrics::new(Backend::File))) {
            Ok(store) => break store,
            Err(why) if why.contains("another introspectd") => {
                assert!(
                    Instant::now() < deadline,
                    "the store never let go of its file"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(why) => panic!("{why}"),
        }
    };
    assert!(store.lookup(keys("kept")).unwrap().revoked);
}

#[tokio::test]
async fn a_file_removed_while_running_is_a_loss_and_a_new_file_keeps_what_was_known() {
    let settings = test_settings(Backend::File, None);
    let path = settings.store.path.clone();
    let app = TestApp::spawn_settings(settings).await;
    let revoked = token("alice");
    let older = token_with("bob", json!({"iat": unix_now() - 5}));
    assert_eq!(app.revoke(&revoked).await.status(), 200);
    app.assert_active(&older).await;
    assert_eq!(app.metric("introspectd_store_data_loss_total").await, 0.0);

    std::fs::remove_file(&path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.introspect_json(&older).await["active"] == true {
        assert!(Instant::now() < deadline, "the loss went unnoticed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.metric("introspectd_store_data_loss_total").await, 1.0);
    let not_before = app
        .metric("introspectd_store_global_not_before_seconds")
        .await as i64;
    app.assert_inactive(&revoked).await;
    app.assert_active(&token_with("carol", json!({"iat": not_before})))
        .await;
    assert!(path.exists(), "a new file was started");
    assert_eq!(app.get("/readyz").send().await.unwrap().status(), 200);
    // A restart reads both back: tests/cli/file_store.rs (a second store on the file needs
    // this one gone, which an in-process app is not until the test ends).
}
