//! The file store's one writer: a thread that takes every write from a queue, applies a whole
//! batch of them in one durable redb commit (group commit: concurrent revocations share one
//! fsync), then updates the in-memory working set and answers each caller. It also sweeps
//! expired entries in bounded batches, and notices a file that vanished or was replaced.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::Durability;
use tokio::sync::oneshot;

use super::disk::{identity, Changes, Disk};
use crate::clock::{unix_now, unix_now_ms};
use crate::metrics::Metrics;
use crate::store::memory::MemoryStore;
use crate::store::{Raised, StoreError};

/// Writes taken in one commit at most.
const MAX_BATCH: usize = 1024;
/// Expired entries deleted per sweep commit.
const SWEEP_BATCH: usize = 10_000;
/// How often the writer sweeps and checks that its file is still there when idle.
const TICK: Duration = Duration::from_secs(1);
/// The file is compacted (its free pages returned, so its size tracks the live entries) once
/// the sweep has deleted this many entries, or half the live ones if more, since the last time.
const COMPACT_AFTER: usize = 10_000;

pub enum Write {
    Token {
        key: String,
        until_ms: i64,
    },
    Before {
        key: String,
        ttl_secs: u64,
        at: Option<i64>,
        once: Option<(String, u64)>,
    },
    Lift {
        key: String,
        once: Option<(String, u64)>,
    },
    /// A durable commit of nothing: readiness proves the file takes writes.
    Probe,
}

pub enum Done {
    Written,
    Raised(Raised),
    Lifted(bool),
}

pub struct Job {
    pub write: Write,
    pub reply: oneshot::Sender<Result<Done, StoreError>>,
}

/// What the writer shares with the store.
pub struct Shared {
    pub memory: MemoryStore,
    /// Every token issued before this (unix seconds) is inactive: the file was lost once.
    pub global_not_before: AtomicI64,
    /// The last commit failed (a full disk, an unwritable file): readiness fails until one
    /// succeeds.
    pub failing: AtomicBool,
    pub metrics: Arc<Metrics>,
}

pub fn run(mut disk: Disk, jobs: Receiver<Job>, shared: Arc<Shared>) {
    let mut last_tick = Instant::now();
    let mut swept_since_compaction = 0;
    loop {
        let first = match jobs.recv_timeout(TICK) {
            Ok(job) => Some(job),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if let Some(first) = first {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            commit_batch(&disk, batch, &shared);
        }
        if last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            check_identity(&mut disk, &shared);
            match disk.sweep(unix_now_ms(), SWEEP_BATCH) {
                Ok(removed) => swept_since_compaction += removed,
                Err(error) => {
                    tracing::warn!(%error, "the file store's sweep failed; it is retried")
                }
            }
            if swept_since_compaction >= COMPACT_AFTER.max(shared.memory.len() / 2) {
                swept_since_compaction = 0;
                compact(&mut disk);
            }
        }
    }
}

