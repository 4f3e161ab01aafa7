//! A token check against Redis: the mirror's answer while it holds its lease, else one MGET of
//! the token's, subject's and session's entries with the generation marker. In cluster mode the
//! marker is watched apart, and a session's entry lives in its own slot (see keys.rs): it is
//! read by a GET pipelined beside the MGET, one round trip.

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
        let session_apart = keys.session.filter(|_| !marker_in_lookup);
        let mut cmd = redis::cmd("MGET");
        cmd.arg(keys.token);
        if let Some(subject) = keys.subject {
            cmd.arg(subject);
        }
        if session_apart.is_none() {
            if let Some(session) = keys.session {
                cmd.arg(session);
            }
        }
        if marker_in_lookup {
            cmd.arg(&self.inner.marker_key);
        }
        let (values, apart): (Vec<Value>, Option<Value>) = match session_apart {
            None => (self.query(&cmd).await?, None),
            Some(session) => {
                let mut get = redis::cmd("GET");
                get.arg(session);
                let (values, session) = tokio::join!(self.query(&cmd), self.query(&get));
                (values?, Some(session?))
            }
        };
        let mut values = values.into_iter();
        let mut next = || values.next().unwrap_or(Value::Nil);
        let revoked = as_string(next())?.is_some();
        let subject_not_before = match keys.subject {
            Some(_) => not_before(next())?,
            None => None,
        };
        let session_not_before = match (keys.session, apart) {
            (Some(_), Some(value)) => not_before(value)?,
            (Some(_), None) => not_before(next())?,
            (None, _) => None,
        };
        let global_not_before = if marker_in_lookup {
            let marker = as_string(next())?;
            self.observe_generation(marker.as_deref()).await?
        } else {
            // Cluster mode: the marker is watched by `watch_generation` and readiness.
            self.inner.generation.known().map_or(0, |g| g.not_before)
        };
        Ok(Lookup {
            revoked,
            subject_not_before,
            session_not_before,
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
