//! What an administrator changes of a user's second factor (console, CLI,
//! management API): require one, stop requiring it, or reset a lost one.
//! Each change is audited; the sign-in side is `service::user_second_factor`.

use super::{AdminError, audit};
use crate::service::user_second_factor::{FactorStatus, status};
use serde_json::json;
use tessera_store::{DbConn, Store, StoreError, user_factors, users};

/// The username of `user_id`, for the audit event (`NotFound` without one).
fn username(conn: &mut DbConn, user_id: &str) -> Result<String, StoreError> {
    Ok(users::find(conn, user_id)?.ok_or_else(|| StoreError::NotFound(format!("user {user_id}")))?.username)
}

/// An administrator takes a user's second factor away (lost phone): the
/// secret and recovery codes go, and so do the user's browser sessions;
/// with `require`, the user enrols a new one at their next sign-in.
/// Audited as `user.second_factor.reset`.
fn reset(store: &Store, actor: &str, now: i64, user_id: &str, require: bool) -> Result<(), AdminError> {
    store.tx(|conn| {
        let username = username(conn, user_id)?;
        let had = user_factors::reset(conn, user_id, require)?;
        let sessions = tessera_store::grants::end_user_sessions(conn, user_id, now)?;
        let detail = json!({"username": username, "had_factor": had, "require": require, "sessions_ended": sessions});
        audit(conn, actor, now, "user.second_factor.reset", user_id, detail)
    })?;
    Ok(())
}

/// Sets or clears "enrol a second factor at the next sign-in" for one
/// user, keeping any factor they have. Audited as `user.second_factor.require`.
fn set_required(store: &Store, actor: &str, now: i64, user_id: &str, required: bool) -> Result<(), AdminError> {
    store.tx(|conn| {
        let detail = json!({"username": username(conn, user_id)?, "required": required});
        user_factors::set_required(conn, user_id, required)?;
        audit(conn, actor, now, "user.second_factor.require", user_id, detail)
    })?;
    Ok(())
}

/// What an administrator changes of a user's second factor (console, CLI,
/// management API).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
pub struct FactorChange {
    /// Take the user's factor and recovery codes away and end their browser
    /// sessions; they enrol a new one at their next sign-in.
    #[serde(default)]
    pub reset: bool,
    /// Require (or stop requiring) this user to have a second factor; a
    /// reset requires one unless this says `false`.
    #[serde(default)]
    pub required: Option<bool>,
}

/// Applies `change` to `user_id`'s second factor (each part audited) and
/// returns what it is now.
pub fn change_user_second_factor(
    store: &Store,
    actor: &str,
    now: i64,
    user_id: &str,
    change: FactorChange,
) -> Result<FactorStatus, AdminError> {
    if change.reset {
        reset(store, actor, now, user_id, change.required.unwrap_or(true))?;
    } else if let Some(required) = change.required {
        set_required(store, actor, now, user_id, required)?;
    }
    user_second_factor(store, user_id)
}

/// The second factor of an existing user (`NotFound` otherwise).
pub fn user_second_factor(store: &Store, user_id: &str) -> Result<FactorStatus, AdminError> {
    let mut conn = store.conn()?;
    username(&mut conn, user_id)?;
    Ok(status(&mut conn, user_id)?)
}
