//! Keeps bound plugin versions compiled on this node, off the request path.
//!
//! Uploads are compiled by the node (or CLI) that receives them; other nodes
//! learn of a new version only through the database. This thread polls the
//! bindings every interval and prepares every version not yet prepared here
//! (loading this node's authenticated cache artefact, or compiling in the
//! bounded child process), so the first token request after a rollout does
//! not pay for compilation.

use super::pipeline::TOKEN_TRIGGER;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tessera_plugin_host::PluginHost;
use tessera_store::plugins;
use tessera_store::{Store, StoreError};

/// Whether the warmer has been through the bindings once, for readiness
/// (`/readyz`): until then a token request may still pay for compiling a
/// bound plugin version.
#[derive(Debug, Default)]
pub struct Warmth {
    warmed: AtomicBool,
}

impl Warmth {
    /// Every version bound at the first complete pass was prepared (or
    /// found broken, which its binding's failure policy answers for).
    pub fn warmed(&self) -> bool {
        self.warmed.load(Ordering::Acquire)
    }
}

/// Starts the warmer thread; it lives as long as the process.
pub fn spawn(store: Store, host: Arc<PluginHost>, interval: Duration) -> std::io::Result<Arc<Warmth>> {
    let warmth = Arc::new(Warmth::default());
    let status = warmth.clone();
    std::thread::Builder::new().name("plugin-warmer".into()).spawn(move || {
        let mut done = HashSet::new();
        loop {
            match warm_once(&store, &host, &mut done) {
                Ok(_) => status.warmed.store(true, Ordering::Release),
                Err(e) => tracing::warn!(error = %e, "plugin warmer could not read bindings"),
            }
            std::thread::sleep(interval);
        }
    })?;
    Ok(warmth)
}

/// Prepares every enabled binding's version (and shadow candidate) not in `done`; returns how many
/// were prepared now. A version that fails is recorded too (its calls will
/// report the failure through the binding's policy) so it is not retried in
/// a loop.
pub fn warm_once(store: &Store, host: &PluginHost, done: &mut HashSet<String>) -> Result<usize, StoreError> {
    let mut conn = store.conn()?;
    let mut wanted: Vec<String> = plugins::bindings_for_trigger(&mut conn, TOKEN_TRIGGER)?
        .into_iter()
        .filter(|b| b.enabled)
        // Shadow candidates too (`service::shadow`): their first run then
        // finds them compiled.
        .flat_map(|b| std::iter::once(b.plugin_version_id).chain(b.shadow.map(|c| c.version_id)))
        .filter(|v| !done.contains(v))
        .collect();
    wanted.sort();
    wanted.dedup();
    let mut prepared = 0;
    for version_id in wanted {
        let Some(version) = plugins::version(&mut conn, &version_id)? else {
            done.insert(version_id);
            continue;
        };
        // The bytes are read only if this node has no compiled artefact.
        match host.warm(&version.sha256, || plugins::wasm(&mut conn, &version_id)) {
            Ok(()) => {
                tracing::info!(version = %version_id, sha256 = %version.sha256, "plugin version ready on this node");
                prepared += 1;
            }
            Err(e) => tracing::error!(version = %version_id, error = %e, "bound plugin version cannot be prepared"),
        }
        done.insert(version_id);
    }
    Ok(prepared)
}
