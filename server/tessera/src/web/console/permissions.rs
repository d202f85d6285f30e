//! What each console route needs (issue #18 item 2): one table, keyed by
//! method and route pattern, in the management API's scope vocabulary. The
//! [`Admin`](super::Admin) extractor looks the matched route up here and
//! refuses, with the 403 page, an administrator whose role lacks the scope,
//! so no handler checks a role itself. A route missing from the table is
//! refused to everyone (deny by default), and the test below walks every
//! route the console registers and fails on one without a declaration.

use crate::service::oauth::management::ManagementScope;
use crate::web::routes::console as paths;

/// What a console route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nobody needs to be signed in (setup, sign-in, invitation pages).
    Public,
    /// Any signed-in administrator: their own account, the dashboard,
    /// sign-out, the API reference.
    SignedIn,
    /// An administrator whose role holds this scope.
    Scope(ManagementScope),
}

use ManagementScope as S;
use Need::{Public, Scope, SignedIn};

/// The dashboard's second pattern (`web::console::dashboard` also answers
/// the console's scope with a trailing slash).
const HOME_SLASH: &str = "/admin/";

/// Every console route: (method, pattern, need).
pub const ROUTES: &[(&str, &str, Need)] = &[
    ("GET", paths::SETUP, Public),
    ("POST", paths::SETUP, Public),
    ("GET", paths::LOGIN, Public),
    ("POST", paths::LOGIN, Public),
    // Sign-out also ends a session still waiting for its second factor, so
    // the handler checks the session and CSRF token itself.
    ("POST", paths::LOGOUT, SignedIn),
    // The second stage of sign-in: the handlers take the waiting session
    // from the cookie themselves (the extractor refuses waiting sessions).
    ("POST", paths::LOGIN_CODE, Public),
    ("POST", paths::LOGIN_ENROL, Public),
    ("POST", paths::LOGIN_PASSKEY_OPTIONS, Public),
    ("POST", paths::LOGIN_PASSKEY, Public),
    ("POST", paths::ACCOUNT_PASSKEY_OPTIONS, SignedIn),
    ("POST", paths::ACCOUNT_PASSKEYS, SignedIn),
    ("POST", paths::ACCOUNT_PASSKEY_REMOVE, SignedIn),
    ("GET", paths::ACCOUNT_SECOND_FACTOR, SignedIn),
    ("POST", paths::ACCOUNT_SECOND_FACTOR, SignedIn),
    ("POST", paths::ACCOUNT_SECOND_FACTOR_REMOVE, SignedIn),
    ("POST", paths::ADMINS_SECOND_FACTOR, Scope(S::WriteAdmins)),
    ("GET", paths::INVITATION, Public),
    ("POST", paths::INVITATION, Public),
    ("GET", paths::HOME, SignedIn),
    ("GET", HOME_SLASH, SignedIn),
    ("GET", paths::ACCOUNT, SignedIn),
    ("POST", paths::ACCOUNT, SignedIn),
    ("POST", paths::ACCOUNT_SESSIONS, SignedIn),
    ("GET", paths::API_REFERENCE, SignedIn),
    ("GET", paths::ADMINS, Scope(S::ReadAdmins)),
    ("POST", paths::ADMIN_INVITE, Scope(S::WriteAdmins)),
    ("POST", paths::ADMIN_ROLE, Scope(S::WriteAdmins)),
    ("POST", paths::ADMIN_STATUS, Scope(S::WriteAdmins)),
    ("POST", paths::ADMIN_SESSIONS, Scope(S::WriteAdmins)),
    ("POST", paths::ADMIN_DELETE, Scope(S::WriteAdmins)),
    ("POST", paths::ADMIN_SECOND_FACTOR_RESET, Scope(S::WriteAdmins)),
    ("GET", paths::USERS, Scope(S::ReadUsers)),
    ("POST", paths::USERS, Scope(S::WriteUsers)),
    ("GET", paths::NEW_USER, Scope(S::WriteUsers)),
    ("GET", paths::USER, Scope(S::ReadUsers)),
    ("POST", paths::USER, Scope(S::WriteUsers)),
    ("POST", paths::USER_PASSWORD, Scope(S::WriteUsers)),
    ("POST", paths::USER_STATUS, Scope(S::WriteUsers)),
    ("POST", paths::USER_DELETE, Scope(S::WriteUsers)),
    ("POST", paths::USER_SIGN_OUT, Scope(S::WriteUsers)),
    ("POST", paths::USER_SECOND_FACTOR, Scope(S::WriteUsers)),
    ("GET", paths::CLIENTS, Scope(S::ReadClients)),
    ("POST", paths::CLIENTS, Scope(S::WriteClients)),
    ("GET", paths::NEW_CLIENT, Scope(S::WriteClients)),
    ("GET", paths::CLIENT, Scope(S::ReadClients)),
    ("POST", paths::CLIENT, Scope(S::WriteClients)),
    ("POST", paths::CLIENT_DELETE, Scope(S::WriteClients)),
    ("POST", paths::CLIENT_SECRETS, Scope(S::WriteClients)),
    ("POST", paths::CLIENT_SECRET_REVOKE, Scope(S::WriteClients)),
    ("POST", paths::CLIENT_ISSUERS, Scope(S::WriteClients)),
    ("POST", paths::CLIENT_ISSUER_REMOVE, Scope(S::WriteClients)),
    // A test token speaks for the client: as much as holding its secret.
    ("POST", paths::CLIENT_TEST_TOKEN, Scope(S::WriteClients)),
    ("GET", paths::APIS, Scope(S::ReadApis)),
    ("POST", paths::APIS, Scope(S::WriteApis)),
    ("GET", paths::NEW_API, Scope(S::WriteApis)),
    ("GET", paths::API, Scope(S::ReadApis)),
    ("POST", paths::API, Scope(S::WriteApis)),
    ("POST", paths::API_DELETE, Scope(S::WriteApis)),
    ("POST", paths::API_SCOPES, Scope(S::WriteApis)),
    ("GET", paths::PLUGINS, Scope(S::ReadPlugins)),
    ("POST", paths::PLUGINS, Scope(S::WritePlugins)),
    ("GET", paths::PLUGIN, Scope(S::ReadPlugins)),
    // A rollback re-points the plugin's bindings: a binding change.
    ("POST", paths::PLUGIN_ROLLBACK, Scope(S::WriteBindings)),
    ("POST", paths::PLUGIN_VERSION_DELETE, Scope(S::WritePlugins)),
    // Testing runs the plugin: as much as uploading it.
    ("GET", paths::PLUGIN_TEST, Scope(S::WritePlugins)),
    ("POST", paths::PLUGIN_TEST, Scope(S::WritePlugins)),
    ("GET", paths::BINDINGS, Scope(S::ReadBindings)),
    ("POST", paths::BINDINGS, Scope(S::WriteBindings)),
    ("GET", paths::NEW_BINDING, Scope(S::WriteBindings)),
    ("GET", paths::BINDING, Scope(S::ReadBindings)),
    ("POST", paths::BINDING, Scope(S::WriteBindings)),
    ("POST", paths::BINDING_MOVE, Scope(S::WriteBindings)),
    ("POST", paths::BINDING_DELETE, Scope(S::WriteBindings)),
    ("POST", paths::BINDING_SHADOW, Scope(S::WriteBindings)),
    ("POST", paths::BINDING_SHADOW_PROMOTE, Scope(S::WriteBindings)),
    ("POST", paths::BINDING_SHADOW_DISCARD, Scope(S::WriteBindings)),
    ("GET", paths::KEYS, Scope(S::ReadKeys)),
    ("POST", paths::KEYS_ROTATE, Scope(S::WriteKeys)),
    ("POST", paths::KEYS_ROTATE_ALG, Scope(S::WriteKeys)),
    ("POST", paths::KEY_RETIRE, Scope(S::WriteKeys)),
    ("GET", paths::AUDIT, Scope(S::ReadAudit)),
    ("GET", paths::RUNS, Scope(S::ReadRuns)),
];

