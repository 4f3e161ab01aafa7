//! Readiness: why this replica should not receive traffic now. One table of reasons serves the
//! log line and the `/readyz` answer. The store reports what it found (`store::Unfit`); the JWKS
//! issuers and the shutdown flag add their own reasons.

use std::fmt;

use crate::store::{StoreError, Unfit};

/// Why the service should not receive traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReady {
    /// The store does not answer within `store.ready_timeout_ms`.
    Unreachable(StoreError),
    /// Redis may evict keys (maxmemory-policy is not noeviction), so revocations could vanish.
    EvictingPolicy,
    /// The store lost its data less than `store.data_loss_unready_secs` ago.
    DataLoss,
    /// SIGTERM received: draining.
    ShuttingDown,
    /// An issuer's signing keys (JWKS) were never fetched, or are older than max_stale_secs.
    NoSigningKeys,
}

impl NotReady {
    /// The reason as `/readyz` states it (and the log, with the store's cause added).
    pub fn description(self) -> &'static str {
        match self {
            NotReady::Unreachable(StoreError::Refused(refusal)) => refusal.description(),
            NotReady::Unreachable(_) => "the revocation store does not answer",
            NotReady::EvictingPolicy => {
                "Redis maxmemory-policy can evict blocklist entries; set noeviction (or store.allow_evicting_policy)"
            }
            NotReady::DataLoss => "the revocation store lost its data recently",
            NotReady::ShuttingDown => "shutting down",
            NotReady::NoSigningKeys => "an issuer has no usable signing keys",
        }
    }

    /// Reasons an operator must act on (logged as errors); the others pass by themselves.
    pub fn needs_operator(self) -> bool {
        matches!(self, NotReady::EvictingPolicy | NotReady::DataLoss)
    }
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())?;
        match self {
            NotReady::Unreachable(StoreError::Refused(_)) => Ok(()),
            NotReady::Unreachable(cause) => write!(f, " ({cause})"),
            _ => Ok(()),
        }
    }
}

impl From<Unfit> for NotReady {
    fn from(unfit: Unfit) -> NotReady {
        match unfit {
            Unfit::Unreachable(e) => NotReady::Unreachable(e),
            Unfit::EvictingPolicy => NotReady::EvictingPolicy,
            Unfit::DataLoss => NotReady::DataLoss,
        }
    }
}
