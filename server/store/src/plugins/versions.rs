//! The `plugin_versions` table: numbered, immutable uploads of a plugin
//! (bytes, sha256, declared claims, and who signed them).

use super::names::{Plugin, find_by_name};
use crate::json::{from_text, to_text};
use crate::schema::{bindings, plugin_versions, plugins};
use crate::{DbConn, StoreError};
use diesel::prelude::*;
use serde_json::Value;

/// One uploaded version, without its bytes (listing does not load them).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = plugin_versions)]
pub struct VersionInfo {
    /// Internal id.
    pub id: String,
    /// The plugin.
    pub plugin_id: String,
    /// 1, 2, 3, ... per plugin.
    pub version: i32,
    /// Hex sha256 of the component.
    pub sha256: String,
    /// Size in bytes.
    pub size: i64,
    /// The world it implements.
    pub world: String,
    /// JSON array of claim names it may set, or `None` for any non-reserved claim.
    pub declared_claims: Option<String>,
    /// JSON object describing imports and exports, for the console.
    pub interface: String,
    /// Who uploaded it.
    pub uploaded_by: String,
    /// Unix seconds.
    pub uploaded_at: i64,
    /// The trusted signer whose key verified the upload's signature, or
    /// `None` for an unsigned version.
    pub signed_by: Option<String>,
    /// That signature file's text as the uploader gave it: a detached
    /// signature in base64, or a Sigstore bundle's JSON.
    pub signature: Option<String>,
}

impl VersionInfo {
    /// The declared claims, parsed.
    pub fn declared(&self) -> Result<Option<Vec<String>>, StoreError> {
        self.declared_claims.as_deref().map(|s| from_text("plugin_versions.declared_claims", s)).transpose()
    }
}

#[derive(Insertable)]
#[diesel(table_name = plugin_versions)]
struct NewVersionRow<'a> {
    id: &'a str,
    plugin_id: &'a str,
    version: i32,
    sha256: &'a str,
    size: i64,
    wasm: &'a [u8],
    world: &'a str,
    declared_claims: Option<String>,
    interface: String,
    uploaded_by: &'a str,
    uploaded_at: i64,
    signed_by: Option<&'a str>,
    signature: Option<&'a str>,
}

/// A version to store.
pub struct NewVersion<'a> {
    /// Id for the new row.
    pub id: &'a str,
    /// The component bytes.
    pub wasm: &'a [u8],
    /// Hex sha256 of `wasm`.
    pub sha256: &'a str,
    /// The world it implements.
    pub world: &'a str,
    /// Claims it may set.
    pub declared_claims: Option<Vec<String>>,
    /// Imports/exports description.
    pub interface: Value,
    /// Who uploads.
    pub uploaded_by: &'a str,
    /// Unix seconds.
    pub now: i64,
    /// The verified signature, if the upload carried one; the store keeps
    /// it as given (the service verifies before it stores).
    pub signature: Option<VersionSignature<'a>>,
}

/// A version's verified signature.
#[derive(Debug, Clone, Copy)]
pub struct VersionSignature<'a> {
    /// The name of the trusted signer whose key verified it.
    pub signed_by: &'a str,
    /// The signature file's text (base64, or a Sigstore bundle's JSON).
    pub signature: &'a str,
}

