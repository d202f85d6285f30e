//! End-to-end tests: the real `tessera` binary, started on a free port with a
//! temporary data directory, driven by real client libraries. Organised by
//! spec; every test stands alone (its own server and database).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod audit;
mod browser;
mod cli;
mod client_assertion;
mod client_credentials;
pub mod console;
mod device;
mod faults;
mod housekeeping;
mod introspection;
mod keys;
mod management_api;
mod management_openapi;
mod metrics;
mod oidc;
mod operations;
mod par;
pub mod plugin_signatures;
pub mod plugins;
mod rate_limits;
mod revocation;
mod snapshot;
mod startup;
mod throttle;
mod token_errors;
mod token_exchange;
mod tracing;
mod user_grants;
