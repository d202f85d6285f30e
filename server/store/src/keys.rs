//! Signing keys and their life cycle: next -> current -> retired.
//!
//! The private part is stored encrypted by the caller (this crate never sees
//! the master key). The JWKS is built from `public_jwk` of every key that is
//! not past its retirement window.

use crate::schema::signing_keys;
use crate::{DbConn, StoreError};
use diesel::prelude::*;

/// Life-cycle states.
pub mod state {
    /// Published in the JWKS, not yet signing: verifiers learn it in advance.
    pub const NEXT: &str = "next";
    /// Signing new tokens.
    pub const CURRENT: &str = "current";
    /// No longer signing; published until tokens it signed have expired.
    pub const RETIRED: &str = "retired";
}

/// A key as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKey {
    /// Key id (`kid`).
    pub kid: String,
    /// JWA algorithm.
    pub alg: String,
    /// One of [`state`].
    pub state: String,
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
    diesel::insert_into(signing_keys::table).values(key).execute(conn)?;
    Ok(())
}

/// Every key, oldest first.
pub fn all(conn: &mut DbConn) -> Result<Vec<SigningKey>, StoreError> {
    Ok(signing_keys::table.order(signing_keys::created_at.asc()).select(SigningKey::as_select()).load(conn)?)
}

/// Keys of an algorithm in a state, newest first.
pub fn by_state(conn: &mut DbConn, alg: &str, state: &str) -> Result<Vec<SigningKey>, StoreError> {
    Ok(signing_keys::table
        .filter(signing_keys::alg.eq(alg))
        .filter(signing_keys::state.eq(state))
        .order(signing_keys::created_at.desc())
        .select(SigningKey::as_select())
        .load(conn)?)
}

/// Moves a key to `new_state`, stamping the matching time.
pub fn set_state(conn: &mut DbConn, kid: &str, new_state: &str, now: i64) -> Result<(), StoreError> {
    let target = signing_keys::table.find(kid);
    let n = match new_state {
        state::CURRENT => diesel::update(target)
            .set((signing_keys::state.eq(new_state), signing_keys::activated_at.eq(Some(now))))
            .execute(conn)?,
        state::RETIRED => diesel::update(target)
            .set((signing_keys::state.eq(new_state), signing_keys::retired_at.eq(Some(now))))
            .execute(conn)?,
        _ => diesel::update(target).set(signing_keys::state.eq(new_state)).execute(conn)?,
    };
    if n == 0 { Err(StoreError::NotFound(format!("key {kid}"))) } else { Ok(()) }
}

/// Deletes retired keys retired before `cutoff`; returns how many.
pub fn purge_retired(conn: &mut DbConn, cutoff: i64) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        signing_keys::table.filter(signing_keys::state.eq(state::RETIRED)).filter(signing_keys::retired_at.lt(cutoff)),
    )
    .execute(conn)?)
}
