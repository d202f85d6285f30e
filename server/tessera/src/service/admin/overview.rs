//! The console's overview reads: the dashboard and the audit log.

use super::names::{self, AuditRow};
use crate::service::metrics::{PluginFigure, PluginFigures};
use crate::service::views::{self, AuditEventView, RunView};
use tessera_store::audit::{self, AuditFilter};
use tessera_store::plugins::Trigger;
use tessera_store::{Store, StoreError};
use tessera_store::{apis, clients, plugins, users};

/// A page of audit events, newest first, filtered by actor, action prefix
/// and target (each optional).
pub fn audit_events(
    store: &Store,
    actor: Option<String>,
    action_prefix: Option<String>,
    target: Option<String>,
    offset: i64,
    limit: i64,
) -> Result<Vec<AuditEventView>, StoreError> {
    let filter = AuditFilter { actor, action_prefix, target };
    Ok(views::all(audit::recent(&mut *store.conn()?, &filter, offset, limit)?))
}

/// [`audit_events`] with each target named ([`names::audit_rows`]): the
/// console's audit log.
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
    /// The ten newest failed plugin runs.
    pub failures: Vec<RunView>,
    /// The ten newest audit events.
    pub events: Vec<AuditEventView>,
    /// Each plugin version's latest runs on this node: the same runs
    /// `/metrics` counts (`service::metrics`), by plugin name.
    pub plugin_figures: Vec<NamedFigure>,
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
    let plugin_figures = figures
        .figures()
        .into_iter()
        .map(|figure| NamedFigure {
            name: names.get(&figure.plugin_id).cloned().unwrap_or_else(|| figure.plugin_id.clone()),
            figure,
        })
        .collect();
    Ok(Dashboard {
        plugin_figures,
        users: users::count(&mut c)?,
        clients: clients::count(&mut c)?,
        apis: apis::count(&mut c)?,
        plugins: plugins::count(&mut c)?,
        bindings: plugins::binding_count(&mut c, Trigger::Token)?,
        failures: views::all(plugins::runs(&mut c, None, true, 0, 10)?),
        events: views::all(audit::recent(&mut c, &AuditFilter::default(), 0, 10)?),
    })
}
