//! Shared lanes: a few pooled connections kept checked out, over which every concurrent request
//! pipelines its command. A lane whose connection died is refilled from the pool (one refill at
//! a time), and the command tried once more; a timeout is never retried.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::pool::{is_connection_failure, is_read_only, Conn, Pools};
use crate::store::refusal::Refusal;
use crate::store::StoreError;

pub struct Lanes {
    lanes: Vec<Lane>,
    /// Hands each worker thread its lane, round robin.
    next_lane: AtomicUsize,
    /// Waiting for the pool plus connecting (twice: a refill may replace a dead connection).
    acquire_timeout: Duration,
    /// One command's budget on a lane.
    command_timeout: Duration,
}

#[derive(Default)]
struct Lane {
    conn: RwLock<Option<Arc<Conn>>>,
    /// One refill at a time per lane, so an outage does not open a connection per request.
    refill: tokio::sync::Mutex<()>,
}

impl Lanes {
    pub fn new(count: usize, acquire_timeout: Duration, command_timeout: Duration) -> Lanes {
        Lanes {
            lanes: (0..count).map(|_| Lane::default()).collect(),
            next_lane: AtomicUsize::new(0),
            acquire_timeout,
            command_timeout,
        }
    }

    pub fn acquire_timeout(&self) -> Duration {
        self.acquire_timeout
    }

    pub fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    /// Runs one command on a shared lane. A lane whose connection has died (Redis restarted)
    /// fails at once; it is replaced and the command tried once more on the new connection, so
    /// a restart costs no request. A timeout is never retried: the time budget is spent.
    pub async fn query<T: redis::FromRedisValue>(
        &self,
        pool: &Pools,
        cmd: &redis::Cmd,
    ) -> Result<T, StoreError> {
        match self.query_once(pool, cmd).await {
            Err(Failure::Dropped(_)) => self
                .query_once(pool, cmd)
                .await
                .map_err(Failure::into_error),
            other => other.map_err(Failure::into_error),
        }
    }

    async fn query_once<T: redis::FromRedisValue>(
        &self,
        pool: &Pools,
        cmd: &redis::Cmd,
    ) -> Result<T, Failure> {
        let lane = self.lane();
        let conn = tokio::time::timeout(self.acquire_timeout, self.connection(pool, lane))
            .await
            .map_err(|_| Failure::Other(StoreError::Timeout))?
            .map_err(Failure::Other)?;
        let mut handle = conn.handle();
        let result = tokio::time::timeout(self.command_timeout, cmd.query_async(&mut handle)).await;
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) if is_connection_failure(&err) => {
                self.drop_lane(lane, &conn);
                if err.is_timeout() {
                    Err(Failure::Other(StoreError::Timeout))
                } else {
                    Err(Failure::Dropped(StoreError::Unavailable(
                        "connection failed",
                    )))
                }
            }
            // A demoted master (sentinel failover): this connection will never write again.
            Ok(Err(err)) if is_read_only(&err) => {
                conn.mark_stale();
                self.drop_lane(lane, &conn);
                Err(Failure::Dropped(StoreError::Unavailable(
                    "connected to a replica",
                )))
            }
            Ok(Err(err)) => Err(Failure::Other(match Refusal::of(&err) {
                Some(refusal) => StoreError::Refused(refusal),
                None => StoreError::Unavailable("command failed"),
            })),
            Err(_) => {
                self.drop_lane(lane, &conn);
                Err(Failure::Other(StoreError::Timeout))
            }
        }
    }

    /// Each worker thread keeps to one lane: a multiplexed connection's driver task runs on the
    /// thread that opened it, so a thread using its own lane avoids cross-thread wake-ups.
    fn lane(&self) -> &Lane {
        thread_local! {
            static LANE: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
        }
        // The index is only ever taken modulo the lane count, so one thread-local serves every
        // store in the process.
        let i = LANE.with(|lane| match lane.get() {
            Some(i) => i,
            None => {
                let i = self.next_lane.fetch_add(1, Ordering::Relaxed);
                lane.set(Some(i));
                i
            }
        });
        &self.lanes[i % self.lanes.len()]
    }

    async fn connection(&self, pool: &Pools, lane: &Lane) -> Result<Arc<Conn>, StoreError> {
        if let Some(conn) = read(lane) {
            return Ok(conn);
        }
        let _refilling = lane.refill.lock().await;
        if let Some(conn) = read(lane) {
            return Ok(conn);
        }
        let conn = Arc::new(pool.get().await?);
        *lane.conn.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&conn));
        Ok(conn)
    }

    /// Forgets a failed lane connection (if no other request replaced it already). It goes back
    /// to the pool once the requests still using it finish; the pool's recycle check decides.
    fn drop_lane(&self, lane: &Lane, failed: &Arc<Conn>) {
        let mut slot = lane.conn.write().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, failed)) {
            *slot = None;
        }
    }
}

fn read(lane: &Lane) -> Option<Arc<Conn>> {
    lane.conn.read().unwrap_or_else(|p| p.into_inner()).clone()
}

enum Failure {
    /// The connection was found dead; worth one more try on a fresh one.
    Dropped(StoreError),
    Other(StoreError),
}

impl Failure {
    fn into_error(self) -> StoreError {
        match self {
            Failure::Dropped(e) | Failure::Other(e) => e,
        }
    }
}
