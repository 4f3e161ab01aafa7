//! Failure limiting for client authentication (RFC 6749 §2.3.1 asks for brute-force
//! protection): failed attempts are counted per client id and per source address in fixed
//! windows; past `client_auth.max_failures` in `client_auth.window_secs`, that id or address is
//! refused with 429 until its window ends. Memory is bounded: at most `MAX_TRACKED` keys per
//! kind, expired windows purged first, and past that new keys are not tracked.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_TRACKED: usize = 50_000;

struct Window {
    start: Instant,
    failures: u32,
}

struct Counter<K> {
    windows: Mutex<HashMap<K, Window>>,
}

impl<K: Hash + Eq + Clone> Counter<K> {
    fn new() -> Self {
        Counter {
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds until `key` may try again, when it is over the limit.
    fn blocked_for(&self, key: &K, limits: &Limits, now: Instant) -> Option<u64> {
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let w = windows.get(key)?;
        let elapsed = now.duration_since(w.start);
        (elapsed < limits.window && w.failures >= limits.max_failures)
            .then(|| (limits.window - elapsed).as_secs().max(1))
    }

    fn record(&self, key: &K, limits: &Limits, now: Instant) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if !windows.contains_key(key) && windows.len() >= MAX_TRACKED {
            windows.retain(|_, w| now.duration_since(w.start) < limits.window);
            if windows.len() >= MAX_TRACKED {
                return;
            }
        }
        let w = windows.entry(key.clone()).or_insert(Window {
            start: now,
            failures: 0,
        });
        if now.duration_since(w.start) >= limits.window {
            *w = Window {
                start: now,
                failures: 0,
            };
        }
        w.failures = w.failures.saturating_add(1);
    }
}

struct Limits {
    max_failures: u32,
    window: Duration,
}

pub struct FailureLimiter {
    limits: Limits,
    by_client: Counter<String>,
    by_source: Counter<IpAddr>,
}

impl FailureLimiter {
    /// `max_failures` of 0 turns limiting off.
    pub fn new(max_failures: u32, window: Duration) -> FailureLimiter {
        FailureLimiter {
            limits: Limits {
                max_failures,
                window,
            },
            by_client: Counter::new(),
            by_source: Counter::new(),
        }
    }

    /// Seconds to wait when this client id or source is over the limit.
    pub fn blocked_for(&self, client_id: Option<&str>, source: Option<IpAddr>) -> Option<u64> {
        if self.limits.max_failures == 0 {
            return None;
        }
        let now = Instant::now();
        let by_client = client_id.and_then(|id| {
            self.by_client
                .blocked_for(&id.to_owned(), &self.limits, now)
        });
        let by_source = source.and_then(|ip| self.by_source.blocked_for(&ip, &self.limits, now));
        by_client.max(by_source)
    }

    pub fn record_failure(&self, client_id: Option<&str>, source: Option<IpAddr>) {
        if self.limits.max_failures == 0 {
            return;
        }
        let now = Instant::now();
        if let Some(id) = client_id {
            self.by_client.record(&id.to_owned(), &self.limits, now);
        }
        if let Some(ip) = source {
            self.by_source.record(&ip, &self.limits, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_past_the_limit_per_client_and_per_source() {
        let limiter = FailureLimiter::new(3, Duration::from_secs(60));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(limiter.blocked_for(Some("gw"), Some(a)), None);
            limiter.record_failure(Some("gw"), Some(a));
        }
        assert!(
            limiter.blocked_for(Some("gw"), Some(b)).is_some(),
            "client locked"
        );
        assert!(
            limiter.blocked_for(Some("other"), Some(a)).is_some(),
            "source locked"
        );
        assert_eq!(limiter.blocked_for(Some("other"), Some(b)), None);
        let wait = limiter.blocked_for(Some("gw"), None).unwrap();
        assert!((1..=60).contains(&wait));
    }

    #[test]
    fn windows_expire_and_zero_turns_it_off() {
        let limiter = FailureLimiter::new(1, Duration::from_millis(0));
        limiter.record_failure(Some("gw"), None);
        assert_eq!(
            limiter.blocked_for(Some("gw"), None),
            None,
            "window already over"
        );
        let off = FailureLimiter::new(0, Duration::from_secs(60));
        off.record_failure(Some("gw"), None);
        assert_eq!(off.blocked_for(Some("gw"), None), None);
    }
}
