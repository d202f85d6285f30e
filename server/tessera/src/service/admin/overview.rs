//! The console's overview reads: the dashboard and the audit log.

use super::names::{self, AuditRow, RunRow};
use crate::service::metrics::{PluginFigure, PluginFigures, WINDOW};
use crate::service::views::{self, AuditEventView};
use std::time::Duration;
use tessera_store::audit::{self, AuditFilter};
use tessera_store::plugins::Trigger;
use tessera_store::{Store, StoreError};
use tessera_store::{apis, clients, plugins, users};

/// A page of audit events, newest first, filtered by actor, action prefix
/// and target (each optional), each target named ([`names::audit_rows`]):
/// the console's audit log.
pub fn audit_log(
    store: &Store,
    actor: Option<String>,
    action_prefix: Option<String>,
    target: Option<String>,
    offset: i64,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    let filter = AuditFilter { actor, action_prefix, target };
    let mut c = store.conn()?;
    let events = views::all(audit::recent(&mut c, &filter, offset, limit)?);
    names::audit_rows(&mut c, events)
}

/// [`audit_log`] without the names: what the in-process tests compare.
#[cfg(test)]
pub fn audit_events(
    store: &Store,
    actor: Option<String>,
    action_prefix: Option<String>,
    target: Option<String>,
    offset: i64,
    limit: i64,
) -> Result<Vec<AuditEventView>, StoreError> {
    let rows = audit_log(store, actor, action_prefix, target, offset, limit)?;
    Ok(rows.into_iter().map(|r| r.event).collect())
}

/// What the console's dashboard shows: how much is configured, and what
/// failed and changed lately.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Dashboard {
    /// Users.
    pub users: i64,
    /// Clients.
    pub clients: i64,
    /// APIs.
    pub apis: i64,
    /// Plugins.
    pub plugins: i64,
    /// Token-hook bindings.
    pub bindings: i64,
    /// The ten newest failed plugin runs, with their plugin, binding and
    /// client named.
    pub failures: Vec<RunRow>,
    /// The ten newest changes: audit events other than console sign-ins
    /// and refusals that changed nothing, with their targets named.
    pub events: Vec<AuditRow>,
    /// The ten newest steps of console sign-ins (passwords and second
    /// factors, failed ones included), kept apart from changes so a burst
    /// of sign-ins cannot hide them.
    pub sign_ins: Vec<AuditEventView>,
    /// True once a plugin has run on a real token request (the first-run
    /// checklist's last step).
    pub plugin_ran: bool,
    /// A plugin's name, to link the test panel from the checklist.
    pub some_plugin: Option<String>,
    /// Each plugin version's latest runs on this node: the same runs
    /// `/metrics` counts (`service::metrics`), by plugin name; or, when this
    /// node has run none yet, its latest runs in the run log.
    pub plugin_figures: Vec<NamedFigure>,
    /// True when `plugin_figures` come from the run log (every node, as far
    /// as it keeps them) rather than this node's own window.
    pub figures_from_run_log: bool,
}

/// A plugin version's figures under its plugin's name.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NamedFigure {
    /// The plugin's name (its id if it was deleted since).
    pub name: String,
    /// The figures.
    pub figure: PluginFigure,
}

/// The dashboard's numbers and lists; `figures` are this node's recent
/// plugin runs.
pub fn dashboard(store: &Store, figures: &PluginFigures) -> Result<Dashboard, StoreError> {
    let mut c = store.conn()?;
    let names: std::collections::HashMap<String, String> =
        plugins::list(&mut c)?.into_iter().map(|p| (p.id, p.name)).collect();
    let mut own = figures.figures();
    let figures_from_run_log = own.is_empty();
    if figures_from_run_log {
        own = run_log_figures(&mut c, &names)?;
    }
    let plugin_figures = own
        .into_iter()
        .map(|figure| NamedFigure {
            name: names.get(&figure.plugin_id).cloned().unwrap_or_else(|| figure.plugin_id.clone()),
            figure,
        })
        .collect();
    let some_plugin = names.values().min().cloned();
    let sign_ins = newest_where(&mut c, &admin_events(), 10, is_sign_in)?;
    let changes = newest_where(&mut c, &AuditFilter::default(), 10, is_change)?;
    let failures = views::all(plugins::runs(&mut c, None, true, 0, 10)?);
    Ok(Dashboard {
        plugin_figures,
        figures_from_run_log,
        some_plugin,
        plugin_ran: !plugins::runs(&mut c, None, false, 0, 1)?.is_empty(),
        sign_ins,
        events: names::audit_rows(&mut c, changes)?,
        users: users::count(&mut c)?,
        clients: clients::count(&mut c)?,
        apis: apis::count(&mut c)?,
        plugins: plugins::count(&mut c)?,
        bindings: plugins::binding_count(&mut c, Trigger::Token)?,
        failures: names::run_rows(&mut c, failures)?,
    })
}

