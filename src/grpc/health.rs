//! `grpc.health.v1.Health`: gRPC health checking that answers like `/readyz` (the same
//! `AppState::readiness`), for Envoy's gRPC health checker, Kubernetes `grpc` probes and
//! `grpc_health_probe`. The server as a whole (`""`) and the Authorization service are known;
//! any other service name is NOT_FOUND, as the protocol asks.

use std::sync::Arc;
use std::time::Duration;

use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::Health;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use crate::metrics::{Outcome, RequestRecord};
use crate::state::AppState;

/// The metric label of health checks over gRPC.
pub const ENDPOINT: &str = "grpc_health";
/// The service names health checking knows.
pub const SERVICES: [&str; 2] = ["", "envoy.service.auth.v3.Authorization"];
/// How often a Watch stream re-checks readiness (it sends only changes).
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

pub struct HealthService {
    pub(super) state: Arc<AppState>,
}

impl HealthService {
    async fn status(state: &AppState) -> ServingStatus {
        let mut record = RequestRecord::start(ENDPOINT, Some(Arc::clone(&state.metrics)));
        let ready = state.readiness().await.is_ok();
        record.finish(if ready {
            Outcome::Ok
        } else {
            Outcome::NotReady
        });
        if ready {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        }
    }
}

fn answer(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status as i32,
    }
}

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        if !SERVICES.contains(&request.get_ref().service.as_str()) {
            return Err(Status::not_found("unknown service"));
        }
        Ok(Response::new(answer(Self::status(&self.state).await)))
    }

    type WatchStream = BoxStream<HealthCheckResponse>;

    /// The current status at once, then each change.
    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        if !SERVICES.contains(&request.get_ref().service.as_str()) {
            let unknown = answer(ServingStatus::ServiceUnknown);
            let once = futures_util::stream::once(async move { Ok(unknown) });
            return Ok(Response::new(Box::pin(once)));
        }
        let state = Arc::clone(&self.state);
        let changes = futures_util::stream::unfold(None, move |last| {
            let state = Arc::clone(&state);
            async move {
                loop {
                    let now = Self::status(&state).await;
                    if last != Some(now) {
                        return Some((Ok(answer(now)), Some(now)));
                    }
                    tokio::time::sleep(WATCH_INTERVAL).await;
                }
            }
        });
        Ok(Response::new(Box::pin(changes)))
    }
}
