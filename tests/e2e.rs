//! End-to-end tests: the real `tessera` binary, started on a free port with a
//! temporary data directory, driven by real client libraries. Organised by
//! spec; every test stands alone (its own server and database).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod admins;
mod audit;
mod browser;
mod cli;
pub mod client_assertion;
mod client_credentials;
mod config_as_code;
pub mod console;
mod device;
mod dpop;
mod faults;
mod housekeeping;
mod introspection;
mod jwt_bearer;
mod keys;
mod management_api;
mod management_openapi;
pub mod metrics;
pub mod oidc;
mod operations;
mod par;
mod plugin_http;
pub mod plugin_signatures;
pub mod plugins;
mod rate_limits;
mod registration;
mod remote_cli;
mod request_objects;
mod revocation;
mod second_factor;
mod shadow;
mod snapshot;
mod startup;
mod throttle;
mod token_errors;
mod token_exchange;
mod tracing;
mod user_grants;
