//! Console administrators, their server-side sessions and one-time setup
//! links. Session ids and setup tokens are stored only as hashes, so a dump
//! of this table signs nobody in.

use crate::schema::{admin_sessions, admin_setup_tokens, admins};
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
}

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

/// Deletes the administrator `id` and their sessions, unless no other
/// administrator would remain: then `Conflict` and nothing changes (the
/// caller's transaction must roll back on the error). Every administrator
/// row is locked first (an `UPDATE` of all of them: row locks on
/// PostgreSQL, the write lock on SQLite), so two deletions running at once
/// count one after the other and cannot both remove "one of two". An
/// unknown id is `NotFound`.
pub fn delete_unless_last(conn: &mut DbConn, id: &str) -> Result<Admin, StoreError> {
    diesel::update(admins::table).set(admins::username.eq(admins::username)).execute(conn)?;
    let admin = find(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("administrator {id}")))?;
    if count(conn)? <= 1 {
        return Err(StoreError::Conflict("the last administrator cannot be deleted".into()));
    }
    diesel::delete(admin_sessions::table.filter(admin_sessions::admin_id.eq(id))).execute(conn)?;
    diesel::delete(admins::table.find(id)).execute(conn)?;
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
    let others = admin_sessions::table
        .filter(admin_sessions::admin_id.eq(id))
        .filter(admin_sessions::id_hash.ne(keep_session.unwrap_or("")));
    diesel::delete(others).execute(conn)?;
    Ok(())
}
