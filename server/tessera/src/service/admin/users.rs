//! Users: create, edit, reset a password, disable, delete; changes that
//! take access away end the user's grants in the same transaction.

use super::{AdminError, audit, internal, invalid};
use crate::service::db::Db;
use crate::service::views::{self, UserView};
use crate::{clock, passwords};
use serde_json::{Value, json};
use tessera_store::users::{self, User};
use tessera_store::{DbConn, Store, StoreError};

/// A user to create.
#[derive(Debug, Default)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Plain password; `None` for an account that cannot sign in (service account).
    pub password: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Metadata object.
    pub metadata: Value,
    /// Profile object.
    pub profile: Value,
    /// Role names.
    pub roles: Vec<String>,
}

fn validate_user_fields(email: Option<&str>, metadata: &Value, profile: &Value) -> Result<(), AdminError> {
    if email.is_some_and(|e| !e.contains('@') || e.chars().any(char::is_whitespace)) {
        return Err(invalid("email", "is not an e-mail address"));
    }
    for (field, v) in [("metadata", metadata), ("profile", profile)] {
        if !v.is_object() {
            return Err(invalid(field, "must be a JSON object"));
        }
    }
    Ok(())
}

fn hash_user_password(p: &str) -> Result<String, AdminError> {
    if p.chars().count() < 8 {
        return Err(invalid("password", "must have at least 8 characters"));
    }
    passwords::hash(p).map_err(internal)
}

/// Creates a user.
pub fn create_user(store: &Store, actor: &str, now: i64, new: NewUser) -> Result<User, AdminError> {
    let username = new.username.trim().to_owned();
    if username.is_empty() || username.len() > 255 || username.chars().any(char::is_control) {
        return Err(invalid("username", "must be 1 to 255 printable characters"));
    }
    validate_user_fields(new.email.as_deref(), &new.metadata, &new.profile)?;
    let password_hash = new.password.as_deref().map(hash_user_password).transpose()?;
    let user = User {
        id: clock::uuid(),
        username,
        password_hash,
        email: new.email,
        profile: new.profile,
        metadata: new.metadata,
        roles: new.roles,
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    store.tx(|conn| {
        users::insert(conn, &user)?;
        audit(conn, actor, now, "user.create", &user.id, json!({"username": user.username}))
    })?;
    Ok(user)
}

/// What an admin can change on a user (the username is the stable login).
#[derive(Debug, Default)]
pub struct UserEdit {
    /// E-mail; `None` clears it.
    pub email: Option<String>,
    /// Profile object.
    pub profile: Value,
    /// Metadata object.
    pub metadata: Value,
    /// Role names.
    pub roles: Vec<String>,
}

/// Whether a change to a user ends what they are signed in to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grants {
    Keep,
    End,
}

fn change_user(
    store: &impl Db,
    actor: &str,
    now: i64,
    id: &str,
    action: &str,
    grants: Grants,
    f: impl FnOnce(&mut User) -> Result<Value, AdminError>,
) -> Result<User, AdminError> {
    let mut user = store.tx(|conn| users::find(conn, id))?.ok_or_else(|| AdminError::NotFound(format!("user {id}")))?;
    let mut detail = f(&mut user)?;
    user.updated_at = now;
    store.tx(|conn| {
        users::update(conn, &user)?;
        if grants == Grants::End {
            end_grants(conn, id, now, &mut detail)?;
        }
        audit(conn, actor, now, action, id, detail)
    })?;
    Ok(user)
}

/// Issue #11 item 9: ends the user's refresh tokens, browser sessions and
/// pending codes, and (issue #15 item 1) revokes the access tokens issued to
/// them so far, in the caller's transaction; the counts go to the audit
/// detail.
fn end_grants(conn: &mut DbConn, user_id: &str, now: i64, detail: &mut Value) -> Result<(), StoreError> {
    let (refresh_tokens, sessions) = tessera_store::grants::end_user_grants(conn, user_id, now)?;
    detail["refresh_tokens_revoked"] = json!(refresh_tokens);
    detail["sessions_ended"] = json!(sessions);
    Ok(())
}

