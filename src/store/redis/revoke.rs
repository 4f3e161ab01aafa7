//! Revocation writes: a token's entry or a subject's or session's not-before, each appended to the
//! revocation stream in the same script (outside cluster mode), and acknowledged only once
//! Redis (and, with `store.min_replica_acks`, its replicas) has it.

use std::time::{Duration, Instant};

use super::pool::is_read_only;
use super::RedisStore;
use crate::store::generation::INSTALLED;
use crate::store::mirror::{Revoked, StreamId};
use crate::store::{NotBefore, Raised, StoreError};

/// Appends a revocation to the stream: `append(stream, keep_ms, fields)`. Each entry carries the
/// id of the one before it (`prev`, the stream's last generated id), so a follower notices any
/// entry it missed (a trimmed gap, a failover to a replica that lags, a restart that lost the
/// end of the stream) and reloads. Entries older than `keep_ms`, the longest a blocklist entry
/// lives, are trimmed exactly (MINID): their entries have expired.
macro_rules! lua_append {
    () => {
        concat!(
            lua_redis_now!(),
            lua_last_id!(),
            r"
local function append(stream, keep_ms, fields)
  local xadd = {'XADD', stream, 'MINID', now_ms - tonumber(keep_ms), '*', 'prev', last_id(stream)}
  for _, field in ipairs(fields) do xadd[#xadd + 1] = field end
  return redis.call(unpack(xadd))
end
"
        )
    };
}

/// Writes a token's entry with its absolute deadline (`ARGV[1]`, unix ms) and appends it to the
/// stream (`key`, `until`) in one step, so no replica sees one without the other. Returns the
/// stream entry's id.
const REVOKE_TOKEN_SCRIPT: &str = concat!(
    lua_append!(),
    r"
redis.call('SET', KEYS[1], 1, 'PXAT', ARGV[1])
return append(KEYS[2], ARGV[2], {'key', KEYS[1], 'until', ARGV[1]})
"
);

/// Raises a subject's or a session's not-before (`KEYS[1]`) from the Redis clock (one clock
/// for every replica), or to `ARGV[3]` when given and earlier, never moving it backwards, for
/// `ARGV[1]` seconds; appends it to the stream `KEYS[3]` when given (`key`, `until`,
/// `not_before`). With a replay marker (`KEYS[2]`, `ARGV[4]` ms; `0`: none) that exists already,
/// nothing is written. Returns `{not_before, until_ms, stream id or nil, written}`.
const REVOKE_BEFORE_SCRIPT: &str = concat!(
    lua_append!(),
    r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local until_ms = now_ms + tonumber(ARGV[1]) * 1000
if ARGV[4] ~= '0' then
  if redis.call('EXISTS', KEYS[2]) == 1 then return {current, until_ms, false, 0} end
  redis.call('SET', KEYS[2], 1, 'PX', ARGV[4])
end
local at = now
if ARGV[3] ~= '' then at = math.min(now, tonumber(ARGV[3])) end
local not_before = math.max(at, current)
redis.call('SET', KEYS[1], not_before, 'EX', ARGV[1])
local id = false
if KEYS[3] then
  id = append(KEYS[3], ARGV[2], {'key', KEYS[1], 'until', until_ms, 'not_before', not_before})
end
return {not_before, until_ms, id, 1}
"
);

/// Lifts a flag (`KEYS[1]`, a disabled account enabled again) before its deadline: its value
/// becomes 0, which checks do not count, and it keeps its TTL; appended to the stream `KEYS[3]`
/// when given (`key`, `until` 0, `lift`). With a replay marker (`KEYS[2]`, `ARGV[2]` ms; `0`:
/// none) that exists already, nothing is written. Returns `{stream id or nil, written}`.
const LIFT_SCRIPT: &str = concat!(
    lua_append!(),
    r"
if ARGV[2] ~= '0' then
  if redis.call('EXISTS', KEYS[2]) == 1 then return {false, 0} end
  redis.call('SET', KEYS[2], 1, 'PX', ARGV[2])
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('SET', KEYS[1], 0, 'KEEPTTL') end
local id = false
if KEYS[3] then id = append(KEYS[3], ARGV[1], {'key', KEYS[1], 'until', 0, 'lift', 1}) end
return {id, 1}
"
);

/// Cluster mode: the stream lives in another slot than the entry, so the entry is written first
/// and then appended here (`ARGV[1]` keep_ms, then the fields). A failure in between answers
/// 503: the revocation was not acknowledged, and the client's retry appends it.
const APPEND_SCRIPT: &str = concat!(
    lua_append!(),
    r"
local fields = {}
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
return append(KEYS[1], ARGV[1], fields)
"
);

/// What a revoking replica needs to know who may still answer from an older mirror: the Redis
/// clock, the generation marker and the acknowledgements, with the incarnation they were recorded
/// in (`{now_ms, marker, HGETALL acks}`).
const ACKS_SCRIPT: &str = concat!(
    lua_redis_now!(),
    lua_incarnation!(),
    r"
note_incarnation(KEYS[1])
return {now_ms, redis.call('GET', KEYS[2]), redis.call('HGETALL', KEYS[1])}
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
    /// Whether a script may write an entry and the stream together: everywhere but in cluster
    /// mode, where they live in different slots.
    pub(super) with_entry: bool,
}

impl RedisStore {
    /// Writes a token's entry and its stream entry (one script, or one after the other in
    /// cluster mode), then waits for the mirrors (see `await_mirrors`).
    pub async fn revoke_token(&self, key: &str, expires_at_ms: i64) -> Result<(), StoreError> {
        let stream = &self.inner.stream;
        let id: String = if stream.with_entry {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(REVOKE_TOKEN_SCRIPT)
                .arg(2)
                .arg(key)
                .arg(&stream.key)
                .arg(expires_at_ms)
                .arg(stream.keep_ms);
            parse(self.write(cmd).await?)?
        } else {
            let mut cmd = redis::cmd("SET");
            cmd.arg(key).arg(1).arg("PXAT").arg(expires_at_ms);
            self.write(cmd).await?;
            self.append(&[key, "until", &expires_at_ms.to_string()])
                .await?
        };
        let revoked = Revoked::Token {
            key: key.to_owned(),
            until_ms: expires_at_ms,
        };
        self.await_mirrors(&id, revoked).await;
        Ok(())
    }

    /// Raises a not-before (see `REVOKE_BEFORE_SCRIPT`), then waits for the mirrors. In cluster
    /// mode the stream entry follows in a second script; a replay appends the entry in force
    /// again, since the first attempt may have failed between the two (the mirror takes an
    /// entry twice without harm).
    pub async fn revoke_before(&self, request: NotBefore<'_>) -> Result<Raised, StoreError> {
        let stream = &self.inner.stream;
        let (marker, marker_ms) = request.once.unwrap_or((request.key, 0));
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(REVOKE_BEFORE_SCRIPT)
            .arg(if stream.with_entry { 3 } else { 2 })
            .arg(request.key)
            .arg(marker);
        if stream.with_entry {
            cmd.arg(&stream.key);
        }
        cmd.arg(request.ttl_secs)
            .arg(stream.keep_ms)
            .arg(request.at.map(|at| at.to_string()).unwrap_or_default())
            .arg(marker_ms);
        let (not_before, until_ms, id, written): (i64, i64, Option<String>, i64) =
            parse(self.write(cmd).await?)?;
        let raised = Raised {
            not_before,
            written: written == 1,
        };
        if not_before == 0 {
            return Ok(raised);
        }
        let id = match id {
            Some(id) => id,
            None if stream.with_entry => return Ok(raised),
            None => {
                let (until, nb) = (until_ms.to_string(), not_before.to_string());
                let key = request.key;
                self.append(&[key, "until", &until, "not_before", &nb])
                    .await?
            }
        };
        let revoked = Revoked::NotBefore {
            key: request.key.to_owned(),
            not_before,
            until_ms,
        };
        self.await_mirrors(&id, revoked).await;
        Ok(raised)
    }

    /// Lifts a flag (see `LIFT_SCRIPT`), then waits for the mirrors. In cluster mode the stream
    /// entry follows in a second script, also after a replay (the first attempt may have failed
    /// between the two; a mirror lifts a flag twice without harm).
    pub async fn lift(&self, key: &str, once: Option<(&str, u64)>) -> Result<bool, StoreError> {
        let stream = &self.inner.stream;
        let (marker, marker_ms) = once.unwrap_or((key, 0));
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(LIFT_SCRIPT)
            .arg(if stream.with_entry { 3 } else { 2 })
            .arg(key)
            .arg(marker);
        if stream.with_entry {
            cmd.arg(&stream.key);
        }
        cmd.arg(stream.keep_ms).arg(marker_ms);
        let (id, written): (Option<String>, i64) = parse(self.write(cmd).await?)?;
        let id = match id {
            Some(id) => id,
            None if stream.with_entry => return Ok(written == 1),
            None => self.append(&[key, "until", "0", "lift", "1"]).await?,
        };
        let lifted = Revoked::Lift {
            key: key.to_owned(),
        };
        self.await_mirrors(&id, lifted).await;
        Ok(written == 1)
    }

    /// Cluster mode: appends a revocation whose entry is already written (`fields` starts with
    /// the entry's key); returns the stream entry's id.
    async fn append(&self, fields: &[&str]) -> Result<String, StoreError> {
        let stream = &self.inner.stream;
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(APPEND_SCRIPT)
            .arg(1)
            .arg(&stream.key)
            .arg(stream.keep_ms)
            .arg("key")
            .arg(fields);
        parse(self.write(cmd).await?)
    }

    /// With the mirror on: takes the revocation into this replica's own mirror at once, then
    /// waits until every other replica holding a lease has read the stream up to `id`, or until
    /// a lease plus a drift margin has passed since Redis acknowledged the write (a replica that
    /// has not read it by then can no longer hold a lease from before it). The acknowledgements
    /// are compared on one clock, Redis's. They are trusted only under the generation marker
    /// this replica knows, and not within a lease of that marker's installation after a loss, nor
    /// of a Redis restart or failover: the acknowledgements of leases still running may be gone
    /// or older than those leases.
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
        let settle_ms = (shared.lease + drift).as_millis() as i64;
        let known = self.inner.generation.known();
        let mut read = redis::cmd("EVAL");
        read.arg(ACKS_SCRIPT)
            .arg(2)
            .arg(&self.inner.acks_key)
            .arg(&self.inner.marker_key);
        while Instant::now() < give_up {
            let acks: Result<(i64, Option<String>, Vec<String>), _> = self.query(&read).await;
            if let Ok((now_ms, marker, acks)) = acks {
                let pairs = || acks.chunks(2).filter_map(|p| Some((p.first()?, p.get(1)?)));
                // Since when the acknowledgements can be complete: the last data loss, restart
                // or failover (see INSTALL_SCRIPT and `lua_incarnation!`).
                let complete_since = [INSTALLED, "_since"].map(|name| {
                    pairs()
                        .find(|(field, _)| *field == name)
                        .and_then(|(_, at)| at.parse::<i64>().ok())
                });
                let trusted = known.as_ref().map(|k| &k.raw) == marker.as_ref()
                    && marker.is_some()
                    && complete_since
                        .iter()
                        .all(|at| at.is_none_or(|at| now_ms - at >= settle_ms));
                if !trusted {
                    tokio::time::sleep_until(give_up.into()).await;
                    return;
                }
                let all_read = pairs().all(|(replica, ack)| {
                    replica.starts_with('_')
                        || replica == &shared.replica_id
                        || has_read(ack, entry, now_ms)
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