/// Adds a version under `name`, creating the plugin on first upload; the
/// version number is one more than the highest ever given to the plugin, so a
/// deleted version's number never comes back (migration 000029). Run inside
/// a transaction.
pub fn add_version(
    conn: &mut DbConn,
    name: &str,
    plugin_id_if_new: &str,
    v: NewVersion<'_>,
) -> Result<(Plugin, VersionInfo), StoreError> {
    let plugin = match find_by_name(conn, name)? {
        Some(p) => p,
        None => {
            let p = Plugin { id: plugin_id_if_new.to_owned(), name: name.to_owned(), created_at: v.now };
            diesel::insert_into(plugins::table).values(&p).execute(conn)?;
            p
        }
    };
    // The increment comes first: it takes the plugin's row lock, so
    // concurrent uploads of one plugin number one after the other.
    let row = plugins::table.find(&plugin.id);
    diesel::update(row).set(plugins::last_version.eq(plugins::last_version + 1)).execute(conn)?;
    let counted: i32 = row.select(plugins::last_version).first(conn)?;
    let highest: Option<i32> = plugin_versions::table
        .filter(plugin_versions::plugin_id.eq(&plugin.id))
        .select(diesel::dsl::max(plugin_versions::version))
        .first(conn)?;
    // A row older than the counter (restored from a dump of another build)
    // still never repeats a number.
    let number = counted.max(highest.unwrap_or(0) + 1);
    if number != counted {
        diesel::update(row).set(plugins::last_version.eq(number)).execute(conn)?;
    }
    let row = NewVersionRow {
        id: v.id,
        plugin_id: &plugin.id,
        version: number,
        sha256: v.sha256,
        size: v.wasm.len() as i64,
        wasm: v.wasm,
        world: v.world,
        declared_claims: v.declared_claims.as_ref().map(to_text).transpose()?,
        interface: to_text(&v.interface)?,
        uploaded_by: v.uploaded_by,
        uploaded_at: v.now,
        signed_by: v.signature.map(|s| s.signed_by),
        signature: v.signature.map(|s| s.signature),
    };
    diesel::insert_into(plugin_versions::table).values(&row).execute(conn)?;
    let info = version(conn, v.id)?.ok_or_else(|| StoreError::NotFound("new version".into()))?;
    Ok((plugin, info))
}

/// A version by id.
pub fn version(conn: &mut DbConn, id: &str) -> Result<Option<VersionInfo>, StoreError> {
    Ok(plugin_versions::table.find(id).select(VersionInfo::as_select()).first(conn).optional()?)
}

/// A version by plugin and number; `None` number means the latest.
pub fn version_by_number(
    conn: &mut DbConn,
    plugin_id: &str,
    number: Option<i32>,
) -> Result<Option<VersionInfo>, StoreError> {
    let q = plugin_versions::table.filter(plugin_versions::plugin_id.eq(plugin_id)).select(VersionInfo::as_select());
    Ok(match number {
        Some(n) => q.filter(plugin_versions::version.eq(n)).first(conn).optional()?,
        None => q.order(plugin_versions::version.desc()).first(conn).optional()?,
    })
}

/// Every version of a plugin, newest first.
pub fn versions(conn: &mut DbConn, plugin_id: &str) -> Result<Vec<VersionInfo>, StoreError> {
    Ok(plugin_versions::table
        .filter(plugin_versions::plugin_id.eq(plugin_id))
        .order(plugin_versions::version.desc())
        .select(VersionInfo::as_select())
        .load(conn)?)
}

/// The ids of the bindings that run the version `id` or try it as their
/// shadow candidate: while there is one, the version cannot be deleted.
pub fn version_users(conn: &mut DbConn, id: &str) -> Result<Vec<String>, StoreError> {
    Ok(bindings::table
        .filter(bindings::plugin_version_id.eq(id).or(bindings::shadow_version_id.eq(id)))
        .order(bindings::id.asc())
        .select(bindings::id)
        .load(conn)?)
}

/// Deletes the version `id` (its bytes with it). `StoreError::Conflict` if
/// a binding runs it or shadows it ([`version_users`]), `NotFound` if there
/// is no such version. Run runs recorded for it keep its id. Run inside a
/// transaction, so the check and the delete see the same bindings.
pub fn delete_version(conn: &mut DbConn, id: &str) -> Result<(), StoreError> {
    let users = version_users(conn, id)?;
    if !users.is_empty() {
        return Err(StoreError::Conflict(format!("plugin version {id} is used by bindings {}", users.join(", "))));
    }
    let n = diesel::delete(plugin_versions::table.find(id)).execute(conn)?;
    if n == 0 { Err(StoreError::NotFound(format!("plugin version {id}"))) } else { Ok(()) }
}

/// The component bytes of a version.
pub fn wasm(conn: &mut DbConn, version_id: &str) -> Result<Vec<u8>, StoreError> {
    plugin_versions::table
        .find(version_id)
        .select(plugin_versions::wasm)
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("plugin version {version_id}")))
}
