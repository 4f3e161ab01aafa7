//! How a new Redis connection is made, in every mode. deadpool pools the connections; these
//! managers make and check them. Each new connection re-reads the TLS files (CA bundle, client
//! certificate and key) and the password files, so a rotated certificate or password is picked
//! up without a restart (deadpool-redis's managers hold one client built once, which cannot).
//! `rediss://` URLs turn TLS on, verified against the system roots unless `store.tls_ca_file`
//! names a private CA.

use std::sync::atomic::{AtomicUsize, Ordering};

use deadpool::managed::{self, Metrics, RecycleResult};
use redis::aio::MultiplexedConnection;
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, ClientTlsConfig, ConnectionAddr, ConnectionInfo, ErrorKind,
    IntoConnectionInfo, RedisError, RedisResult, TlsCertificates, TlsMode,
};

use crate::config::StoreSettings;

/// The files a connection reads when it is made, and the usernames beside them.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    pub ca_file: String,
    pub cert_file: String,
    pub key_file: String,
    pub insecure: bool,
    pub username: String,
    pub password_file: String,
    pub sentinel_username: String,
    pub sentinel_password_file: String,
}

/// Whether a connection to `addr` is made over TLS (a rediss:// URL).
fn is_tls(addr: &ConnectionAddr) -> bool {
    matches!(addr, ConnectionAddr::TcpTls { .. })
}

/// The connection info of each URL.
fn parse_urls(urls: &[String]) -> RedisResult<Vec<ConnectionInfo>> {
    urls.iter()
        .map(|u| u.as_str().into_connection_info())
        .collect()
}

fn read(path: &str, what: &'static str) -> RedisResult<Vec<u8>> {
    std::fs::read(path).map_err(|_| RedisError::from((ErrorKind::Io, what)))
}

impl Credentials {
    pub fn from_settings(settings: &StoreSettings) -> Credentials {
        Credentials {
            ca_file: settings.tls_ca_file.clone(),
            cert_file: settings.tls_cert_file.clone(),
            key_file: settings.tls_key_file.clone(),
            insecure: settings.tls_insecure_skip_verify,
            username: settings.redis_username.clone(),
            password_file: settings.redis_password_file.clone(),
            sentinel_username: settings.sentinel_username.clone(),
            sentinel_password_file: settings.sentinel_password_file.clone(),
        }
    }

    /// The CA bundle and client certificate as they are on disk now (None: system roots and no
    /// client certificate).
    fn certificates(&self) -> RedisResult<Option<TlsCertificates>> {
        if self.ca_file.is_empty() && self.cert_file.is_empty() {
            return Ok(None);
        }
        let root_cert = (!self.ca_file.is_empty())
            .then(|| read(&self.ca_file, "cannot read store.tls_ca_file"))
            .transpose()?;
        let client_tls = (!self.cert_file.is_empty())
            .then(|| -> RedisResult<ClientTlsConfig> {
                Ok(ClientTlsConfig {
                    client_cert: read(&self.cert_file, "cannot read store.tls_cert_file")?,
                    client_key: read(&self.key_file, "cannot read store.tls_key_file")?,
                })
            })
            .transpose()?;
        Ok(Some(TlsCertificates {
            client_tls,
            root_cert,
        }))
    }

    /// A password file's content without its final line break; None when no file is set.
    fn password(path: &str, what: &'static str) -> RedisResult<Option<String>> {
        if path.is_empty() {
            return Ok(None);
        }
        let text = String::from_utf8(read(path, what)?)
            .map_err(|_| RedisError::from((ErrorKind::Io, what)))?;
        Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()))
    }

    /// The data nodes' password from `store.redis_password_file`, if set.
    fn data_password(&self) -> RedisResult<Option<String>> {
        Self::password(&self.password_file, "cannot read store.redis_password_file")
    }

    /// Whether server certificates are verified (`store.tls_insecure_skip_verify`).
    fn tls_mode(&self) -> TlsMode {
        if self.insecure {
            TlsMode::Insecure
        } else {
            TlsMode::Secure
        }
    }

    /// `info` with this configuration's data-node credentials and TLS verification mode.
    fn apply(&self, info: ConnectionInfo) -> RedisResult<ConnectionInfo> {
        let mut redis = info.redis_settings().clone();
        if !self.username.is_empty() {
            redis = redis.set_username(&self.username);
        }
        if let Some(password) = self.data_password()? {
            redis = redis.set_password(password);
        }
        let addr = match info.addr().clone() {
            ConnectionAddr::TcpTls {
                host,
                port,
                tls_params,
                ..
            } => ConnectionAddr::TcpTls {
                host,
                port,
                insecure: self.insecure,
                tls_params,
            },
            other => other,
        };
        Ok(info.set_redis_settings(redis).set_addr(addr))
    }
}

/// UNWATCH and a PING whose answer must echo a number, as deadpool-redis checks a connection.
async fn ping(
    conn: &mut impl redis::aio::ConnectionLike,
    pings: &AtomicUsize,
) -> RecycleResult<RedisError> {
    let n = pings.fetch_add(1, Ordering::Relaxed).to_string();
    let (echo,): (String,) = redis::pipe()
        .cmd("UNWATCH")
        .ignore()
        .cmd("PING")
        .arg(&n)
        .query_async(conn)
        .await?;
    if echo == n {
        Ok(())
    } else {
        Err(managed::RecycleError::message("Invalid PING response"))
    }
}

/// One Redis server (standalone mode).
pub struct Standalone {
    info: ConnectionInfo,
    credentials: Credentials,
    config: AsyncConnectionConfig,
    pings: AtomicUsize,
}

