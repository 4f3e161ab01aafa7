//! The embedded store: a map whose entries expire on time like Redis TTLs, purged by a background
//! task that sleeps until the next expiry (after mini-redis `db.rs`). Per process: revocations are
//! neither shared between replicas nor kept across restarts.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Lookup, LookupKeys, NotBefore, Raised, StoreError};
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

impl State {
    /// A live entry's value at `now`.
    fn live(&self, key: &str, now: Instant) -> Option<i64> {
        self.entries
            .get(key)
            .filter(|e| e.expires_at > now)
            .map(|e| e.value)
    }

    /// Sets an entry; true when its deadline is now the earliest (the purge task must wake).
    fn put(&mut self, key: &str, value: i64, expires_at: Instant) -> bool {
        let wake = self
            .expirations
            .first()
            .is_none_or(|(next, _)| expires_at < *next);
        let previous = self
            .entries
            .insert(key.to_owned(), Entry { value, expires_at });
        if let Some(previous) = previous {
            self.expirations
                .remove(&(previous.expires_at, key.to_owned()));
        }
        self.expirations.insert((expires_at, key.to_owned()));
        wake
    }
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

    pub fn lookup(&self, keys: LookupKeys<'_>) -> Result<Lookup, StoreError> {
        let state = lock(self.shared());
        let now = Instant::now();
        Ok(Lookup {
            revoked: state.live(keys.token, now).is_some(),
            subject_not_before: keys.subject.and_then(|k| state.live(k, now)),
            disabled: keys.disabled.is_some_and(|k| state.live(k, now).is_some()),
            session_not_before: keys.session.and_then(|k| state.live(k, now)),
            email_not_before: keys.email.and_then(|k| state.live(k, now)),
            // Process memory cannot lose data while the process lives.
            global_not_before: 0,
        })
    }

    /// Like Redis `PXAT`: the deadline is read against the wall clock once, here, and kept as a
    /// monotonic instant (a paused test clock moves it like any other entry).
    pub fn revoke_token(&self, key: &str, expires_at_ms: i64) -> Result<(), StoreError> {
        let remaining_ms = expires_at_ms.saturating_sub(unix_now_ms()).max(0);
        let expires_at = Instant::now() + Duration::from_millis(remaining_ms as u64);
        let wake = lock(self.shared()).put(key, 1, expires_at);
        self.wake_if(wake);
        Ok(())
    }

    /// Raises a not-before (a subject's or a session's) to `at` or now, never moving it
    /// backwards; with a replay marker that exists already, writes nothing. One lock: the
    /// marker and the entry change together.
    pub fn revoke_before(&self, request: &NotBefore<'_>) -> Result<Raised, StoreError> {
        let now_secs = unix_now();
        let now = Instant::now();
        let mut state = lock(self.shared());
        let current = state.live(request.key, now).unwrap_or(0);
        let mut wake = false;
        if let Some((marker, ttl_ms)) = request.once {
            if state.live(marker, now).is_some() {
                return Ok(Raised {
                    not_before: current,
                    written: false,
                });
            }
            wake |= state.put(marker, 1, now + Duration::from_millis(ttl_ms));
        }
        let at = request.at.map_or(now_secs, |at| at.min(now_secs));
        let not_before = at.max(current);
        let until = now + Duration::from_secs(request.ttl_secs);
        wake |= state.put(request.key, not_before, until);
        // Release the lock before notifying, so the woken purge task does not block on it at
        // once (as in mini-redis db.rs).
        drop(state);
        self.wake_if(wake);
        Ok(Raised {
            not_before,
            written: true,
        })
    }

