//! Administrators' WebAuthn passkeys and the ceremonies in flight (issue #18
//! item 2). The store keeps the credential as the service serialized it and
//! never reads inside it; a ceremony's state is stored sealed (by the
//! service, bound to the session) and is taken once: deleting the row is
//! the check, so two requests racing with one challenge cannot both win.

use crate::schema::{admin_passkey_ceremonies, admin_passkeys};
use crate::{DbConn, StoreError};
use diesel::prelude::*;

/// One administrator's passkey.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = admin_passkeys)]
pub struct Passkey {
    /// Stable id (UUID v7), what the console's remove form names.
    pub id: String,
    /// Its administrator.
    pub admin_id: String,
    /// The WebAuthn credential id (base64url), unique across administrators.
    pub credential_id: String,
    /// The name the administrator gave it.
    pub name: String,
    /// The credential as the service serializes it (public key, counter,
    /// backup state).
    pub credential: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last sign-in with it.
    pub last_used_at: Option<i64>,
}

/// Stores a new passkey; a credential id already enrolled is `Conflict`.
pub fn insert(conn: &mut DbConn, passkey: &Passkey) -> Result<(), StoreError> {
    match diesel::insert_into(admin_passkeys::table).values(passkey).execute(conn) {
        Err(e) => match StoreError::from(e) {
            StoreError::Conflict(_) => Err(StoreError::Conflict("this passkey is already enrolled".into())),
            other => Err(other),
        },
        Ok(_) => Ok(()),
    }
}

/// Every passkey of `admin_id`, oldest first.
pub fn of_admin(conn: &mut DbConn, admin_id: &str) -> Result<Vec<Passkey>, StoreError> {
    Ok(admin_passkeys::table
        .filter(admin_passkeys::admin_id.eq(admin_id))
        .order((admin_passkeys::created_at.asc(), admin_passkeys::id.asc()))
        .select(Passkey::as_select())
        .load(conn)?)
}

/// How many passkeys `admin_id` has (a passkey counts as a second factor).
pub fn count(conn: &mut DbConn, admin_id: &str) -> Result<i64, StoreError> {
    Ok(admin_passkeys::table.filter(admin_passkeys::admin_id.eq(admin_id)).count().get_result(conn)?)
}

/// Removes `admin_id`'s passkey `id`: the removed row, or `None` if no such
/// passkey of theirs exists (another administrator's id removes nothing).
pub fn delete(conn: &mut DbConn, admin_id: &str, id: &str) -> Result<Option<Passkey>, StoreError> {
    let mine = admin_passkeys::table.filter(admin_passkeys::admin_id.eq(admin_id)).filter(admin_passkeys::id.eq(id));
    let Some(found) = mine.select(Passkey::as_select()).first(conn).optional()? else {
        return Ok(None);
    };
    let n = diesel::delete(mine).execute(conn)?;
    Ok((n == 1).then_some(found))
}

/// Removes every passkey of `admin_id` (an owner resets their second
/// factor); how many there were.
pub fn delete_all(conn: &mut DbConn, admin_id: &str) -> Result<usize, StoreError> {
    Ok(diesel::delete(admin_passkeys::table.filter(admin_passkeys::admin_id.eq(admin_id))).execute(conn)?)
}

/// Records a sign-in with `admin_id`'s passkey `credential_id`: the
/// credential as updated (counter, backup state) and the time. False if the
/// passkey was removed meanwhile.
pub fn record_use(
    conn: &mut DbConn,
    admin_id: &str,
    credential_id: &str,
    credential: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        admin_passkeys::table
            .filter(admin_passkeys::admin_id.eq(admin_id))
            .filter(admin_passkeys::credential_id.eq(credential_id)),
    )
    .set((admin_passkeys::credential.eq(credential), admin_passkeys::last_used_at.eq(Some(now))))
    .execute(conn)?;
    Ok(n == 1)
}

/// Starts a ceremony for the session `session_hash`, replacing one already
/// in flight (a second "Add a passkey" click voids the first challenge).
pub fn put_ceremony(
    conn: &mut DbConn,
    session_hash: &str,
    kind: &str,
    state_enc: &[u8],
    expires_at: i64,
) -> Result<(), StoreError> {
    diesel::delete(admin_passkey_ceremonies::table.find(session_hash)).execute(conn)?;
    diesel::insert_into(admin_passkey_ceremonies::table)
        .values((
            admin_passkey_ceremonies::session_hash.eq(session_hash),
            admin_passkey_ceremonies::kind.eq(kind),
            admin_passkey_ceremonies::state_enc.eq(state_enc),
            admin_passkey_ceremonies::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Takes the session's ceremony of `kind` if it has not expired: its sealed
/// state, once. The row goes whatever it held (expired, other kind), so a
/// challenge is never answered twice.
pub fn take_ceremony(
    conn: &mut DbConn,
    session_hash: &str,
    kind: &str,
    now: i64,
) -> Result<Option<Vec<u8>>, StoreError> {
    let row: Option<(String, Vec<u8>, i64)> = admin_passkey_ceremonies::table
        .find(session_hash)
        .select((
            admin_passkey_ceremonies::kind,
            admin_passkey_ceremonies::state_enc,
            admin_passkey_ceremonies::expires_at,
        ))
        .first(conn)
        .optional()?;
    let Some((found_kind, state, expires_at)) = row else { return Ok(None) };
    let n = diesel::delete(admin_passkey_ceremonies::table.find(session_hash)).execute(conn)?;
    Ok((n == 1 && found_kind == kind && expires_at > now).then_some(state))
}