impl Standalone {
    pub fn new(
        url: &str,
        credentials: Credentials,
        config: AsyncConnectionConfig,
    ) -> RedisResult<Standalone> {
        Ok(Standalone {
            info: url.into_connection_info()?,
            credentials,
            config,
            pings: AtomicUsize::new(0),
        })
    }
}

impl managed::Manager for Standalone {
    type Type = MultiplexedConnection;
    type Error = RedisError;

    async fn create(&self) -> Result<MultiplexedConnection, RedisError> {
        let info = self.credentials.apply(self.info.clone())?;
        let client = match self.credentials.certificates()? {
            Some(certs) if is_tls(info.addr()) => redis::Client::build_with_tls(info, certs)?,
            _ => redis::Client::open(info)?,
        };
        client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await
    }

    async fn recycle(
        &self,
        conn: &mut MultiplexedConnection,
        _: &Metrics,
    ) -> RecycleResult<RedisError> {
        ping(conn, &self.pings).await
    }
}

/// A Redis Cluster, from its seed nodes; TLS applies to every node it discovers.
pub struct Cluster {
    seeds: Vec<ConnectionInfo>,
    credentials: Credentials,
    pings: AtomicUsize,
}

impl Cluster {
    pub fn new(urls: &[String], credentials: Credentials) -> RedisResult<Cluster> {
        Ok(Cluster {
            seeds: parse_urls(urls)?,
            credentials,
            pings: AtomicUsize::new(0),
        })
    }
}

impl managed::Manager for Cluster {
    type Type = ClusterConnection;
    type Error = RedisError;

    async fn create(&self) -> Result<ClusterConnection, RedisError> {
        let seeds = self
            .seeds
            .iter()
            .map(|s| self.credentials.apply(s.clone()))
            .collect::<RedisResult<Vec<_>>>()?;
        let tls = seeds.iter().any(|s| is_tls(s.addr()));
        let first = seeds.first().map(|s| s.redis_settings().clone());
        let mut builder = ClusterClientBuilder::new(seeds);
        if let Some(redis) = first {
            if let Some(username) = redis.username() {
                builder = builder.username(username);
            }
            if let Some(password) = redis.password() {
                builder = builder.password(password);
            }
        }
        if tls {
            builder = builder.tls(self.credentials.tls_mode());
            if let Some(certs) = self.credentials.certificates()? {
                builder = builder.certs(certs);
            }
        }
        builder.build()?.get_async_connection().await
    }

    async fn recycle(
        &self,
        conn: &mut ClusterConnection,
        _: &Metrics,
    ) -> RecycleResult<RedisError> {
        ping(conn, &self.pings).await
    }
}

/// The master named `master`, found through the sentinels; `rediss://` sentinel URLs mean TLS to
/// the sentinels and to the data nodes they name.
pub struct Sentinel {
    sentinels: Vec<ConnectionAddr>,
    /// The sentinels' user and password from the first sentinel URL, if it has them.
    url_auth: (Option<String>, Option<String>),
    master: String,
    credentials: Credentials,
    config: AsyncConnectionConfig,
    pings: AtomicUsize,
}

impl Sentinel {
    pub fn new(
        urls: &[String],
        master: &str,
        credentials: Credentials,
        config: AsyncConnectionConfig,
    ) -> RedisResult<Sentinel> {
        let infos = parse_urls(urls)?;
        let url_auth = infos.first().map_or((None, None), |i| {
            let r = i.redis_settings();
            (
                r.username().map(str::to_owned),
                r.password().map(str::to_owned),
            )
        });
        Ok(Sentinel {
            sentinels: infos.iter().map(|i| i.addr().clone()).collect(),
            url_auth,
            master: master.to_owned(),
            credentials,
            config,
            pings: AtomicUsize::new(0),
        })
    }
}

impl managed::Manager for Sentinel {
    type Type = MultiplexedConnection;
    type Error = RedisError;

    async fn create(&self) -> Result<MultiplexedConnection, RedisError> {
        let c = &self.credentials;
        let mut builder = SentinelClientBuilder::new(
            self.sentinels.clone(),
            &self.master,
            SentinelServerType::Master,
        )?;
        if !c.username.is_empty() {
            builder = builder.set_client_to_redis_username(&c.username);
        }
        if let Some(password) = c.data_password()? {
            builder = builder.set_client_to_redis_password(password);
        }
        let (url_user, url_password) = self.url_auth.clone();
        let username = (!c.sentinel_username.is_empty())
            .then(|| c.sentinel_username.clone())
            .or(url_user);
        if let Some(username) = username {
            builder = builder.set_client_to_sentinel_username(username);
        }
        let password = Credentials::password(
            &c.sentinel_password_file,
            "cannot read store.sentinel_password_file",
        )?
        .or(url_password);
        if let Some(password) = password {
            builder = builder.set_client_to_sentinel_password(password);
        }
        if self.sentinels.iter().any(is_tls) {
            let mode = c.tls_mode();
            builder = builder
                .set_client_to_redis_tls_mode(mode)
                .set_client_to_sentinel_tls_mode(mode);
            if let Some(certs) = c.certificates()? {
                builder = builder
                    .set_client_to_redis_certificates(certs.clone())
                    .set_client_to_sentinel_certificates(certs);
            }
        }
        let mut client = builder.build()?;
        client.get_async_connection_with_config(&self.config).await
    }

    async fn recycle(
        &self,
        conn: &mut MultiplexedConnection,
        _: &Metrics,
    ) -> RecycleResult<RedisError> {
        ping(conn, &self.pings).await
    }
}
