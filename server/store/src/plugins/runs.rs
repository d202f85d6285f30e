//! The `plugin_runs` table: a bounded record of plugin calls, for the console.

use crate::schema::plugin_runs;
use crate::{DbConn, StoreError};
use diesel::prelude::*;

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
    /// JSON array of the HTTP requests the run made (`http.fetch`, WIT
    /// 0.2.0): `{method, url, status, bytes, duration_us, cached, error}`,
    /// the URL without query values; `[]` when none.
    pub http: String,
}

/// Records runs and keeps at most `keep` records in total (oldest dropped):
/// [`insert_runs`] then [`prune_runs`].
pub fn record_runs(conn: &mut DbConn, runs: &[PluginRunRecord], keep: i64) -> Result<(), StoreError> {
    insert_runs(conn, runs)?;
    prune_runs(conn, keep)
}

/// Inserts `runs` in one multi-row `INSERT` without `RETURNING`: the
/// asynchronous run log writes a batch per transaction, and a statement
/// per row was most of its cost (BENCHMARKS.md, "Where the time goes").
/// The table is not pruned here; the caller calls [`prune_runs`] now and
/// then.
pub fn insert_runs(conn: &mut DbConn, runs: &[PluginRunRecord]) -> Result<(), StoreError> {
    if runs.is_empty() {
        return Ok(());
    }
    // `MultiConnection` does not derive batch inserts, so each backend's
    // connection runs the same statement. 11 binds a row: a batch of a few
    // hundred rows stays far below both backends' bind limits.
    match conn {
        DbConn::Pg(c) => diesel::insert_into(plugin_runs::table).values(runs).execute(c)?,
        DbConn::Sqlite(c) => diesel::insert_into(plugin_runs::table).values(runs).execute(c)?,
    };
    Ok(())
}

/// Deletes every record older than the `keep`-th newest. Walks `keep`
/// index entries, so callers that write often call it every so many
/// records rather than after each write.
pub fn prune_runs(conn: &mut DbConn, keep: i64) -> Result<(), StoreError> {
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

/// The run record with this id, if any.
pub fn find_run(conn: &mut DbConn, id: &str) -> Result<Option<PluginRunRecord>, StoreError> {
    Ok(plugin_runs::table.find(id).select(PluginRunRecord::as_select()).first(conn).optional()?)
}

/// Which run records to list; every set field must match.
#[derive(Debug, Default, Clone)]
pub struct RunFilter {
    /// The binding that ran.
    pub binding_id: Option<String>,
    /// The token request's client.
    pub client_id: Option<String>,
    /// The outcome exactly (`ok`, `denied`, `trap`, ...).
    pub outcome: Option<String>,
    /// Only runs of these versions (a plugin's versions); empty: none match.
    pub version_ids: Option<Vec<String>>,
    /// `at` at or after this, Unix seconds.
    pub since: Option<i64>,
    /// `at` before this, Unix seconds.
    pub until: Option<i64>,
}

/// One page of a keyset listing: records matching `filter` ordered by id
/// (UUID v7, so by time), newest first unless `oldest_first`, strictly
/// after the id `after` in that order, at most `limit`. Records written
/// between two pages do not shift the next one.
pub fn run_page(
    conn: &mut DbConn,
    filter: &RunFilter,
    oldest_first: bool,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<PluginRunRecord>, StoreError> {
    let mut q = plugin_runs::table.into_boxed();
    if let Some(b) = &filter.binding_id {
        q = q.filter(plugin_runs::binding_id.eq(b.clone()));
    }
    if let Some(c) = &filter.client_id {
        q = q.filter(plugin_runs::client_id.eq(c.clone()));
    }
    if let Some(o) = &filter.outcome {
        q = q.filter(plugin_runs::outcome.eq(o.clone()));
    }
    if let Some(v) = &filter.version_ids {
        q = q.filter(plugin_runs::plugin_version_id.eq_any(v.clone()));
    }
    if let Some(s) = filter.since {
        q = q.filter(plugin_runs::at.ge(s));
    }
    if let Some(u) = filter.until {
        q = q.filter(plugin_runs::at.lt(u));
    }
    q = match (after, oldest_first) {
        (Some(a), false) => q.filter(plugin_runs::id.lt(a.to_owned())).order(plugin_runs::id.desc()),
        (Some(a), true) => q.filter(plugin_runs::id.gt(a.to_owned())).order(plugin_runs::id.asc()),
        (None, false) => q.order(plugin_runs::id.desc()),
        (None, true) => q.order(plugin_runs::id.asc()),
    };
    Ok(q.limit(limit).select(PluginRunRecord::as_select()).load(conn)?)
}
