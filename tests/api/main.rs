//! Integration tests: the real application in-process on a free port, a real `redis-server` per
//! test. Store-dependent tests run on both backends (`on_both_backends!`).

mod helpers;
#[path = "../support/sentinel.rs"]
mod sentinel_support;
#[path = "../support/redis.rs"]
mod support;
#[path = "../support/tls.rs"]
mod tls_support;

mod auth;
mod backchannel;
mod cache;
mod chaos;
mod client_auth;
mod corpus;
mod data_loss;
mod durability;
mod file_store;
mod fleet;
mod gateways;
mod grpc;
mod health;
mod idp;
mod introspect;
mod jwks;
mod mirror;
mod nginx;
mod oidc_provider;
mod redis_topologies;
mod requests;
mod revoke;
mod revoke_session;
mod revoke_subject;
mod ssf;
mod store_failure;
mod tls;
mod upstream;
