//! The `jti` values of client assertions (RFC 7523 §3 item 7, OIDC Core §9):
//! each assertion is accepted once, so a captured one cannot be replayed.
//!
//! Contract: [`record`] inserts `(client, jti)` and returns false when the
//! pair is already there (on this node or another: the primary key
//! decides); a row is kept until its assertion expires, then [`purge`]
//! deletes it, after which the assertion itself is refused as expired.

use crate::schema::client_assertion_jtis;
use crate::{DbConn, StoreError};
use diesel::prelude::*;

/// Records that `client_id` used the assertion `jti`, valid until
/// `expires_at`; false if it was used before.
pub fn record(conn: &mut DbConn, client_id: &str, jti: &str, expires_at: i64) -> Result<bool, StoreError> {
    use client_assertion_jtis::dsl as t;
    let inserted = diesel::insert_into(t::client_assertion_jtis)
        .values((t::client_id.eq(client_id), t::jti.eq(jti), t::expires_at.eq(expires_at)))
        .execute(conn);
    match inserted.map_err(StoreError::from) {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Deletes at most `batch` records whose assertions expired before `cutoff`;
/// returns how many.
pub fn purge(conn: &mut DbConn, cutoff: i64, batch: i64) -> Result<usize, StoreError> {
    use client_assertion_jtis::dsl as t;
    let doomed: Vec<(String, String)> = t::client_assertion_jtis
        .select((t::client_id, t::jti))
        .filter(t::expires_at.lt(cutoff))
        .limit(batch)
        .load(conn)?;
    let mut n = 0;
    for (c, j) in doomed {
        n += diesel::delete(t::client_assertion_jtis.filter(t::client_id.eq(c)).filter(t::jti.eq(j))).execute(conn)?;
    }
    Ok(n)
}
