//! The embedded store: a map whose entries expire on time like Redis TTLs, purged by a background
//! task that sleeps until the next expiry (after mini-redis `db.rs`). Per process: revocations are
//! neither shared between replicas nor kept across restarts.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Lookup, StoreError};
use crate::clock::{unix_now, unix_now_ms};

#[derive(Clone)]
pub struct MemoryStore {
    handle: Arc<CloseOnDrop>,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the purge task when an earlier expiry is added or the store is dropped.
    wake: Notify,
}

#[derive(Default)]
struct State {
    /// The live entries (and expired ones the purge task has not reached yet, which lookups
    /// skip by their deadline).
    entries: HashMap<String, Entry>,
    /// Every entry's deadline, in order, so the purge task finds the next one without a scan.
    expirations: BTreeSet<(Instant, String)>,
    /// Set when the last store handle is dropped: the purge task then ends.
    closed: bool,
}

struct Entry {
    /// 1 for a revoked token; the not_before (unix seconds) for a subject.
    value: i64,
    /// When the entry stops counting, on the monotonic clock.
    expires_at: Instant,
}

/// Closes the purge task when the last store handle goes away.
struct CloseOnDrop(Arc<Shared>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        lock(&self.0).closed = true;
        self.0.wake.notify_one();
    }
}

impl MemoryStore {
    /// Creates the store and spawns its purge task on the current tokio runtime; the task ends
    /// when the last clone of the store is dropped.
    pub fn start() -> MemoryStore {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Notify::new(),
        });
        tokio::spawn(purge_expired(Arc::clone(&shared)));
        MemoryStore {
            handle: Arc::new(CloseOnDrop(shared)),
        }
    }

    fn shared(&self) -> &Shared {
        &self.handle.0
    }

    pub fn lookup(&self, token_key: &str, subject_key: Option<&str>) -> Result<Lookup, StoreError> {
        let state = lock(self.shared());
        let now = Instant::now();
        let live = |key: &str| {
            state
                .entries
                .get(key)
                .filter(|e| e.expires_at > now)
                .map(|e| e.value)
        };
        Ok(Lookup {
            revoked: live(token_key).is_some(),
            subject_not_before: subject_key.and_then(live),
            // Process memory cannot lose data while the process lives.
            global_not_before: 0,
        })
    }

    /// Like Redis `PXAT`: the deadline is read against the wall clock once, here, and kept as a
    /// monotonic instant (a paused test clock moves it like any other entry).
    pub fn revoke_token(&self, key: &str, expires_at_ms: i64) -> Result<(), StoreError> {
        let remaining_ms = expires_at_ms.saturating_sub(unix_now_ms()).max(0);
        self.set_until(
            key,
            1,
            Instant::now() + Duration::from_millis(remaining_ms as u64),
        );
        Ok(())
    }

    /// Sets the subject's `not_before` to now, never moving it backwards.
    pub fn revoke_subject(&self, key: &str, ttl_secs: u64) -> Result<i64, StoreError> {
        let now = unix_now();
        let current = self.lookup(key, Some(key))?.subject_not_before.unwrap_or(0);
        let not_before = now.max(current);
        self.set(key, not_before, ttl_secs);
        Ok(not_before)
    }

    fn set(&self, key: &str, value: i64, ttl_secs: u64) {
        self.set_until(key, value, Instant::now() + Duration::from_secs(ttl_secs));
    }

    fn set_until(&self, key: &str, value: i64, expires_at: Instant) {
        let mut state = lock(self.shared());
        let wake = state
            .expirations
            .first()
            .is_none_or(|(next, _)| expires_at < *next);
        let previous = state
            .entries
            .insert(key.to_owned(), Entry { value, expires_at });
        if let Some(previous) = previous {
            state
                .expirations
                .remove(&(previous.expires_at, key.to_owned()));
        }
        state.expirations.insert((expires_at, key.to_owned()));
        // Release the lock before notifying, so the woken purge task does not block on it at
        // once (as in mini-redis db.rs).
        drop(state);
        if wake {
            self.shared().wake.notify_one();
        }
    }

    /// Number of live and not-yet-purged entries (for tests).
    pub fn len(&self) -> usize {
        lock(self.shared()).entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    // A panic while holding the lock cannot leave the maps inconsistent with each other in a way
    // that matters more than losing the store, so recover the guard.
    shared
        .state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn purge_expired(shared: Arc<Shared>) {
    loop {
        let next = {
            let mut state = lock(&shared);
            if state.closed {
                return;
            }
            let now = Instant::now();
            while let Some((when, key)) = state.expirations.first().cloned() {
                if when > now {
                    break;
                }
                state.expirations.pop_first();
                state.entries.remove(&key);
            }
            state.expirations.first().map(|(when, _)| *when)
        };
        match next {
            Some(when) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(when) => {}
                    _ = shared.wake.notified() => {}
                }
            }
            None => shared.wake.notified().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn entries_expire_and_are_purged() {
        let store = MemoryStore::start();
        let now_ms = unix_now_ms();
        store.revoke_token("a", now_ms + 10_000).unwrap();
        store.revoke_token("b", now_ms + 20_000).unwrap();
        assert!(store.lookup("a", None).unwrap().revoked);
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert!(!store.lookup("a", None).unwrap().revoked);
        assert!(store.lookup("b", None).unwrap().revoked);
        assert_eq!(store.len(), 1, "the purge task removed the expired entry");
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(store.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_entry_ends_at_its_absolute_deadline_to_the_millisecond() {
        let store = MemoryStore::start();
        store.revoke_token("a", unix_now_ms() + 1_500).unwrap();
        tokio::time::sleep(Duration::from_millis(1_400)).await;
        assert!(store.lookup("a", None).unwrap().revoked);
        // Whole-second TTLs would keep it until 2 s (rounded up) or drop it at 1 s.
        tokio::time::sleep(Duration::from_millis(101)).await;
        assert!(!store.lookup("a", None).unwrap().revoked);
    }

    #[tokio::test]
    async fn subject_not_before_never_moves_backwards() {
        let store = MemoryStore::start();
        store.set("s", unix_now() + 1000, 60);
        let nb = store.revoke_subject("s", 60).unwrap();
        assert_eq!(nb, unix_now() + 1000);
        assert_eq!(
            store.lookup("t", Some("s")).unwrap().subject_not_before,
            Some(nb)
        );
    }
}
