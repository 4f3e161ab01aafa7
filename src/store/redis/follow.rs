//! The mirror's follower and lease (`store.mirror_lease_ms` > 0). A task loads the revocation
//! stream into the mirror, then reads on from its position on a connection of its own, together
//! with the generation marker. After a read that reached the end of the stream it records its
//! position and lease in the acknowledgements hash (valid until Redis time + L, and only under
//! the marker it read), and only once that is recorded does it extend its lease: the local
//! monotonic time at which it sent the read, plus L. While the lease holds, checks are answered
//! from memory. A changed or vanished marker (data loss) or an entry that does not follow the
//! last one read (a gap) reloads the mirror, and no lease is held meanwhile, so checks use the
//! MGET path.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::{self, Value};

use super::pool::Conn;
use super::reply::as_string;
use super::RedisStore;
use crate::metrics::MirrorState;
use crate::store::generation::Seen;
use crate::store::mirror::{Mirror, Revoked, StreamId};
use crate::store::StoreError;

/// Entries read per command.
const BATCH: usize = 1000;

/// Acknowledgements whose lease ended this long ago (ms) belong to replicas that are gone.
const PRUNE_AFTER_MS: i64 = 3_600_000;

/// Deletes the acknowledgements whose lease ended more than `ARGV[1]` ms ago (Redis clock).
const PRUNE_ACKS_SCRIPT: &str = concat!(
    lua_redis_now!(),
    r"
local acks = redis.call('HGETALL', KEYS[1])
for i = 1, #acks, 2 do
  local valid_until = tonumber(string.match(acks[i + 1], ' (%d+)$'))
  local replica = string.sub(acks[i], 1, 1) ~= '_'
  if replica and (valid_until == nil or valid_until < now_ms - tonumber(ARGV[1])) then
    redis.call('HDEL', KEYS[1], acks[i])
  end
end
return 0
"
);

