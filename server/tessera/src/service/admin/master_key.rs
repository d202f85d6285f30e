//! Master-key rotation: which stored values each configured key seals, and
//! sealing them all again with the current key (`tessera master-key status`
//! and `rewrap`), so the previous key can leave `accepted_master_keys`.
//!
//! The procedure, for one node or many (README, "Master key rotation"):
//! give every node the new key as accepted; make it current everywhere with
//! the old one accepted; rewrap once; drop the old key.

use super::{AdminError, audit};
use crate::crypto::{self, MasterKey, OpenedWith};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tessera_store::Store;
use tessera_store::sealed::{self, Sealed, SealedKind};
use zeroize::Zeroizing;

/// The purpose a value of `kind` in row `id` is sealed for (`crypto::purpose`).
fn purpose(kind: SealedKind, id: &str) -> String {
    match kind {
        SealedKind::SigningKey => crypto::purpose::signing_key(id),
        SealedKind::ApiSecret => crypto::purpose::hs256_secret(id),
        SealedKind::BindingSecrets => crypto::purpose::binding_secrets(id),
        SealedKind::AdminTotp => crypto::purpose::admin_totp(id),
        SealedKind::UserTotp => crypto::purpose::user_totp(id),
    }
}

/// How many stored values of one kind each key seals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SealedCounts {
    /// Sealed with the current master key.
    pub current: usize,
    /// Sealed with an accepted key: `rewrap` seals them again.
    pub accepted: usize,
}

/// What `status` found, or what `rewrap` left, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SealedReport {
    /// Counts by kind (`signing_keys`, `api_secrets`, ...), every kind listed.
    pub kinds: BTreeMap<&'static str, SealedCounts>,
    /// Values sealed again with the current key (`rewrap` only).
    pub resealed: usize,
}

impl SealedReport {
    /// Values still sealed with an accepted key.
    pub fn accepted(&self) -> usize {
        self.kinds.values().map(|c| c.accepted).sum()
    }

    /// The report as the CLI's `--json` and the audit event carry it.
    pub fn to_json(&self) -> Value {
        json!({"kinds": self.kinds, "resealed": self.resealed, "accepted": self.accepted()})
    }
}

/// A stored value opened: which key opened it, and what it holds.
struct Opened {
    value: Sealed,
    with: OpenedWith,
    plain: Zeroizing<Vec<u8>>,
}

/// Opens every sealed value; refuses, naming them, if any opens with none
/// of the configured keys (a wrong or missing key: nothing may be changed
/// then, and the server would not start either).
fn classify(master: &MasterKey, values: Vec<Sealed>) -> Result<Vec<Opened>, AdminError> {
    let mut opened = Vec::with_capacity(values.len());
    let mut unopened = Vec::new();
    for value in values {
        match master.open_with(&purpose(value.kind, &value.id), &value.value) {
            Ok((plain, with)) => opened.push(Opened { value, with, plain }),
            Err(_) => unopened.push(format!("{} {}", value.kind.as_str(), value.id)),
        }
    }
    if !unopened.is_empty() {
        return Err(AdminError::Invalid {
            field: "master_key",
            message: format!(
                "{} stored values open with neither the master key nor any of accepted_master_keys ({}): \
                 configure the key that sealed them",
                unopened.len(),
                unopened.join(", ")
            ),
        });
    }
    Ok(opened)
}

fn report(opened: &[Opened]) -> SealedReport {
    let mut r = SealedReport {
        kinds: SealedKind::ALL.iter().map(|k| (k.as_str(), SealedCounts::default())).collect(),
        resealed: 0,
    };
    for Opened { value, with, .. } in opened {
        let counts = r.kinds.entry(value.kind.as_str()).or_default();
        match with {
            OpenedWith::Current => counts.current += 1,
            OpenedWith::Accepted => counts.accepted += 1,
        }
    }
    r
}

/// Which key seals each stored value; changes nothing.
pub fn sealed_status(store: &Store, master: &MasterKey) -> Result<SealedReport, AdminError> {
    let values = sealed::all(&mut *store.conn()?)?;
    Ok(report(&classify(master, values)?))
}

