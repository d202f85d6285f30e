//! Plugins, their numbered versions, bindings, and run records.
//!
//! A version is immutable once uploaded (its bytes, sha256 and declared
//! claims); rollback means pointing bindings at an older version. Bindings are
//! read on every token request, so a change made on any node takes effect on
//! the next request everywhere.

use crate::json::{from_text, to_text};
use crate::schema::{bindings, plugin_runs, plugin_versions, plugins};
use crate::{DbConn, StoreError};
use diesel::prelude::*;
use serde_json::Value;

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

/// Adds a version under `name`, creating the plugin on first upload; the
/// version number is one more than the highest so far. Run inside a transaction.
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
    let highest: Option<i32> = plugin_versions::table
        .filter(plugin_versions::plugin_id.eq(&plugin.id))
        .select(diesel::dsl::max(plugin_versions::version))
        .first(conn)?;
    let row = NewVersionRow {
        id: v.id,
        plugin_id: &plugin.id,
        version: highest.unwrap_or(0) + 1,
        sha256: v.sha256,
        size: v.wasm.len() as i64,
        wasm: v.wasm,
        world: v.world,
        declared_claims: v.declared_claims.as_ref().map(to_text).transpose()?,
        interface: to_text(&v.interface)?,
        uploaded_by: v.uploaded_by,
        uploaded_at: v.now,
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

/// The component bytes of a version.
pub fn wasm(conn: &mut DbConn, version_id: &str) -> Result<Vec<u8>, StoreError> {
    plugin_versions::table
        .find(version_id)
        .select(plugin_versions::wasm)
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("plugin version {version_id}")))
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = bindings)]
#[diesel(treat_none_as_null = true)]
struct BindingRow {
    id: String,
    plugin_id: String,
    plugin_version_id: String,
    trigger_name: String,
    grant_types: String,
    client_ids: Option<String>,
    position: i32,
    enabled: bool,
    config: String,
    secrets_enc: Option<Vec<u8>>,
    secret_names: String,
    failure_policy: String,
    created_at: i64,
    updated_at: i64,
}