/// Each plugin version's figures over its newest runs in the run log (at
/// most [`WINDOW`] runs in all), by plugin id then version; runs of deleted
/// versions are left out.
fn run_log_figures(
    c: &mut tessera_store::DbConn,
    plugins_by_id: &std::collections::HashMap<String, String>,
) -> Result<Vec<PluginFigure>, StoreError> {
    let runs = plugins::runs(c, None, false, 0, WINDOW as i64)?;
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let mut versions = std::collections::HashMap::new();
    for plugin_id in plugins_by_id.keys() {
        for v in plugins::versions(c, plugin_id)? {
            versions.insert(v.id, (v.plugin_id, v.version));
        }
    }
    let mut grouped: std::collections::BTreeMap<(String, i32), Vec<(Duration, &str)>> = Default::default();
    for r in &runs {
        if let Some(key) = versions.get(&r.plugin_version_id) {
            let took = Duration::from_micros(u64::try_from(r.duration_us).unwrap_or(0));
            grouped.entry(key.clone()).or_default().push((took, r.outcome.as_str()));
        }
    }
    Ok(grouped
        .into_iter()
        .map(|((plugin_id, version), runs)| PluginFigure::of_runs(plugin_id, version, &runs))
        .collect())
}

/// Audit actions of a console sign-in, all starting with this: a password
/// accepted (`admin.login`), refused (`.failed`) or locked out (`.locked`).
const SIGN_IN_PREFIX: &str = "admin.login";

/// The second factor's steps of a sign-in, after the password
/// (`service::second_factor::check`, `service::passkeys`): a wrong code or
/// passkey, a passkey accepted, a recovery code used up. They record a
/// sign-in, not a change, so the dashboard lists them with the sign-ins.
const SECOND_FACTOR_STEPS: [&str; 3] =
    ["admin.second_factor.failed", "admin.second_factor.passkey", "admin.second_factor.recovery"];

/// The audit log's action filter for every step of a console sign-in (the
/// dashboard's "Every sign-in" link): the prefixes, comma-separated.
pub fn sign_in_filter() -> String {
    std::iter::once(SIGN_IN_PREFIX).chain(SECOND_FACTOR_STEPS).collect::<Vec<_>>().join(",")
}

/// Whether an audit event's `action` is a step of a console sign-in.
fn is_sign_in(action: &str) -> bool {
    action.starts_with(SIGN_IN_PREFIX) || SECOND_FACTOR_STEPS.contains(&action)
}

/// The events every sign-in step is among (`admin.` actions), so the
/// dashboard's scan for sign-ins skips other changes in the database.
fn admin_events() -> AuditFilter {
    AuditFilter { action_prefix: Some("admin.".into()), ..AuditFilter::default() }
}

/// Audit actions that record a refusal, not a change: a refused plugin
/// upload (`service::plugins::upload`) stored nothing. They stay in the
/// audit log.
const REFUSALS: [&str; 1] = ["plugin.upload.refused"];

/// Whether an audit event's `action` is a change the dashboard lists.
fn is_change(action: &str) -> bool {
    !is_sign_in(action) && !REFUSALS.contains(&action)
}

/// How many of the newest events matching its filter the dashboard reads
/// to find the newest of one kind (sign-ins among other `admin.` events,
/// changes among sign-ins and refusals).
const SCAN: i64 = 500;

/// The newest `n` events matching `filter` whose action passes `kind`,
/// read page by page among the newest [`SCAN`] events matching `filter`.
fn newest_where(
    c: &mut tessera_store::DbConn,
    filter: &AuditFilter,
    n: usize,
    kind: fn(&str) -> bool,
) -> Result<Vec<AuditEventView>, StoreError> {
    const PAGE: i64 = 100;
    let mut found = Vec::new();
    let mut offset = 0;
    while found.len() < n && offset < SCAN {
        let page = audit::recent(c, filter, offset, PAGE)?;
        let last = (page.len() as i64) < PAGE;
        found.extend(page.into_iter().filter(|e| kind(&e.event.action)).take(n - found.len()));
        if last {
            break;
        }
        offset += PAGE;
    }
    Ok(views::all(found))
}