/// What the route `pattern` (as actix matched it) needs for `method`;
/// `None` for a route missing from [`ROUTES`], which the extractor refuses.
pub fn need(method: &str, pattern: &str) -> Option<Need> {
    ROUTES.iter().find(|(m, p, _)| *m == method && *p == pattern).map(|(_, _, n)| *n)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// The console's route constants, by name, read from `web/routes.rs`.
    fn constants() -> BTreeMap<String, String> {
        let src = include_str!("../routes.rs");
        let console = &src[src.find("pub mod console").unwrap()..];
        console
            .lines()
            .filter_map(|l| l.trim().strip_prefix("pub const "))
            .filter_map(|l| {
                let (name, rest) = l.split_once(':')?;
                let value = rest.split('"').nth(1)?;
                Some((name.trim().to_owned(), value.to_owned()))
            })
            .collect()
    }

    /// Every (method, pattern) the console's modules register, read from
    /// their `routes` functions: `.route(paths::relative(paths::X),
    /// web::get()...)` or a literal sub-path of the console's scope.
    fn registered() -> BTreeSet<(String, String)> {
        let names = constants();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/web/console");
        let mut found = BTreeSet::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            // This file's own parsing code is not a route registration.
            if path.extension().and_then(|e| e.to_str()) != Some("rs") || path.ends_with("permissions.rs") {
                continue;
            }
            let src: String = std::fs::read_to_string(&path).unwrap().split_whitespace().collect();
            for call in src.split("route(").skip(1) {
                let Some((target, rest)) = call.split_once(",web::") else { continue };
                let method = rest.split("()").next().unwrap().to_uppercase();
                if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                    continue;
                }
                let pattern = if let Some(name) = target.strip_prefix("paths::relative(paths::") {
                    let name = name.trim_end_matches(')');
                    names.get(name).unwrap_or_else(|| panic!("{path:?}: unknown constant {name}")).clone()
                } else if let Some(lit) = target.strip_prefix('"') {
                    format!("{}{}", paths::HOME, lit.trim_end_matches('"'))
                } else {
                    continue;
                };
                found.insert((method, pattern));
            }
        }
        found
    }

    /// Issue #18 item 2: every console route declares what it needs, and
    /// the table names no route that does not exist.
    #[test]
    fn every_console_route_declares_the_scope_it_needs() {
        let registered = registered();
        assert!(registered.len() > 50, "the walk found the routes: {registered:?}");
        for (method, pattern) in &registered {
            assert!(need(method, pattern).is_some(), "{method} {pattern} declares no need in permissions::ROUTES");
        }
        for (method, pattern, _) in ROUTES {
            assert!(
                registered.contains(&(method.to_string(), pattern.to_string())),
                "{method} {pattern} is declared but no console module registers it"
            );
        }
    }
}
