//! The Redis store. deadpool-redis creates connections and checks their health; introspectd keeps
//! a few of them checked out as shared "lanes" and pipelines every concurrent request over them
//! (a `MultiplexedConnection` clone per request), so a token check is exactly one Redis command
//! (`MGET`, or `GET` for a token without `sub`) and never queues for a connection of its own.
//! A lane that fails is dropped back to the pool, which recycles or replaces it. The same MGET
//! reads the generation marker, so a store that lost its data is noticed on the next check
//! (see generation.rs).

#[macro_use]
mod lua;

/// The warning `store.tls_insecure_skip_verify` earns.
const INSECURE_TLS: &str = "store.tls_insecure_skip_verify is on: the Redis server's certificate is not verified, so anyone on the network path can read and forge revocations";

mod connect;
mod follow;
mod lanes;
mod lookup;
mod pool;
mod probe;
mod reply;
mod revoke;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool::managed::Timeouts;
use redis::{self, AsyncConnectionConfig};

use follow::MirrorShared;
use lanes::Lanes;
use pool::{Handle, Pools};
use reply::info_texts;
use revoke::StreamKey;

use super::generation::{Generation, Seen, Tracker, INSTALL_SCRIPT};
use super::{Keys, StoreError, Unfit};
use crate::config::{RedisMode, StoreSettings};
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// deadpool's pool of the configured mode: creates, checks and recycles connections.
    pool: Pools,
    /// The shared connections every check pipelines over.
    lanes: Lanes,
    /// In cluster mode the generation marker lives in another hash slot than a token's
    /// entries, so it is checked by a background task and readiness, not in every MGET.
    marker_in_lookup: bool,
    /// `{prefix}generation`, read with every check (see generation.rs).
    marker_key: String,
    /// The marker this instance adopted last; a different one means a data loss.
    generation: Tracker,
    /// When this instance last saw the store lose its data.
    data_loss_at: Mutex<Option<Instant>>,
    /// Readiness fails this long after a data loss (store.data_loss_unready_secs, default 0).
    data_loss_hold: Duration,
    /// Readiness accepts an evicting maxmemory-policy (the operator chose so).
    allow_evicting_policy: bool,
    /// Data-loss, eviction-policy and AOF gauges are set from here.
    metrics: Arc<Metrics>,
    /// Replicas that must acknowledge a revocation (WAIT); 0 for none.
    min_replica_acks: usize,
    /// How long a revocation waits for those acknowledgements.
    replica_ack_timeout: Duration,
    /// The no-AOF warning is logged once per instance.
    warned_no_aof: AtomicBool,
    /// `store.tls_insecure_skip_verify`: warned at start-up and on every readiness failure.
    insecure_tls: bool,
    /// The readiness probe's keys: a string, a stream, a hash (see probe.rs).
    probe_keys: [String; 3],
    /// Where Redis is, without credentials: logs name it so a typo in a host is not mistaken
    /// for Redis being down.
    address: String,
    /// The revocation stream, written by every revocation (see revoke.rs).
    stream: StreamKey,
    /// The mirrors' acknowledgements, `{prefix}{...}mirror_acks` (see follow.rs).
    acks_key: String,
    /// The local mirror of the blocklist, when `store.mirror_lease_ms` > 0 (see follow.rs).
    mirror: Option<Arc<MirrorShared>>,
}

