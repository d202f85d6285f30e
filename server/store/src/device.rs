//! Device authorization requests (RFC 8628): one row per request, found by
//! the hash of its device code (polling) or of its user code (the user's
//! page). Neither code is stored in plain text.
//!
//! Contracts, each one conditional `UPDATE` so that concurrent requests on
//! any nodes agree:
//! - [`decide`] records a user's approval or denial only while the request
//!   is pending and unexpired: the first decision wins, a later one changes
//!   nothing (false).
//! - [`redeem`] marks an approved request used once: of two concurrent polls
//!   exactly one gets true, so tokens are issued once (single use).
//! - [`record_poll`] stores a pending poll's time and interval; it never
//!   touches a decided request.
//! - [`purge`] deletes requests that expired before a cutoff, in batches.

use crate::schema::device_codes;
use crate::{DbConn, StoreError};
use diesel::prelude::*;
use tessera_protocol::grant::device::Status;

/// A device_codes row as the database holds it.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = device_codes)]
struct Row {
    device_code_hash: String,
    user_code_hash: String,
    client_id: String,
    scopes: String,
    audience: Option<String>,
    created_at: i64,
    expires_at: i64,
    interval_secs: i64,
    last_polled_at: Option<i64>,
    status: String,
    user_id: Option<String>,
    auth_time: Option<i64>,
    used_at: Option<i64>,
    amr: Option<String>,
}

/// A stored device authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRequest {
    /// SHA-256 hex of the device code.
    pub device_code_hash: String,
    /// SHA-256 hex of the user code's canonical form.
    pub user_code_hash: String,
    /// The client that asked.
    pub client_id: String,
    /// The scopes granted if the user approves, space-separated.
    pub scopes: String,
    /// The API's identifier; `None` for the userinfo endpoint only.
    pub audience: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Both codes end then.
    pub expires_at: i64,
    /// The polling interval the client must keep (raised by `slow_down`).
    pub interval_secs: i64,
    /// The last poll while pending.
    pub last_polled_at: Option<i64>,
    /// The user's decision.
    pub status: Status,
    /// The user who approved or denied.
    pub user_id: Option<String>,
    /// When that user signed in (the ID token's `auth_time`).
    pub auth_time: Option<i64>,
    /// When tokens were issued for it.
    pub used_at: Option<i64>,
    /// How that user authenticated (RFC 8176 values, space-separated),
    /// for the ID token's `amr`.
    pub amr: Option<String>,
}

impl TryFrom<Row> for DeviceRequest {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self, StoreError> {
        Ok(DeviceRequest {
            status: crate::parse_column("device_codes.status", &r.status)?,
            device_code_hash: r.device_code_hash,
            user_code_hash: r.user_code_hash,
            client_id: r.client_id,
            scopes: r.scopes,
            audience: r.audience,
            created_at: r.created_at,
            expires_at: r.expires_at,
            interval_secs: r.interval_secs,
            last_polled_at: r.last_polled_at,
            user_id: r.user_id,
            auth_time: r.auth_time,
            used_at: r.used_at,
            amr: r.amr,
        })
    }
}

/// Stores a new request. A user code hash that a live request already has
/// is `StoreError::Conflict` (the caller draws another code).
pub fn insert(conn: &mut DbConn, d: &DeviceRequest) -> Result<(), StoreError> {
    let row = Row {
        device_code_hash: d.device_code_hash.clone(),
        user_code_hash: d.user_code_hash.clone(),
        client_id: d.client_id.clone(),
        scopes: d.scopes.clone(),
        audience: d.audience.clone(),
        created_at: d.created_at,
        expires_at: d.expires_at,
        interval_secs: d.interval_secs,
        last_polled_at: d.last_polled_at,
        status: d.status.as_str().to_owned(),
        user_id: d.user_id.clone(),
        auth_time: d.auth_time,
        used_at: d.used_at,
        amr: d.amr.clone(),
    };
    diesel::insert_into(device_codes::table).values(row).execute(conn)?;
    Ok(())
}

/// The request with this device code hash, in any state.
pub fn by_device_code(conn: &mut DbConn, device_code_hash: &str) -> Result<Option<DeviceRequest>, StoreError> {
    device_codes::table
        .find(device_code_hash)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(DeviceRequest::try_from)
        .transpose()
}

/// The request a user may still decide on with this user code hash:
/// pending and not expired at `now`; `None` otherwise.
pub fn pending_by_user_code(
    conn: &mut DbConn,
    user_code_hash: &str,
    now: i64,
) -> Result<Option<DeviceRequest>, StoreError> {
    device_codes::table
        .filter(device_codes::user_code_hash.eq(user_code_hash))
        .filter(device_codes::status.eq(Status::Pending.as_str()))
        .filter(device_codes::expires_at.gt(now))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(DeviceRequest::try_from)
        .transpose()
}

/// Records `user_id`'s decision (`Approved` or `Denied`) on the pending,
/// unexpired request with this user code hash. False if there is none any
/// more (decided meanwhile, expired, or unknown). `(auth_time, amr)`: how
/// and when the user signed in, for the ID token.
pub fn decide(
    conn: &mut DbConn,
    user_code_hash: &str,
    decision: Status,
    user_id: &str,
    (auth_time, amr): (i64, &str),
    now: i64,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        device_codes::table
            .filter(device_codes::user_code_hash.eq(user_code_hash))
            .filter(device_codes::status.eq(Status::Pending.as_str()))
            .filter(device_codes::expires_at.gt(now)),
    )
    .set((
        device_codes::status.eq(decision.as_str()),
        device_codes::user_id.eq(Some(user_id)),
        device_codes::auth_time.eq(Some(auth_time)),
        device_codes::amr.eq(Some(amr)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Stores a pending poll: its time and the interval from now on.
pub fn record_poll(
    conn: &mut DbConn,
    device_code_hash: &str,
    polled_at: i64,
    interval_secs: i64,
) -> Result<(), StoreError> {
    diesel::update(
        device_codes::table.find(device_code_hash).filter(device_codes::status.eq(Status::Pending.as_str())),
    )
    .set((device_codes::last_polled_at.eq(Some(polled_at)), device_codes::interval_secs.eq(interval_secs)))
    .execute(conn)?;
    Ok(())
}

/// Marks an approved, unused request used; false if it was not approved or
/// someone redeemed it first (on this node or another).
pub fn redeem(conn: &mut DbConn, device_code_hash: &str, now: i64) -> Result<bool, StoreError> {
    let n = diesel::update(
        device_codes::table
            .find(device_code_hash)
            .filter(device_codes::status.eq(Status::Approved.as_str()))
            .filter(device_codes::used_at.is_null()),
    )
    .set(device_codes::used_at.eq(Some(now)))
    .execute(conn)?;
    Ok(n == 1)
}

/// Deletes at most `batch` requests that expired before `cutoff`; returns
/// how many (see `purge.rs` for the batching contract).
pub fn purge(conn: &mut DbConn, cutoff: i64, batch: i64) -> Result<usize, StoreError> {
    use device_codes::dsl as t;
    let doomed: Vec<String> =
        t::device_codes.select(t::device_code_hash).filter(t::expires_at.lt(cutoff)).limit(batch).load(conn)?;
    Ok(diesel::delete(t::device_codes.filter(t::device_code_hash.eq_any(doomed))).execute(conn)?)
}
