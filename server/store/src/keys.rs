//! Signing keys and their life cycle: next -> current -> retired.
//!
//! The private part is stored encrypted by the caller (this crate never sees
//! the master key). The JWKS is built from `public_jwk` of every key that is
//! not past its retirement window.

use crate::schema::signing_keys;
use crate::{DbConn, StoreError};
use diesel::prelude::*;

/// A key's life-cycle state; stored as its name, parsed when a row is read
/// (an unknown name is `StoreError::Corrupt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyState {
    /// Published in the JWKS, not yet signing: verifiers learn it in advance.
    Next,
    /// Signing new tokens.
    Current,
    /// No longer signing; published until tokens it signed have expired.
    Retired,
}

tessera_protocol::named_enum!(KeyState, "key state", {
    Next => "next",
    Current => "current",
    Retired => "retired",
});

/// A key as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKey {
    /// Key id (`kid`).
    pub kid: String,
    /// JWA algorithm.
    pub alg: String,
    /// Where it is in its life cycle.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub state: KeyState,
    /// Encrypted PKCS#8 DER.
    pub private_key_enc: Vec<u8>,
    /// The public JWK, a JSON object.
    pub public_jwk: String,
    /// Unix seconds.
    pub created_at: i64,
    /// When it became current.
    pub activated_at: Option<i64>,
    /// When it was retired.
    pub retired_at: Option<i64>,
}

/// Inserts a key.
pub fn insert(conn: &mut DbConn, key: &SigningKey) -> Result<(), StoreError> {
    diesel::insert_into(signing_keys::table).values(key.clone()).execute(conn)?;
    Ok(())
}

/// Every key, oldest first.
pub fn all(conn: &mut DbConn) -> Result<Vec<SigningKey>, StoreError> {
    Ok(signing_keys::table.order(signing_keys::created_at.asc()).select(SigningKey::as_select()).load(conn)?)
}

/// Keys of an algorithm in a state, newest first.
pub fn by_state(conn: &mut DbConn, alg: &str, state: KeyState) -> Result<Vec<SigningKey>, StoreError> {
    Ok(signing_keys::table
        .filter(signing_keys::alg.eq(alg))
        .filter(signing_keys::state.eq(state.as_str()))
        .order(signing_keys::created_at.desc())
        .select(SigningKey::as_select())
        .load(conn)?)
}

/// Moves a key to `new_state`, stamping the matching time.
pub fn set_state(conn: &mut DbConn, kid: &str, new_state: KeyState, now: i64) -> Result<(), StoreError> {
    let target = signing_keys::table.find(kid);
    let name = new_state.as_str();
    let n = match new_state {
        KeyState::Current => diesel::update(target)
            .set((signing_keys::state.eq(name), signing_keys::activated_at.eq(Some(now))))
            .execute(conn)?,
        KeyState::Retired => diesel::update(target)
            .set((signing_keys::state.eq(name), signing_keys::retired_at.eq(Some(now))))
            .execute(conn)?,
        KeyState::Next => diesel::update(target).set(signing_keys::state.eq(name)).execute(conn)?,
    };
    if n == 0 { Err(StoreError::NotFound(format!("key {kid}"))) } else { Ok(()) }
}

/// Deletes retired keys retired before `cutoff`; returns how many.
pub fn purge_retired(conn: &mut DbConn, cutoff: i64) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        signing_keys::table
            .filter(signing_keys::state.eq(KeyState::Retired.as_str()))
            .filter(signing_keys::retired_at.lt(cutoff)),
    )
    .execute(conn)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn key_states_parse_from_their_stored_names_and_pad_in_columns() {
        for k in KeyState::ALL {
            assert_eq!(k.as_str().parse::<KeyState>(), Ok(k));
        }
        assert_eq!("Current".parse::<KeyState>().unwrap_err().known, "next, current, retired");
        // `tessera keys list` lines states up in a column.
        assert_eq!(format!("{:8}|", KeyState::Next), "next    |");
    }
}