impl RedisStore {
    /// Builds the pool; connects lazily, so the service starts (unready) while Redis is down.
    /// `keys` names the generation marker and the stream; `max_entry_secs` is the longest a
    /// blocklist entry can live, so stream entries older than that are trimmed.
    pub fn new(
        settings: &StoreSettings,
        keys: &Keys,
        max_entry_secs: u64,
        metrics: Arc<Metrics>,
    ) -> Result<RedisStore, StoreError> {
        let marker_key = keys.generation();
        let stream = StreamKey {
            key: keys.stream(),
            keep_ms: max_entry_secs.saturating_mul(1000),
            with_entry: settings.redis_mode != RedisMode::Cluster,
        };
        let connect_timeout = Duration::from_millis(settings.connect_timeout_ms);
        let command_timeout = Duration::from_millis(settings.command_timeout_ms);
        let wait_timeout = Duration::from_millis(settings.pool_wait_timeout_ms);
        let replica_ack_timeout = Duration::from_millis(settings.replica_ack_timeout_ms);
        // Lanes bound each command with their own timer (command_timeout); the connection-level
        // response timeout must also leave room for a revocation's WAIT on a pooled connection.
        let response_timeout = if settings.min_replica_acks > 0 {
            command_timeout + replica_ack_timeout
        } else {
            command_timeout
        };
        let connection_config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            .set_response_timeout(Some(response_timeout));
        let timeouts = Timeouts {
            wait: Some(wait_timeout),
            create: Some(connect_timeout),
            recycle: Some(connect_timeout),
        };
        let pool = Pools::build(settings, connection_config, timeouts)?;
        let store = RedisStore {
            inner: Arc::new(Inner {
                marker_in_lookup: settings.redis_mode != RedisMode::Cluster,
                pool,
                lanes: Lanes::new(
                    settings.connections,
                    wait_timeout + connect_timeout * 2,
                    command_timeout,
                ),
                marker_key,
                generation: Tracker::default(),
                data_loss_at: Mutex::new(None),
                data_loss_hold: Duration::from_secs(settings.data_loss_unready_secs),
                allow_evicting_policy: settings.allow_evicting_policy,
                metrics,
                min_replica_acks: settings.min_replica_acks,
                replica_ack_timeout,
                warned_no_aof: AtomicBool::new(false),
                insecure_tls: settings.tls_insecure_skip_verify,
                probe_keys: ["string", "stream", "hash"].map(|k| keys.readiness_probe(k)),
                address: settings.redis_addresses(),
                mirror: (settings.mirror_lease_ms > 0).then(|| {
                    Arc::new(MirrorShared::new(
                        Duration::from_millis(settings.mirror_lease_ms),
                        settings.mirror_max_entries,
                    ))
                }),
                stream,
                acks_key: keys.mirror_acks(),
            }),
        };
        if settings.tls_insecure_skip_verify {
            tracing::warn!("{INSECURE_TLS}");
        }
        store.watch_generation();
        if store.inner.mirror.is_some() {
            store.inner.metrics.enable_mirror();
        }
        store.spawn_follower();
        Ok(store)
    }

    /// Where Redis is, without credentials.
    pub fn address(&self) -> &str {
        &self.inner.address
    }