/// Computes every write of the batch against the working set (and the batch's own earlier
/// writes), commits them durably at once, then applies them in memory and answers.
fn commit_batch(disk: &Disk, batch: Vec<Job>, shared: &Shared) {
    let now = unix_now();
    let now_ms = unix_now_ms();
    let mut changes = Changes::new();
    let current = |changes: &Changes, key: &str| match changes.get(key) {
        Some(Some((value, deadline))) if *deadline > now_ms => Some(*value),
        Some(_) => None,
        None => shared.memory.get(key),
    };
    let mut answers = Vec::with_capacity(batch.len());
    for job in batch {
        let done = match job.write {
            Write::Token { key, until_ms } => {
                changes.insert(key, Some((1, until_ms)));
                Done::Written
            }
            Write::Before {
                key,
                ttl_secs,
                at,
                once,
            } => {
                let value = current(&changes, &key).unwrap_or(0);
                let replayed = once
                    .as_ref()
                    .is_some_and(|(marker, _)| current(&changes, marker).is_some());
                if replayed {
                    Done::Raised(Raised {
                        not_before: value,
                        written: false,
                    })
                } else {
                    if let Some((marker, ttl_ms)) = once {
                        changes.insert(marker, Some((1, now_ms.saturating_add(ttl_ms as i64))));
                    }
                    let not_before = at.map_or(now, |at| at.min(now)).max(value);
                    let until = now_ms.saturating_add((ttl_secs as i64).saturating_mul(1000));
                    changes.insert(key, Some((not_before, until)));
                    Done::Raised(Raised {
                        not_before,
                        written: true,
                    })
                }
            }
            Write::Lift { key, once } => {
                let replayed = once
                    .as_ref()
                    .is_some_and(|(marker, _)| current(&changes, marker).is_some());
                if !replayed {
                    if let Some((marker, ttl_ms)) = once {
                        changes.insert(marker, Some((1, now_ms.saturating_add(ttl_ms as i64))));
                    }
                    changes.insert(key, None);
                }
                Done::Lifted(!replayed)
            }
            Write::Probe => Done::Written,
        };
        answers.push((job.reply, done));
    }
    match disk.commit(&changes, None, Durability::Immediate) {
        Ok(()) => {
            if shared.failing.swap(false, Ordering::SeqCst) {
                tracing::info!(path = %disk.path.display(), "the file store takes writes again");
            }
            shared.memory.apply(changes);
            for (reply, done) in answers {
                let _ = reply.send(Ok(done));
            }
        }
        Err(error) => {
            if !shared.failing.swap(true, Ordering::SeqCst) {
                tracing::error!(%error, path = %disk.path.display(), "the file store cannot write; revocations answer 503");
            }
            for (reply, _) in answers {
                let _ = reply.send(Err(StoreError::Unavailable(
                    "the store file could not be written",
                )));
            }
        }
    }
}

/// Returns the file's free pages to the file system. Writes wait meanwhile (it runs on the writer
/// thread), which is why it runs only after many deletions.
fn compact(disk: &mut Disk) {
    let before = std::fs::metadata(&disk.path).map_or(0, |m| m.len());
    let started = Instant::now();
    match disk.db.compact() {
        Ok(_) => {
            let after = std::fs::metadata(&disk.path).map_or(0, |m| m.len());
            tracing::info!(
                before,
                after,
                took_ms = started.elapsed().as_millis() as u64,
                "file store compacted"
            );
        }
        Err(error) => {
            tracing::warn!(%error, "the file store could not be compacted; it is retried later")
        }
    }
}

/// A file removed or replaced under the running store is a loss: every token issued before now
/// becomes inactive, and a new file is started at the path with the working set and that
/// global not-before, so nothing known is dropped and nothing is resurrected.
fn check_identity(disk: &mut Disk, shared: &Shared) {
    let now = identity(&disk.path);
    if now.is_some() && now == disk.identity {
        return;
    }
    // Counted once: while a new file cannot be started, the next ticks only retry.
    let not_before = if shared.failing.load(Ordering::SeqCst) && disk.identity.is_none() {
        shared.global_not_before.load(Ordering::SeqCst)
    } else {
        let not_before = unix_now();
        shared
            .global_not_before
            .fetch_max(not_before, Ordering::SeqCst);
        shared.metrics.store_data_loss(not_before);
        tracing::error!(
            path = %disk.path.display(),
            not_before,
            "the file store's file vanished or was replaced; every token issued before not_before is now inactive"
        );
        not_before
    };
    let path = disk.path.clone();
    // The old file handle (and its lock) goes with the old database.
    let replaced = Disk::open(&path).and_then(|fresh| {
        let changes: Changes = shared
            .memory
            .snapshot()
            .into_iter()
            .map(|(key, value, deadline)| (key, Some((value, deadline))))
            .collect();
        fresh
            .commit(&changes, Some(not_before), Durability::Immediate)
            .map_err(|e| e.to_string())?;
        Ok(fresh)
    });
    match replaced {
        Ok(fresh) => *disk = fresh,
        Err(error) => {
            shared.failing.store(true, Ordering::SeqCst);
            disk.identity = None;
            tracing::error!(%error, "the file store cannot start a new file; revocations answer 503");
        }
    }
}
