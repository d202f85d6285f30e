//! OpenID Connect Back-Channel Logout 1.0 §2.5: Logout Tokens posted to the
//! clients of a browser session that ended, off the request path.
//!
//! The sign-out page never waits for a client: each Logout Token joins a
//! bounded queue, and one thread (`tessera-logout`) posts them in turn,
//! each within `timeout`, without following redirects. A full queue drops
//! the token (counted and logged), as a client that does not answer loses
//! only its own notice. There is no retry: §2.8 leaves it to the OP, and a
//! client that missed one still sees its tokens fail (the session's refresh
//! tokens are not touched here; its ID token expires). Each outcome is in
//! `tessera_backchannel_logouts_total` and the log, with the client's id.

use crate::service::metrics;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

/// How many Logout Tokens may wait to be posted.
const QUEUE: usize = 1024;

/// One Logout Token for one client.
#[derive(Debug)]
pub struct Delivery {
    /// The client it is for (for the log).
    pub client_id: String,
    /// Its `backchannel_logout_uri`.
    pub uri: String,
    /// The signed Logout Token.
    pub token: String,
}

/// The queue of Logout Tokens and the thread that posts them.
pub struct BackchannelSender {
    queue: Option<SyncSender<Delivery>>,
}

impl BackchannelSender {
    /// Starts the posting thread; each POST is bounded by `timeout`. If the
    /// thread or its HTTP client cannot start, the sender drops every token
    /// and says so in the log, and sign-out works as before.
    pub fn start(timeout: Duration) -> BackchannelSender {
        let (tx, rx) = sync_channel(QUEUE);
        // Built, used and dropped on its own thread: a blocking client owns
        // a runtime, which must not be dropped inside an async context (the
        // services are built on one in tests). No redirects, and the proxy
        // rule of the server's other outbound requests (docs/architecture.md,
        // "Outbound HTTP").
        let started = std::thread::Builder::new().name("tessera-logout".into()).spawn(move || {
            let client = tessera_plugin_host::outbound_client_builder().and_then(|b| {
                b.timeout(timeout)
                    .connect_timeout(timeout)
                    .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION"), " back-channel logout"))
                    .build()
                    .map_err(|e| e.to_string())
            });
            match client {
                Ok(http) => post_all(&http, rx),
                Err(e) => tracing::error!(error = %e, "back-channel logout disabled: no HTTP client"),
            }
        });
        match started {
            Ok(_) => BackchannelSender { queue: Some(tx) },
            Err(e) => {
                tracing::error!(error = %e, "back-channel logout disabled: cannot start its thread");
                BackchannelSender { queue: None }
            }
        }
    }

    /// Queues `delivery`; never blocks.
    pub fn send(&self, delivery: Delivery) {
        let Some(queue) = &self.queue else {
            metrics::backchannel_logout("dropped");
            return;
        };
        match queue.try_send(delivery) {
            Ok(()) => {}
            Err(TrySendError::Full(d) | TrySendError::Disconnected(d)) => {
                metrics::backchannel_logout("dropped");
                tracing::warn!(client_id = %d.client_id, "back-channel logout dropped: the send queue is full");
            }
        }
    }
}

/// Counts and logs a Logout Token that could not be signed (no key loaded),
/// as an undelivered one is.
pub fn not_signed(client_id: &str, error: &str) {
    metrics::backchannel_logout("failed");
    tracing::warn!(%client_id, %error, "back-channel logout not signed");
}

fn post_all(http: &reqwest::blocking::Client, rx: Receiver<Delivery>) {
    for d in rx {
        // §2.5: a form POST with the one parameter `logout_token`.
        let sent = http.post(&d.uri).form(&[("logout_token", d.token.as_str())]).send();
        match sent {
            Ok(r) if r.status().is_success() => {
                metrics::backchannel_logout("delivered");
                tracing::info!(client_id = %d.client_id, "back-channel logout delivered");
            }
            Ok(r) => {
                metrics::backchannel_logout("failed");
                tracing::warn!(client_id = %d.client_id, status = r.status().as_u16(), "back-channel logout refused by the client");
            }
            Err(e) => {
                metrics::backchannel_logout("failed");
                tracing::warn!(client_id = %d.client_id, error = %e.without_url(), "back-channel logout not delivered");
            }
        }
    }
}
