//! What every handler shares, HTTP and gRPC alike; built once at start-up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::client_auth::Clients;
use crate::gateway::AuthOptions;
use crate::idp::Receivers;
use crate::metrics::Metrics;
use crate::policy::Introspector;
use crate::readiness::NotReady;
use crate::trusted::TrustedProxies;

pub struct AppState {
    pub introspector: Introspector,
    pub clients: Clients,
    pub auth: AuthOptions,
    /// The receivers of logouts and security events from identity providers.
    pub receivers: Receivers,
    pub metrics: Arc<Metrics>,
    pub max_body_bytes: usize,
    pub ready_timeout: Duration,
    /// Peers whose `X-Forwarded-*` headers are believed (`server.trusted_proxies`).
    pub trusted_proxies: TrustedProxies,
    /// Set on SIGTERM: /readyz answers 503 while requests are still served.
    pub shutting_down: Arc<AtomicBool>,
}

impl AppState {
    /// Whether this replica should receive traffic now: the one answer of `/readyz` and of
    /// gRPC health checking. Sets the `introspectd_ready` gauge and logs the reason.
    pub async fn readiness(&self) -> Result<(), NotReady> {
        let result = if self.shutting_down.load(Ordering::SeqCst) {
            Err(NotReady::ShuttingDown)
        } else {
            self.introspector.ready(self.ready_timeout).await
        };
        self.metrics.set_ready(result.is_ok());
        if let Err(reason) = result {
            let store = self.introspector.store_address();
            if reason.needs_operator() {
                tracing::error!(reason = %reason, store, "not ready");
            } else {
                tracing::warn!(reason = %reason, store, "not ready");
            }
        }
        result
    }
}
