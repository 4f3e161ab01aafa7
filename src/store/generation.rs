//! Data-loss detection for the Redis store. A marker key without TTL, `{prefix}generation`,
//! holds `"<id> <not_before>"`. Every token check reads it in the same MGET as the token's
//! entries. While the service runs it remembers the marker it saw; when the marker vanishes
//! (FLUSHALL, a restart without persistence, failover to an empty replica) a new one is
//! installed with `not_before` = the Redis server's clock, so every token issued before the
//! loss is inactive: a token revoked before the loss can never become active again. A marker
//! that changed means another replica already did this; it is adopted the same way.
//!
//! Limit: a loss that happens while no introspectd instance runs cannot be told from a fresh
//! Redis, because nobody remembers the old marker.

use std::sync::{Arc, RwLock};

/// Installs a marker if none exists and returns the marker in place. `ARGV[2]` is the
/// not_before: `now` (the server clock, after a loss) or `0` (a fresh store). After a loss it also
/// records when, in the mirror's acknowledgements hash `KEYS[2]` (in the marker's slot; unix ms,
/// field `_installed`): acknowledgements made before the loss are gone with it, so for a lease's
/// length a revocation cannot rely on them. A fresh store has had no lease to forget.
pub const INSTALL_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
if current then return current end
local t = redis.call('TIME')
local not_before = ARGV[2]
if not_before == 'now' then not_before = t[1] end
local marker = ARGV[1] .. ' ' .. not_before
redis.call('SET', KEYS[1], marker)
if ARGV[2] == 'now' then
  redis.call('HSET', KEYS[2], '_installed', t[1] * 1000 + math.floor(t[2] / 1000))
end
return marker
";

/// The acknowledgements hash's field that records the marker's installation (see above).
pub const INSTALLED: &str = "_installed";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub raw: String,
    /// Tokens issued before this time (unix seconds) are inactive; 0 for a fresh store.
    pub not_before: i64,
}

impl Generation {
    pub fn parse(raw: &str) -> Option<Generation> {
        let (id, not_before) = raw.split_once(' ')?;
        if id.is_empty() {
            return None;
        }
        Some(Generation {
            raw: raw.to_owned(),
            not_before: not_before.parse().ok().filter(|n: &i64| *n >= 0)?,
        })
    }
}

/// What a marker read means for this instance.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// The marker this instance knows: nothing happened.
    Known(i64),
    /// No marker: install one (`lost` says whether this instance had seen one before).
    Missing { lost: bool },
    /// A marker this instance has not seen: adopt it (`changed` when it replaces a known one).
    New {
        generation: Generation,
        changed: bool,
    },
    /// Not a marker introspectd wrote.
    Unreadable,
}

/// The marker this instance last adopted.
#[derive(Default)]
pub struct Tracker {
    known: RwLock<Option<Arc<Generation>>>,
}

impl Tracker {
    pub fn see(&self, marker: Option<&str>) -> Seen {
        let known = self.known.read().unwrap_or_else(|p| p.into_inner()).clone();
        match (marker, known) {
            (Some(m), Some(k)) if m == k.raw => Seen::Known(k.not_before),
            (Some(m), known) => match Generation::parse(m) {
                Some(generation) => Seen::New {
                    generation,
                    changed: known.is_some(),
                },
                None => Seen::Unreadable,
            },
            (None, known) => Seen::Missing {
                lost: known.is_some(),
            },
        }
    }

    /// Adopts `generation`; true when this call changed what the instance knows (so that a
    /// loss seen by many concurrent requests is reported once).
    pub fn adopt(&self, generation: Generation) -> bool {
        let mut known = self.known.write().unwrap_or_else(|p| p.into_inner());
        if known.as_ref().is_some_and(|k| k.raw == generation.raw) {
            return false;
        }
        *known = Some(Arc::new(generation));
        true
    }

    pub fn known(&self) -> Option<Arc<Generation>> {
        self.known.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_parse_strictly() {
        assert_eq!(Generation::parse("abc 12").unwrap().not_before, 12);
        for bad in ["", "abc", " 12", "abc -1", "abc x", "abc 1 2"] {
            assert!(Generation::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn a_vanished_or_changed_marker_is_a_loss_and_is_adopted_once() {
        let t = Tracker::default();
        assert_eq!(t.see(None), Seen::Missing { lost: false });
        assert!(t.adopt(Generation::parse("a 0").unwrap()));
        assert_eq!(t.see(Some("a 0")), Seen::Known(0));
        assert_eq!(t.see(None), Seen::Missing { lost: true });
        let Seen::New {
            generation,
            changed,
        } = t.see(Some("b 99"))
        else {
            panic!("a new marker is not seen as new")
        };
        assert!(changed);
        assert!(t.adopt(generation.clone()));
        assert!(!t.adopt(generation), "the second adopter reports nothing");
        assert_eq!(t.see(Some("b 99")), Seen::Known(99));
        assert_eq!(t.see(Some("garbage")), Seen::Unreadable);
    }
}
