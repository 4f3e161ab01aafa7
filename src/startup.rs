//! Building and running the service: the same door for `main` and the tests. `build` validates
//! keys (with a sign-and-verify self-test), builds the store, and binds the listener (port 0 in
//! tests) before anything is served.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::{middleware, web, App, HttpServer};

use crate::client_auth::Clients;
use crate::clock::unix_now;
use crate::config::{ConfigError, IssuerSettings, ServerSettings, Settings};
use crate::gateway::AuthOptions;
use crate::grpc::GrpcServer;
use crate::idp::Receivers;
use crate::limiter::FailureLimiter;
use crate::metrics::Metrics;
use crate::policy::Introspector;
use crate::routes::{self, AppState};
use crate::store::{Keys, Store};
use crate::token::cache::TokenCache;
use crate::token::jwks::RemoteKeys;
use crate::token::{signer, Verifier};
use crate::trusted::TrustedProxies;

pub struct Application {
    port: u16,
    /// The ext_authz gRPC server, when `server.grpc_listen` is set.
    grpc: Option<GrpcServer>,
    server: Server,
    shutting_down: Arc<AtomicBool>,
    shutdown_delay: Duration,
}

impl Application {
    /// Everything that can fail because of configuration fails here, naming the key.
    pub async fn build(settings: Settings) -> Result<Application, ConfigError> {
        let auth = AuthOptions::from_settings(&settings.auth)?;
        let metrics = Arc::new(Metrics::new(settings.store.backend));
        let remote = |i: usize, issuer: &IssuerSettings| {
            let key = format!("jwt.issuers[{i}].issuer");
            RemoteKeys::new(issuer, &key, Arc::clone(&metrics)).map(Arc::new)
        };
        let verifier = Verifier::build(&settings.jwt, Some(&remote))?;
        if settings.jwt.issuers.is_empty() {
            signer::self_test(&settings.jwt, &verifier, unix_now())?;
        }
        // After the self-test, so that its probe tokens are not cached.
        let verifier = verifier.with_cache(TokenCache::new(
            settings.cache.max_bytes,
            Arc::clone(&metrics),
        ));
        for keys in verifier.remote_keys() {
            // Ends by itself when the verifier (and so the key set) is dropped.
            let _refresher = keys.spawn_refresher();
        }
        let keys = Keys::new(settings.store.key_prefix.clone());
        let max_entry_secs = settings
            .jwt
            .max_lifetime_secs
            .saturating_add(settings.jwt.leeway_secs)
            .saturating_add(settings.store.revocation_margin_secs);
        let store =
            Store::from_settings(&settings.store, &keys, max_entry_secs, Arc::clone(&metrics))?;
        if matches!(store, Store::Memory(_)) {
            tracing::warn!(
                "store.backend = memory: revocations are neither shared between replicas nor kept across restarts"
            );
        }
        let store_address = store.address().to_owned();
        let introspector = Introspector::new(
            verifier,
            store,
            keys,
            settings.store.on_error,
            settings.store.revocation_margin_secs,
            Arc::clone(&metrics),
        )
        .with_security_events(settings.ssf.enabled);
        if settings.ssf.enabled {
            metrics.enable_security_events();
        }
        let shutting_down = Arc::new(AtomicBool::new(false));
        let trusted_proxies = TrustedProxies::new(settings.server.trusted_proxy_nets()?);
        let state = Arc::new(AppState {
            shutting_down: Arc::clone(&shutting_down),
            introspector,
            clients: Clients::new(
                &settings.clients,
                FailureLimiter::new(
                    settings.client_auth.max_failures,
                    Duration::from_secs(settings.client_auth.window_secs),
                ),
                trusted_proxies.clone(),
            ),
            receivers: Receivers::from_settings(&settings, trusted_proxies.clone())?,
            trusted_proxies,
            auth,
            metrics,
            max_body_bytes: settings.server.max_body_bytes,
            ready_timeout: Duration::from_millis(settings.store.ready_timeout_ms),
        });
        let addr = settings.listen_addr()?;
        let listener = TcpListener::bind(addr)
            .map_err(|e| ConfigError::new("server.listen", format!("cannot bind {addr}: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| ConfigError::new("server.listen", e.to_string()))?
            .port();
        let grpc = match settings.server.grpc_listen_addr()? {
            Some(addr) => {
                let bind_error = |e: std::io::Error| {
                    ConfigError::new("server.grpc_listen", format!("cannot bind {addr}: {e}"))
                };
                let listener = TcpListener::bind(addr).map_err(bind_error)?;
                let grpc = GrpcServer::start(listener, Arc::clone(&state), settings.server.workers)
                    .map_err(bind_error)?;
                tracing::info!(%addr, port = grpc.port(), "ext_authz gRPC listening");
                Some(grpc)
            }
            None => None,
        };
        let server = run(listener, web::Data::from(state), &settings.server)
            .map_err(|e| ConfigError::new("server.listen", e.to_string()))?;
        tracing::info!(
            %addr,
            port,
            backend = ?settings.store.backend,
            store = store_address,
            "introspectd listening"
        );
        Ok(Application {
            port,
            grpc,
            server,
            shutting_down,
            shutdown_delay: Duration::from_secs(settings.server.shutdown_delay_secs),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The gRPC port, when `server.grpc_listen` is set.
    pub fn grpc_port(&self) -> Option<u16> {
        self.grpc.as_ref().map(GrpcServer::port)
    }

    /// Serves until the server is stopped (tests: until the runtime ends).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let _grpc = self.grpc;
        self.server.await
    }

    /// Serves until SIGTERM or SIGINT, then shuts down the way Kubernetes expects: `/readyz`
    /// answers 503 at once while requests are still served for `server.shutdown_delay_secs`
    /// (so endpoints and load balancers stop sending traffic), then the listener closes and
    /// in-flight requests get `server.shutdown_timeout_secs` to finish.
    pub async fn run_until_signalled(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let shutting_down = self.shutting_down;
        let delay = self.shutdown_delay;
        let grpc = self.grpc;
        actix_web::rt::spawn(async move {
            if let Err(err) = shutdown_signal().await {
                tracing::error!(error = %err, "cannot listen for shutdown signals");
                return;
            }
            shutting_down.store(true, Ordering::SeqCst);
            tracing::info!(
                delay_secs = delay.as_secs(),
                "shutdown requested: not ready, draining"
            );
            tokio::time::sleep(delay).await;
            tracing::info!("stopping: finishing in-flight requests");
            if let Some(grpc) = &grpc {
                grpc.stop();
            }
            handle.stop(true).await;
            // In-flight checks had the HTTP drain's time; the runtime ends with the server.
            drop(grpc);
        });
        self.server.await
    }
}

/// Assembles the server on a bound listener: the route table, the middleware and the worker
/// settings, nothing else (after zero2prod's `run`).
fn run(
    listener: TcpListener,
    state: web::Data<AppState>,
    settings: &ServerSettings,
) -> std::io::Result<Server> {
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(middleware::from_fn(routes::observe))
            .wrap(
                middleware::DefaultHeaders::new()
                    .add((header::CACHE_CONTROL, "no-store"))
                    .add((header::PRAGMA, "no-cache")),
            )
            .configure(routes::configure)
    })
    .shutdown_timeout(settings.shutdown_timeout_secs)
    // Signals are handled by `run_until_signalled`, which drains before stopping.
    .disable_signals();
    if settings.workers > 0 {
        server = server.workers(settings.workers);
    }
    Ok(server.listen(listener)?.run())
}

async fn shutdown_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    Ok(())
}
