//! Deletes grant and session state that can no longer be used, in bounded
//! batches, so tables stay the size of what is live (docs/security-checklist.md R-4: no
//! monotonic growth).
//!
//! Each function deletes at most `batch` rows whose end lies before `cutoff`
//! (unix seconds) and returns how many it deleted; the caller repeats while a
//! batch comes back full. A batch reads up to `batch` keys, then deletes
//! those keys: the same SQL on SQLite and PostgreSQL, and never a long write
//! lock that would stall token requests. Deleting expired rows is idempotent,
//! so nodes purging at once do not conflict.
//!
//! Console sessions are purged by `admins::purge_sessions` (a handful of rows).
//!
//! What is kept, and why:
//! - A used authorization code is what detects a replay (RFC 6749 §4.1.2), so
//!   codes are purged only a while after they expire (the caller's cutoff).
//! - A rotated refresh token is what detects reuse of its family (RFC 9700
//!   §4.14.2), so refresh tokens go only once the family's absolute lifetime
//!   has ended; by then every token of the family is dead anyway.
//! - A revocation (`revocations`) is kept until every access token it covers
//!   has expired.

use crate::schema::{
    admin_setup_tokens, authorization_codes, login_failures, pending_sign_ins, refresh_tokens, revocations, sessions,
};
use crate::{DbConn, StoreError};
use diesel::prelude::*;

/// Authorization codes that expired before `cutoff`.
pub fn authorization_codes(conn: &mut DbConn, cutoff: i64, batch: i64) -> Result<usize, StoreError> {
    use authorization_codes::dsl as t;
    let doomed: Vec<String> =
        t::authorization_codes.select(t::code_hash).filter(t::expires_at.lt(cutoff)).limit(batch).load(conn)?;
    Ok(diesel::delete(t::authorization_codes.filter(t::code_hash.eq_any(doomed))).execute(conn)?)
}

/// Refresh tokens whose family's absolute lifetime ended before `cutoff`.
pub fn refresh_tokens(conn: &mut DbConn, cutoff: i64, batch: i64) -> Result<usize, StoreError> {
    use refresh_tokens::dsl as t;
    let doomed: Vec<String> =
        t::refresh_tokens.select(t::id).filter(t::absolute_expires_at.lt(cutoff)).limit(batch).load(conn)?;
    Ok(diesel::delete(t::refresh_tokens.filter(t::id.eq_any(doomed))).execute(conn)?)
}

/// Hosted sign-in sessions that ended before `cutoff`.
pub fn sessions(conn: &mut DbConn, cutoff: i64, batch: i64) -> Result<usize, StoreError> {
    use sessions::dsl as t;
    let doomed: Vec<String> =
        t::sessions.select(t::id_hash).filter(t::expires_at.lt(cutoff)).limit(batch).load(conn)?;
    Ok(diesel::delete(t::sessions.filter(t::id_hash.eq_any(doomed))).execute(conn)?)
}

/// Sign-ins waiting for a second factor that expired before `cutoff`.
pub fn pending_sign_ins(conn: &mut DbConn, cutoff: i64, batch: i64) -> Result<usize, StoreError> {
    use pending_sign_ins::dsl as t;
    let doomed: Vec<String> =
        t::pending_sign_ins.select(t::id_hash).filter(t::expires_at.lt(cutoff)).limit(batch).load(conn)?;
    Ok(diesel::delete(t::pending_sign_ins.filter(t::id_hash.eq_any(doomed))).execute(conn)?)
}

/// Console setup links that expired before `cutoff`.
pub fn admin_setup_tokens(conn: &mut DbConn, cutoff: i64, batch: i64) -> Result<usize, StoreError> {
    use admin_setup_tokens::dsl as t;
    let doomed: Vec<String> =
        t::admin_setup_tokens.select(t::token_hash).filter(t::expires_at.lt(cutoff)).limit(batch).load(conn)?;
    Ok(diesel::delete(t::admin_setup_tokens.filter(t::token_hash.eq_any(doomed))).execute(conn)?)
}

/// Throttle rows (counters and "known address" markers, `throttle.rs`)
/// whose window started before `cutoff` and that are not locked at `now`.
/// The caller's cutoff must lie beyond the longest time any row still
/// matters: the counting window, and how long a marker is trusted.
pub fn login_failures(conn: &mut DbConn, cutoff: i64, now: i64, batch: i64) -> Result<usize, StoreError> {
    use login_failures::dsl as t;
    let doomed: Vec<String> = t::login_failures
        .select(t::throttle_key)
        .filter(t::window_start.lt(cutoff))
        .filter(t::locked_until.lt(now))
        .limit(batch)
        .load(conn)?;
    Ok(diesel::delete(t::login_failures.filter(t::throttle_key.eq_any(doomed))).execute(conn)?)
}

/// Revocations whose tokens have all expired before `cutoff`.
pub fn revocations(conn: &mut DbConn, cutoff: i64, batch: i64) -> Result<usize, StoreError> {
    use revocations::dsl as t;
    let doomed: Vec<i64> = t::revocations.select(t::id).filter(t::expires_at.lt(cutoff)).limit(batch).load(conn)?;
    Ok(diesel::delete(t::revocations.filter(t::id.eq_any(doomed))).execute(conn)?)
}
