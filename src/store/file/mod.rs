//! The file store: durable on one node, without Redis. A redb file (disk.rs) holds every
//! revocation; the working set lives in memory (the memory store's map, loaded at start-up), so
//! a check never touches the disk. Every write goes through one writer thread (writer.rs) that
//! commits whole batches durably (group commit) and answers each revocation only once its
//! commit is fsynced. One process per file (redb's lock); a file it cannot read stops start-up
//! instead of starting empty.

mod disk;
mod writer;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;

use tokio::sync::oneshot;

use super::memory::MemoryStore;
use super::{Lookup, LookupKeys, NotBefore, Raised, StoreError, Unfit};
use crate::clock::unix_now_ms;
use crate::metrics::Metrics;
use disk::Disk;
use writer::{Done, Job, Shared, Write};

#[derive(Clone)]
pub struct FileStore {
    shared: Arc<Shared>,
    jobs: Sender<Job>,
    address: Arc<str>,
}

impl FileStore {
    /// Opens (or creates) the file, loads its live entries and starts the writer. The error is
    /// the one line naming what is wrong with the file.
    pub fn open(path: &Path, metrics: Arc<Metrics>) -> Result<FileStore, String> {
        let disk = Disk::open(path)?;
        let (entries, global_not_before) = disk
            .load(unix_now_ms())
            .map_err(|e| disk::describe(&redb::DatabaseError::Storage(storage(e)), path))?;
        let memory = MemoryStore::start();
        let loaded = entries.len();
        memory.apply(
            entries
                .into_iter()
                .map(|(key, value, deadline)| (key, Some((value, deadline)))),
        );
        if global_not_before > 0 {
            metrics.store_data_loss_seen(global_not_before);
        }
        let shared = Arc::new(Shared {
            memory,
            global_not_before: AtomicI64::new(global_not_before),
            failing: AtomicBool::new(false),
            metrics,
        });
        let (jobs, queue) = channel();
        let for_writer = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("introspectd-file-store".into())
            .spawn(move || writer::run(disk, queue, for_writer))
            .map_err(|e| format!("cannot start the file store's writer: {e}"))?;
        tracing::info!(path = %path.display(), loaded, "file store opened");
        Ok(FileStore {
            shared,
            jobs,
            address: Arc::from(path.display().to_string()),
        })
    }

    /// From memory alone: no disk access on the hot path.
    pub fn lookup(&self, keys: LookupKeys<'_>) -> Result<Lookup, StoreError> {
        let mut found = self.shared.memory.lookup(keys)?;
        found.global_not_before = self.shared.global_not_before.load(Ordering::Relaxed);
        Ok(found)
    }

    pub async fn revoke_token(&self, key: &str, expires_at_ms: i64) -> Result<(), StoreError> {
        self.send(Write::Token {
            key: key.to_owned(),
            until_ms: expires_at_ms,
        })
        .await
        .map(|_| ())
    }

    pub async fn revoke_before(&self, request: NotBefore<'_>) -> Result<Raised, StoreError> {
        let done = self
            .send(Write::Before {
                key: request.key.to_owned(),
                ttl_secs: request.ttl_secs,
                at: request.at,
                once: request.once.map(|(m, ttl)| (m.to_owned(), ttl)),
            })
            .await?;
        match done {
            Done::Raised(raised) => Ok(raised),
            _ => Err(StoreError::Unavailable("unexpected answer from the writer")),
        }
    }

    pub async fn lift(&self, key: &str, once: Option<(&str, u64)>) -> Result<bool, StoreError> {
        let done = self
            .send(Write::Lift {
                key: key.to_owned(),
                once: once.map(|(m, ttl)| (m.to_owned(), ttl)),
            })
            .await?;
        match done {
            Done::Lifted(written) => Ok(written),
            _ => Err(StoreError::Unavailable("unexpected answer from the writer")),
        }
    }

    /// Fit to serve when a durable commit goes through now.
    pub async fn readiness(&self) -> Result<(), Unfit> {
        self.send(Write::Probe)
            .await
            .map(|_| ())
            .map_err(Unfit::Unreachable)
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    async fn send(&self, write: Write) -> Result<Done, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { write, reply })
            .map_err(|_| StoreError::Unavailable("the file store's writer stopped"))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the file store's writer stopped"))?
    }
}

/// A redb error as the storage error it wraps (for the one-line description).
fn storage(error: redb::Error) -> redb::StorageError {
    match error {
        redb::Error::Corrupted(why) => redb::StorageError::Corrupted(why),
        redb::Error::Io(io) => redb::StorageError::Io(io),
        other => redb::StorageError::Corrupted(other.to_string()),
    }
}
