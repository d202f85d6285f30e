//! Where a command's changes go: the database on this machine
//! ([`Local`]) or a remote server's management API (`remote::Remote`).
//! The `user`, `client`, `api`, `plugin` and `binding` commands and
//! `export`/`apply` are written once against [`Backend`]; both sides speak
//! the management API's JSON (its create and merge-patch bodies in, its
//! views out), and the local side runs the very functions the API's
//! handlers run (`web::api::*::create_*` / `patch_*`), so a flag means the
//! same thing, and fails the same way, on either side.

use super::Context;
use crate::clock;
use crate::service::admin::AdminError;
use crate::service::admin::FactorChange;
use crate::service::shadow::admin as shadow;
use crate::service::user_second_factor::FactorStatus;
use crate::service::views::AdminView;
use crate::service::{admin, console, management, plugins as svc, second_factor};
use crate::web::api::problem::Problem;
use crate::web::api::{apis, bindings, clients, users};
use anyhow::anyhow;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use tessera_protocol::model::{SigningAlg, UnsupportedAlg};
use tessera_store::audit::{self, AuditEvent, ChainHead, ChainedEvent};

/// The resources that are listed, read, created, patched and deleted alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `/api/v1/users`.
    Users,
    /// `/api/v1/clients`.
    Clients,
    /// `/api/v1/apis`.
    Apis,
    /// `/api/v1/bindings`.
    Bindings,
}

impl Kind {
    /// The path of the collection.
    pub fn collection(self) -> &'static str {
        use crate::web::routes::api as paths;
        match self {
            Kind::Users => paths::USERS,
            Kind::Clients => paths::CLIENTS,
            Kind::Apis => paths::APIS,
            Kind::Bindings => paths::BINDINGS,
        }
    }
}

/// A plugin version to upload.
#[derive(Debug)]
pub struct Upload {
    /// The plugin's name.
    pub name: String,
    /// The component.
    pub wasm: Vec<u8>,
    /// The detached signature's text.
    pub signature: Option<String>,
    /// Claims the version may set; `None`: any non-reserved claim.
    pub declared_claims: Option<Vec<String>>,
}

