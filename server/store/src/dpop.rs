//! The `jti` values of DPoP proofs (RFC 9449 §11.1): each proof is accepted
//! once, so a captured proof cannot be replayed, on this node or another.
//!
//! Contract: [`record`] inserts `(jkt, jti)` and returns false when the pair
//! is already there (the primary key decides, so two nodes racing with one
//! proof get one true and one false); a row is kept until `expires_at`,
//! after which the proof is refused as too old anyway and [`purge`] deletes
//! it. Ids are kept per key: two keys may pick the same `jti`.

use crate::schema::dpop_proof_jtis;
use crate::{DbConn, StoreError};
use diesel::prelude::*;

/// Records that the key with thumbprint `jkt` used the proof `jti`,
/// acceptable until `expires_at`; false if it was used before.
pub fn record(conn: &mut DbConn, jkt: &str, jti: &str, expires_at: i64) -> Result<bool, StoreError> {
    use dpop_proof_jtis::dsl as t;
    let inserted = diesel::insert_into(t::dpop_proof_jtis)
        .values((t::jkt.eq(jkt), t::jti.eq(jti), t::expires_at.eq(expires_at)))
        .execute(conn);
    match inserted.map_err(StoreError::from) {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Deletes at most `batch` records of proofs that became too old before
/// `cutoff`; returns how many.
pub fn purge(conn: &mut DbConn, cutoff: i64, batch: i64) -> Result<usize, StoreError> {
    use dpop_proof_jtis::dsl as t;
    let doomed: Vec<(String, String)> =
        t::dpop_proof_jtis.select((t::jkt, t::jti)).filter(t::expires_at.lt(cutoff)).limit(batch).load(conn)?;
    let mut n = 0;
    for (k, j) in doomed {
        n += diesel::delete(t::dpop_proof_jtis.filter(t::jkt.eq(k)).filter(t::jti.eq(j))).execute(conn)?;
    }
    Ok(n)
}
