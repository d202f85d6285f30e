//! Signing keys: rotation from the console and the CLI, audited.

use super::{AdminError, audit};
use crate::crypto::MasterKey;
use crate::service::db::Db;
use crate::service::views::SigningKeyView;
use serde_json::{Value, json};
use tessera_protocol::model::SigningAlg;
use tessera_store::keys::{self, KeyState};
use tessera_store::{Store, StoreError};

/// Rotates every algorithm's keys (next becomes current, current retired,
/// a new next) and records it in the same transaction; returns the report
/// per algorithm.
pub fn rotate_keys(
    store: &Store,
    master: &MasterKey,
    actor: &str,
    now: i64,
    retired_publish_secs: i64,
) -> Result<Vec<Value>, AdminError> {
    Ok(store.tx(|conn| {
        let report = crate::keys::rotate(conn, master, now, retired_publish_secs)?;
        audit(conn, actor, now, "keys.rotate", "signing-keys", json!({"rotated": report}))?;
        Ok(report)
    })?)
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

/// The key `kid`, if it exists.
pub fn find_key(store: &impl Db, kid: &str) -> Result<Option<SigningKeyView>, StoreError> {
    Ok(keys::all(&mut *store.conn()?)?.into_iter().find(|k| k.kid == kid).map(SigningKeyView::from))
}

/// Rotates one algorithm's keys (a step of [`crate::keys::rotate_alg`]),
/// purges retired keys past their publication window, and records it, in
/// one transaction; returns the report. HS256 has no key ring (each API
/// holds its own secret): refused as an invalid `alg`.
pub fn rotate_alg_keys(
    store: &Store,
    master: &MasterKey,
    actor: &str,
    now: i64,
    alg: SigningAlg,
    retired_publish_secs: i64,
) -> Result<Value, AdminError> {
    if !SigningAlg::ASYMMETRIC.contains(&alg) {
        return Err(AdminError::Invalid {
            field: "alg",
            message: format!("{alg} keys belong to APIs, not the key ring"),
        });
    }
    Ok(store.tx(|conn| {
        let report = crate::keys::rotate_alg(conn, master, alg, now)?;
        keys::purge_retired(conn, now - retired_publish_secs)?;
        audit(conn, actor, now, "keys.rotate", alg.as_str(), json!({"rotated": [&report]}))?;
        Ok(report)
    })?)
}

/// Retires the key `kid` now ([`crate::keys::retire`]: its algorithm keeps
/// a current and a next key) and records it in the same transaction;
/// retiring a retired key changes and records nothing.
pub fn retire_key(store: &impl Db, master: &MasterKey, actor: &str, now: i64, kid: &str) -> Result<(), AdminError> {
    Ok(store.tx(|conn| {
        if let Some(report) = crate::keys::retire(conn, master, kid, now)? {
            audit(conn, actor, now, "keys.retire", kid, report)?;
        }
        Ok(())
    })?)
}
