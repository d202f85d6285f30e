//! The console's one resolver from ids to names. The audit log, plugin runs
//! and bindings keep ids (a name can change, an id cannot); a page shows
//! names. A page collects the ids it shows in [`Wanted`], then
//! [`Names::load`] reads them with one query per kind of object
//! (`tessera_store::names`), never one per row, and [`Names::named`] answers
//! per row. An id whose row is gone resolves to a [`Named`] without a name:
//! the page shows the id, marked deleted.

use crate::service::views::{AuditEventView, RunView};
use std::collections::BTreeSet;
use tessera_store::names::{self, ById};
use tessera_store::{DbConn, Store, StoreError};

/// The kinds of object a console page names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An OAuth client (id: its `client_id`).
    Client,
    /// An API (id: its row id).
    Api,
    /// A user (id: its row id).
    User,
    /// A console administrator.
    Admin,
    /// A plugin (id: its row id; its page is by name).
    Plugin,
    /// A binding, shown by its plugin's name.
    Binding,
}

impl Kind {
    /// The kind of object an audit event's target is, from its action
    /// (`client.update` names a client); `None` when the target is not an
    /// object's id (`keys.rotate` names an algorithm, `admin.login` the
    /// console, `plugin.upload.refused` a plugin name).
    pub fn of_audit_action(action: &str) -> Option<Kind> {
        // A refused upload names the plugin it was for, which may not exist.
        if action.starts_with("admin.login") || action == "plugin.upload.refused" {
            return None;
        }
        match action.split('.').next().unwrap_or_default() {
            "client" => Some(Kind::Client),
            "api" => Some(Kind::Api),
            "user" => Some(Kind::User),
            "admin" => Some(Kind::Admin),
            "plugin" => Some(Kind::Plugin),
            "binding" => Some(Kind::Binding),
            _ => None,
        }
    }
}

/// One object as a page names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Named {
    /// What it is.
    pub kind: Kind,
    /// Its id.
    pub id: String,
    /// Its name (for a binding: its plugin's name; for a plugin, also the
    /// key of its page); `None` if it no longer exists.
    pub name: Option<String>,
}

/// The ids a page is about to show, by kind.
#[derive(Debug, Default)]
pub struct Wanted {
    clients: BTreeSet<String>,
    apis: BTreeSet<String>,
    users: BTreeSet<String>,
    admins: BTreeSet<String>,
    plugins: BTreeSet<String>,
    bindings: BTreeSet<String>,
    versions: BTreeSet<String>,
}

impl Wanted {
    /// Asks for the name of `id`, a `kind`.
    pub fn add(&mut self, kind: Kind, id: &str) {
        let set = match kind {
            Kind::Client => &mut self.clients,
            Kind::Api => &mut self.apis,
            Kind::User => &mut self.users,
            Kind::Admin => &mut self.admins,
            Kind::Plugin => &mut self.plugins,
            Kind::Binding => &mut self.bindings,
        };
        set.insert(id.to_owned());
    }

    /// Asks for the plugin and number of the plugin version `id`.
    pub fn add_version(&mut self, id: &str) {
        self.versions.insert(id.to_owned());
    }
}

fn list(set: &BTreeSet<String>) -> Vec<String> {
    set.iter().cloned().collect()
}

/// The names of what a [`Wanted`] asked for.
#[derive(Debug, Default)]
pub struct Names {
    clients: ById<String>,
    apis: ById<String>,
    users: ById<String>,
    admins: ById<String>,
    plugins: ById<String>,
    /// Binding id to plugin id.
    bindings: ById<String>,
    /// Version id to (plugin id, number).
    versions: ById<(String, i32)>,
}

impl Names {
    /// Reads every name `wanted` asks for: one query per kind asked for;
    /// the plugins of bindings and versions join the one plugin query.
    pub fn load(conn: &mut DbConn, wanted: &Wanted) -> Result<Names, StoreError> {
        let bindings = names::binding_plugins(conn, &list(&wanted.bindings))?;
        let versions = names::versions(conn, &list(&wanted.versions))?;
        let mut plugin_ids = wanted.plugins.clone();
        plugin_ids.extend(bindings.values().cloned());
        plugin_ids.extend(versions.values().map(|(p, _)| p.clone()));
        Ok(Names {
            clients: names::clients(conn, &list(&wanted.clients))?,
            apis: names::apis(conn, &list(&wanted.apis))?,
            users: names::users(conn, &list(&wanted.users))?,
            admins: names::admins(conn, &list(&wanted.admins))?,
            plugins: names::plugins(conn, &list(&plugin_ids))?,
            bindings,
            versions,
        })
    }