/// What the remote-capable commands need, in the management API's JSON.
/// Every method fails with the server's (or the same local) problem text:
/// `NotFound` for an unknown id, field errors naming the body field.
pub trait Backend {
    /// Every item of `kind`, in the API's list order (all pages).
    fn list(&self, kind: Kind) -> anyhow::Result<Vec<Value>>;
    /// One item, as `GET /api/v1/<kind>/{id}` shows it.
    fn get(&self, kind: Kind, id: &str) -> anyhow::Result<Value>;
    /// Creates an item from a create body; the API's 201 body.
    fn create(&self, kind: Kind, body: Map<String, Value>) -> anyhow::Result<Value>;
    /// Applies a JSON Merge Patch (RFC 7396) to an item; the changed item.
    fn update(&self, kind: Kind, id: &str, patch: Value) -> anyhow::Result<Value>;
    /// Deletes an item.
    fn delete(&self, kind: Kind, id: &str) -> anyhow::Result<()>;
    /// Sets a user's password.
    fn set_password(&self, user_id: &str, password: &str) -> anyhow::Result<()>;
    /// Signs a user out everywhere (sessions end, tokens are revoked).
    fn sign_out_user(&self, user_id: &str) -> anyhow::Result<()>;
    /// Applies `change` to a user's second factor; what it is now.
    fn user_second_factor(&self, user_id: &str, change: FactorChange) -> anyhow::Result<FactorStatus>;
    /// A client's secrets (views, never the secrets).
    fn client_secrets(&self, client_id: &str) -> anyhow::Result<Vec<Value>>;
    /// Adds a secret to a client; `{"secret": view, "client_secret": text}`.
    fn add_secret(&self, client_id: &str, overlap_secs: Option<i64>) -> anyhow::Result<Value>;
    /// Revokes a client's secret.
    fn revoke_secret(&self, client_id: &str, secret_id: &str) -> anyhow::Result<()>;
    /// Every plugin (views), by name.
    fn plugins(&self) -> anyhow::Result<Vec<Value>>;
    /// One plugin's view.
    fn plugin(&self, name: &str) -> anyhow::Result<Value>;
    /// A plugin's versions, newest first.
    fn versions(&self, name: &str) -> anyhow::Result<Vec<Value>>;
    /// The component of a plugin version.
    fn component(&self, name: &str, version: i32) -> anyhow::Result<Vec<u8>>;
    /// Uploads a version; its view.
    fn upload(&self, up: Upload) -> anyhow::Result<Value>;
    /// Points every binding of plugin `name` at version `to`; how many.
    fn rollback(&self, name: &str, to: i32) -> anyhow::Result<usize>;
    /// Users' password hashes by username (`export --with-password-hashes`);
    /// only on the server's machine.
    fn password_hashes(&self) -> anyhow::Result<BTreeMap<String, String>>;
    /// Sets a user's password hash as exported (`apply` of such an export);
    /// only on the server's machine.
    fn set_password_hash(&self, user_id: &str, hash: &str) -> anyhow::Result<()>;
    /// A binding's shadow candidate and its comparison, as
    /// `GET /api/v1/bindings/{id}/shadow` shows it; `None`: no candidate.
    fn shadow_report(&self, binding_id: &str) -> anyhow::Result<Option<Value>>;
    /// Promotes (`promote`) or discards a binding's shadow candidate; the
    /// binding as it is afterwards.
    fn end_shadow(&self, binding_id: &str, promote: bool) -> anyhow::Result<Value>;
    /// Every signing key, as `GET /api/v1/keys` lists them (by algorithm,
    /// then current, next, retired).
    fn keys(&self) -> anyhow::Result<Vec<Value>>;
    /// Rotates the key ring of `alg`, or of every algorithm that has keys;
    /// per algorithm `{"alg", "retired": [kid], "current": kid, "next": kid}`,
    /// as `tessera keys rotate` has always printed it.
    fn rotate_keys(&self, alg: Option<&str>) -> anyhow::Result<Vec<Value>>;
    /// Retires the key `kid` now; the key's view afterwards.
    fn retire_key(&self, kid: &str) -> anyhow::Result<Value>;
    /// Every console administrator (views), by username.
    fn admins(&self) -> anyhow::Result<Vec<Value>>;
    /// Creates a console administrator; their view.
    fn create_admin(&self, username: &str, password: &str, role: &str) -> anyhow::Result<Value>;
    /// Deletes an administrator (never the last one).
    fn delete_admin(&self, id: &str) -> anyhow::Result<()>;
    /// Sets an administrator's password by username and ends their
    /// sessions.
    fn set_admin_password(&self, username: &str, password: &str) -> anyhow::Result<()>;
    /// Takes an administrator's second factors away (by username) and ends
    /// their sessions.
    fn reset_admin_second_factor(&self, username: &str) -> anyhow::Result<()>;
    /// Where the audit log's hash chain ends, and the oldest event outside
    /// the chain, if any (`GET /api/v1/audit-chain`).
    fn audit_head(&self) -> anyhow::Result<(ChainHead, Option<AuditEvent>)>;
    /// The chained audit events at or after `since` and before `before`
    /// (Unix seconds), in chain order (`seq`), handed to `each` one by one
    /// (the log can be large) until it answers `Break`.
    fn audit_chain(
        &self,
        since: Option<i64>,
        before: Option<i64>,
        each: &mut dyn FnMut(ChainedEvent) -> anyhow::Result<ControlFlow<()>>,
    ) -> anyhow::Result<()>;
    /// The newest `limit` plugin runs, of one binding if given, newest
    /// first, each as `binding runs` prints it.
    fn runs(&self, binding: Option<&str>, limit: usize) -> anyhow::Result<Vec<Value>>;
}

/// Unix seconds as RFC 3339, or the number itself if out of range.
pub fn rfc3339(at: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| at.to_string())
}

/// A JSON Merge Patch (RFC 7396) that turns `current` into exactly
/// `wanted`: members `wanted` lacks are removed (null), nested objects
/// are patched the same way, anything else is replaced. (A plain merge
/// patch of `wanted` would keep the members it does not name.)
pub fn replacing(current: &Value, wanted: &Value) -> Value {
    match (current, wanted) {
        (Value::Object(c), Value::Object(w)) => {
            let mut patch = Map::new();
            for (k, wv) in w {
                let cv = c.get(k).unwrap_or(&Value::Null);
                if cv != wv {
                    patch.insert(k.clone(), replacing(cv, wv));
                }
            }
            for k in c.keys().filter(|k| !w.contains_key(*k)) {
                patch.insert(k.clone(), Value::Null);
            }
            Value::Object(patch)
        }
        _ => wanted.clone(),
    }
}

