//! introspectd: token introspection (RFC 7662) and revocation (RFC 7009) over a shared
//! blocklist, for gateways and backends that delegate "is this token still good?".
//!
//! # Layout
//! - `audit`: the original method and URI of a gateway request, for its log line.
//! - `clock`: the wall clock in unix seconds and milliseconds.
//! - `config`: the typed settings tree, defaults compiled in, validated before binding.
//! - `token`: verification (signature, claims, keys) and token ids.
//! - `policy`: the one decision: verify, then consult the store, then fail closed or open.
//! - `readiness`: why this replica should not receive traffic (one table of reasons).
//! - `store`: the blocklist backends (embedded memory, Redis) and their key scheme.
//! - `client_auth`: Basic / client_secret_post authentication of callers.
//! - `limiter`: failure limiting of client authentication (429).
//! - `form`: strict form-urlencoded bodies with a size cap.
//! - `error`: the one error type and its OAuth JSON responses.
//! - `gateway`: the gateway decision for every protocol: credential, scopes, identity headers.
//! - `idp`: revocations pushed by the identity provider (back-channel logout, shared signals).
//! - `grpc`: Envoy ext_authz over gRPC and gRPC health checking, on `server.grpc_listen`.
//! - `state`: what every handler shares (HTTP and gRPC), and the one readiness answer.
//! - `trusted`: `server.trusted_proxies`, whose X-Forwarded-* headers are believed.
//! - `metrics`: Prometheus metrics owning their registry.
//! - `routes`: one file per endpoint and the route table (`auth` is the gateway endpoint).
//! - `scope`: `X-Required-Scope` parsing and matching for `/auth`.
//! - `startup`: builds the app, binds, runs until stopped.
//! - `telemetry`: the tracing subscriber.
//! - `cli`: command-line parsing (`--config`, `mint`, `healthcheck`).
//! - `healthcheck`: the dependency-free HTTP probe behind `introspectd healthcheck`.
#![forbid(unsafe_code)]

pub mod audit;
pub mod cli;
pub mod client_auth;
pub mod clock;
pub mod config;
pub mod error;
pub mod form;
pub mod gateway;
pub mod grpc;
pub mod healthcheck;
pub mod idp;
pub mod limiter;
pub mod metrics;
pub mod policy;
pub mod readiness;
pub mod routes;
pub mod scope;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod token;
pub mod trusted;
