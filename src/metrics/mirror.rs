//! The blocklist mirror's metrics (registered only when the mirror is on).

use std::sync::Mutex;
use std::time::Instant;

use prometheus::{IntCounter, IntGauge, IntGaugeVec, Opts};

/// What the mirror can do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorState {
    /// Holds a lease: checks are answered from memory.
    Current,
    /// Loaded, but its lease lapsed (Redis slow or unreachable): checks use Redis.
    Lagging,
    /// Loading the stream (start-up, or after a data loss): checks use Redis.
    Resyncing,
}

const STATES: [(MirrorState, &str); 3] = [
    (MirrorState::Current, "current"),
    (MirrorState::Lagging, "lagging"),
    (MirrorState::Resyncing, "resyncing"),
];

pub(super) struct MirrorMetrics {
    pub(super) state: IntGaugeVec,
    pub(super) entries: IntGauge,
    pub(super) lease_age: prometheus::Gauge,
    pub(super) fallbacks: IntCounter,
    /// When the lease was last renewed, for the age gauge at scrape time.
    pub(super) renewed: Mutex<Option<Instant>>,
}

impl MirrorMetrics {
    pub(super) fn new() -> MirrorMetrics {
        let valid = "static metric definition is valid";
        MirrorMetrics {
            state: IntGaugeVec::new(
                Opts::new(
                    "introspectd_mirror_state",
                    "1 for the blocklist mirror's current state (current, lagging, resyncing).",
                ),
                &["state"],
            )
            .expect(valid),
            entries: IntGauge::new(
                "introspectd_mirror_entries",
                "Revocations held in the local mirror of the blocklist.",
            )
            .expect(valid),
            lease_age: prometheus::Gauge::new(
                "introspectd_mirror_lease_age_seconds",
                "Seconds since the mirror's lease was last renewed (a read reached the stream's end).",
            )
            .expect(valid),
            fallbacks: IntCounter::new(
                "introspectd_mirror_fallbacks_total",
                "Checks answered through Redis because the mirror could not answer.",
            )
            .expect(valid),
            renewed: Mutex::new(None),
        }
    }

    pub(super) fn set_state(&self, state: MirrorState) {
        for (s, label) in STATES {
            self.state
                .with_label_values(&[label])
                .set(i64::from(s == state));
        }
    }
}
