//! The wall clock, as token claims and revocation deadlines count time. One place, so every
//! module reads the same clock the same way.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in whole seconds (rounded down), as JWT `exp`, `nbf` and `iat` count it.
pub fn unix_now() -> i64 {
    unix_now_ms().div_euclid(1000)
}

/// Unix time in milliseconds, as Redis `PXAT` counts it.
pub fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
