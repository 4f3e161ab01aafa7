//! A replica's local copy of the Redis blocklist, built from the revocation stream (issue 14):
//! token entries with their deadlines, subjects' and sessions' not-befores, and the stream position it has
//! applied. It answers a lookup only while it is complete (never past `max_entries`: it then
//! reports itself incomplete rather than dropping entries) and the caller holds a valid lease;
//! otherwise the caller uses the MGET path. This module is the data structure alone: following
//! the stream and the lease are the Redis store's.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use sha2::{Digest, Sha256};

use super::{Lookup, LookupKeys};

/// A blocklist key as the mirror holds it: 128 bits of its SHA-256, so an entry costs a few
/// dozen bytes whatever the key's length (a million entries fit in about 100 MB). Two keys that
/// collided would make a token look revoked, never the reverse.
type KeyId = u128;

fn key_id(key: &str) -> KeyId {
    let digest = Sha256::digest(key.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_le_bytes(bytes)
}

/// One revocation as the stream carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// A token entry, in force until `until_ms` (unix milliseconds).
    Token { key: String, until_ms: i64 },
    /// A subject's or a session's not-before (unix seconds), in force until `until_ms`.
    NotBefore {
        key: String,
        not_before: i64,
        until_ms: i64,
    },
    /// A flag lifted before its deadline (a disabled account enabled again).
    Lift { key: String },
}

/// A stream entry id, `<ms>-<seq>`, ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub fn parse(id: &str) -> Option<StreamId> {
        let (ms, seq) = id.split_once('-')?;
        Some(StreamId {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

#[derive(Debug)]
pub struct Mirror {
    /// Token entry key → deadline (unix ms).
    tokens: HashMap<KeyId, i64>,
    /// Subject or session entry key → (not_before, deadline).
    not_befores: HashMap<KeyId, (i64, i64)>,
    /// Every entry's deadline, earliest first, so expired ones are dropped without a scan (a
    /// heap: one flat array, smaller than a tree; superseded deadlines are skipped when popped).
    deadlines: BinaryHeap<Reverse<(i64, KeyId)>>,
    /// The last stream entry applied.
    position: StreamId,
    /// Past this many entries the mirror stops taking entries and reports itself incomplete.
    max_entries: usize,
    complete: bool,
}

impl Mirror {
    pub fn new(max_entries: usize) -> Mirror {
        Mirror {
            tokens: HashMap::new(),
            not_befores: HashMap::new(),
            deadlines: BinaryHeap::new(),
            position: StreamId::default(),
            max_entries,
            complete: true,
        }
    }

    /// Applies stream entries in order; entries at or before the position are ignored (a
    /// re-read after a reconnect).
    pub fn apply(&mut self, entries: impl IntoIterator<Item = (StreamId, Revoked)>) {
        for (id, revoked) in entries {
            if id <= self.position {
                continue;
            }
            self.position = id;
            self.insert(revoked);
        }
    }

    /// Applies entries read on from the position, each naming the entry before it (`prev`).
    /// False, with nothing applied from the break on, when an entry does not follow the last one
    /// applied: one was missed (a trimmed gap, a failover to a replica that lags, a restart that
    /// lost the end of the stream), so the mirror must be loaded again.
    pub fn follow(
        &mut self,
        entries: impl IntoIterator<Item = (StreamId, StreamId, Revoked)>,
    ) -> bool {
        for (id, prev, revoked) in entries {
            if id <= self.position {
                continue;
            }
            if prev != self.position {
                return false;
            }
            self.position = id;
            self.insert(revoked);
        }
        true
    }

    /// Moves the position to `end` when it is further on: the stream's end when it was loaded,
    /// whose entries up to there were all read or trimmed (expired).
    pub fn skip_to(&mut self, end: StreamId) {
        self.position = self.position.max(end);
    }

    /// Takes a revocation this replica wrote itself, before its stream entry is read back (the
    /// position does not move: entries before it may still be unread).
    pub fn insert(&mut self, revoked: Revoked) {
        if self.len() >= self.max_entries {
            self.complete = false;
            return;
        }
        match revoked {
            Revoked::Token { key, until_ms } => {
                let key = key_id(&key);
                let until = self.tokens.entry(key).or_insert(i64::MIN);
                // A deadline is indexed only when it moves, so revoking the same token again
                // and again does not grow the index.
                if until_ms > *until {
                    *until = until_ms;
                    self.deadlines.push(Reverse((until_ms, key)));
                }
            }
            Revoked::Lift { key } => {
                // Its deadline stays in the heap and is skipped when popped.
                self.tokens.remove(&key_id(&key));
            }
            Revoked::NotBefore {
                key,
                not_before,
                until_ms,
            } => {
                let key = key_id(&key);
                let entry = self.not_befores.entry(key).or_insert((0, i64::MIN));
                // As in Redis: a not-before never moves backwards.
                entry.0 = entry.0.max(not_before);
                if until_ms > entry.1 {
                    entry.1 = until_ms;
                    self.deadlines.push(Reverse((until_ms, key)));
                }
            }
        }
    }

    /// Drops the entries whose deadline has passed at `now_ms`.
    pub fn expire(&mut self, now_ms: i64) {
        while let Some(&Reverse((deadline, key))) = self.deadlines.peek() {
            if deadline > now_ms {
                break;
            }
            self.deadlines.pop();
            // Only when this is still the entry's deadline (a later revocation may extend it).
            if self.tokens.get(&key) == Some(&deadline) {
                self.tokens.remove(&key);
            }
            if self
                .not_befores
                .get(&key)
                .is_some_and(|(_, until)| *until == deadline)
            {
                self.not_befores.remove(&key);
            }
        }
    }

    /// What the blocklist says of a token at `now_ms`, or None when the mirror cannot answer
    /// (incomplete). `global_not_before` comes from the generation marker, which the store
    /// tracks.
    pub fn lookup(
        &self,
        keys: LookupKeys<'_>,
        now_ms: i64,
        global_not_before: i64,
    ) -> Option<Lookup> {
        if !self.complete {
            return None;
        }
        let flagged = |key: Option<&str>| {
            key.and_then(|key| self.tokens.get(&key_id(key)))
                .is_some_and(|until| *until > now_ms)
        };
        let not_before = |key: Option<&str>| {
            key.and_then(|key| self.not_befores.get(&key_id(key)))
                .filter(|(_, until)| *until > now_ms)
                .map(|(not_before, _)| *not_before)
        };
        Some(Lookup {
            revoked: flagged(Some(keys.token)),
            subject_not_before: not_before(keys.subject),
            disabled: flagged(keys.disabled),
            session_not_before: not_before(keys.session),
            email_not_before: not_before(keys.email),
            global_not_before,
        })
    }

    pub fn position(&self) -> StreamId {
        self.position
    }

    pub fn len(&self) -> usize {
        self.tokens.len() + self.not_befores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_complete(&self) -> bool {
        self.complete
    }
}

#[cfg(test)]
#[path = "mirror_tests.rs"]
mod tests;