    /// Runs one command on a shared lane (see lanes.rs).
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        self.inner.lanes.query(&self.inner.pool, cmd).await
    }

    /// Cluster mode: reads the generation marker every second in the background (the marker is
    /// in another hash slot than a token's entries, so it cannot join the check's MGET). The
    /// task holds only a weak reference, so it ends once the store is dropped.
    fn watch_generation(&self) {
        if self.inner.marker_in_lookup {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let Some(inner) = weak.upgrade() else { return };
                let store = RedisStore { inner };
                let mut get = redis::cmd("GET");
                get.arg(&store.inner.marker_key);
                if let Ok(marker) = store.query::<Option<String>>(&get).await {
                    let _ = store.observe_generation(marker.as_deref()).await;
                }
            }
        });
    }

    /// Interprets a marker read; installs or adopts one when needed. Returns the global
    /// not_before in force.
    pub(super) async fn observe_generation(&self, marker: Option<&str>) -> Result<i64, StoreError> {
        let inner = &self.inner;
        let (generation, reason) = match inner.generation.see(marker) {
            Seen::Known(not_before) => return Ok(not_before),
            Seen::Unreadable => {
                return Err(StoreError::Unavailable("unreadable generation marker"))
            }
            Seen::New {
                generation,
                changed,
            } => (
                generation,
                changed.then_some(
                    "the generation marker changed: another replica found the store reset",
                ),
            ),
            Seen::Missing { lost } => {
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(INSTALL_SCRIPT)
                    .arg(2)
                    .arg(&inner.marker_key)
                    .arg(&inner.acks_key)
                    .arg(uuid::Uuid::new_v4().to_string())
                    .arg(if lost { "now" } else { "0" });
                let raw: String = self.query(&cmd).await?;
                let generation = Generation::parse(&raw)
                    .ok_or(StoreError::Unavailable("unreadable generation marker"))?;
                (
                    generation,
                    lost.then_some("the generation marker vanished: the store lost its data"),
                )
            }
        };
        let not_before = generation.not_before;
        if inner.generation.adopt(generation) {
            if let Some(reason) = reason {
                *inner.data_loss_at.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(Instant::now());
                inner.metrics.store_data_loss(not_before);
                tracing::error!(
                    not_before,
                    "{reason}; every token issued before not_before is now inactive"
                );
            } else if not_before > 0 {
                inner.metrics.store_data_loss_seen(not_before);
            }
        }
        Ok(not_before)
    }

    /// Whether the store is fit to serve: it answers, its marker is known (detecting a loss
    /// without traffic), its eviction policy cannot drop blocklist entries, and no loss was seen
    /// within `store.data_loss_unready_secs`.
    pub async fn readiness(&self) -> Result<(), Unfit> {
        let found = self.check_readiness().await;
        if found.is_err() && self.inner.insecure_tls {
            tracing::warn!("{INSECURE_TLS}");
        }
        found
    }

    async fn check_readiness(&self) -> Result<(), Unfit> {
        let inner = &self.inner;
        let mut get = redis::cmd("GET");
        get.arg(&inner.marker_key);
        let marker: Option<String> = self.query(&get).await.map_err(Unfit::Unreachable)?;
        self.observe_generation(marker.as_deref())
            .await
            .map_err(Unfit::Unreachable)?;
        self.probe_commands().await.map_err(Unfit::Unreachable)?;
        let mut info = redis::cmd("INFO");
        info.arg("memory").arg("persistence");
        // One text in standalone and sentinel mode; one per master in cluster mode.
        let info: redis::Value = self.info(info).await.map_err(Unfit::Unreachable)?;
        let texts = info_texts(info);
        let field = |text: &'_ str, name: &str| -> Option<String> {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_owned())
        };
        let evicting = texts.iter().any(|text| {
            field(text, "maxmemory_policy:").is_some_and(|policy| policy != "noeviction")
        });
        let aof = texts
            .iter()
            .all(|text| field(text, "aof_enabled:").as_deref() == Some("1"));
        inner.metrics.set_aof_enabled(aof);
        if !aof && !inner.warned_no_aof.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "Redis runs without AOF persistence: a restart loses every revocation (introspectd then makes older tokens inactive; see deploy/redis/README.md)"
            );
        }
        inner.metrics.set_evicting_policy(evicting);
        if evicting && !inner.allow_evicting_policy {
            return Err(Unfit::EvictingPolicy);
        }
        let lost_at = *inner.data_loss_at.lock().unwrap_or_else(|p| p.into_inner());
        if lost_at.is_some_and(|at| at.elapsed() < inner.data_loss_hold) {
            return Err(Unfit::DataLoss);
        }
        Ok(())
    }

    /// INFO: in cluster mode from one reachable master (a failed node must not make the
    /// cluster look unreachable); elsewhere like any command.
    async fn info(&self, cmd: redis::Cmd) -> Result<redis::Value, StoreError> {
        if self.inner.marker_in_lookup {
            return self.query(&cmd).await;
        }
        use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
        let conn = tokio::time::timeout(self.inner.lanes.acquire_timeout(), self.inner.pool.get())
            .await
            .map_err(|_| StoreError::Timeout)??;
        let Handle::Cluster(mut cluster) = conn.handle() else {
            return Err(StoreError::Unavailable("not a cluster connection"));
        };
        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::RandomPrimary);
        tokio::time::timeout(
            self.inner.lanes.command_timeout(),
            cluster.route_command(cmd, routing),
        )
        .await
        .map_err(|_| StoreError::Timeout)?
        .map_err(|_| StoreError::Unavailable("command failed"))
    }
}