    /// `id`, a `kind`, with its name if it was asked for and exists.
    pub fn named(&self, kind: Kind, id: &str) -> Named {
        let name = match kind {
            Kind::Client => self.clients.get(id),
            Kind::Api => self.apis.get(id),
            Kind::User => self.users.get(id),
            Kind::Admin => self.admins.get(id),
            Kind::Plugin => self.plugins.get(id),
            Kind::Binding => self.bindings.get(id).and_then(|p| self.plugins.get(p)),
        };
        Named { kind, id: id.to_owned(), name: name.cloned() }
    }

    /// The plugin of the version `id` (named as a plugin) and the version's
    /// number; a deleted version is a nameless plugin with the version's id.
    pub fn version(&self, id: &str) -> (Named, Option<i32>) {
        match self.versions.get(id) {
            Some((plugin, number)) => (self.named(Kind::Plugin, plugin), Some(*number)),
            None => (Named { kind: Kind::Plugin, id: id.to_owned(), name: None }, None),
        }
    }
}

/// Names each of `ids`, all of one `kind`, with one query, in the order
/// given (a list of ids such as a hook's clients).
pub fn name_each(store: &Store, kind: Kind, ids: &[String]) -> Result<Vec<Named>, StoreError> {
    let mut wanted = Wanted::default();
    for id in ids {
        wanted.add(kind, id);
    }
    let names = Names::load(&mut *store.conn()?, &wanted)?;
    Ok(ids.iter().map(|id| names.named(kind, id)).collect())
}

/// An audit event with its target named (`None`: the target is not an
/// object, see [`Kind::of_audit_action`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditRow {
    /// The event as recorded.
    pub event: AuditEventView,
    /// Its target.
    pub target: Option<Named>,
}

/// Names the targets of `events` (one query per kind).
pub fn audit_rows(conn: &mut DbConn, events: Vec<AuditEventView>) -> Result<Vec<AuditRow>, StoreError> {
    let mut wanted = Wanted::default();
    for e in &events {
        if let Some(kind) = Kind::of_audit_action(&e.action) {
            wanted.add(kind, &e.target);
        }
    }
    let names = Names::load(conn, &wanted)?;
    Ok(events
        .into_iter()
        .map(|event| {
            let target = Kind::of_audit_action(&event.action).map(|k| names.named(k, &event.target));
            AuditRow { event, target }
        })
        .collect())
}

/// A plugin run with its plugin, binding and client named.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunRow {
    /// The run as recorded.
    pub run: RunView,
    /// The plugin of the version that ran.
    pub plugin: Named,
    /// The number of the version that ran (`None`: deleted since).
    pub version: Option<i32>,
    /// The binding that ran.
    pub binding: Named,
    /// The token request's client.
    pub client: Named,
}

/// Names the plugin, binding and client of each run (one query per kind).
pub fn run_rows(conn: &mut DbConn, runs: Vec<RunView>) -> Result<Vec<RunRow>, StoreError> {
    let mut wanted = Wanted::default();
    for r in &runs {
        wanted.add_version(&r.plugin_version_id);
        wanted.add(Kind::Binding, &r.binding_id);
        wanted.add(Kind::Client, &r.client_id);
    }
    let names = Names::load(conn, &wanted)?;
    Ok(runs
        .into_iter()
        .map(|run| {
            let (plugin, version) = names.version(&run.plugin_version_id);
            RunRow {
                plugin,
                version,
                binding: names.named(Kind::Binding, &run.binding_id),
                client: names.named(Kind::Client, &run.client_id),
                run,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_targets_are_named_by_the_action_prefix_except_sign_ins_and_keys() {
        assert_eq!(Kind::of_audit_action("client.secret.revoke"), Some(Kind::Client));
        assert_eq!(Kind::of_audit_action("binding.shadow.start"), Some(Kind::Binding));
        assert_eq!(Kind::of_audit_action("admin.create"), Some(Kind::Admin));
        assert_eq!(Kind::of_audit_action("admin.login.failed"), None);
        assert_eq!(Kind::of_audit_action("keys.rotate"), None);
    }
}
