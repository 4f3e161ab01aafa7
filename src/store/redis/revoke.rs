//! Revocation writes: a token's entry or a subject's not-before, each appended to the
//! revocation stream in the same script (outside cluster mode), and acknowledged only once
//! Redis (and, with `store.min_replica_acks`, its replicas) has it.

use deadpool_redis::redis;

use std::time::{Duration, Instant};

use super::pool::is_read_only;
use super::RedisStore;
use crate::store::mirror::{Revoked, StreamId};
use crate::store::StoreError;

/// Writes a token's entry with its absolute deadline and appends the revocation to the stream
/// (`key`, `until` in unix ms), in one step, so no replica can see one without the other. Stream entries older than the
/// longest an entry can live (`ARGV[2]` ms) are trimmed: their entries have expired. Returns
/// the stream entry's id.
const REVOKE_TOKEN_SCRIPT: &str = concat!(
    lua_redis_now!(),
    r"
redis.call('SET', KEYS[1], 1, 'PXAT', ARGV[1])
return redis.call('XADD', KEYS[2], 'MINID', now_ms - tonumber(ARGV[2]), '*',
    'key', KEYS[1], 'until', ARGV[1])
"
);

/// Sets a subject's not_before from the Redis clock (one clock for every replica), never
/// moving it backwards, appends it to the stream (`key`, `until`, `not_before`), and returns it
/// (with the stream entry's id and deadline when there is a stream).
const REVOKE_SUBJECT_SCRIPT: &str = concat!(
    lua_redis_now!(),
    r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local not_before = math.max(now, current)
redis.call('SET', KEYS[1], not_before, 'EX', ARGV[1])
if KEYS[2] then
  local id = redis.call('XADD', KEYS[2], 'MINID', now_ms - tonumber(ARGV[1]) * 1000, '*',
      'key', KEYS[1], 'until', now_ms + tonumber(ARGV[1]) * 1000, 'not_before', not_before)
  return {not_before, id, now_ms + tonumber(ARGV[1]) * 1000}
end
return not_before
"
);

/// The replicas' acknowledgements with the Redis clock: `{now_ms, HGETALL acks}`.
const ACKS_SCRIPT: &str = concat!(
    lua_redis_now!(),
    r"
return {now_ms, redis.call('HGETALL', KEYS[1])}
"
);

/// Whether an acknowledgement `"<position> <valid until ms>"` covers `entry`, or no longer
/// holds a lease at `now_ms` (Redis clock).
fn has_read(ack: &str, entry: StreamId, now_ms: i64) -> bool {
    let Some((position, valid_until)) = ack.split_once(' ') else {
        return true;
    };
    let expired = valid_until
        .parse::<i64>()
        .map_or(true, |until| until <= now_ms);
    expired || StreamId::parse(position).is_some_and(|p| p >= entry)
}

/// A script's reply as the type the script returns.
fn parse<T: redis::FromRedisValue>(reply: redis::Value) -> Result<T, StoreError> {
    redis::FromRedisValue::from_redis_value(reply)
        .map_err(|_| StoreError::Unavailable("unexpected reply"))
}

/// The revocation stream's key, and how long its entries matter: the longest a blocklist entry
/// can live (max token lifetime + leeway + margin), in milliseconds.
pub(super) struct StreamKey {
    pub(super) key: String,
    pub(super) keep_ms: u64,
}

impl RedisStore {
    /// Writes a token's entry (and, outside cluster mode, its stream entry: the stream lives
    /// in one slot, which a token's entry in cluster mode does not share).
    pub async fn revoke_token(&self, key: &str, expires_at_ms: i64) -> Result<(), StoreError> {
        let cmd = match &self.inner.stream {
            Some(stream) => {
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(REVOKE_TOKEN_SCRIPT)
                    .arg(2)
                    .arg(key)
                    .arg(&stream.key)
                    .arg(expires_at_ms)
                    .arg(stream.keep_ms);
                cmd
            }
            None => {
                let mut cmd = redis::cmd("SET");
                cmd.arg(key).arg(1).arg("PXAT").arg(expires_at_ms);
                cmd
            }
        };
        let reply = self.write(cmd).await?;
        if self.inner.stream.is_some() {
            // The script's reply: the stream entry's id.
            let id: String = parse(reply)?;
            let revoked = Revoked::Token {
                key: key.to_owned(),
                until_ms: expires_at_ms,
            };
            self.await_mirrors(&id, revoked).await;
        }
        Ok(())
    }