/// The database of this machine, as the CLI opens it (`commands::open`).
pub struct Local<'a> {
    ctx: &'a Context,
}

/// The audit actor of local commands.
const ACTOR: &str = "cli";

impl<'a> Local<'a> {
    /// Commands on `ctx`'s database.
    pub fn new(ctx: &'a Context) -> Local<'a> {
        Local { ctx }
    }
}

/// A refusal of either backend: the problem's HTTP status (so a command
/// can word a 404 as it always has) and the text `main` prints.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    /// The problem's status (404: no such object).
    pub status: u16,
    /// What went wrong.
    pub message: String,
}

/// Whether `e` is a refusal for a missing object.
pub fn is_not_found(e: &anyhow::Error) -> bool {
    e.downcast_ref::<Refused>().is_some_and(|r| r.status == 404)
}

/// A problem as the CLI prints it locally (the remote side adds the
/// title and status of the problem+json body).
pub fn problem_error(p: Problem) -> anyhow::Error {
    Refused { status: p.status(), message: p.detail }.into()
}

fn to_value<T: Serialize>(v: T) -> anyhow::Result<Value> {
    Ok(serde_json::to_value(v)?)
}

fn all<T: Serialize>(items: Vec<T>) -> anyhow::Result<Vec<Value>> {
    items.into_iter().map(to_value).collect()
}

/// Every page of a paged list.
fn every_page<T>(
    mut fetch: impl FnMut(&management::PageRequest) -> Result<management::Page<T>, admin::AdminError>,
) -> anyhow::Result<Vec<T>> {
    let mut req = management::PageRequest { limit: Some(management::MAX_LIMIT), ..Default::default() };
    let mut items = Vec::new();
    loop {
        let page = fetch(&req).map_err(|e| problem_error(e.into()))?;
        items.extend(page.items);
        match page.next_cursor {
            Some(c) => req.cursor = Some(c),
            None => return Ok(items),
        }
    }
}

