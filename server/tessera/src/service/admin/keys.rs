//! Signing keys: rotation from the console and the CLI, audited.

use super::{AdminError, audit};
use crate::crypto::MasterKey;
use serde_json::{Value, json};
use tessera_store::Store;

/// Rotates every algorithm's keys (next becomes current, current retired,
/// a new next) and records it; returns the report per algorithm.
pub fn rotate_keys(
    store: &Store,
    master: &MasterKey,
    actor: &str,
    now: i64,
    retired_publish_secs: i64,
) -> Result<Vec<Value>, AdminError> {
    let report = crate::keys::rotate(store, master, now, retired_publish_secs)
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    store.tx(|conn| audit(conn, actor, now, "keys.rotate", "signing-keys", json!({"rotated": report})))?;
    Ok(report)
}
