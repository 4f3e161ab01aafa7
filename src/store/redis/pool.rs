//! Connections to Redis in every mode: deadpool's pool of the configured mode (its connections
//! made by connect.rs), a pooled connection that can be detached when it turns out to talk to a
//! replica, and a cloneable handle that pipelines concurrent commands over the same socket(s).

use std::sync::atomic::{AtomicBool, Ordering};

use deadpool::managed::{Manager, Object, Pool, PoolError, Timeouts};
use deadpool::Runtime;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, RedisError};

use super::connect::{self, Credentials};
use crate::config::{RedisMode, StoreSettings};
use crate::store::refusal::Refusal;
use crate::store::StoreError;

/// The pool of the configured mode. deadpool owns creating and recycling connections in every
/// mode; redis-rs follows cluster redirections (MOVED/ASK) and sentinel master changes.
pub enum Pools {
    Standalone(Pool<connect::Standalone>),
    Cluster(Pool<connect::Cluster>),
    Sentinel(Pool<connect::Sentinel>),
}

/// A pooled connection of any mode, returned to its pool when dropped, unless it was found
/// talking to a node that is no longer a master: then it is detached and closed, so the pool
/// opens a new one (through the sentinels in sentinel mode) instead of recycling it.
pub struct Conn {
    kind: Option<ConnKind>,
    stale: AtomicBool,
}

enum ConnKind {
    Standalone(Object<connect::Standalone>),
    Cluster(Object<connect::Cluster>),
    Sentinel(Object<connect::Sentinel>),
}

impl Conn {
    fn new(kind: ConnKind) -> Conn {
        Conn {
            kind: Some(kind),
            stale: AtomicBool::new(false),
        }
    }

    pub fn mark_stale(&self) {
        self.stale.store(true, Ordering::Relaxed);
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if !self.stale.load(Ordering::Relaxed) {
            return;
        }
        match self.kind.take() {
            Some(ConnKind::Standalone(c)) => drop(Object::take(c)),
            Some(ConnKind::Cluster(c)) => drop(Object::take(c)),
            Some(ConnKind::Sentinel(c)) => drop(Object::take(c)),
            None => {}
        }
    }
}

/// A clone of a pooled connection: both kinds pipeline concurrent requests over the same
/// sockets.
#[derive(Clone)]
pub enum Handle {
    Multiplexed(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl Conn {
    pub fn handle(&self) -> Handle {
        match self
            .kind
            .as_ref()
            .expect("a live Conn always holds its connection")
        {
            ConnKind::Standalone(c) => Handle::Multiplexed((**c).clone()),
            ConnKind::Sentinel(c) => Handle::Multiplexed((**c).clone()),
            ConnKind::Cluster(c) => Handle::Cluster((**c).clone()),
        }
    }
}

impl ConnectionLike for Handle {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Handle::Multiplexed(c) => c.req_packed_command(cmd),
            Handle::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Handle::Multiplexed(c) => c.req_packed_commands(cmd, offset, count),
            Handle::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Handle::Multiplexed(c) => c.get_db(),
            Handle::Cluster(c) => c.get_db(),
        }
    }
}

impl Pools {
    pub async fn get(&self) -> Result<Conn, StoreError> {
        match self {
            Pools::Standalone(p) => p
                .get()
                .await
                .map(|c| Conn::new(ConnKind::Standalone(c)))
                .map_err(StoreError::from_pool),
            Pools::Cluster(p) => p
                .get()
                .await
                .map(|c| Conn::new(ConnKind::Cluster(c)))
                .map_err(StoreError::from_pool),
            Pools::Sentinel(p) => p
                .get()
                .await
                .map(|c| Conn::new(ConnKind::Sentinel(c)))
                .map_err(StoreError::from_pool),
        }
    }
}

impl Pools {
    /// Builds the pool of `settings.redis_mode`; nothing is connected yet.
    pub fn build(
        settings: &StoreSettings,
        connection_config: AsyncConnectionConfig,
        timeouts: Timeouts,
    ) -> Result<Pools, StoreError> {
        let urls: Vec<String> = settings
            .redis_urls
            .iter()
            .map(|u| u.expose().to_owned())
            .collect();
        let credentials = Credentials::from_settings(settings);
        let invalid = |_| StoreError::Unavailable("invalid Redis URL");
        Ok(match settings.redis_mode {
            RedisMode::Standalone => Pools::Standalone(pool(
                connect::Standalone::new(
                    settings.redis_url.expose(),
                    credentials,
                    connection_config,
                )
                .map_err(invalid)?,
                settings,
                timeouts,
            )?),
            RedisMode::Cluster => Pools::Cluster(pool(
                connect::Cluster::new(&urls, credentials).map_err(invalid)?,
                settings,
                timeouts,
            )?),
            RedisMode::Sentinel => Pools::Sentinel(pool(
                connect::Sentinel::new(
                    &urls,
                    &settings.sentinel_master,
                    credentials,
                    connection_config,
                )
                .map_err(invalid)?,
                settings,
                timeouts,
            )?),
        })
    }
}

/// deadpool's pool over `manager`, sized and timed by the settings, on tokio.
fn pool<M: Manager>(
    manager: M,
    settings: &StoreSettings,
    timeouts: Timeouts,
) -> Result<Pool<M>, StoreError> {
    Pool::builder(manager)
        .max_size(settings.pool_max_size)
        .timeouts(timeouts)
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|_| StoreError::Unavailable("cannot build the Redis pool"))
}

pub fn is_read_only(err: &RedisError) -> bool {
    matches!(
        err.kind(),
        redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
    )
}

/// Errors that mean the connection itself is unusable (not a command or type error).
pub fn is_connection_failure(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_timeout()
        || err.is_connection_refusal()
}

impl StoreError {
    pub fn from_pool(err: PoolError<RedisError>) -> StoreError {
        match err {
            PoolError::Timeout(_) => StoreError::Timeout,
            PoolError::Backend(err) => match Refusal::of(&err) {
                Some(refusal) => StoreError::Refused(refusal),
                None => StoreError::Unavailable("cannot connect"),
            },
            _ => StoreError::Unavailable("cannot connect"),
        }
    }
}