    /// Removes a flag (a disabled account enabled again); with a replay marker that exists
    /// already, does nothing. One lock: the marker and the removal together.
    pub fn lift(&self, key: &str, once: Option<(&str, u64)>) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut state = lock(self.shared());
        let mut wake = false;
        if let Some((marker, ttl_ms)) = once {
            if state.live(marker, now).is_some() {
                return Ok(false);
            }
            wake = state.put(marker, 1, now + Duration::from_millis(ttl_ms));
        }
        if let Some(entry) = state.entries.remove(key) {
            state
                .expirations
                .remove(&(entry.expires_at, key.to_owned()));
        }
        drop(state);
        self.wake_if(wake);
        Ok(true)
    }

    /// A live entry's value (the file store's writer reads its working set here).
    pub(super) fn get(&self, key: &str) -> Option<i64> {
        lock(self.shared()).live(key, Instant::now())
    }

    /// Sets entries (value, deadline in unix ms) and removes others (`None`), at once: what the
    /// file store committed.
    pub(super) fn apply(&self, changes: impl IntoIterator<Item = (String, Option<(i64, i64)>)>) {
        let now_ms = unix_now_ms();
        let now = Instant::now();
        let mut state = lock(self.shared());
        let mut wake = false;
        for (key, change) in changes {
            match change {
                Some((value, deadline_ms)) => {
                    let left =
                        Duration::from_millis(deadline_ms.saturating_sub(now_ms).max(0) as u64);
                    wake |= state.put(&key, value, now + left);
                }
                None => {
                    if let Some(entry) = state.entries.remove(&key) {
                        state.expirations.remove(&(entry.expires_at, key));
                    }
                }
            }
        }
        drop(state);
        self.wake_if(wake);
    }

    /// Every live entry as (key, value, deadline in unix ms).
    pub(super) fn snapshot(&self) -> Vec<(String, i64, i64)> {
        let now_ms = unix_now_ms();
        let now = Instant::now();
        let state = lock(self.shared());
        state
            .entries
            .iter()
            .filter(|(_, e)| e.expires_at > now)
            .map(|(k, e)| {
                let left = e.expires_at.duration_since(now).as_millis() as i64;
                (k.clone(), e.value, now_ms.saturating_add(left))
            })
            .collect()
    }

    fn wake_if(&self, wake: bool) {
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

    fn token(key: &str) -> LookupKeys<'_> {
        LookupKeys {
            token: key,
            ..LookupKeys::default()
        }
    }

    fn raise<'a>(key: &'a str, at: Option<i64>, once: Option<(&'a str, u64)>) -> NotBefore<'a> {
        NotBefore {
            key,
            ttl_secs: 60,
            at,
            once,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn entries_expire_and_are_purged() {
        let store = MemoryStore::start();
        let now_ms = unix_now_ms();
        store.revoke_token("a", now_ms + 10_000).unwrap();
        store.revoke_token("b", now_ms + 20_000).unwrap();
        assert!(store.lookup(token("a")).unwrap().revoked);
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert!(!store.lookup(token("a")).unwrap().revoked);
        assert!(store.lookup(token("b")).unwrap().revoked);
        assert_eq!(store.len(), 1, "the purge task removed the expired entry");
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(store.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_entry_ends_at_its_absolute_deadline_to_the_millisecond() {
        let store = MemoryStore::start();
        store.revoke_token("a", unix_now_ms() + 1_500).unwrap();
        tokio::time::sleep(Duration::from_millis(1_400)).await;
        assert!(store.lookup(token("a")).unwrap().revoked);
        // Whole-second TTLs would keep it until 2 s (rounded up) or drop it at 1 s.
        tokio::time::sleep(Duration::from_millis(101)).await;
        assert!(!store.lookup(token("a")).unwrap().revoked);
    }

    #[tokio::test]
    async fn a_not_before_never_moves_backwards_and_is_never_in_the_future() {
        let store = MemoryStore::start();
        let later = unix_now() + 1000;
        let raised = store.revoke_before(&raise("s", Some(later), None)).unwrap();
        assert!(raised.not_before <= unix_now(), "capped at now");
        let early = store
            .revoke_before(&raise("s", Some(raised.not_before - 100), None))
            .unwrap();
        assert_eq!(early.not_before, raised.not_before, "never backwards");
        let keys = LookupKeys {
            token: "t",
            subject: Some("s"),
            session: Some("e"),
            ..LookupKeys::default()
        };
        let found = store.lookup(keys).unwrap();
        assert_eq!(found.subject_not_before, Some(raised.not_before));
        assert_eq!(found.session_not_before, None);
    }

    #[tokio::test]
    async fn a_replayed_raise_writes_nothing() {
        let store = MemoryStore::start();
        let first = store
            .revoke_before(&raise("e", Some(100), Some(("r", 60_000))))
            .unwrap();
        assert_eq!((first.not_before, first.written), (100, true));
        let replay = store
            .revoke_before(&raise("e", Some(200), Some(("r", 60_000))))
            .unwrap();
        assert_eq!((replay.not_before, replay.written), (100, false));
        let other = store
            .revoke_before(&raise("e", Some(200), Some(("r2", 60_000))))
            .unwrap();
        assert_eq!((other.not_before, other.written), (200, true));
    }
}
