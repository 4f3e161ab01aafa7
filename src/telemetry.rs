//! The tracing subscriber: text or JSON lines on stderr (stdout is kept for `mint`), level from
//! `log.level`. What is logged is decided at each call site: ids (`jti`, `sub`, `client_id`),
//! never a token, a secret or an Authorization header.

use std::str::FromStr;

use tracing_subscriber::filter::LevelFilter;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber; a second call (several apps in one test process) is a no-op.
pub fn init(log: &LogSettings) {
    let level = LevelFilter::from_str(&log.level).unwrap_or(LevelFilter::INFO);
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .with_writer(std::io::stderr);
    let _ = match log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