/// A binding: which plugin version runs for which grants and clients, in what
/// order, with what configuration, and what happens when it fails.
#[derive(Debug, Clone)]
pub struct Binding {
    /// Internal id.
    pub id: String,
    /// The plugin.
    pub plugin_id: String,
    /// The version that runs.
    pub plugin_version_id: String,
    /// The trigger; `token` (before a token is signed) today.
    pub trigger: String,
    /// Grant types it runs for (wire names).
    pub grant_types: Vec<String>,
    /// `None`: every client (a claim rule); `Some`: only these (a client hook).
    pub client_ids: Option<Vec<String>>,
    /// Order in the pipeline, ascending.
    pub position: i32,
    /// Disabled bindings are skipped.
    pub enabled: bool,
    /// Configuration, any JSON value.
    pub config: Value,
    /// Secrets (a JSON object of strings), encrypted with the master key.
    pub secrets_enc: Option<Vec<u8>>,
    /// Names of the secrets, for display (values are write-only).
    pub secret_names: Vec<String>,
    /// `deny` or `skip`.
    pub failure_policy: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl TryFrom<BindingRow> for Binding {
    type Error = StoreError;
    fn try_from(r: BindingRow) -> Result<Self, StoreError> {
        Ok(Binding {
            grant_types: from_text("bindings.grant_types", &r.grant_types)?,
            client_ids: r.client_ids.as_deref().map(|s| from_text("bindings.client_ids", s)).transpose()?,
            config: from_text("bindings.config", &r.config)?,
            secret_names: from_text("bindings.secret_names", &r.secret_names)?,
            id: r.id,
            plugin_id: r.plugin_id,
            plugin_version_id: r.plugin_version_id,
            trigger: r.trigger_name,
            position: r.position,
            enabled: r.enabled,
            secrets_enc: r.secrets_enc,
            failure_policy: r.failure_policy,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

impl Binding {
    fn to_row(&self) -> Result<BindingRow, StoreError> {
        Ok(BindingRow {
            id: self.id.clone(),
            plugin_id: self.plugin_id.clone(),
            plugin_version_id: self.plugin_version_id.clone(),
            trigger_name: self.trigger.clone(),
            grant_types: to_text(&self.grant_types)?,
            client_ids: self.client_ids.as_ref().map(to_text).transpose()?,
            position: self.position,
            enabled: self.enabled,
            config: to_text(&self.config)?,
            secrets_enc: self.secrets_enc.clone(),
            secret_names: to_text(&self.secret_names)?,
            failure_policy: self.failure_policy.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }

    /// True if this binding runs for `grant_type` and `client_id`.
    pub fn applies_to(&self, grant_type: &str, client_id: &str) -> bool {
        self.enabled
            && self.grant_types.iter().any(|g| g == grant_type)
            && self.client_ids.as_ref().is_none_or(|ids| ids.iter().any(|c| c == client_id))
    }
}

/// Inserts a binding.
pub fn insert_binding(conn: &mut DbConn, b: &Binding) -> Result<(), StoreError> {
    diesel::insert_into(bindings::table).values(b.to_row()?).execute(conn)?;
    Ok(())
}

/// Replaces a binding's stored fields.
pub fn update_binding(conn: &mut DbConn, b: &Binding) -> Result<(), StoreError> {
    let n = diesel::update(bindings::table.find(&b.id)).set(b.to_row()?).execute(conn)?;
    if n == 0 { Err(StoreError::NotFound(format!("binding {}", b.id))) } else { Ok(()) }
}

/// Deletes a binding.
pub fn delete_binding(conn: &mut DbConn, id: &str) -> Result<(), StoreError> {
    let n = diesel::delete(bindings::table.find(id)).execute(conn)?;
    if n == 0 { Err(StoreError::NotFound(format!("binding {id}"))) } else { Ok(()) }
}

/// A binding by id.
pub fn binding(conn: &mut DbConn, id: &str) -> Result<Option<Binding>, StoreError> {
    bindings::table.find(id).select(BindingRow::as_select()).first(conn).optional()?.map(Binding::try_from).transpose()
}

/// Every binding of a trigger in pipeline order (position, then creation).
pub fn bindings_for_trigger(conn: &mut DbConn, trigger: &str) -> Result<Vec<Binding>, StoreError> {
    bindings::table
        .filter(bindings::trigger_name.eq(trigger))
        .order((bindings::position.asc(), bindings::created_at.asc(), bindings::id.asc()))
        .select(BindingRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Binding::try_from)
        .collect()
}

/// How many bindings a trigger has.
pub fn binding_count(conn: &mut DbConn, trigger: &str) -> Result<i64, StoreError> {
    Ok(bindings::table.filter(bindings::trigger_name.eq(trigger)).count().get_result(conn)?)
}

/// The highest position in use for a trigger (new bindings go after it).
pub fn max_position(conn: &mut DbConn, trigger: &str) -> Result<i32, StoreError> {
    let m: Option<i32> = bindings::table
        .filter(bindings::trigger_name.eq(trigger))
        .select(diesel::dsl::max(bindings::position))
        .first(conn)?;
    Ok(m.unwrap_or(0))
}

/// A record of one plugin call.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = plugin_runs)]
pub struct PluginRunRecord {
    /// Id (UUID v7).
    pub id: String,
    /// The binding.
    pub binding_id: String,
    /// The version that ran.
    pub plugin_version_id: String,
    /// The grant.
    pub grant_type: String,
    /// The client.
    pub client_id: String,
    /// Unix seconds.
    pub at: i64,
    /// Duration in microseconds.
    pub duration_us: i64,
    /// `ok`, `denied`, or a failure code (`trap`, `deadline`, `memory`, ...).
    pub outcome: String,
    /// Failure or denial detail (never shown to clients).
    pub detail: String,
    /// JSON array of `{level, message}`.
    pub logs: String,
}

/// Records runs and keeps at most `keep` records in total (oldest dropped).
pub fn record_runs(conn: &mut DbConn, runs: &[PluginRunRecord], keep: i64) -> Result<(), StoreError> {
    if runs.is_empty() {
        return Ok(());
    }
    // One statement per row: batch inserts are not portable across MultiConnection backends.
    for r in runs {
        diesel::insert_into(plugin_runs::table).values(r).execute(conn)?;
    }
    // Bounded: delete everything older than the keep-th newest record.
    let cutoff: Option<String> =
        plugin_runs::table.order(plugin_runs::id.desc()).offset(keep).select(plugin_runs::id).first(conn).optional()?;
    if let Some(c) = cutoff {
        diesel::delete(plugin_runs::table.filter(plugin_runs::id.le(c))).execute(conn)?;
    }
    Ok(())
}

/// Recent runs, newest first, optionally of one binding.
pub fn recent_runs(
    conn: &mut DbConn,
    binding_id: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<Vec<PluginRunRecord>, StoreError> {
    runs(conn, binding_id, false, offset, limit)
}

/// The newest run records, optionally of one binding, optionally only the
/// failures (any outcome but `ok`).
pub fn runs(
    conn: &mut DbConn,
    binding_id: Option<&str>,
    failures_only: bool,
    offset: i64,
    limit: i64,
) -> Result<Vec<PluginRunRecord>, StoreError> {
    let mut q = plugin_runs::table.into_boxed();
    if let Some(b) = binding_id {
        q = q.filter(plugin_runs::binding_id.eq(b));
    }
    if failures_only {
        q = q.filter(plugin_runs::outcome.ne("ok"));
    }
    Ok(q.order(plugin_runs::id.desc()).offset(offset).limit(limit).select(PluginRunRecord::as_select()).load(conn)?)
}
