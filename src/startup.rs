//! Building and running the service: the same door for `main` and the tests. `build` validates
//! keys (with a sign-and-verify self-test), builds the store, and binds the listener (port 0 in
//! tests) before anything is served.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::{middleware, web, App, HttpServer};

use crate::client_auth::Clients;
use crate::config::{ConfigError, Settings};
use crate::metrics::Metrics;
use crate::routes::auth::AuthOptions;
use crate::routes::{self, AppState};
use crate::store::{Keys, Store};
use crate::token::unix_now;
use crate::token::{signer, Introspector, Verifier};

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Everything that can fail because of configuration fails here, naming the key.
    pub async fn build(settings: Settings) -> Result<Application, ConfigError> {
        let verifier = Verifier::from_settings(&settings.jwt)?;
        signer::self_test(&settings.jwt, &verifier, unix_now())?;
        let metrics = Arc::new(Metrics::new());
        let keys = Keys::new(settings.store.key_prefix.clone());
        let store = Store::from_settings(&settings.store, &keys, Arc::clone(&metrics))
            .map_err(|e| ConfigError::new("store.redis_url", e.to_string()))?;
        if matches!(store, Store::Memory(_)) {
            tracing::warn!(
                "store.backend = memory: revocations are neither shared between replicas nor kept across restarts"
            );
        }
        let introspector = Introspector::new(
            verifier,
            store,
            keys,
            settings.store.on_error,
            settings.store.revocation_margin_secs,
            Arc::clone(&metrics),
        );
        let state = web::Data::new(AppState {
            introspector,
            clients: Clients::new(&settings.clients),
            auth: AuthOptions::new(&settings.auth),
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
        .shutdown_timeout(settings.server.shutdown_timeout_secs);
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server
            .listen(listener)
            .map_err(|e| ConfigError::new("server.listen", e.to_string()))?
            .run();
        tracing::info!(%addr, port, backend = ?settings.store.backend, "introspectd listening");
        Ok(Application { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
