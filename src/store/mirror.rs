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
        let revoked = self
            .tokens
            .get(&key_id(keys.token))
            .is_some_and(|until| *until > now_ms);
        let not_before = |key: Option<&str>| {
            key.and_then(|key| self.not_befores.get(&key_id(key)))
                .filter(|(_, until)| *until > now_ms)
                .map(|(not_before, _)| *not_before)
        };
        Some(Lookup {
            revoked,
            subject_not_before: not_before(keys.subject),
            session_not_before: not_before(keys.session),
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
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    fn keys<'a>(token: &'a str, subject: Option<&'a str>) -> LookupKeys<'a> {
        LookupKeys {
            token,
            subject,
            session: None,
        }
    }

    fn token(key: &str, until_ms: i64) -> Revoked {
        Revoked::Token {
            key: key.into(),
            until_ms,
        }
    }

    fn subject(key: &str, not_before: i64, until_ms: i64) -> Revoked {
        Revoked::NotBefore {
            key: key.into(),
            not_before,
            until_ms,
        }
    }

    #[test]
    fn stream_ids_parse_and_order_like_redis() {
        assert_eq!(
            StreamId::parse("1700000000000-3"),
            Some(id(1_700_000_000_000, 3))
        );
        assert!(id(5, 9) < id(6, 0));
        assert!(id(5, 1) < id(5, 2));
        for bad in ["", "1", "1-", "-1", "a-1", "1-b"] {
            assert_eq!(StreamId::parse(bad), None, "{bad}");
        }
        assert_eq!(id(12, 3).to_string(), "12-3");
    }

    #[test]
    fn revocations_apply_in_order_and_answer_until_their_deadline() {
        let mut m = Mirror::new(100);
        m.apply([
            (id(1, 0), token("t1", 5_000)),
            (id(2, 0), subject("s1", 40, 9_000)),
        ]);
        let found = m.lookup(keys("t1", Some("s1")), 1_000, 0).unwrap();
        assert!(found.revoked);
        assert_eq!(found.subject_not_before, Some(40));
        assert!(!m.lookup(keys("t2", Some("s2")), 1_000, 0).unwrap().revoked);
        // Past the token's deadline it no longer counts, even before expire() runs.
        assert!(!m.lookup(keys("t1", None), 5_000, 0).unwrap().revoked);
        m.expire(5_000);
        assert_eq!(m.len(), 1);
        m.expire(9_000);
        assert!(m.is_empty());
        assert_eq!(m.position(), id(2, 0));
    }

    #[test]
    fn a_session_not_before_is_read_from_its_own_key() {
        let mut m = Mirror::new(100);
        m.apply([(id(1, 0), subject("e1", 70, 9_000))]);
        let session = |key| LookupKeys {
            token: "t",
            subject: Some("s"),
            session: Some(key),
        };
        let found = m.lookup(session("e1"), 1_000, 0).unwrap();
        assert_eq!(found.session_not_before, Some(70));
        assert_eq!(found.subject_not_before, None);
        let other = m.lookup(session("e2"), 1_000, 0).unwrap();
        assert_eq!(other.session_not_before, None);
        assert_eq!(
            m.lookup(session("e1"), 9_000, 0)
                .unwrap()
                .session_not_before,
            None
        );
    }

    #[test]
    fn a_re_read_is_ignored_and_a_not_before_never_moves_back() {
        let mut m = Mirror::new(100);
        m.apply([(id(1, 0), subject("s", 50, 9_000))]);
        m.apply([
            (id(1, 0), subject("s", 10, 9_000)),
            (id(2, 0), subject("s", 30, 9_500)),
        ]);
        let found = m.lookup(keys("t", Some("s")), 0, 0).unwrap();
        assert_eq!(found.subject_not_before, Some(50));
        // The later deadline holds: the earlier one's expiry does not drop it.
        m.expire(9_000);
        assert_eq!(
            m.lookup(keys("t", Some("s")), 9_100, 0)
                .unwrap()
                .subject_not_before,
            Some(50)
        );
    }

    #[test]
    fn revoking_the_same_token_again_does_not_grow_the_deadline_index() {
        let mut m = Mirror::new(100);
        for seq in 1..=1000 {
            m.apply([(id(1, seq), token("t", 9_000))]);
        }
        assert_eq!(m.deadlines.len(), 1);
        m.apply([(id(2, 0), token("t", 9_500))]);
        assert_eq!(m.deadlines.len(), 2, "a later deadline is indexed");
        m.expire(9_000);
        assert!(
            m.lookup(keys("t", None), 9_100, 0).unwrap().revoked,
            "the later deadline holds"
        );
        m.expire(9_500);
        assert!(m.is_empty());
    }

    #[test]
    fn past_max_entries_the_mirror_says_it_cannot_answer_instead_of_dropping_entries() {
        let mut m = Mirror::new(2);
        m.apply([(id(1, 0), token("a", 9_000)), (id(2, 0), token("b", 9_000))]);
        assert!(m.lookup(keys("a", None), 0, 0).is_some());
        m.apply([(id(3, 0), token("c", 9_000))]);
        assert!(!m.is_complete());
        assert_eq!(m.lookup(keys("c", None), 0, 0), None);
        assert_eq!(m.position(), id(3, 0), "the position still moves on");
    }

    #[test]
    fn an_entry_that_does_not_follow_the_last_one_applied_is_a_gap() {
        let mut m = Mirror::new(100);
        assert!(m.follow([
            (id(1, 0), id(0, 0), token("a", 9_000)),
            (id(2, 0), id(1, 0), token("b", 9_000)),
        ]));
        // A re-read of what was applied is fine.
        assert!(m.follow([(id(2, 0), id(1, 0), token("b", 9_000))]));
        // 3-0 was missed: 4-0 names it.
        assert!(!m.follow([(id(4, 0), id(3, 0), token("d", 9_000))]));
        assert!(!m.lookup(keys("d", None), 0, 0).unwrap().revoked);
        assert_eq!(m.position(), id(2, 0));
    }
}
