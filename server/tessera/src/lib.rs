//! Tessera, the authorization server, as a library: the binary in `main.rs`
//! is a thin shell over it, and the in-process tests (`service::tests`,
//! `web::tests`) and the end-to-end tests in `tests/` reach the same code
//! (route paths from `web::routes`, for one) instead of copying it.
//!
//! The layers, and who may import whom, are in docs/architecture.md.

pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod cpu_pool;
pub mod crypto;
pub mod files;
pub mod keys;
pub mod passwords;
pub mod plugin_signatures;
pub mod proxies;
pub mod service;
pub mod telemetry;
pub mod web;
