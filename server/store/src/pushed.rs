//! Pushed authorization requests (RFC 9126): one row per pushed request,
//! found by the hash of its `request_uri` and the client that pushed it.
//! The `request_uri` itself is never stored.
//!
//! Contracts, each one conditional `UPDATE` so that concurrent requests on
//! any nodes agree:
//! - [`open`] returns the unused request while it is live; the first time
//!   (the browser's arrival within the pushed lifetime) it marks the request
//!   opened and extends its life to `hold_until`, so the user can sign in and
//!   consent; later arrivals (after the sign-in) find it opened.
//! - [`consume`] marks it used once: of two concurrent authorization
//!   responses exactly one gets true (single use).
//! - [`purge`] deletes requests that expired before a cutoff, in batches.

use crate::schema::pushed_requests;
use crate::{DbConn, StoreError};
use diesel::prelude::*;

/// A stored pushed authorization request.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = pushed_requests)]
pub struct PushedRequest {
    /// SHA-256 hex of the `request_uri`.
    pub request_uri_hash: String,
    /// The client that pushed it (authenticated at the PAR endpoint).
    pub client_id: String,
    /// The validated parameters, `application/x-www-form-urlencoded`.
    pub params: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Usable until then (extended once when opened).
    pub expires_at: i64,
    /// When the browser first brought it to the authorization endpoint.
    pub opened_at: Option<i64>,
    /// When the authorization response used it.
    pub used_at: Option<i64>,
}

/// Stores a new pushed request.
pub fn insert(conn: &mut DbConn, r: &PushedRequest) -> Result<(), StoreError> {
    diesel::insert_into(pushed_requests::table).values(r).execute(conn)?;
    Ok(())
}

/// The unused request with this hash pushed by `client_id`, if it has not
/// expired at `now`; `None` otherwise (unknown, another client's, expired
/// or used). Opening it the first time extends its life to `hold_until`
/// (never shortens it).
pub fn open(
    conn: &mut DbConn,
    request_uri_hash: &str,
    client_id: &str,
    now: i64,
    hold_until: i64,
) -> Result<Option<PushedRequest>, StoreError> {
    use pushed_requests::dsl as t;
    let live = t::pushed_requests
        .find(request_uri_hash)
        .filter(t::client_id.eq(client_id))
        .filter(t::used_at.is_null())
        .filter(t::expires_at.gt(now));
    let Some(found) = live.select(PushedRequest::as_select()).first(conn).optional()? else { return Ok(None) };
    if found.opened_at.is_some() {
        return Ok(Some(found));
    }
    let expires_at = found.expires_at.max(hold_until);
    diesel::update(live.filter(t::opened_at.is_null()))
        .set((t::opened_at.eq(Some(now)), t::expires_at.eq(expires_at)))
        .execute(conn)?;
    Ok(Some(PushedRequest { opened_at: Some(now), expires_at, ..found }))
}

/// Marks the request used; false if it was used first (on this node or
/// another), expired at `now`, or is unknown.
pub fn consume(conn: &mut DbConn, request_uri_hash: &str, now: i64) -> Result<bool, StoreError> {
    use pushed_requests::dsl as t;
    let n = diesel::update(
        t::pushed_requests.find(request_uri_hash).filter(t::used_at.is_null()).filter(t::expires_at.gt(now)),
    )
    .set(t::used_at.eq(Some(now)))
    .execute(conn)?;
    Ok(n == 1)
}

/// Deletes at most `batch` requests that expired before `cutoff`; returns
/// how many (see `purge.rs` for the batching contract).
pub fn purge(conn: &mut DbConn, cutoff: i64, batch: i64) -> Result<usize, StoreError> {
    use pushed_requests::dsl as t;
    let doomed: Vec<String> =
        t::pushed_requests.select(t::request_uri_hash).filter(t::expires_at.lt(cutoff)).limit(batch).load(conn)?;
    Ok(diesel::delete(t::pushed_requests.filter(t::request_uri_hash.eq_any(doomed))).execute(conn)?)
}