/// Seals every value an accepted key seals again with the current key, and
/// records it, in one transaction. The new ciphertexts are made first; each
/// replaces its old one only if the row still holds it, so a value changed
/// meanwhile (a console save on another node) stays as that save wrote it,
/// sealed with that node's current key. Refuses, changing nothing, if a
/// value opens with no configured key.
pub fn rewrap_sealed(store: &Store, master: &MasterKey, actor: &str, now: i64) -> Result<SealedReport, AdminError> {
    let opened = classify(master, sealed::all(&mut *store.conn()?)?)?;
    let mut again = Vec::new();
    for Opened { value, with, plain } in opened {
        if with == OpenedWith::Accepted {
            let sealed = master.seal(&purpose(value.kind, &value.id), &plain).map_err(super::internal)?;
            again.push((value, sealed));
        }
    }
    let resealed = store.tx(|conn| {
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for (old, new) in &again {
            if sealed::replace(conn, old, new)? {
                *kinds.entry(old.kind.as_str()).or_default() += 1;
            }
        }
        let resealed = kinds.values().sum();
        if resealed > 0 {
            audit(conn, actor, now, "master_key.rewrap", "master-key", json!({"resealed": resealed, "kinds": kinds}))?;
        }
        Ok(resealed)
    })?;
    let mut after = sealed_status(store, master)?;
    after.resealed = resealed;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    fn ring(current: u8, accepted: &[u8]) -> MasterKey {
        let config = Config {
            master_key: Some(STANDARD.encode([current; 32])),
            accepted_master_keys: accepted.iter().map(|b| STANDARD.encode([*b; 32])).collect(),
            ..Config::default()
        };
        MasterKey::load_or_create(&config).unwrap()
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::connect(&url, 2, std::time::Duration::from_secs(5)).unwrap();
        store.migrate().unwrap();
        (dir, store)
    }

    /// docs/security-checklist.md A-12: after a rotation every value sealed
    /// with the old key is sealed again with the new one, so the old key can
    /// go; a value no configured key opens stops it before any change.
    #[test]
    fn rewrap_moves_every_value_to_the_current_key_and_refuses_an_unknown_key() {
        let (_dir, store) = store();
        let old = ring(1, &[]);
        crate::keys::ensure_keys(&store, &old, 1_000).unwrap();
        // A user's TOTP secret is sealed too, bound to the user.
        let user = crate::service::admin::NewUser {
            username: "erin".into(),
            password: Some("erin's long password".into()),
            metadata: json!({}),
            profile: json!({}),
            ..Default::default()
        };
        let user = crate::service::admin::create_user(&store, "cli", 1_000, user).unwrap();
        let sealed = old.seal(&crypto::purpose::user_totp(&user.id), b"totp secret").unwrap();
        let mut conn = store.conn().unwrap();
        tessera_store::user_factors::enrol(&mut conn, &user.id, &sealed, 1, 1_000, &[]).unwrap();
        drop(conn);
        let before = sealed_status(&store, &old).unwrap();
        assert_eq!(before.kinds["user_totp"].current, 1);
        let keys = before.kinds["signing_keys"].current;
        assert!(keys >= 3, "a current and a next key per algorithm: {before:?}");
        assert_eq!(before.accepted(), 0);

        // The new key alone opens nothing: refused, nothing changed.
        let new_alone = ring(2, &[]);
        let Err(AdminError::Invalid { message, .. }) = rewrap_sealed(&store, &new_alone, "cli", 2_000) else {
            panic!("an unopenable value must refuse the rewrap")
        };
        assert!(message.contains("signing_keys"), "{message}");
        assert_eq!(sealed_status(&store, &old).unwrap(), before);

        // New key current, old accepted: everything moves over, once.
        let rotated = ring(2, &[1]);
        assert_eq!(sealed_status(&store, &rotated).unwrap().accepted(), keys + 1);
        let done = rewrap_sealed(&store, &rotated, "cli", 3_000).unwrap();
        assert_eq!(done.resealed, keys + 1);
        assert_eq!(done.accepted(), 0);
        assert_eq!((done.kinds["signing_keys"].current, done.kinds["user_totp"].current), (keys, 1));
        let moved = tessera_store::user_factors::find(&mut store.conn().unwrap(), &user.id).unwrap().unwrap();
        let opened = new_alone.open(&crypto::purpose::user_totp(&user.id), &moved.totp_secret_enc.unwrap()).unwrap();
        assert_eq!(&opened[..], b"totp secret", "the new key alone opens the user's secret");
        assert_eq!(rewrap_sealed(&store, &rotated, "cli", 4_000).unwrap().resealed, 0, "nothing left to move");

        // The old key can go: the new one alone opens every value.
        assert_eq!(sealed_status(&store, &new_alone).unwrap().accepted(), 0);
        let filter =
            tessera_store::audit::AuditFilter { action_prefix: Some("master_key.".into()), ..Default::default() };
        let events = tessera_store::audit::recent(&mut store.conn().unwrap(), &filter, 0, 10).unwrap();
        assert_eq!(events.len(), 1, "one change, one event");
        let detail: Value = serde_json::from_str(&events[0].event.detail).unwrap();
        assert_eq!(detail, json!({"resealed": keys + 1, "kinds": {"signing_keys": keys, "user_totp": 1}}));
    }
}
