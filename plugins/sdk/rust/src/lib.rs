//! Rust SDK for Tessera token plugins.
//!
//! It generates the bindings for the `tessera:plugin/token-plugin` world from
//! `plugins/wit/` once, and adds a few helpers so that a plugin is a handful of
//! lines:
//!
//! ```ignore
//! use tessera_plugin::{Decision, Guest, Patch, TokenContext};
//!
//! struct Plugin;
//!
//! impl Guest for Plugin {
//!     fn on_token(ctx: TokenContext) -> Result<Decision, String> {
//!         Ok(Patch::new().access_claim("tenant", "acme").allow())
//!     }
//! }
//!
//! tessera_plugin::export!(Plugin);
//! ```
//!
//! Build a plugin crate (`crate-type = ["cdylib"]`) with
//! `cargo build --release --target wasm32-wasip2`: the result is a component.

use serde_json::{Map, Value};

/// The generated bindings for the `token-plugin` world.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "token-plugin",
        pub_export_macro: true,
        default_bindings_module: "tessera_plugin::bindings",
        export_macro_name: "export",
    });
}

pub use bindings::tessera::plugin::host::Level;
pub use bindings::tessera::plugin::types::{
    ClaimsPatch, ClientInfo, Denial, DenialCode, UserInfo, UserSource,
};
pub use bindings::{Decision, Guest, TokenContext, export};
pub use serde_json;

/// Records a log line in this call's run record (see `host.log` in the WIT).
pub fn log(level: Level, message: &str) {
    bindings::tessera::plugin::host::log(level, message);
}

/// Logs at `info` level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs at `warn` level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

// The helpers below are shared word for word with the 0.2.0 SDK
// (`sdk/rust-http`), which includes the same file against its own bindings.
include!("helpers.rs");
