//! Readiness proves what the store needs, not just that Redis answers: every command the checks,
//! the revocation scripts and the mirror's follower run, on probe keys under `store.key_prefix`
//! (in the generation marker's slot). An ACL user without one of them fails readiness with a
//! reason that names the command (store/refusal.rs). The probe stream and hash stay one entry
//! each; the string expires.

use super::RedisStore;
use crate::store::refusal::Refusal;
use crate::store::StoreError;

impl RedisStore {
    /// Runs, in one pipeline on the probe keys, each command the revocation scripts, the checks
    /// and the mirror's follower run (one by one, not inside a script: Redis names the command a
    /// user may not run only outside scripts), and EVAL itself.
    pub(super) async fn probe_commands(&self) -> Result<(), StoreError> {
        let [string, stream, hash] = &self.inner.probe_keys;
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(string)
            .arg(1)
            .arg("PX")
            .arg(60_000)
            .ignore();
        pipe.cmd("GET").arg(string).ignore();
        pipe.cmd("MGET")
            .arg(string)
            .arg(&self.inner.marker_key)
            .ignore();
        pipe.cmd("EXISTS").arg(stream).ignore();
        pipe.cmd("XADD")
            .arg(stream)
            .arg("MAXLEN")
            .arg(1)
            .arg("*")
            .arg("probe")
            .arg(1)
            .ignore();
        pipe.cmd("XINFO").arg("STREAM").arg(stream).ignore();
        pipe.cmd("XRANGE")
            .arg(stream)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .ignore();
        pipe.cmd("XREAD")
            .arg("COUNT")
            .arg(1)
            .arg("STREAMS")
            .arg(stream)
            .arg("0-0")
            .ignore();
        pipe.cmd("HSET").arg(hash).arg("probe").arg(1).ignore();
        pipe.cmd("HGET").arg(hash).arg("probe").ignore();
        pipe.cmd("HGETALL").arg(hash).ignore();
        pipe.cmd("HDEL").arg(hash).arg("probe").ignore();
        pipe.cmd("TIME").ignore();
        pipe.cmd("EVAL").arg("return 1").arg(1).arg(string).ignore();
        let lanes = &self.inner.lanes;
        let conn = tokio::time::timeout(lanes.acquire_timeout(), self.inner.pool.get())
            .await
            .map_err(|_| StoreError::Timeout)??;
        tokio::time::timeout(
            lanes.command_timeout(),
            pipe.query_async::<()>(&mut conn.handle()),
        )
        .await
        .map_err(|_| StoreError::Timeout)?
        .map_err(|err| match Refusal::of(&err) {
            Some(refusal) => StoreError::Refused(refusal),
            None => StoreError::Unavailable("the readiness probe failed"),
        })
    }
}
