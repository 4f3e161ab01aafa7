//! One request's observation, for every protocol (HTTP middleware, gRPC handlers): recorded
//! exactly once, by `finish`, or as `cancelled` when dropped unanswered (the client or Envoy
//! went away), so the histogram counts every request the service received.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Metrics, Outcome};

pub struct RequestRecord {
    endpoint: &'static str,
    metrics: Option<Arc<Metrics>>,
    start: Instant,
    done: bool,
}

impl RequestRecord {
    pub fn start(endpoint: &'static str, metrics: Option<Arc<Metrics>>) -> RequestRecord {
        RequestRecord {
            endpoint,
            metrics,
            start: Instant::now(),
            done: false,
        }
    }

    pub fn endpoint(&self) -> &'static str {
        self.endpoint
    }

    /// Counts the request under `outcome` and observes its latency; returns the latency.
    pub fn finish(&mut self, outcome: Outcome) -> Duration {
        let took = self.start.elapsed();
        if let Some(metrics) = &self.metrics {
            metrics.observe_request(self.endpoint, outcome, took);
        }
        self.done = true;
        took
    }
}

impl Drop for RequestRecord {
    fn drop(&mut self) {
        if !self.done {
            self.finish(Outcome::Cancelled);
        }
    }
}
