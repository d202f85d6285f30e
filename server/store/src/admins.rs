//! Console administrators, their server-side sessions, one-time setup links
//! and invitations. Session ids, setup tokens and invitation tokens are
//! stored only as hashes, so a dump of these tables signs nobody in.
//! Roles are stored as their names; the service layer gives them meaning
//! (`service::roles` in the `tessera` crate). The store only knows which
//! name is the owner's, to keep one owner at least.

use crate::schema::{
    admin_invitations, admin_recovery_codes, admin_sessions, admin_setup_tokens, admins, console_settings,
};
use crate::{DbConn, StoreError};
use diesel::prelude::*;

/// An administrator of the console.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = admins)]
pub struct Admin {
    /// Stable id (UUID v7).
    pub id: String,
    /// Unique login name.
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last successful sign-in.
    pub last_login_at: Option<i64>,
    /// The role's name ([`OWNER`] or another the service defines).
    pub role: String,
    /// A disabled administrator cannot sign in and has no sessions.
    pub disabled: bool,
    /// The TOTP secret sealed with the master key; `None`: no second factor.
    pub totp_secret_enc: Option<Vec<u8>>,
    /// The last TOTP time step a code was accepted for (single use).
    pub totp_last_step: Option<i64>,
}

/// The name of the role that can do everything; at least one enabled
/// administrator always holds it.
pub const OWNER: &str = "owner";

/// Inserts an administrator; a taken username is `Conflict`.
pub fn insert(conn: &mut DbConn, admin: &Admin) -> Result<(), StoreError> {
    match diesel::insert_into(admins::table).values(admin).execute(conn) {
        Err(e) => match StoreError::from(e) {
            StoreError::Conflict(_) => Err(StoreError::Conflict(format!("username {:?} is taken", admin.username))),
            other => Err(other),
        },
        Ok(_) => Ok(()),
    }
}

/// The administrator with this username, if any.
pub fn find_by_username(conn: &mut DbConn, username: &str) -> Result<Option<Admin>, StoreError> {
    Ok(admins::table.filter(admins::username.eq(username)).select(Admin::as_select()).first(conn).optional()?)
}

/// Every administrator, by username.
pub fn all(conn: &mut DbConn) -> Result<Vec<Admin>, StoreError> {
    Ok(admins::table.order(admins::username.asc()).select(Admin::as_select()).load(conn)?)
}

/// The administrator with this id, if any.
pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<Admin>, StoreError> {
    Ok(admins::table.find(id).select(Admin::as_select()).first(conn).optional()?)
}

/// Locks every administrator row (an `UPDATE` of all of them: row locks on
/// PostgreSQL, the write lock on SQLite) and returns `id`'s row (`NotFound`
/// if unknown), so that two changes running at once count owners one after
/// the other and cannot both take away "one of two".
fn lock_all_and_find(conn: &mut DbConn, id: &str) -> Result<Admin, StoreError> {
    diesel::update(admins::table).set(admins::username.eq(admins::username)).execute(conn)?;
    find(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("administrator {id}")))
}

/// How many enabled owners exist.
pub fn count_owners(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(admins::table.filter(admins::role.eq(OWNER)).filter(admins::disabled.eq(false)).count().get_result(conn)?)
}

/// `Conflict` if `admin` is the last enabled owner (rows already locked).
fn refuse_last_owner(conn: &mut DbConn, admin: &Admin, what: &str) -> Result<(), StoreError> {
    if admin.role == OWNER && !admin.disabled && count_owners(conn)? <= 1 {
        return Err(StoreError::Conflict(format!("the last owner cannot be {what}")));
    }
    Ok(())
}

/// Deletes the administrator `id` and their sessions, unless they are the
/// last enabled owner: then `Conflict` and nothing changes (the caller's
/// transaction must roll back on the error). Every administrator row is
/// locked before counting (see [`lock_all_and_find`]). An unknown id is
/// `NotFound`.
pub fn delete_unless_last(conn: &mut DbConn, id: &str) -> Result<Admin, StoreError> {
    let admin = lock_all_and_find(conn, id)?;
    refuse_last_owner(conn, &admin, "removed")?;
    delete_sessions(conn, id, None)?;
    diesel::delete(admins::table.find(id)).execute(conn)?;
    Ok(admin)
}

