//! Configuration as code (issue #14 item 5), the directory format and
//! `tessera export DIR`. One JSON object per file, keys sorted, two-space
//! indentation, file names from each object's natural key, so `git diff`
//! shows what changed:
//!
//! ```text
//! DIR/users/<username>.json          no password hash unless --with-password-hashes
//! DIR/clients/<name>.json            no secrets; service_account by username
//! DIR/apis/<identifier>.json         resource_servers by client name
//! DIR/plugins/<name>.json            versions: number, sha256, declared claims
//! DIR/plugins/components/<sha256>.wasm
//! DIR/bindings/<position>-<plugin>.json   the version by its component's sha256,
//!                                    clients by name, secrets as {"env": NAME}
//! ```
//!
//! Nothing server-specific is written (no ids, no timestamps), so the same
//! configuration exported from two servers is the same files. The
//! management plane is left out: the management API itself and management
//! clients (`tessera mgmt-client create`) are neither exported nor applied,
//! so `apply` cannot delete the client it runs as. Clients that registered
//! themselves (RFC 7591) are runtime data, not configuration: neither
//! exported nor deleted by `apply`.

use super::backend::{Backend, Kind};
use super::output;
use crate::cli::ExportArgs;
use crate::service::oauth::management::MANAGEMENT_AUDIENCE;
use anyhow::{Context as _, anyhow, bail};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The kinds of objects in the directory, in the order `apply` creates them.
pub const KINDS: [&str; 5] = ["users", "clients", "apis", "plugins", "bindings"];

/// A configuration: per kind, each object by its key (the file's stem).
pub type State = BTreeMap<&'static str, BTreeMap<String, Value>>;

/// What the normalized objects refer to by name, and the server's ids of
/// the objects by key, which `apply` needs to change them.
#[derive(Debug, Default)]
pub struct Ids {
    /// Per kind, key -> the server's id (plugins: their name).
    pub by_key: HashMap<&'static str, HashMap<String, String>>,
    /// Client name -> id.
    pub client_ids: HashMap<String, String>,
    /// (plugin, sha256) -> version number.
    pub versions: HashMap<(String, String), i64>,
}

