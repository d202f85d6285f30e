//! Bindings: which plugin version runs for which grant types and clients,
//! in what order, with what configuration, secrets and HTTP allow-list.
//! Every change is audited in the same transaction.

use super::{invalid, parse_plugin_ref};
use crate::clock;
use crate::crypto::MasterKey;
use crate::service::admin::AdminError;
use crate::service::admin::audit;
use crate::service::db::Db;
use crate::service::pipeline::TOKEN_TRIGGER;
use crate::service::shadow::admin::ShadowSummary;
use crate::service::views::BindingView;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use tessera_protocol::model::{GrantType, UnknownName};
use tessera_store::clients;
use tessera_store::plugins::{self, Binding, FailurePolicy};
use tessera_store::{Store, StoreError};

/// A binding to create.
#[derive(Debug, Default)]
pub struct NewBinding {
    /// `NAME` (latest version) or `NAME@VERSION`.
    pub plugin: String,
    /// Grant types, or `["all"]`.
    pub grant_types: Vec<String>,
    /// Clients for a client hook; empty: every client (a claim rule).
    pub clients: Vec<String>,
    /// Configuration JSON.
    pub config: Value,
    /// Secrets by name (write-only once saved).
    pub secrets: Map<String, Value>,
    /// `deny` (default) or `skip`.
    pub failure_policy: Option<String>,
    /// Position in the pipeline; default: after the last.
    pub position: Option<i32>,
    /// Start disabled.
    pub disabled: bool,
    /// URL prefixes a 0.2.0 plugin may reach with `http.fetch`; empty: none.
    pub http_allow: Vec<String>,
    /// Seconds a successful `http.fetch` answer is reused; `None` or 0: no cache.
    pub http_cache_ttl_secs: Option<i64>,
}

/// Most entries of one binding's HTTP allow-list.
const MAX_HTTP_ALLOW: usize = 32;
/// Longest HTTP cache TTL, in seconds (a day).
const MAX_HTTP_CACHE_TTL_SECS: i64 = 86_400;

/// Checks an HTTP allow-list as the plugin host will read it
/// (`tessera_plugin_host::AllowedPrefix`), so a bad entry is refused when it
/// is set, with the reason, rather than ignored at call time.
pub(in crate::service) fn http_allow(list: &[String]) -> Result<Vec<String>, AdminError> {
    if list.len() > MAX_HTTP_ALLOW {
        return Err(invalid("http-allow", format!("at most {MAX_HTTP_ALLOW} URL prefixes")));
    }
    for entry in list {
        tessera_plugin_host::AllowedPrefix::parse(entry).map_err(|e| invalid("http-allow", e.to_string()))?;
    }
    Ok(list.to_vec())
}

/// A cache TTL: 0 means none; at most a day.
fn http_cache_ttl(secs: Option<i64>) -> Result<Option<i64>, AdminError> {
    match secs {
        None | Some(0) => Ok(None),
        Some(s) if (1..=MAX_HTTP_CACHE_TTL_SECS).contains(&s) => Ok(Some(s)),
        Some(_) => {
            Err(invalid("http-cache-ttl", format!("between 0 (no cache) and {MAX_HTTP_CACHE_TTL_SECS} seconds")))
        }
    }
}

fn grant_list(list: &[String]) -> Result<Vec<GrantType>, AdminError> {
    if list.iter().any(|g| g == "all") {
        return Ok(GrantType::ALL.to_vec());
    }
    if list.is_empty() {
        return Err(invalid("grant-types", "name at least one grant type, or all"));
    }
    list.iter()
        .map(|g| {
            g.parse().map_err(|e: UnknownName| {
                invalid("grant-types", format!("unknown grant type {:?}; known: all, {}", e.value, e.known))
            })
        })
        .collect()
}

fn failure_policy(name: &str) -> Result<FailurePolicy, AdminError> {
    name.parse().map_err(|e: UnknownName| invalid("failure-policy", e.to_string()))
}

fn seal_secrets(
    master: &MasterKey,
    binding_id: &str,
    secrets: &Map<String, Value>,
) -> Result<Option<Vec<u8>>, AdminError> {
    if secrets.is_empty() {
        return Ok(None);
    }
    if secrets.values().any(|v| !v.is_string()) {
        return Err(invalid("secret", "secret values must be strings"));
    }
    let plain = zeroize::Zeroizing::new(serde_json::to_vec(secrets).map_err(|e| AdminError::Internal(e.to_string()))?);
    master
        .seal(&crate::crypto::purpose::binding_secrets(binding_id), &plain)
        .map(Some)
        .map_err(|e| AdminError::Internal(e.to_string()))
}