/// Gives `id` the role `role`, unless that demotes the last enabled owner
/// (`Conflict`, rows locked before counting). Returns the row as it was.
pub fn set_role(conn: &mut DbConn, id: &str, role: &str) -> Result<Admin, StoreError> {
    let admin = lock_all_and_find(conn, id)?;
    if role != OWNER {
        refuse_last_owner(conn, &admin, "demoted")?;
    }
    diesel::update(admins::table.find(id)).set(admins::role.eq(role)).execute(conn)?;
    Ok(admin)
}

/// Disables or enables `id`; disabling ends every session of theirs and is
/// refused for the last enabled owner (`Conflict`, rows locked before
/// counting). Returns the row as it was.
pub fn set_disabled(conn: &mut DbConn, id: &str, disabled: bool) -> Result<Admin, StoreError> {
    let admin = lock_all_and_find(conn, id)?;
    if disabled {
        refuse_last_owner(conn, &admin, "disabled")?;
        delete_sessions(conn, id, None)?;
    }
    diesel::update(admins::table.find(id)).set(admins::disabled.eq(disabled)).execute(conn)?;
    Ok(admin)
}

/// How many administrators exist (zero: the server offers a setup link).
pub fn count(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(admins::table.count().get_result(conn)?)
}

/// Records a successful sign-in.
pub fn touch_login(conn: &mut DbConn, id: &str, now: i64) -> Result<(), StoreError> {
    diesel::update(admins::table.find(id)).set(admins::last_login_at.eq(Some(now))).execute(conn)?;
    Ok(())
}

/// A console session; `id_hash` is the SHA-256 of the cookie value.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = admin_sessions)]
pub struct AdminSession {
    /// SHA-256 (hex) of the session cookie.
    pub id_hash: String,
    /// The administrator.
    pub admin_id: String,
    /// The synchronizer CSRF token every state-changing form must carry.
    pub csrf: String,
    /// Unix seconds; the absolute timeout counts from here.
    pub created_at: i64,
    /// Unix seconds; the idle timeout counts from here.
    pub last_seen_at: i64,
    /// The client address that signed in, if known (bounded by the service).
    pub address: Option<String>,
    /// The browser's `User-Agent` at sign-in, if sent (bounded by the service).
    pub user_agent: Option<String>,
    /// `Some` while the second factor is outstanding (`code` or `enrol`,
    /// the service's names); `None` once the session is complete.
    pub pending: Option<String>,
}

/// Marks a session complete (the second factor was given or enrolled).
pub fn complete_session(conn: &mut DbConn, id_hash: &str) -> Result<(), StoreError> {
    diesel::update(admin_sessions::table.find(id_hash))
        .set(admin_sessions::pending.eq(None::<String>))
        .execute(conn)?;
    Ok(())
}

/// Enrols (`Some`) or removes (`None`) an administrator's TOTP secret,
/// replacing their recovery codes with `recovery_hashes` (removed with it).
/// `last_step` is the step of the code that confirmed the enrolment.
pub fn set_totp(
    conn: &mut DbConn,
    id: &str,
    sealed: Option<&[u8]>,
    last_step: Option<i64>,
    recovery_hashes: &[String],
) -> Result<(), StoreError> {
    let n = diesel::update(admins::table.find(id))
        .set((admins::totp_secret_enc.eq(sealed), admins::totp_last_step.eq(last_step)))
        .execute(conn)?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("administrator {id}")));
    }
    diesel::delete(admin_recovery_codes::table.filter(admin_recovery_codes::admin_id.eq(id))).execute(conn)?;
    for h in recovery_hashes {
        diesel::insert_into(admin_recovery_codes::table)
            .values((admin_recovery_codes::code_hash.eq(h), admin_recovery_codes::admin_id.eq(id)))
            .execute(conn)?;
    }
    Ok(())
}

/// Accepts TOTP time step `step` for `id` if it is later than the last one
/// accepted: one conditional UPDATE, so a code (or an earlier one) replayed
/// within its window, even on another node at the same moment, is refused.
pub fn accept_totp_step(conn: &mut DbConn, id: &str, step: i64) -> Result<bool, StoreError> {
    let n = diesel::update(
        admins::table.find(id).filter(admins::totp_last_step.is_null().or(admins::totp_last_step.lt(step))),
    )
    .set(admins::totp_last_step.eq(step))
    .execute(conn)?;
    Ok(n == 1)
}

