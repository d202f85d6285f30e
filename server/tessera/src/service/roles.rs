//! Administrator roles (issue #18 item 2). A role is a set of the
//! management API's scopes ([`ManagementScope`]), so the console and the API
//! share one permission vocabulary: a console route declares the scope it
//! needs (`web::console::permissions`) exactly as an API handler does
//! (`Bearer<scope::X>`), and an administrator may hand a management client
//! at most the scopes of their own role ([`Role::grantable`]).

use crate::service::db::Db;
use crate::service::oauth::management::{MANAGEMENT_AUDIENCE, ManagementScope};
use tessera_store::admins::{self, OWNER};
use tessera_store::{StoreError, clients};

/// What an administrator may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, administrators, keys and the server-wide switches included.
    Owner,
    /// Users, clients, APIs, plugins and bindings; reads the rest.
    Editor,
    /// Uploads and tests plugins and reads their runs; no bindings, no
    /// clients or users, so no secrets.
    PluginAuthor,
    /// Reads everything, changes nothing.
    Viewer,
}

use ManagementScope as S;

/// Every read scope: what a viewer has and every other role includes, except
/// the plugin author's narrower set.
const READ: [ManagementScope; 8] = [
    S::ReadClients,
    S::ReadApis,
    S::ReadPlugins,
    S::ReadBindings,
    S::ReadUsers,
    S::ReadKeys,
    S::ReadAdmins,
    S::ReadAudit,
];

impl Role {
    /// Every role, most powerful first (the order of the role pickers).
    pub const ALL: [Role; 4] = [Role::Owner, Role::Editor, Role::PluginAuthor, Role::Viewer];

    /// The name stored in `admins.role` and used by the CLI (`--role`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => OWNER,
            Role::Editor => "editor",
            Role::PluginAuthor => "plugin-author",
            Role::Viewer => "viewer",
        }
    }

    /// The role named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// What the console shows.
    pub fn label(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Editor => "Editor",
            Role::PluginAuthor => "Plugin author",
            Role::Viewer => "Viewer",
        }
    }

    /// One line on what the role allows, for the pickers and `--help`.
    pub fn description(self) -> &'static str {
        match self {
            Role::Owner => "everything: administrators, keys and the second-factor requirement included",
            Role::Editor => "users, clients, APIs, plugins and bindings; reads keys, audit and runs",
            Role::PluginAuthor => "uploads and tests plugins and reads their runs; no bindings, no secrets",
            Role::Viewer => "reads everything, changes nothing",
        }
    }

    /// The scopes the role holds.
    pub fn scopes(self) -> Vec<ManagementScope> {
        match self {
            Role::Owner => ManagementScope::ALL.to_vec(),
            Role::Editor => {
                let mut s = READ.to_vec();
                s.extend([
                    S::ReadRuns,
                    S::WriteClients,
                    S::WriteApis,
                    S::WritePlugins,
                    S::WriteBindings,
                    S::WriteUsers,
                ]);
                s
            }
            Role::PluginAuthor => vec![S::ReadPlugins, S::WritePlugins, S::ReadRuns],
            Role::Viewer => {
                let mut s = READ.to_vec();
                s.push(S::ReadRuns);
                s
            }
        }
    }

    /// True if the role holds `scope`.
    pub fn allows(self, scope: ManagementScope) -> bool {
        self.scopes().contains(&scope)
    }

    /// The scopes in `requested` that this role does not hold: an
    /// administrator may give a management client only scopes they have
    /// themselves, or they could mint a client more powerful than they are.
    pub fn grantable(self, requested: &[ManagementScope]) -> Result<(), Vec<ManagementScope>> {
        let missing: Vec<ManagementScope> = requested.iter().copied().filter(|s| !self.allows(*s)).collect();
        if missing.is_empty() { Ok(()) } else { Err(missing) }
    }
}

/// The management scopes a client definition grants its holder: only a
/// client that names the management audience and each scope itself is a
/// management client (`service::oauth::management`), so nothing else counts.
pub fn management_scopes_granted(audiences: Option<&[String]>, scopes: Option<&[String]>) -> Vec<ManagementScope> {
    if !audiences.is_some_and(|a| a.iter().any(|x| x == MANAGEMENT_AUDIENCE)) {
        return Vec::new();
    }
    scopes.unwrap_or_default().iter().filter_map(|s| ManagementScope::parse(s)).collect()
}

/// The management scopes a client definition (create or update) would give
/// beyond what the actor holds: an administrator (`admin:NAME`) holds their
/// role's scopes, a management client (`client:ID`, the API) the scopes it
/// is allowed itself. Other actors (`cli`: the server's own machine, which
/// holds the database anyway) are not limited. Empty: nothing beyond.
/// `service::admin::clients` refuses a definition for which this is not
/// empty, so an administrator cannot mint a client more powerful than
/// they are.
pub fn scopes_beyond_actor(
    store: &impl Db,
    actor: &str,
    audiences: Option<&[String]>,
    scopes: Option<&[String]>,
) -> Result<Vec<ManagementScope>, StoreError> {
    let granted = management_scopes_granted(audiences, scopes);
    if granted.is_empty() {
        return Ok(granted);
    }
    let mut conn = store.conn()?;
    let conn = &mut *conn;
    let held: Vec<ManagementScope> = if let Some(name) = actor.strip_prefix("admin:") {
        let admin = admins::find_by_username(conn, name)?;
        admin.and_then(|a| Role::parse(&a.role)).map(Role::scopes).unwrap_or_default()
    } else if let Some(id) = actor.strip_prefix("client:") {
        let client = clients::find(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("client {id}")))?;
        management_scopes_granted(client.allowed_audiences.as_deref(), client.allowed_scopes.as_deref())
    } else {
        return Ok(Vec::new());
    };
    Ok(granted.into_iter().filter(|s| !held.contains(s)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_nested_scope_sets_with_the_owner_holding_all_sixteen() {
        assert_eq!(Role::Owner.scopes().len(), ManagementScope::ALL.len());
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            for s in r.scopes() {
                assert!(Role::Owner.allows(s));
            }
        }
        for s in Role::Viewer.scopes() {
            assert!(Role::Editor.allows(s), "an editor reads what a viewer reads: {}", s.as_str());
            assert!(s.as_str().starts_with("read:"), "a viewer only reads: {}", s.as_str());
        }
        assert!(!Role::Editor.allows(S::WriteAdmins) && !Role::Editor.allows(S::WriteKeys));
        assert!(!Role::PluginAuthor.allows(S::WriteBindings) && !Role::PluginAuthor.allows(S::ReadClients));
        assert!(Role::PluginAuthor.allows(S::WritePlugins));
        assert_eq!(Role::Editor.grantable(&[S::WriteClients, S::WriteAdmins]), Err(vec![S::WriteAdmins]));
        assert_eq!(Role::Owner.grantable(&ManagementScope::ALL), Ok(()));
    }
}