/// Creates a binding.
pub fn create_binding(
    store: &Store,
    master: &MasterKey,
    actor: &str,
    now: i64,
    new: NewBinding,
) -> Result<Binding, AdminError> {
    let (name, number) = parse_plugin_ref(&new.plugin)?;
    let grant_types = grant_list(&new.grant_types)?;
    let policy = new.failure_policy.as_deref().map(failure_policy).transpose()?.unwrap_or_default();
    let allow = http_allow(&new.http_allow)?;
    let ttl = http_cache_ttl(new.http_cache_ttl_secs)?;
    let id = clock::uuid();
    let secrets_enc = seal_secrets(master, &id, &new.secrets)?;
    let b = store.tx(|conn| {
        let plugin = plugins::find_by_name(conn, name)?.ok_or_else(|| StoreError::NotFound(format!("plugin {name:?}")))?;
        let version = plugins::version_by_number(conn, &plugin.id, number)?
            .ok_or_else(|| StoreError::NotFound(format!("plugin {name:?} version {}", number.map_or("latest".into(), |n| n.to_string()))))?;
        for c in &new.clients {
            if clients::find(conn, c)?.is_none() {
                return Err(StoreError::NotFound(format!("client {c}")));
            }
        }
        let position = match new.position {
            Some(p) => p,
            None => plugins::max_position(conn, TOKEN_TRIGGER)? + 10,
        };
        let b = Binding {
            id: id.clone(),
            plugin_id: plugin.id.clone(),
            plugin_version_id: version.id.clone(),
            trigger: TOKEN_TRIGGER,
            grant_types: grant_types.clone(),
            client_ids: (!new.clients.is_empty()).then(|| new.clients.clone()),
            position,
            enabled: !new.disabled,
            config: new.config.clone(),
            secrets_enc: secrets_enc.clone(),
            secret_names: new.secrets.keys().cloned().collect(),
            failure_policy: policy,
            created_at: now,
            updated_at: now,
            shadow: None,
            http_allow: allow.clone(),
            http_cache_ttl_secs: ttl,
        };
        plugins::insert_binding(conn, &b)?;
        audit(conn, actor, now,
            "binding.create",
            &b.id,
            json!({"plugin": name, "version": version.version, "grant_types": b.grant_types, "clients": b.client_ids, "position": position, "failure_policy": policy, "secret_names": b.secret_names, "http_allow": b.http_allow, "http_cache_ttl_secs": b.http_cache_ttl_secs}),
        )?;
        Ok(b)
    })?;
    Ok(b)
}

/// Changes to a binding; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct BindingChange {
    /// Point at another version of the same plugin (rollback or upgrade).
    pub version: Option<i32>,
    /// New position.
    pub position: Option<i32>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// New configuration.
    pub config: Option<Value>,
    /// New failure policy.
    pub failure_policy: Option<String>,
    /// Replace the secrets.
    pub secrets: Option<Map<String, Value>>,
    /// New grant types.
    pub grant_types: Option<Vec<String>>,
    /// New client list: empty makes it a claim rule for every client.
    pub clients: Option<Vec<String>>,
    /// New HTTP allow-list (empty: no requests).
    pub http_allow: Option<Vec<String>>,
    /// New HTTP cache TTL: `Some(None)` or `Some(Some(0))` turns the cache off.
    pub http_cache_ttl_secs: Option<Option<i64>>,
}

