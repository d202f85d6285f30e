//! The `plugins` table: a name that versions are uploaded under.

use crate::schema::plugins;
use crate::{DbConn, StoreError};
use diesel::prelude::*;

/// A plugin: a name that versions are uploaded under.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = plugins)]
pub struct Plugin {
    /// Internal id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// The plugin named `name`, if any.
pub fn find_by_name(conn: &mut DbConn, name: &str) -> Result<Option<Plugin>, StoreError> {
    Ok(plugins::table.filter(plugins::name.eq(name)).select(Plugin::as_select()).first(conn).optional()?)
}

/// The plugin with this id, if any.
pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<Plugin>, StoreError> {
    Ok(plugins::table.find(id).select(Plugin::as_select()).first(conn).optional()?)
}

/// Every plugin, by name.
pub fn list(conn: &mut DbConn) -> Result<Vec<Plugin>, StoreError> {
    page(conn, 0, i64::MAX)
}

/// A page of plugins, by name.
pub fn page(conn: &mut DbConn, offset: i64, limit: i64) -> Result<Vec<Plugin>, StoreError> {
    Ok(plugins::table.order(plugins::name.asc()).offset(offset).limit(limit).select(Plugin::as_select()).load(conn)?)
}

/// How many plugins exist.
pub fn count(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(plugins::table.count().get_result(conn)?)
}
