//! A token check against Redis: the mirror's answer while it holds its lease, else one MGET of
//! the token's entry, its subject's (with the subject's disabled flag), its session's and its
//! email's, and the generation marker. In cluster mode the marker is watched apart, and a
//! session's or an email's entry lives in a slot of its own (see keys.rs): each is read by a GET
//! sent beside the MGET, in the same round trip.

use redis::Value;

use super::reply::as_string;
use super::RedisStore;
use crate::store::{Lookup, LookupKeys, StoreError};

impl RedisStore {
    pub async fn lookup(&self, keys: LookupKeys<'_>) -> Result<Lookup, StoreError> {
        if let Some(found) = self.mirror_lookup(keys) {
            return Ok(found);
        }
        let marker_in_lookup = self.inner.marker_in_lookup;
        // The token's entry and its subject's (and the subject's disabled flag) share the
        // subject's slot; a session's and an email's entries have slots of their own.
        let own_slot = [keys.session, keys.email];
        let mut cmd = redis::cmd("MGET");
        cmd.arg(keys.token).arg(keys.subject).arg(keys.disabled);
        if marker_in_lookup {
            cmd.arg(&own_slot[..]).arg(&self.inner.marker_key);
        }
        let mut values: Vec<Value> = if marker_in_lookup || own_slot.iter().all(Option::is_none) {
            self.query(&cmd).await?
        } else {
            let gets = own_slot.iter().flatten().map(|key| {
                let mut get = redis::cmd("GET");
                get.arg(*key);
                get
            });
            let gets: Vec<redis::Cmd> = gets.collect();
            let (values, apart) = tokio::join!(
                self.query::<Vec<Value>>(&cmd),
                futures_util::future::join_all(gets.iter().map(|get| self.query::<Value>(get)))
            );
            let mut values = values?;
            for value in apart {
                values.push(value?);
            }
            values
        };
        values.reverse();
        // In the order they were asked for; a key left out takes no value.
        let mut next = |key: Option<&str>| match key {
            Some(_) => values.pop().unwrap_or(Value::Nil),
            None => Value::Nil,
        };
        let revoked = as_string(next(Some(keys.token)))?.is_some();
        let subject_not_before = not_before(next(keys.subject))?;
        let disabled = as_string(next(keys.disabled))?.as_deref() == Some("1");
        let session_not_before = not_before(next(keys.session))?;
        let email_not_before = not_before(next(keys.email))?;
        let global_not_before = if marker_in_lookup {
            let marker = as_string(next(Some("")))?;
            self.observe_generation(marker.as_deref()).await?
        } else {
            // Cluster mode: the marker is watched by `watch_generation` and readiness.
            self.inner.generation.known().map_or(0, |g| g.not_before)
        };
        Ok(Lookup {
            revoked,
            subject_not_before,
            disabled,
            session_not_before,
            email_not_before,
            global_not_before,
        })
    }

    /// The mirror's answer, while it holds a lease and is complete; None: use Redis.
    fn mirror_lookup(&self, keys: LookupKeys<'_>) -> Option<Lookup> {
        let shared = self.inner.mirror.as_ref()?;
        let found = shared
            .holds_lease()
            .then(|| self.inner.generation.known())
            .flatten()
            .and_then(|generation| {
                let mirror = shared.mirror.lock().unwrap_or_else(|p| p.into_inner());
                let now_ms = crate::clock::unix_now_ms();
                mirror.lookup(keys, now_ms, generation.not_before)
            });
        if found.is_none() {
            self.inner.metrics.mirror_fallback();
        }
        found
    }
}

/// A subject's or a session's entry: its not-before, or nothing.
fn not_before(value: Value) -> Result<Option<i64>, StoreError> {
    as_string(value)?
        .map(|v| {
            v.parse()
                .map_err(|_| StoreError::Unavailable("unreadable not-before entry"))
        })
        .transpose()
}