/// Applies a change to a binding.
pub fn update_binding(
    store: &impl Db,
    master: &MasterKey,
    actor: &str,
    now: i64,
    id: &str,
    change: BindingChange,
) -> Result<Binding, AdminError> {
    let policy = change.failure_policy.as_deref().map(failure_policy).transpose()?;
    let grant_types = change.grant_types.as_deref().map(grant_list).transpose()?;
    let secrets_enc = change.secrets.as_ref().map(|s| seal_secrets(master, id, s)).transpose()?;
    let allow = change.http_allow.as_deref().map(http_allow).transpose()?;
    let ttl = change.http_cache_ttl_secs.map(http_cache_ttl).transpose()?;
    Ok(store.tx(|conn| {
        let mut b = plugins::binding(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("binding {id}")))?;
        let mut detail = Map::new();
        if let Some(n) = change.version {
            let v = plugins::version_by_number(conn, &b.plugin_id, Some(n))?
                .ok_or_else(|| StoreError::NotFound(format!("version {n} of the binding's plugin")))?;
            b.plugin_version_id = v.id;
            detail.insert("version".into(), json!(n));
        }
        if let Some(p) = change.position {
            b.position = p;
            detail.insert("position".into(), json!(p));
        }
        if let Some(e) = change.enabled {
            b.enabled = e;
            detail.insert("enabled".into(), json!(e));
        }
        if let Some(c) = &change.config {
            b.config = c.clone();
            detail.insert("config".into(), json!("changed"));
        }
        if let Some(p) = policy {
            b.failure_policy = p;
            detail.insert("failure_policy".into(), json!(p));
        }
        if let Some(g) = &grant_types {
            b.grant_types = g.clone();
            detail.insert("grant_types".into(), json!(g));
        }
        if let Some(list) = &change.clients {
            for c in list {
                if clients::find(conn, c)?.is_none() {
                    return Err(StoreError::NotFound(format!("client {c}")));
                }
            }
            b.client_ids = (!list.is_empty()).then(|| list.clone());
            detail.insert("clients".into(), json!(b.client_ids));
        }
        if let Some(a) = &allow {
            b.http_allow = a.clone();
            detail.insert("http_allow".into(), json!(a));
        }
        if let Some(t) = ttl {
            b.http_cache_ttl_secs = t;
            detail.insert("http_cache_ttl_secs".into(), json!(t));
        }
        if let (Some(s), Some(enc)) = (&change.secrets, &secrets_enc) {
            b.secrets_enc = enc.clone();
            b.secret_names = s.keys().cloned().collect();
            detail.insert("secret_names".into(), json!(b.secret_names));
        }
        b.updated_at = now;
        plugins::update_binding(conn, &b)?;
        audit(conn, actor, now, "binding.update", id, Value::Object(detail))?;
        Ok(b)
    })?)
}

/// Moves a binding one step earlier (`up`) or later in the pipeline of
/// `grant_type`, swapping places with its neighbour there; returns false
/// when it is already at that end.
pub fn move_binding(
    store: &Store,
    actor: &str,
    now: i64,
    id: &str,
    grant_type: &str,
    up: bool,
) -> Result<bool, AdminError> {
    Ok(store.tx(|conn| {
        let all = plugins::bindings_for_trigger(conn, TOKEN_TRIGGER)?;
        let lane: Vec<&Binding> =
            all.iter().filter(|b| b.grant_types.iter().any(|g| g.as_str() == grant_type)).collect();
        let Some(i) = lane.iter().position(|b| b.id == id) else {
            return Err(StoreError::NotFound(format!("binding {id} for {grant_type}")));
        };
        let j = match (up, i) {
            (true, 0) => return Ok(false),
            (true, i) => i - 1,
            (false, i) if i + 1 >= lane.len() => return Ok(false),
            (false, i) => i + 1,
        };
        let (mut a, mut b) = (lane[i].clone(), lane[j].clone());
        // Equal positions (ties broken by creation) cannot be swapped: spread them first.
        let (pa, pb) = if a.position == b.position {
            if up { (b.position, b.position + 1) } else { (a.position + 1, a.position) }
        } else {
            (b.position, a.position)
        };
        if a.position == b.position {
            // Shift everything after the pair so the new gap stays unique.
            for mut later in all.iter().filter(|x| x.position > a.position).cloned() {
                later.position += 1;
                plugins::update_binding(conn, &later)?;
            }
        }
        a.position = pa;
        b.position = pb;
        a.updated_at = now;
        b.updated_at = now;
        plugins::update_binding(conn, &a)?;
        plugins::update_binding(conn, &b)?;
        audit(conn, actor, now, "binding.move", id, json!({"grant_type": grant_type, "up": up, "position": pa}))?;
        Ok(true)
    })?)
}

/// Deletes a binding.
pub fn delete_binding(store: &impl Db, actor: &str, now: i64, id: &str) -> Result<(), AdminError> {
    store.tx(|conn| {
        plugins::delete_binding(conn, id)?;
        audit(conn, actor, now, "binding.delete", id, json!({}))
    })?;
    Ok(())
}

/// A binding with the names the console shows for it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct BindingEntry {
    /// The binding.
    pub binding: BindingView,
    /// Its plugin's name.
    pub plugin: String,
    /// Its version's number.
    pub version: i32,
    /// Its shadow candidate, if any (`service::shadow`).
    pub shadow: Option<ShadowSummary>,
}

impl BindingEntry {
    /// A hook names its clients; a claim rule runs for every client.
    pub fn is_hook(&self) -> bool {
        self.binding.client_ids.is_some()
    }
}

