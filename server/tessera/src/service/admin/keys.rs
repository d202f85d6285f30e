//! Signing keys: rotation from the console and the CLI, audited.

use super::{AdminError, audit};
use crate::crypto::MasterKey;
use crate::service::views::SigningKeyView;
use serde_json::{Value, json};
use tessera_store::keys::{self, KeyState};
use tessera_store::{Store, StoreError};

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

/// Every signing key, by algorithm, then current, next, retired, newest first.
pub fn list_keys(store: &Store) -> Result<Vec<SigningKeyView>, StoreError> {
    let mut rows = keys::all(&mut *store.conn()?)?;
    let rank = |s: KeyState| match s {
        KeyState::Current => 0,
        KeyState::Next => 1,
        KeyState::Retired => 2,
    };
    rows.sort_by(|a, b| {
        a.alg.cmp(&b.alg).then(rank(a.state).cmp(&rank(b.state))).then(b.created_at.cmp(&a.created_at))
    });
    Ok(rows.into_iter().map(SigningKeyView::from).collect())
}
