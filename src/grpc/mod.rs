//! The gRPC listener (`server.grpc_listen`, HTTP/2 cleartext): Envoy's ext_authz
//! `Authorization` service (authz.rs) and gRPC health checking (health.rs), served by tonic in
//! the same process and with the same `AppState` as the HTTP endpoints.
//!
//! tonic runs on tokio like actix-web, but actix-web's workers are single-threaded runtimes of
//! their own; the gRPC server gets its own multi-threaded tokio runtime, with as many threads as
//! `server.workers` (one per core when 0). The store's connections and timers work from either
//! runtime. Dropping the server stops that runtime.

pub mod authz;
pub mod health;

use std::net::TcpListener;
use std::sync::Arc;

use envoy_types::ext_authz::v3::pb::AuthorizationServer;
use tokio::sync::watch;
use tonic_health::pb::health_server::HealthServer;

use crate::state::AppState;

pub struct GrpcServer {
    port: u16,
    runtime: Option<tokio::runtime::Runtime>,
    stop: watch::Sender<bool>,
}

impl GrpcServer {
    /// Starts serving on a bound listener.
    pub fn start(
        listener: TcpListener,
        state: Arc<AppState>,
        workers: usize,
    ) -> std::io::Result<GrpcServer> {
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let threads = if workers > 0 {
            workers
        } else {
            std::thread::available_parallelism().map_or(1, usize::from)
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("introspectd-grpc")
            .enable_all()
            .build()?;
        let (stop, mut stopped) = watch::channel(false);
        let authz = AuthorizationServer::new(authz::Authorizer {
            state: Arc::clone(&state),
        });
        let health = HealthServer::new(health::HealthService { state });
        runtime.spawn(async move {
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => listener,
                Err(err) => {
                    tracing::error!(error = %err, "gRPC listener failed");
                    return;
                }
            };
            let incoming =
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
            let served = tonic::transport::Server::builder()
                .add_service(authz)
                .add_service(health)
                .serve_with_incoming_shutdown(incoming, async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                })
                .await;
            if let Err(err) = served {
                tracing::error!(error = %err, "gRPC server failed");
            }
        });
        Ok(GrpcServer {
            port,
            runtime: Some(runtime),
            stop,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Closes the listener and lets in-flight checks finish (graceful HTTP/2 GOAWAY).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Never blocks, so it may run inside another runtime (tests, actix's system).
            runtime.shutdown_background();
        }
    }
}
