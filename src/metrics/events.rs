//! `introspectd_security_events_total{event, result}`: the shared signals received, registered
//! only when `[ssf]` is on. `event` is a known event type's name or "other"; `result` one of
//! applied, replayed, ignored (an event introspectd does not act on), refused (400) and
//! unavailable (503: the store failed, the transmitter retries).

use prometheus::{IntCounterVec, Opts};

pub const RESULTS: [&str; 5] = ["applied", "replayed", "ignored", "refused", "unavailable"];

pub(super) fn security_events() -> IntCounterVec {
    IntCounterVec::new(
        Opts::new(
            "introspectd_security_events_total",
            "Security events (Shared Signals) received, by event type and result.",
        ),
        &["event", "result"],
    )
    .expect("static metric definition is valid")
}