impl Backend for Local<'_> {
    fn list(&self, kind: Kind) -> anyhow::Result<Vec<Value>> {
        let store = &self.ctx.store;
        match kind {
            Kind::Users => all(every_page(|r| management::users_page(store, r))?),
            Kind::Clients => all(every_page(|r| management::clients_page(store, r))?),
            Kind::Apis => all(every_page(|r| management::apis_page(store, r))?),
            Kind::Bindings => all(every_page(|r| management::bindings_page(store, r))?),
        }
    }

    fn get(&self, kind: Kind, id: &str) -> anyhow::Result<Value> {
        let store = &self.ctx.store;
        match kind {
            Kind::Users => to_value(users::find(store, id).map_err(problem_error)?),
            Kind::Clients => to_value(clients::client_detail(store, id, clock::now()).map_err(problem_error)?.client),
            Kind::Apis => to_value(apis::find(store, id).map_err(problem_error)?),
            Kind::Bindings => to_value(bindings::find(store, id).map_err(problem_error)?),
        }
    }

    fn create(&self, kind: Kind, body: Map<String, Value>) -> anyhow::Result<Value> {
        let (store, master, now) = (&self.ctx.store, &*self.ctx.master, clock::now());
        let lifetime = self.ctx.config.tokens.access_token_lifetime_secs;
        match kind {
            Kind::Users => to_value(users::create_user(store, ACTOR, now, body).map_err(problem_error)?),
            Kind::Clients => to_value(clients::create_client(store, ACTOR, now, body).map_err(problem_error)?),
            Kind::Apis => to_value(apis::create_api(store, master, ACTOR, now, lifetime, body).map_err(problem_error)?),
            Kind::Bindings => {
                to_value(bindings::create_binding(store, master, ACTOR, now, body).map_err(problem_error)?)
            }
        }
    }

    fn update(&self, kind: Kind, id: &str, patch: Value) -> anyhow::Result<Value> {
        let (store, master, now) = (&self.ctx.store, &*self.ctx.master, clock::now());
        match kind {
            Kind::Users => to_value(users::patch_user(store, ACTOR, now, id, &patch).map_err(problem_error)?),
            Kind::Clients => to_value(clients::patch_client(store, ACTOR, now, id, &patch).map_err(problem_error)?),
            Kind::Apis => to_value(apis::patch_api(store, ACTOR, now, id, &patch).map_err(problem_error)?),
            Kind::Bindings => {
                to_value(bindings::patch_binding(store, master, ACTOR, now, id, &patch).map_err(problem_error)?)
            }
        }
    }

    fn delete(&self, kind: Kind, id: &str) -> anyhow::Result<()> {
        // Read first, so an unknown id is the same "not found" as remotely.
        self.get(kind, id)?;
        let (store, now) = (&self.ctx.store, clock::now());
        let done = match kind {
            Kind::Users => admin::delete_user(store, ACTOR, now, id),
            Kind::Clients => admin::delete_client(store, ACTOR, now, id),
            Kind::Apis => admin::delete_api(store, ACTOR, now, id),
            Kind::Bindings => svc::delete_binding(store, ACTOR, now, id),
        };
        done.map_err(|e| problem_error(e.into()))
    }

    fn set_password(&self, user_id: &str, password: &str) -> anyhow::Result<()> {
        admin::set_user_password(&self.ctx.store, ACTOR, clock::now(), user_id, password)
            .map_err(|e| problem_error(e.into()))?;
        Ok(())
    }

    fn sign_out_user(&self, user_id: &str) -> anyhow::Result<()> {
        admin::sign_out_user(&self.ctx.store, ACTOR, clock::now(), user_id).map_err(|e| problem_error(e.into()))?;
        Ok(())
    }

    fn user_second_factor(&self, user_id: &str, change: FactorChange) -> anyhow::Result<FactorStatus> {
        admin::change_user_second_factor(&self.ctx.store, ACTOR, clock::now(), user_id, change)
            .map_err(|e| problem_error(e.into()))
    }

    fn client_secrets(&self, client_id: &str) -> anyhow::Result<Vec<Value>> {
        all(clients::client_detail(&self.ctx.store, client_id, clock::now()).map_err(problem_error)?.secrets)
    }

    fn add_secret(&self, client_id: &str, overlap_secs: Option<i64>) -> anyhow::Result<Value> {
        let now = clock::now();
        let (row, secret) = admin::add_client_secret(&self.ctx.store, ACTOR, now, client_id, overlap_secs)
            .map_err(|e| problem_error(e.into()))?;
        let view = crate::service::views::ClientSecretView::of(row, now);
        Ok(serde_json::json!({"secret": view, "client_secret": secret.expose()}))
    }

    fn revoke_secret(&self, client_id: &str, secret_id: &str) -> anyhow::Result<()> {
        admin::revoke_client_secret(&self.ctx.store, ACTOR, clock::now(), client_id, secret_id)
            .map_err(|e| problem_error(e.into()))
    }

    fn plugins(&self) -> anyhow::Result<Vec<Value>> {
        all(every_page(|r| management::plugins_page(&self.ctx.store, r))?)
    }

    fn plugin(&self, name: &str) -> anyhow::Result<Value> {
        let p = management::plugin(&self.ctx.store, name).map_err(|e| problem_error(e.into()))?;
        to_value(p.ok_or_else(|| Refused { status: 404, message: format!("plugin {name:?} not found") })?)
    }

    fn versions(&self, name: &str) -> anyhow::Result<Vec<Value>> {
        let v = management::plugin_versions(&self.ctx.store, name).map_err(|e| problem_error(e.into()))?;
        all(v.ok_or_else(|| anyhow!("plugin {name:?} not found"))?)
    }

    fn component(&self, name: &str, version: i32) -> anyhow::Result<Vec<u8>> {
        management::component(&self.ctx.store, name, version)
            .map_err(|e| problem_error(e.into()))?
            .ok_or_else(|| anyhow!("plugin {name:?} version {version} not found"))
    }

    fn upload(&self, up: Upload) -> anyhow::Result<Value> {
        let policy = self.ctx.config.signature_policy()?;
        let host = super::plugins::host(&self.ctx.config)?;
        let new = svc::NewUpload {
            name: &up.name,
            wasm: &up.wasm,
            declared_claims: up.declared_claims.as_deref(),
            signature: up.signature.as_deref(),
        };
        // A new version each time, as `plugin upload` always did locally.
        let (_, version, _) = svc::upload(&self.ctx.store, &host, &policy, ACTOR, clock::now(), new)
            .map_err(|e| problem_error(e.into()))?;
        to_value(crate::service::views::PluginVersionView::from(version))
    }

    fn rollback(&self, name: &str, to: i32) -> anyhow::Result<usize> {
        svc::rollback(&self.ctx.store, ACTOR, clock::now(), name, to).map_err(|e| problem_error(e.into()))
    }

    fn password_hashes(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let rows = tessera_store::users::list(&mut *self.ctx.store.conn()?, "", 0, i64::MAX)?;
        Ok(rows.into_iter().filter_map(|u| u.password_hash.map(|h| (u.username, h))).collect())
    }

    fn set_password_hash(&self, user_id: &str, hash: &str) -> anyhow::Result<()> {
        admin::import_password_hash(&self.ctx.store, ACTOR, clock::now(), user_id, hash)
            .map_err(|e| problem_error(e.into()))?;
        Ok(())
    }

    fn shadow_report(&self, binding_id: &str) -> anyhow::Result<Option<Value>> {
        // Refuses an unknown binding as the API does (404), rather than
        // reporting "no candidate" for it.
        bindings::find(&self.ctx.store, binding_id).map_err(problem_error)?;
        let report = shadow::report(&self.ctx.store, binding_id).map_err(|e| problem_error(e.into()))?;
        report.map(to_value).transpose()
    }

    fn end_shadow(&self, binding_id: &str, promote: bool) -> anyhow::Result<Value> {
        let (store, now) = (&self.ctx.store, clock::now());
        let ended = if promote {
            shadow::promote(store, ACTOR, now, binding_id)
        } else {
            shadow::discard(store, ACTOR, now, binding_id)
        };
        ended.map_err(|e| problem_error(e.into()))?;
        to_value(bindings::find(store, binding_id).map_err(problem_error)?)
    }

    fn keys(&self) -> anyhow::Result<Vec<Value>> {
        all(every_page(|r| management::keys_page(&self.ctx.store, r, None, None))?)
    }

    fn rotate_keys(&self, alg: Option<&str>) -> anyhow::Result<Vec<Value>> {
        let (store, master, now) = (&self.ctx.store, &*self.ctx.master, clock::now());
        let publish = self.ctx.config.keys.retired_publish_secs;
        let Some(alg) = alg else {
            return admin::rotate_keys(store, master, ACTOR, now, publish).map_err(|e| problem_error(e.into()));
        };
        let alg: SigningAlg =
            alg.parse().map_err(|e: UnsupportedAlg| problem_error(Problem::field("alg", e.to_string())))?;
        let report =
            admin::rotate_alg_keys(store, master, ACTOR, now, alg, publish).map_err(|e| problem_error(e.into()))?;
        Ok(vec![report])
    }

    fn retire_key(&self, kid: &str) -> anyhow::Result<Value> {
        let store = &self.ctx.store;
        let not_found = || Refused { status: 404, message: format!("signing key {kid} not found") };
        admin::find_key(store, kid).map_err(|e| problem_error(AdminError::from(e).into()))?.ok_or_else(not_found)?;
        admin::retire_key(store, &self.ctx.master, ACTOR, clock::now(), kid).map_err(|e| problem_error(e.into()))?;
        to_value(
            admin::find_key(store, kid)
                .map_err(|e| problem_error(AdminError::from(e).into()))?
                .ok_or_else(not_found)?,
        )
    }

    fn admins(&self) -> anyhow::Result<Vec<Value>> {
        all(every_page(|r| management::admins_page(&self.ctx.store, r))?)
    }

    fn create_admin(&self, username: &str, password: &str, role: &str) -> anyhow::Result<Value> {
        let role = console::parse_role(role).map_err(|e| problem_error(e.into()))?;
        let created = console::create_admin(&self.ctx.store, ACTOR, clock::now(), username, password, role)
            .map_err(|e| problem_error(e.into()))?;
        to_value(AdminView::from(created))
    }

    fn delete_admin(&self, id: &str) -> anyhow::Result<()> {
        let store = &self.ctx.store;
        // Read first, so an unknown id is the same "not found" as remotely.
        console::find_admin(store, id)
            .map_err(|e| problem_error(AdminError::from(e).into()))?
            .ok_or_else(|| Refused { status: 404, message: format!("administrator {id} not found") })?;
        console::delete_admin(store, ACTOR, clock::now(), id).map_err(|e| problem_error(e.into()))
    }

    fn set_admin_password(&self, username: &str, password: &str) -> anyhow::Result<()> {
        console::reset_admin_password(&self.ctx.store, ACTOR, clock::now(), username, password)
            .map_err(|e| problem_error(e.into()))
    }

    fn reset_admin_second_factor(&self, username: &str) -> anyhow::Result<()> {
        let store = &self.ctx.store;
        let admin = console::list_admins(store)
            .map_err(|e| problem_error(AdminError::from(e).into()))?
            .into_iter()
            .find(|a| a.username == username)
            .ok_or_else(|| Refused { status: 404, message: format!("administrator {username:?} not found") })?;
        // The command line is no administrator: "" is nobody's id.
        second_factor::reset(store, ACTOR, clock::now(), "", &admin.id).map_err(|e| problem_error(e.into()))
    }

    fn audit_head(&self) -> anyhow::Result<(ChainHead, Option<AuditEvent>)> {
        let mut conn = self.ctx.store.conn()?;
        let head = audit::head(&mut conn)?;
        Ok((head, audit::first_unchained(&mut conn)?.map(|r| r.event)))
    }

    fn audit_chain(
        &self,
        since: Option<i64>,
        before: Option<i64>,
        each: &mut dyn FnMut(ChainedEvent) -> anyhow::Result<ControlFlow<()>>,
    ) -> anyhow::Result<()> {
        let mut conn = self.ctx.store.conn()?;
        let mut after_seq = 0;
        loop {
            let page = audit::chained(&mut conn, since, before, after_seq, AUDIT_PAGE)?;
            let Some(last_seq) = page.last().and_then(|r| r.seq) else { return Ok(()) };
            after_seq = last_seq;
            for row in page {
                if each(row)?.is_break() {
                    return Ok(());
                }
            }
        }
    }

    fn runs(&self, binding: Option<&str>, limit: usize) -> anyhow::Result<Vec<Value>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let runs = tessera_store::plugins::recent_runs(&mut *self.ctx.store.conn()?, binding, 0, limit)?;
        Ok(runs
            .into_iter()
            .map(|r| {
                let logs = serde_json::from_str::<Value>(&r.logs).unwrap_or(Value::Null);
                let http = serde_json::from_str::<Value>(&r.http).unwrap_or(Value::Null);
                json!({"id": r.id, "binding_id": r.binding_id, "grant_type": r.grant_type, "client_id": r.client_id,
                    "at": r.at, "duration_us": r.duration_us, "outcome": r.outcome, "detail": r.detail, "logs": logs,
                    "http": http})
            })
            .collect())
    }
}

/// How many audit events one read of a local export loads.
const AUDIT_PAGE: i64 = 1000;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::web::api::body::merge_patch;
    use serde_json::json;

    #[test]
    fn a_replacing_patch_makes_the_current_value_exactly_the_wanted_one() {
        let current =
            json!({"name": "a", "config": {"keep": 1, "drop": 2, "deep": {"x": 1}}, "roles": ["a"], "gone": true});
        let wanted = json!({"name": "b", "config": {"keep": 1, "deep": {"y": 2}}, "roles": []});
        let patch = replacing(&current, &wanted);
        assert_eq!(
            patch,
            json!({"name": "b", "config": {"drop": null, "deep": {"x": null, "y": 2}}, "roles": [], "gone": null})
        );
        let mut merged = current.clone();
        merge_patch(&mut merged, &patch);
        assert_eq!(merged, wanted);
        assert_eq!(replacing(&wanted, &wanted), json!({}), "nothing to change: an empty patch");
    }
}