/// `value` with every object's keys in sorted order (whatever order the
/// JSON map keeps), so files and comparisons do not depend on it.
pub fn sorted(value: Value) -> Value {
    match value {
        Value::Object(m) => {
            let sorted: BTreeMap<String, Value> = m.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(sorted.into_iter().collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// A file stem for `key`: characters other than letters, digits, `.`, `_`
/// and `-` become `_` (an API identifier is a URI).
pub fn file_stem(key: &str) -> String {
    key.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect()
}

/// The key of a binding: its position (zero-padded, so files sort in
/// pipeline order) and its plugin.
pub fn binding_key(position: i64, plugin: &str) -> String {
    format!("{position:04}-{plugin}")
}

/// The environment variable `export` names for a binding's secret.
fn secret_env(plugin: &str, name: &str) -> String {
    format!("{plugin}_{name}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
        .collect()
}

fn field<'a>(v: &'a Value, name: &str) -> anyhow::Result<&'a str> {
    v[name].as_str().ok_or_else(|| anyhow!("the server sent an object without {name}: {v}"))
}

fn pick(v: &Value, fields: &[&str]) -> Map<String, Value> {
    fields.iter().map(|f| ((*f).to_owned(), v[*f].clone())).collect()
}

/// The fields of a user in the directory (also its body fields).
pub const USER_FIELDS: &[&str] = &["username", "email", "profile", "metadata", "roles", "disabled"];
/// The fields of a client in the directory: the management API's client
/// body, one list, so a new client setting is exported and applied as soon
/// as the API takes it.
pub const CLIENT_FIELDS: &[&str] = crate::web::api::clients::CLIENT_FIELDS;
/// The fields of an API in the directory.
pub const API_FIELDS: &[&str] =
    &["identifier", "name", "alg", "token_lifetime_secs", "scopes", "resource_servers", "scope_descriptions"];
/// The fields of a binding in the directory.
pub const BINDING_FIELDS: &[&str] = &[
    "plugin",
    "sha256",
    "grant_types",
    "clients",
    "config",
    "failure_policy",
    "position",
    "enabled",
    "secrets",
    "http_allow",
    "http_cache_ttl_secs",
];

/// A management client: made by `mgmt-client create`, left out of the
/// directory (see the module's comment).
fn is_management_client(c: &Value) -> bool {
    c["metadata"]["management"] == true
        || c["allowed_audiences"].as_array().is_some_and(|a| a.iter().any(|x| x == MANAGEMENT_AUDIENCE))
}

/// Inserts `key` once: two objects with one key cannot both be files.
fn insert(map: &mut BTreeMap<String, Value>, kind: &str, key: String, v: Value) -> anyhow::Result<()> {
    if map.contains_key(&key) {
        bail!("two {kind} are named {key:?}: rename one before exporting (files are named after it)");
    }
    map.insert(key, sorted(v));
    Ok(())
}

/// The server's configuration in the directory's form, with the ids
/// `apply` needs.
pub fn current(b: &dyn Backend) -> anyhow::Result<(State, Ids)> {
    let mut state = State::new();
    let mut ids = Ids::default();

    let users = b.list(Kind::Users)?;
    let mut usernames = HashMap::new();
    let mut m = BTreeMap::new();
    for u in &users {
        let name = field(u, "username")?.to_owned();
        usernames.insert(field(u, "id")?.to_owned(), name.clone());
        ids.by_key.entry("users").or_default().insert(name.clone(), field(u, "id")?.to_owned());
        insert(&mut m, "users", name, Value::Object(pick(u, USER_FIELDS)))?;
    }
    state.insert("users", m);

    let clients: Vec<Value> = b
        .list(Kind::Clients)?
        .into_iter()
        .filter(|c| !is_management_client(c) && c["self_registered"] != true)
        .collect();
    let mut client_names = HashMap::new();
    let mut m = BTreeMap::new();
    for c in &clients {
        let (id, name) = (field(c, "id")?.to_owned(), field(c, "name")?.to_owned());
        client_names.insert(id.clone(), name.clone());
        ids.client_ids.insert(name.clone(), id.clone());
        ids.by_key.entry("clients").or_default().insert(name.clone(), id);
        let mut o = pick(c, CLIENT_FIELDS);
        o.insert("public".into(), json!(c["confidential"] != true));
        let account = c["service_account_user_id"].as_str().and_then(|id| usernames.get(id)).cloned();
        o.insert("service_account".into(), json!(account));
        insert(&mut m, "clients", name, Value::Object(o))?;
    }
    state.insert("clients", m);
    let names_of = |list: &Value| -> Value {
        let mut names: Vec<String> = list
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|id| id.as_str())
                    .map(|id| client_names.get(id).cloned().unwrap_or_else(|| id.to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        json!(names)
    };

    let mut m = BTreeMap::new();
    for a in b.list(Kind::Apis)?.iter().filter(|a| a["identifier"] != MANAGEMENT_AUDIENCE) {
        let key = field(a, "identifier")?.to_owned();
        ids.by_key.entry("apis").or_default().insert(key.clone(), field(a, "id")?.to_owned());
        let mut o = pick(a, API_FIELDS);
        o.insert("resource_servers".into(), names_of(&a["resource_servers"]));
        insert(&mut m, "apis", key, Value::Object(o))?;
    }
    state.insert("apis", m);

    let mut m = BTreeMap::new();
    for p in b.plugins()? {
        let name = field(&p, "name")?.to_owned();
        let mut versions = b.versions(&name)?;
        versions.reverse(); // oldest first, the order to upload them in
        let list: Vec<Value> = versions
            .iter()
            .map(|v| {
                let declared =
                    v["declared_claims"].as_str().map(|s| serde_json::from_str::<Value>(s).unwrap_or(json!(s)));
                json!({"version": v["version"], "sha256": v["sha256"], "declared_claims": declared})
            })
            .collect();
        for v in &versions {
            if let (Some(sha), Some(n)) = (v["sha256"].as_str(), v["version"].as_i64()) {
                ids.versions.insert((name.clone(), sha.to_owned()), n);
            }
        }
        ids.by_key.entry("plugins").or_default().insert(name.clone(), name.clone());
        insert(&mut m, "plugins", name.clone(), json!({"name": name, "versions": list}))?;
    }
    state.insert("plugins", m);

    let mut m = BTreeMap::new();
    for e in b.list(Kind::Bindings)? {
        let bv = &e["binding"];
        let plugin = field(&e, "plugin")?.to_owned();
        let version = e["version"].as_i64().unwrap_or_default();
        let sha = ids.versions.iter().find(|((p, _), n)| *p == plugin && **n == version).map(|((_, s), _)| s.clone());
        let position = bv["position"].as_i64().unwrap_or_default();
        let key = binding_key(position, &plugin);
        ids.by_key.entry("bindings").or_default().insert(key.clone(), field(bv, "id")?.to_owned());
        let clients = if bv["client_ids"].is_null() { Value::Null } else { names_of(&bv["client_ids"]) };
        let secrets: Map<String, Value> = bv["secret_names"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|n| (n.to_owned(), json!({"env": secret_env(&plugin, n)})))
                    .collect()
            })
            .unwrap_or_default();
        let o = json!({
            "plugin": plugin, "sha256": sha, "grant_types": bv["grant_types"], "clients": clients,
            "config": bv["config"], "failure_policy": bv["failure_policy"], "position": position,
            "enabled": bv["enabled"], "secrets": secrets, "http_allow": bv["http_allow"],
            "http_cache_ttl_secs": bv["http_cache_ttl_secs"],
        });
        insert(&mut m, "bindings", key, o)?;
    }
    state.insert("bindings", m);
    Ok((state, ids))
}

/// Writes `text` to `path` unless it already holds exactly that (so an
/// unchanged export leaves the files' times alone).
fn write_if_changed(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Removes the files of `dir` ending in `ext` that `keep` does not name.
fn remove_others(dir: &Path, ext: &str, keep: &[String]) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if path.is_file() && name.ends_with(ext) && !keep.contains(&name) {
            std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// An object as its file holds it: sorted keys, two-space indentation, a
/// final newline.
pub fn file_text(v: &Value) -> anyhow::Result<String> {
    Ok(format!("{}\n", serde_json::to_string_pretty(&sorted(v.clone()))?))
}

/// `tessera export DIR [--with-password-hashes]`.
pub fn export(b: &dyn Backend, a: ExportArgs) -> anyhow::Result<()> {
    let (mut state, _) = current(b)?;
    if a.with_password_hashes {
        let hashes = b.password_hashes()?;
        for (name, user) in state.entry("users").or_default().iter_mut() {
            if let (Some(h), Some(o)) = (hashes.get(name), user.as_object_mut()) {
                o.insert("password_hash".into(), json!(h));
            }
        }
    }
    let components = a.dir.join("plugins").join("components");
    std::fs::create_dir_all(&components).with_context(|| format!("cannot create {}", components.display()))?;
    let mut counts = Map::new();
    for kind in KINDS {
        let dir = a.dir.join(kind);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let objects = state.get(kind).cloned().unwrap_or_default();
        let mut names = Vec::new();
        for (key, v) in &objects {
            let name = format!("{}.json", file_stem(key));
            if names.contains(&name) {
                bail!("{kind} {key:?} and another one both make the file {name}: rename one");
            }
            write_if_changed(&dir.join(&name), file_text(v)?.as_bytes())?;
            names.push(name);
        }
        remove_others(&dir, ".json", &names)?;
        counts.insert(kind.to_owned(), json!(objects.len()));
    }
    let mut wasm_files = Vec::new();
    for (name, p) in state.get("plugins").cloned().unwrap_or_default() {
        for v in p["versions"].as_array().cloned().unwrap_or_default() {
            let (Some(sha), Some(n)) = (v["sha256"].as_str(), v["version"].as_i64()) else { continue };
            let file = format!("{sha}.wasm");
            let path = components.join(&file);
            if !path.exists() {
                let n = i32::try_from(n)?;
                write_if_changed(&path, &b.component(&name, n)?)?;
            }
            wasm_files.push(file);
        }
    }
    remove_others(&components, ".wasm", &wasm_files)?;
    let summary = KINDS.iter().map(|k| format!("{} {k}", counts[*k])).collect::<Vec<_>>().join(", ");
    output(
        a.json,
        &json!({"dir": a.dir, "counts": counts, "components": wasm_files.len()}),
        &format!("exported {summary} to {}", a.dir.display()),
    );
    Ok(())
}