/// Records this replica's acknowledgement `"<position> <valid until>"` (`ARGV[1]` replica id,
/// `ARGV[2]` position, `ARGV[3]` lease ms), valid from the Redis clock now, which is no earlier
/// than when the read was sent. Only while the marker is still the one the read saw (`ARGV[4]`),
/// so no lease is ever recorded under a generation whose acknowledgements were lost; and only
/// while the position is still the stream's end (`KEYS[3]`): a revocation written between the
/// read and this acknowledgement may have found this replica's previous acknowledgement expired
/// and not waited for it, so the read must not become a lease. 1 if recorded.
const ACK_SCRIPT: &str = concat!(
    lua_redis_now!(),
    lua_last_id!(),
    lua_incarnation!(),
    r"
if redis.call('GET', KEYS[2]) ~= ARGV[4] then return 0 end
if last_id(KEYS[3]) ~= ARGV[2] then return 0 end
note_incarnation(KEYS[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. (now_ms + tonumber(ARGV[3])))
return 1
"
);

/// What the store shares with its follower.
pub(super) struct MirrorShared {
    pub(super) mirror: Mutex<Mirror>,
    /// Until when the mirror may answer (monotonic); None: no lease.
    lease_until: Mutex<Option<Instant>>,
    /// False until the mirror was loaded for the current generation marker.
    synced: AtomicBool,
    pub(super) lease: Duration,
    /// This replica's field in the acks hash.
    pub(super) replica_id: String,
    max_entries: usize,
}

impl MirrorShared {
    pub(super) fn new(lease: Duration, max_entries: usize) -> MirrorShared {
        MirrorShared {
            mirror: Mutex::new(Mirror::new(max_entries)),
            lease_until: Mutex::new(None),
            synced: AtomicBool::new(false),
            lease,
            replica_id: uuid::Uuid::new_v4().to_string(),
            max_entries,
        }
    }

    /// Whether the mirror may answer now.
    pub(super) fn holds_lease(&self) -> bool {
        self.synced.load(Ordering::Acquire)
            && lock(&self.lease_until).is_some_and(|until| Instant::now() < until)
    }

    fn drop_lease(&self) {
        *lock(&self.lease_until) = None;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RedisStore {
    /// Starts the follower when the mirror is on; it ends when the store is dropped.
    pub(super) fn spawn_follower(&self) {
        let Some(shared) = self.inner.mirror.clone() else {
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        let poll = (shared.lease / 4).max(Duration::from_millis(5));
        tokio::spawn(async move {
            let mut conn: Option<Conn> = None;
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let store = RedisStore { inner };
                // Each read blocks in Redis until an entry arrives or `block` passes, so there
                // is no wait between reads.
                match store.follow_once(&shared, &mut conn).await {
                    Ok(_) => {}
                    Err(error) => {
                        tracing::debug!(%error, "mirror read failed; reconnecting");
                        conn = None;
                        store.report_unrenewed(&shared);
                        drop(store);
                        tokio::time::sleep(poll).await;
                    }
                }
            }
        });
    }

    /// One step: load if needed, else read on. Ok(true) once caught up.
    async fn follow_once(
        &self,
        shared: &MirrorShared,
        conn: &mut Option<Conn>,
    ) -> Result<bool, StoreError> {
        let stream = &self.inner.stream.key;
        if conn.is_none() {
            *conn = Some(self.inner.pool.get().await?);
        }
        let conn = conn.as_ref().expect("set just above");
        if !shared.synced.load(Ordering::Acquire) {
            self.inner.metrics.mirror_state(MirrorState::Resyncing, 0);
            // Replicas that are gone leave their field behind; each (re)load sweeps them.
            let mut prune = redis::cmd("EVAL");
            prune
                .arg(PRUNE_ACKS_SCRIPT)
                .arg(1)
                .arg(&self.inner.acks_key)
                .arg(PRUNE_AFTER_MS);
            let _: Value = self.bounded(prune.query_async(&mut conn.handle())).await?;
            let mirror = self.load(conn, stream, shared.max_entries).await?;
            *lock(&shared.mirror) = mirror;
            shared.synced.store(true, Ordering::Release);
            return Ok(false);
        }
        let sent = Instant::now();
        let position = lock(&shared.mirror).position();
        let mut pipe = redis::pipe();
        // Shorter than the lease (so it is renewed in time) and than the connection's response
        // timeout.
        let block = (shared.lease / 4)
            .min(self.inner.lanes.command_timeout() / 2)
            .max(Duration::from_millis(1));
        pipe.cmd("XREAD")
            .arg("COUNT")
            .arg(BATCH)
            .arg("BLOCK")
            .arg(block.as_millis() as u64)
            .arg("STREAMS")
            .arg(stream)
            .arg(position.to_string())
            .cmd("GET")
            .arg(&self.inner.marker_key);
        let (read, marker): (Value, Option<String>) =
            self.bounded(pipe.query_async(&mut conn.handle())).await?;
        if !matches!(self.inner.generation.see(marker.as_deref()), Seen::Known(_)) {
            // A loss, or the first marker: adopt it, then reload with no lease meanwhile.
            shared.drop_lease();
            shared.synced.store(false, Ordering::Release);
            self.observe_generation(marker.as_deref()).await?;
            return Ok(false);
        }
        let entries = stream_entries(read)?;
        let caught_up = entries.len() < BATCH;
        let now_ms = crate::clock::unix_now_ms();
        let followed = {
            let mut mirror = lock(&shared.mirror);
            let followed = mirror.follow(entries);
            mirror.expire(now_ms);
            followed
        };
        if !followed {
            tracing::warn!("the revocation stream has a gap (trimmed, or a failover or restart lost its end); reloading the mirror");
            shared.drop_lease();
            shared.synced.store(false, Ordering::Release);
            return Ok(false);
        }
        if !caught_up {
            return Ok(false);
        }
        let acked = self.acknowledge(shared, conn, marker.as_deref()).await;
        if !matches!(acked, Ok(true)) {
            self.report_unrenewed(shared);
            return acked.map(|_| false);
        }
        // Recorded: the lease may run from when the read was sent.
        *lock(&shared.lease_until) = Some(sent + shared.lease);
        self.inner.metrics.mirror_lease_renewed(sent);
        let entries = lock(&shared.mirror).len();
        self.inner
            .metrics
            .mirror_state(MirrorState::Current, entries);
        Ok(true)
    }

    /// The mirror's state after a step that did not renew the lease: still current while the
    /// last lease lasts, lagging after.
    fn report_unrenewed(&self, shared: &MirrorShared) {
        let state = if shared.holds_lease() {
            MirrorState::Current
        } else {
            MirrorState::Lagging
        };
        let entries = lock(&shared.mirror).len();
        self.inner.metrics.mirror_state(state, entries);
    }

    /// Records this replica's position and lease (see ACK_SCRIPT); with `store.min_replica_acks`,
    /// only once that many Redis replicas have it too, so a failover keeps it.
    async fn acknowledge(
        &self,
        shared: &MirrorShared,
        conn: &Conn,
        marker: Option<&str>,
    ) -> Result<bool, StoreError> {
        let position = lock(&shared.mirror).position();
        let mut pipe = redis::pipe();
        pipe.cmd("EVAL")
            .arg(ACK_SCRIPT)
            .arg(3)
            .arg(&self.inner.acks_key)
            .arg(&self.inner.marker_key)
            .arg(&self.inner.stream.key)
            .arg(&shared.replica_id)
            .arg(position.to_string())
            .arg(shared.lease.as_millis() as u64)
            .arg(marker.unwrap_or(""));
        let needed = self.inner.min_replica_acks;
        if needed > 0 {
            pipe.cmd("WAIT")
                .arg(needed)
                .arg(self.inner.replica_ack_timeout.as_millis() as u64);
            let (recorded, replicas): (i64, usize) =
                self.bounded(pipe.query_async(&mut conn.handle())).await?;
            return Ok(recorded == 1 && replicas >= needed);
        }
        let (recorded,): (i64,) = self.bounded(pipe.query_async(&mut conn.handle())).await?;
        Ok(recorded == 1)
    }

    /// The whole stream into a fresh mirror, in pages.
    async fn load(&self, conn: &Conn, stream: &str, max: usize) -> Result<Mirror, StoreError> {
        let mut mirror = Mirror::new(max);
        // The stream's end before the pages are read: where the mirror stands even if every
        // entry up to it was trimmed (entries added meanwhile are in the pages).
        let mut last = redis::cmd("EVAL");
        last.arg(concat!(lua_last_id!(), "return last_id(KEYS[1])"))
            .arg(1)
            .arg(stream);
        let end: String = self.bounded(last.query_async(&mut conn.handle())).await?;
        let end = StreamId::parse(&end)
            .ok_or(StoreError::Unavailable("unreadable revocation stream id"))?;
        let mut start = "-".to_owned();
        loop {
            let mut range = redis::cmd("XRANGE");
            range
                .arg(stream)
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(BATCH);
            let page: Value = self.bounded(range.query_async(&mut conn.handle())).await?;
            let entries = range_entries(page)?;
            let Some((last, _, _)) = entries.last() else {
                break;
            };
            start = format!("({last}");
            let full = entries.len() == BATCH;
            mirror.apply(entries.into_iter().map(|(id, _, revoked)| (id, revoked)));
            if !full {
                break;
            }
        }
        mirror.skip_to(end);
        mirror.expire(crate::clock::unix_now_ms());
        Ok(mirror)
    }

    /// One command or pipeline on the follower's connection, within the command timeout.
    async fn bounded<T>(
        &self,
        request: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.inner.lanes.command_timeout(), request)
            .await
            .map_err(|_| StoreError::Timeout)?
            .map_err(|error| {
                tracing::debug!(%error, "mirror command failed");
                StoreError::Unavailable("mirror read failed")
            })
    }
}

/// A stream entry: its id, the id of the entry before it, and the revocation.
type Entry = (StreamId, StreamId, Revoked);

/// XREAD's reply: for our one stream, its entries (none: nil).
fn stream_entries(reply: Value) -> Result<Vec<Entry>, StoreError> {
    let streams = match reply {
        Value::Array(items) => items,
        Value::Map(pairs) => pairs
            .into_iter()
            .map(|(k, v)| Value::Array(vec![k, v]))
            .collect(),
        _ => return Ok(Vec::new()),
    };
    let mut entries = Vec::new();
    for stream in streams {
        if let Value::Array(mut pair) = stream {
            if let Some(items) = pair.pop().filter(|_| pair.len() == 1) {
                entries.extend(range_entries(items)?);
            }
        }
    }
    Ok(entries)
}

/// XRANGE's reply (and one stream of XREAD's): `[[id, [field, value, ...]], ...]`. An entry
/// that cannot be read is an error, never skipped: the mirror would miss a revocation.
fn range_entries(reply: Value) -> Result<Vec<Entry>, StoreError> {
    let Value::Array(entries) = reply else {
        return Ok(Vec::new());
    };
    entries
        .into_iter()
        .map(|e| {
            entry(e).ok_or(StoreError::Unavailable(
                "unreadable revocation stream entry",
            ))
        })
        .collect()
}

fn entry(value: Value) -> Option<Entry> {
    let Value::Array(mut parts) = value else {
        return None;
    };
    let fields = parts.pop()?;
    let id = StreamId::parse(&as_string(parts.pop()?).ok()??)?;
    let fields: Vec<String> = match fields {
        Value::Array(items) => items
            .into_iter()
            .map(|v| as_string(v).ok().flatten())
            .collect::<Option<_>>()?,
        _ => return None,
    };
    let field = |name: &str| {
        fields
            .chunks(2)
            .find(|pair| pair.first().map(String::as_str) == Some(name))
            .and_then(|pair| pair.get(1))
    };
    let prev = StreamId::parse(field("prev")?)?;
    let key = field("key")?.clone();
    let until_ms = field("until")?.parse().ok()?;
    if field("lift").is_some() {
        return Some((id, prev, Revoked::Lift { key }));
    }
    let revoked = match field("not_before") {
        Some(nb) => Revoked::NotBefore {
            key,
            not_before: nb.parse().ok()?,
            until_ms,
        },
        None => Revoked::Token { key, until_ms },
    };
    Some((id, prev, revoked))
}
