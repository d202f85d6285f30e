//! Rust SDK for Tessera token plugins of `tessera:plugin@0.2.0`
//! (`plugins/wit/0.2.0/`): everything the 0.1.0 SDK (`tessera-plugin`) has,
//! plus `http.fetch`, a GET or POST the host makes for the plugin to URLs
//! its binding allows, with headers taken from the binding's secrets by name.
//!
//! ```ignore
//! use tessera_plugin_http::{Decision, Guest, Patch, TokenContext, http};
//!
//! struct Plugin;
//!
//! impl Guest for Plugin {
//!     fn on_token(ctx: TokenContext) -> Result<Decision, String> {
//!         let req = http::get("https://directory.example/users/42").secret_header("authorization", "directory-token");
//!         let user = req.send().map_err(|e| e.code().to_owned())?.json()?;
//!         Ok(Patch::new().access_claim("department", user["department"].clone()).allow())
//!     }
//! }
//!
//! tessera_plugin_http::export!(Plugin);
//! ```
//!
//! A 0.2.0 plugin receives `{}` as `secrets-json`: secrets are used by name,
//! never read. Build exactly like a 0.1.0 plugin.

use serde_json::{Map, Value};

/// The generated bindings for the 0.2.0 `token-plugin` world.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/0.2.0",
        world: "token-plugin",
        pub_export_macro: true,
        default_bindings_module: "tessera_plugin_http::bindings",
        export_macro_name: "export",
    });
}

pub use bindings::tessera::plugin::host::Level;
pub use bindings::tessera::plugin::types::{ClaimsPatch, ClientInfo, Denial, DenialCode, UserInfo, UserSource};
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

/// Outbound HTTP: request builders over the `http` import.
pub mod http {
    pub use crate::bindings::tessera::plugin::http::{Error, Method, Request, Response, SecretHeader};
    use serde_json::Value;

    /// A GET of `url`.
    pub fn get(url: impl Into<String>) -> Request {
        Request {
            method: Method::Get,
            url: url.into(),
            headers: Vec::new(),
            secret_headers: Vec::new(),
            body_json: None,
        }
    }

    /// A POST of `body` as JSON to `url`.
    pub fn post(url: impl Into<String>, body: &Value) -> Request {
        Request {
            method: Method::Post,
            url: url.into(),
            headers: Vec::new(),
            secret_headers: Vec::new(),
            body_json: Some(body.to_string()),
        }
    }

    impl Request {
        /// Adds a plain header.
        pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.headers.push((name.into(), value.into()));
            self
        }

        /// Adds header `name` whose value the host takes from the binding's
        /// secret `secret`; the plugin never sees it.
        pub fn secret_header(mut self, name: impl Into<String>, secret: impl Into<String>) -> Self {
            self.secret_headers.push(SecretHeader { name: name.into(), secret: secret.into() });
            self
        }

        /// Sends it (the `http.fetch` import).
        pub fn send(&self) -> Result<Response, Error> {
            crate::bindings::tessera::plugin::http::fetch(self)
        }
    }

    impl Response {
        /// The body parsed as JSON.
        pub fn json(&self) -> Result<Value, String> {
            serde_json::from_str(&self.body).map_err(|e| format!("the response is not JSON: {e}"))
        }
    }

    impl Error {
        /// The error's code as recorded in run records: `not_allowed`,
        /// `timeout`, `too_large`, `network`, `bad_response`.
        pub fn code(&self) -> &'static str {
            match self {
                Error::NotAllowed(_) => "not_allowed",
                Error::Timeout => "timeout",
                Error::TooLarge => "too_large",
                Error::Network(_) => "network",
                Error::BadResponse(_) => "bad_response",
            }
        }
    }
}

include!("../../rust/src/helpers.rs");