/// Uses up one of `id`'s recovery codes: true if `code_hash` was one.
pub fn use_recovery_code(conn: &mut DbConn, id: &str, code_hash: &str) -> Result<bool, StoreError> {
    let n = diesel::delete(
        admin_recovery_codes::table
            .filter(admin_recovery_codes::code_hash.eq(code_hash))
            .filter(admin_recovery_codes::admin_id.eq(id)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// How many unused recovery codes `id` has.
pub fn recovery_codes_left(conn: &mut DbConn, id: &str) -> Result<i64, StoreError> {
    Ok(admin_recovery_codes::table.filter(admin_recovery_codes::admin_id.eq(id)).count().get_result(conn)?)
}

/// Whether every administrator must have a second factor.
pub fn second_factor_required(conn: &mut DbConn) -> Result<bool, StoreError> {
    let row: Option<bool> =
        console_settings::table.find(1).select(console_settings::require_second_factor).first(conn).optional()?;
    Ok(row.unwrap_or(false))
}

/// Sets whether every administrator must have a second factor.
pub fn set_second_factor_required(conn: &mut DbConn, required: bool) -> Result<(), StoreError> {
    diesel::update(console_settings::table.find(1))
        .set(console_settings::require_second_factor.eq(required))
        .execute(conn)?;
    Ok(())
}

/// Every session of `admin_id`, newest first.
pub fn sessions_of(conn: &mut DbConn, admin_id: &str) -> Result<Vec<AdminSession>, StoreError> {
    Ok(admin_sessions::table
        .filter(admin_sessions::admin_id.eq(admin_id))
        .order((admin_sessions::created_at.desc(), admin_sessions::id_hash.asc()))
        .select(AdminSession::as_select())
        .load(conn)?)
}

/// Ends every session of `admin_id` except `keep` (a session's id hash);
/// returns how many ended.
pub fn delete_sessions(conn: &mut DbConn, admin_id: &str, keep: Option<&str>) -> Result<usize, StoreError> {
    let others = admin_sessions::table
        .filter(admin_sessions::admin_id.eq(admin_id))
        .filter(admin_sessions::id_hash.ne(keep.unwrap_or("")));
    Ok(diesel::delete(others).execute(conn)?)
}

/// Stores a new session.
pub fn insert_session(conn: &mut DbConn, s: &AdminSession) -> Result<(), StoreError> {
    diesel::insert_into(admin_sessions::table).values(s).execute(conn)?;
    Ok(())
}

/// The session and its administrator, if the session exists.
pub fn session(conn: &mut DbConn, id_hash: &str) -> Result<Option<(AdminSession, Admin)>, StoreError> {
    Ok(admin_sessions::table
        .inner_join(admins::table)
        .filter(admin_sessions::id_hash.eq(id_hash))
        .filter(admins::disabled.eq(false))
        .select((AdminSession::as_select(), Admin::as_select()))
        .first(conn)
        .optional()?)
}

/// Moves the idle timeout forward.
pub fn touch_session(conn: &mut DbConn, id_hash: &str, now: i64) -> Result<(), StoreError> {
    diesel::update(admin_sessions::table.find(id_hash)).set(admin_sessions::last_seen_at.eq(now)).execute(conn)?;
    Ok(())
}

/// Ends a session (sign-out, timeout).
pub fn delete_session(conn: &mut DbConn, id_hash: &str) -> Result<(), StoreError> {
    diesel::delete(admin_sessions::table.find(id_hash)).execute(conn)?;
    Ok(())
}

/// Deletes sessions idle since before `idle_cutoff` or created before
/// `absolute_cutoff`; returns how many.
pub fn purge_sessions(conn: &mut DbConn, idle_cutoff: i64, absolute_cutoff: i64) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        admin_sessions::table
            .filter(admin_sessions::last_seen_at.lt(idle_cutoff).or(admin_sessions::created_at.lt(absolute_cutoff))),
    )
    .execute(conn)?)
}