    pub async fn revoke_subject(&self, key: &str, ttl_secs: u64) -> Result<i64, StoreError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(REVOKE_SUBJECT_SCRIPT);
        match &self.inner.stream {
            Some(stream) => cmd.arg(2).arg(key).arg(&stream.key),
            None => cmd.arg(1).arg(key),
        };
        cmd.arg(ttl_secs);
        let reply = self.write(cmd).await?;
        if self.inner.stream.is_none() {
            return parse(reply);
        }
        // With a stream the script also returns the entry's id and deadline.
        let (not_before, id, until_ms): (i64, String, i64) = parse(reply)?;
        let revoked = Revoked::Subject {
            key: key.to_owned(),
            not_before,
            until_ms,
        };
        self.await_mirrors(&id, revoked).await;
        Ok(not_before)
    }

    /// With the mirror on: takes the revocation into this replica's own mirror at once, then
    /// waits until every other replica holding a lease has read the stream up to `id`, or until
    /// a lease plus a drift margin has passed since Redis acknowledged the write (a replica that
    /// has not read it by then can no longer hold a lease from before it). The acknowledgements
    /// are compared on one clock, Redis's.
    async fn await_mirrors(&self, id: &str, revoked: Revoked) {
        let Some(shared) = &self.inner.mirror else {
            return;
        };
        let written = Instant::now();
        shared
            .mirror
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(revoked);
        let Some(entry) = StreamId::parse(id) else {
            return;
        };
        let drift = (shared.lease / 10).max(Duration::from_millis(10));
        let give_up = written + shared.lease + drift;
        let mut read = redis::cmd("EVAL");
        read.arg(ACKS_SCRIPT).arg(1).arg(&shared.acks_key);
        while Instant::now() < give_up {
            let acks: Result<(i64, Vec<String>), _> = self.query(&read).await;
            if let Ok((now_ms, acks)) = acks {
                let all_read = acks.chunks(2).all(|pair| {
                    let [replica, ack] = pair else { return true };
                    replica == &shared.replica_id || has_read(ack, entry, now_ms)
                });
                if all_read {
                    return;
                }
            }
            // tokio timers tick in milliseconds: the shortest wait there is.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Runs a revocation write. Without `store.min_replica_acks` it shares a lane like a check.
    /// With it, the write and `WAIT n timeout` run pipelined on a connection of their own (WAIT
    /// blocks the connection it runs on, which would stall every check sharing a lane), and too
    /// few acknowledgements is a failure: the caller answers 503, never a silent success.
    async fn write(&self, cmd: redis::Cmd) -> Result<redis::Value, StoreError> {
        let inner = &self.inner;
        if inner.min_replica_acks == 0 {
            return self.query(&cmd).await;
        }
        let mut pipe = redis::pipe();
        pipe.add_command(cmd)
            .cmd("WAIT")
            .arg(inner.min_replica_acks)
            .arg(inner.replica_ack_timeout.as_millis() as u64);
        let budget = inner.lanes.acquire_timeout()
            + inner.lanes.command_timeout()
            + inner.replica_ack_timeout;
        let (reply, acks): (redis::Value, usize) = tokio::time::timeout(budget, async {
            let conn = inner.pool.get().await?;
            pipe.query_async(&mut conn.handle()).await.map_err(|err| {
                if is_read_only(&err) {
                    conn.mark_stale();
                }
                StoreError::Unavailable("write failed")
            })
        })
        .await
        .map_err(|_| StoreError::Timeout)??;
        if acks < inner.min_replica_acks {
            tracing::error!(
                acks,
                required = inner.min_replica_acks,
                "revocation written to the master but too few replicas acknowledged it"
            );
            return Err(StoreError::Unavailable(
                "too few replicas acknowledged the write",
            ));
        }
        Ok(reply)
    }
}
