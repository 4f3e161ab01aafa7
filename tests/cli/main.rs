//! The real binary: configuration errors stop start-up with one line naming the key, environment
//! overrides work, `mint` output verifies, and nothing secret reaches the logs.
//!
//! - `config_errors`: bad configuration, one line naming the key.
//! - `file_store`: the file store across SIGKILLs, locked, unreadable, unwritable and full.
//! - `mint`: `introspectd mint` with every key type.
//! - `serve`: the running service: environment, logs, healthcheck, SIGTERM.
//! - `tls_logs`: over mutual TLS with a password file, no secret in trace logs.

mod config_errors;
mod file_store;
mod mint;
#[path = "../support/redis.rs"]
mod redis_support;
mod serve;
mod support;
mod tls_logs;
#[path = "../support/tls.rs"]
mod tls_support;
