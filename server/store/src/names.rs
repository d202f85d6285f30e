//! Display names of rows by id, many ids at once: the audit log, plugin runs
//! and bindings keep ids, and a page shows names. Each function is one query
//! for every id it is given (none for an empty list); an id without a row
//! (deleted since) is simply absent from the map it returns.

use crate::schema::{admins, apis, bindings, clients, plugin_versions, plugins, users};
use crate::{DbConn, StoreError};
use diesel::prelude::*;
use std::collections::HashMap;

/// A map from id to what the query selected.
pub type ById<T> = HashMap<String, T>;

/// Client names by client id.
pub fn clients(conn: &mut DbConn, ids: &[String]) -> Result<ById<String>, StoreError> {
    if ids.is_empty() {
        return Ok(ById::new());
    }
    let rows: Vec<(String, String)> =
        clients::table.filter(clients::id.eq_any(ids)).select((clients::id, clients::name)).load(conn)?;
    Ok(rows.into_iter().collect())
}

/// API names by row id.
pub fn apis(conn: &mut DbConn, ids: &[String]) -> Result<ById<String>, StoreError> {
    if ids.is_empty() {
        return Ok(ById::new());
    }
    let rows: Vec<(String, String)> =
        apis::table.filter(apis::id.eq_any(ids)).select((apis::id, apis::name)).load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Usernames by user id.
pub fn users(conn: &mut DbConn, ids: &[String]) -> Result<ById<String>, StoreError> {
    if ids.is_empty() {
        return Ok(ById::new());
    }
    let rows: Vec<(String, String)> =
        users::table.filter(users::id.eq_any(ids)).select((users::id, users::username)).load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Administrator usernames by administrator id.
pub fn admins(conn: &mut DbConn, ids: &[String]) -> Result<ById<String>, StoreError> {
    if ids.is_empty() {
        return Ok(ById::new());
    }
    let rows: Vec<(String, String)> =
        admins::table.filter(admins::id.eq_any(ids)).select((admins::id, admins::username)).load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Plugin names by plugin id.
pub fn plugins(conn: &mut DbConn, ids: &[String]) -> Result<ById<String>, StoreError> {
    if ids.is_empty() {
        return Ok(ById::new());
    }
    let rows: Vec<(String, String)> =
        plugins::table.filter(plugins::id.eq_any(ids)).select((plugins::id, plugins::name)).load(conn)?;
    Ok(rows.into_iter().collect())
}

/// The plugin id of each binding, by binding id (a binding has no name of
/// its own: it is shown by its plugin's).
pub fn binding_plugins(conn: &mut DbConn, ids: &[String]) -> Result<ById<String>, StoreError> {
    if ids.is_empty() {
        return Ok(ById::new());
    }
    let rows: Vec<(String, String)> =
        bindings::table.filter(bindings::id.eq_any(ids)).select((bindings::id, bindings::plugin_id)).load(conn)?;
    Ok(rows.into_iter().collect())
}

/// The plugin id and version number of each plugin version, by version id.
pub fn versions(conn: &mut DbConn, ids: &[String]) -> Result<ById<(String, i32)>, StoreError> {
    if ids.is_empty() {
        return Ok(ById::new());
    }
    let rows: Vec<(String, String, i32)> = plugin_versions::table
        .filter(plugin_versions::id.eq_any(ids))
        .select((plugin_versions::id, plugin_versions::plugin_id, plugin_versions::version))
        .load(conn)?;
    Ok(rows.into_iter().map(|(id, plugin, n)| (id, (plugin, n))).collect())
}