/// Every token binding with its plugin name and version number, in
/// pipeline order (one query for the bindings, one per plugin for its names
/// and versions).
pub fn binding_entries(store: &Store) -> Result<Vec<BindingEntry>, StoreError> {
    let mut conn = store.conn()?;
    let conn = &mut *conn;
    let mut names: HashMap<String, String> = HashMap::new();
    let mut numbers: HashMap<String, i32> = HashMap::new();
    for p in plugins::list(conn)? {
        numbers.extend(plugins::versions(conn, &p.id)?.into_iter().map(|v| (v.id, v.version)));
        names.insert(p.id, p.name);
    }
    Ok(plugins::bindings_for_trigger(conn, TOKEN_TRIGGER)?
        .into_iter()
        .map(|b| BindingEntry {
            plugin: names.get(&b.plugin_id).cloned().unwrap_or_default(),
            version: numbers.get(&b.plugin_version_id).copied().unwrap_or(0),
            shadow: b.shadow.as_ref().map(|c| ShadowSummary::of(c, numbers.get(&c.version_id).copied().unwrap_or(0))),
            binding: b.into(),
        })
        .collect())
}

/// One binding with its plugin name and version number, if it exists.
pub fn binding_entry(store: &impl Db, id: &str) -> Result<Option<BindingEntry>, StoreError> {
    let mut conn = store.conn()?;
    let conn = &mut *conn;
    let Some(b) = plugins::binding(conn, id)? else { return Ok(None) };
    let plugin = plugins::find(conn, &b.plugin_id)?.map(|p| p.name).unwrap_or_default();
    let version = plugins::version(conn, &b.plugin_version_id)?.map_or(0, |v| v.version);
    let shadow = match &b.shadow {
        Some(c) => Some(ShadowSummary::of(c, plugins::version(conn, &c.version_id)?.map_or(0, |v| v.version))),
        None => None,
    };
    Ok(Some(BindingEntry { binding: b.into(), plugin, version, shadow }))
}

/// What a binding form offers: plugin names with their version numbers
/// (newest first), the bound plugin's version numbers and the clients as
/// (id, name), by name.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BindingOptions {
    /// Plugin names, each with its version numbers, newest first (a new
    /// binding's version select offers the chosen plugin's).
    pub plugins: Vec<(String, Vec<i32>)>,
    /// The chosen plugin's version numbers, newest first.
    pub versions: Vec<i32>,
    /// Clients as (id, name), by name.
    pub clients: Vec<(String, String)>,
}

/// The choices of a binding form, with `plugin_id`'s versions.
pub fn binding_options(store: &Store, plugin_id: Option<&str>) -> Result<BindingOptions, StoreError> {
    let mut c = store.conn()?;
    let mut versions = vec![];
    let mut names = vec![];
    for p in plugins::list(&mut c)? {
        // Newest first, as the store lists them.
        let numbers: Vec<i32> = plugins::versions(&mut c, &p.id)?.into_iter().map(|v| v.version).collect();
        if plugin_id == Some(p.id.as_str()) {
            versions.clone_from(&numbers);
        }
        names.push((p.name, numbers));
    }
    let mut clients: Vec<(String, String)> =
        clients::list(&mut c, 0, 500)?.into_iter().map(|cl| (cl.id, cl.name)).collect();
    clients.sort_by(|a, b| a.1.to_lowercase().cmp(&b.1.to_lowercase()).then(a.0.cmp(&b.0)));
    Ok(BindingOptions { plugins: names, versions, clients })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod http_tests {
    use super::*;

    /// Issue #17 item 4: an allow-list entry the plugin host would not
    /// accept is refused when it is set, naming the field and the reason.
    #[test]
    fn http_allow_entries_are_checked_when_set() {
        assert!(http_allow(&["https://dir.example/users/".into(), "http://127.0.0.1:8080/".into()]).is_ok());
        for bad in ["http://dir.example/", "https://dir.example/?key=1", "dir.example/users"] {
            let e = http_allow(&[bad.to_owned()]).unwrap_err();
            assert!(matches!(e, AdminError::Invalid { field: "http-allow", .. }), "{bad}: {e:?}");
        }
        let many: Vec<String> = (0..=MAX_HTTP_ALLOW).map(|i| format!("https://h{i}.example/")).collect();
        assert!(http_allow(&many).is_err());
    }

    #[test]
    fn http_cache_ttl_zero_is_none_and_is_at_most_a_day() {
        assert_eq!(http_cache_ttl(Some(0)).unwrap(), None);
        assert_eq!(http_cache_ttl(None).unwrap(), None);
        assert_eq!(http_cache_ttl(Some(60)).unwrap(), Some(60));
        assert!(http_cache_ttl(Some(-1)).is_err());
        assert!(http_cache_ttl(Some(MAX_HTTP_CACHE_TTL_SECS + 1)).is_err());
    }
}
