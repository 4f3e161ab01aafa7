//! `[server]` and `[log]`: where to listen, how much to accept, how to stop, and how to log.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: String,
    /// Envoy ext_authz over gRPC (HTTP/2 cleartext); empty: off.
    pub grpc_listen: String,
    /// CIDR networks (or single addresses) whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<String>,
    pub max_body_bytes: usize,
    pub workers: usize,
    pub shutdown_timeout_secs: u64,
    pub shutdown_delay_secs: u64,
}

impl ServerSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        self.grpc_listen_addr()?;
        self.trusted_proxy_nets()?;
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::new(
                "server.max_body_bytes",
                "must be at least 1024",
            ));
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| {
            ConfigError::new(
                "server.listen",
                "must be an IP address and port, e.g. 127.0.0.1:8080",
            )
        })
    }

    /// The gRPC listener's address, or `None` when `server.grpc_listen` is empty (off).
    pub fn grpc_listen_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        if self.grpc_listen.is_empty() {
            return Ok(None);
        }
        let addr = self.grpc_listen.parse().map_err(|_| {
            ConfigError::new(
                "server.grpc_listen",
                "must be empty (off) or an IP address and port, e.g. 127.0.0.1:9191",
            )
        })?;
        Ok(Some(addr))
    }

    /// `server.trusted_proxies` as networks; a bare address is a network of one.
    pub fn trusted_proxy_nets(&self) -> Result<Vec<IpNet>, ConfigError> {
        self.trusted_proxies
            .iter()
            .enumerate()
            .map(|(i, text)| {
                text.parse::<IpNet>()
                    .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        ConfigError::new(
                            format!("server.trusted_proxies[{i}]"),
                            "must be a CIDR network or an IP address, e.g. 10.0.0.0/8",
                        )
                    })
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

impl LogSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !matches!(
            self.level.as_str(),
            "error" | "warn" | "info" | "debug" | "trace"
        ) {
            return Err(ConfigError::new(
                "log.level",
                "must be one of error, warn, info, debug, trace",
            ));
        }
        Ok(())
    }
}
