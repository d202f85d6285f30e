//! Application services: the use cases shared by the CLI, the HTTP endpoints
//! the console and (later) the management API. They run on blocking threads
//! (diesel blocks) and return typed errors; renderers live in `web/`.

pub mod admin;
pub mod client_page;
pub mod console;
pub mod db;
pub mod management;
pub mod metrics;
pub mod oauth;
pub mod passkeys;
pub mod pipeline;
pub mod plugin_trial;
pub mod plugins;
pub mod precondition;
pub mod purge;
pub mod rate_limit;
pub mod registration;
pub mod roles;
pub mod run_log;
pub mod second_factor;
pub mod shadow;
pub mod sign_in;
pub mod snapshot;
pub mod suspensions;
pub mod totp;
pub mod user_second_factor;
pub mod views;
pub mod warmer;

use crate::keys::KeyError;
use tessera_protocol::OAuthError;
use tessera_store::StoreError;

/// The one mapping from storage failures to OAuth errors: an outage is
/// `temporarily_unavailable`, anything else `server_error`; the client never
/// learns the cause (docs/architecture.md: internal failures never say why).
pub fn store_failure(e: StoreError) -> OAuthError {
    match e {
        StoreError::Unavailable(d) => OAuthError::unavailable(d),
        other => OAuthError::server_error(other.to_string()),
    }
}

/// Key failures are internal too.
pub fn key_failure(e: KeyError) -> OAuthError {
    match e {
        KeyError::Store(s) => store_failure(s),
        other => OAuthError::server_error(other.to_string()),
    }
}