/// Stores a setup token's hash.
pub fn insert_setup_token(conn: &mut DbConn, token_hash: &str, now: i64, expires_at: i64) -> Result<(), StoreError> {
    diesel::insert_into(admin_setup_tokens::table)
        .values((
            admin_setup_tokens::token_hash.eq(token_hash),
            admin_setup_tokens::created_at.eq(now),
            admin_setup_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// True if the token exists and has not expired (it stays usable).
pub fn setup_token_valid(conn: &mut DbConn, token_hash: &str, now: i64) -> Result<bool, StoreError> {
    let n: i64 = admin_setup_tokens::table
        .filter(admin_setup_tokens::token_hash.eq(token_hash).and(admin_setup_tokens::expires_at.gt(now)))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Uses up a setup token: true if it was valid. Deleting the row is the
/// check, so two browsers racing with one link cannot both win. Every other
/// setup token goes too, since the console now has an administrator.
pub fn consume_setup_tokens(conn: &mut DbConn, token_hash: &str, now: i64) -> Result<bool, StoreError> {
    let n = diesel::delete(
        admin_setup_tokens::table
            .filter(admin_setup_tokens::token_hash.eq(token_hash).and(admin_setup_tokens::expires_at.gt(now))),
    )
    .execute(conn)?;
    if n == 1 {
        diesel::delete(admin_setup_tokens::table).execute(conn)?;
    }
    Ok(n == 1)
}

/// Voids every setup link (an administrator was created another way).
pub fn delete_setup_tokens(conn: &mut DbConn) -> Result<(), StoreError> {
    diesel::delete(admin_setup_tokens::table).execute(conn)?;
    Ok(())
}

/// Replaces an administrator's password hash and ends every session of
/// theirs except `keep_session` (the one that made the change, if any).
pub fn set_password(
    conn: &mut DbConn,
    id: &str,
    password_hash: &str,
    keep_session: Option<&str>,
) -> Result<(), StoreError> {
    let n = diesel::update(admins::table.find(id)).set(admins::password_hash.eq(password_hash)).execute(conn)?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("administrator {id}")));
    }
    delete_sessions(conn, id, keep_session)?;
    Ok(())
}

/// An invitation to become an administrator with `role`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = admin_invitations)]
pub struct Invitation {
    /// SHA-256 (hex) of the token in the link.
    pub token_hash: String,
    /// The role the invitee gets.
    pub role: String,
    /// The audit actor who invited.
    pub invited_by: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; the link is refused from here on.
    pub expires_at: i64,
}

/// Stores an invitation.
pub fn insert_invitation(conn: &mut DbConn, invitation: &Invitation) -> Result<(), StoreError> {
    diesel::insert_into(admin_invitations::table).values(invitation).execute(conn)?;
    Ok(())
}

/// The invitation behind `token_hash` if it has not expired (it stays usable).
pub fn find_invitation(conn: &mut DbConn, token_hash: &str, now: i64) -> Result<Option<Invitation>, StoreError> {
    Ok(admin_invitations::table
        .filter(admin_invitations::token_hash.eq(token_hash).and(admin_invitations::expires_at.gt(now)))
        .select(Invitation::as_select())
        .first(conn)
        .optional()?)
}

/// Uses up an invitation: its row if it was valid. Deleting the row is the
/// check, so two browsers racing with one link cannot both win; expired
/// invitations are deleted on the way.
pub fn take_invitation(conn: &mut DbConn, token_hash: &str, now: i64) -> Result<Option<Invitation>, StoreError> {
    let found = find_invitation(conn, token_hash, now)?;
    diesel::delete(admin_invitations::table.filter(admin_invitations::expires_at.le(now))).execute(conn)?;
    let Some(invitation) = found else { return Ok(None) };
    let n = diesel::delete(admin_invitations::table.find(token_hash)).execute(conn)?;
    Ok((n == 1).then_some(invitation))
}

/// Invitations not yet used or expired, newest first (the page lists them
/// by who invited and when, never by token).
pub fn open_invitations(conn: &mut DbConn, now: i64) -> Result<Vec<Invitation>, StoreError> {
    Ok(admin_invitations::table
        .filter(admin_invitations::expires_at.gt(now))
        .order(admin_invitations::created_at.desc())
        .select(Invitation::as_select())
        .load(conn)?)
}