/// Changes a user's e-mail, profile, metadata and roles.
pub fn update_user(store: &impl Db, actor: &str, now: i64, id: &str, edit: UserEdit) -> Result<User, AdminError> {
    let email = edit.email.filter(|e| !e.trim().is_empty()).map(|e| e.trim().to_owned());
    validate_user_fields(email.as_deref(), &edit.metadata, &edit.profile)?;
    change_user(store, actor, now, id, "user.update", Grants::Keep, |u| {
        u.email = email;
        u.profile = edit.profile;
        u.metadata = edit.metadata;
        u.roles = edit.roles;
        Ok(json!({"username": u.username}))
    })
}

/// Sets a new password (the old one stops working at once); the user's
/// refresh tokens, browser sessions and pending codes end with it.
pub fn set_user_password(store: &impl Db, actor: &str, now: i64, id: &str, password: &str) -> Result<User, AdminError> {
    let hash = hash_user_password(password)?;
    change_user(store, actor, now, id, "user.password.reset", Grants::End, |u| {
        u.password_hash = Some(hash);
        Ok(json!({"username": u.username}))
    })
}

/// Sets a password hash exported from another Tessera (`tessera export
/// --with-password-hashes`, then `apply` on the server's machine): an
/// argon2 PHC string, checked to be one, never a plain password. The user's
/// grants end as with a new password.
pub fn import_password_hash(store: &Store, actor: &str, now: i64, id: &str, hash: &str) -> Result<User, AdminError> {
    if !hash.starts_with("$argon2") || argon2::PasswordHash::new(hash).is_err() {
        return Err(invalid("password_hash", "is not an argon2 PHC string (as `tessera export` writes it)"));
    }
    let hash = hash.to_owned();
    change_user(store, actor, now, id, "user.password.import", Grants::End, |u| {
        u.password_hash = Some(hash);
        Ok(json!({"username": u.username}))
    })
}

/// Disables or re-enables a user; a disabled user cannot sign in and gets
/// no tokens, and disabling ends their access and refresh tokens, browser
/// sessions and pending codes (re-enabling brings none of them back).
pub fn set_user_disabled(store: &impl Db, actor: &str, now: i64, id: &str, disabled: bool) -> Result<User, AdminError> {
    let action = if disabled { "user.disable" } else { "user.enable" };
    let grants = if disabled { Grants::End } else { Grants::Keep };
    change_user(store, actor, now, id, action, grants, |u| {
        u.disabled = disabled;
        Ok(json!({"username": u.username}))
    })
}

/// Signs a user out everywhere, the account unchanged: their browser
/// sessions end (each client with a back-channel logout URL is told), and
/// their refresh and access tokens are revoked, as a password reset does.
pub fn sign_out_user(store: &impl Db, actor: &str, now: i64, id: &str) -> Result<User, AdminError> {
    change_user(store, actor, now, id, "user.sign_out", Grants::End, |u| Ok(json!({"username": u.username})))
}

/// Deletes a user with their sessions, consents and refresh tokens; a
/// client using them as its service account loses the link.
pub fn delete_user(store: &impl Db, actor: &str, now: i64, id: &str) -> Result<(), AdminError> {
    store.tx(|conn| {
        let user = users::find(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
        let mut detail = json!({"username": user.username});
        // The rows also go with the user (ON DELETE CASCADE); ending them
        // first does not rely on the backend enforcing foreign keys.
        end_grants(conn, id, now, &mut detail)?;
        users::delete(conn, id)?;
        audit(conn, actor, now, "user.delete", id, detail)
    })?;
    Ok(())
}

/// A page of users whose name or e-mail contains `search` (the console's
/// list fetches one row more than it shows, to know a next page exists).
pub fn list_users(store: &Store, search: &str, offset: i64, limit: i64) -> Result<Vec<UserView>, StoreError> {
    Ok(views::all(users::list(&mut *store.conn()?, search, offset, limit)?))
}

/// One user, if it exists.
pub fn find_user(store: &impl Db, id: &str) -> Result<Option<UserView>, StoreError> {
    Ok(users::find(&mut *store.conn()?, id)?.map(UserView::from))
}
