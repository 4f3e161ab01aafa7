//! The real binary: configuration errors stop start-up with one line naming the key, environment
//! overrides work, `mint` output verifies, and nothing secret reaches the logs.
//!
//! - `config_errors`: bad configuration, one line naming the key.
//! - `mint`: `introspectd mint` with every key type.
//! - `serve`: the running service: environment, logs, healthcheck, SIGTERM.

mod config_errors;
mod mint;
mod serve;
mod support;
#[path = "../support/tls.rs"]
#[allow(dead_code)] // the Redis arguments are for the api tests
mod tls_support;
