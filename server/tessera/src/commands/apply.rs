//! `tessera apply DIR [--yes]`: makes a server match a directory in the
//! format of `export.rs`. It reads the server as `export` would, compares
//! object by object (by key: username, client name, API identifier, plugin
//! name, binding position and plugin), prints the plan and, with `--yes`,
//! carries it out through the same [`Backend`] as every other command.
//! Applying the same directory twice gives an empty second plan.
//!
//! Secrets never sit in the files: a user's `password` and a binding's
//! `secrets` are `{"env": "NAME"}` references read from the environment.
//! Values the server cannot show back are set when they are first needed
//! and not compared afterwards: a password when the user is created, a
//! binding's secrets when it is created or its secret names change. A new
//! confidential client gets a secret from the server, printed once.

use super::backend::{Backend, Kind, Upload, replacing};
use super::export::{self, BINDING_FIELDS, CLIENT_FIELDS, Ids, KINDS, State, USER_FIELDS, binding_key, sorted};
use crate::cli::ApplyArgs;
use anyhow::{Context as _, anyhow, bail};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// One step of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Create,
    Update,
    Delete,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }

    fn sign(self) -> char {
        match self {
            Action::Create => '+',
            Action::Update => '~',
            Action::Delete => '-',
        }
    }
}

/// A change to one object.
#[derive(Debug)]
struct Step {
    action: Action,
    kind: &'static str,
    key: String,
    /// The fields an update changes.
    fields: Vec<String>,
}

/// The fields each kind's files may hold (more than `export` writes: the
/// `password` reference and an exported `password_hash` of users).
fn allowed(kind: &str) -> Vec<&'static str> {
    match kind {
        "users" => [USER_FIELDS, &["password", "password_hash"]].concat(),
        "clients" => CLIENT_FIELDS.to_vec(),
        "apis" => export::API_FIELDS.to_vec(),
        "plugins" => vec!["name", "versions"],
        _ => BINDING_FIELDS.to_vec(),
    }
}

/// The key of an object of `kind`, from the object itself (the file name
/// only has to be unique).
fn key_of(kind: &str, v: &Value) -> anyhow::Result<String> {
    let s = |f: &str| v[f].as_str().map(str::to_owned).ok_or_else(|| anyhow!("{kind}: an object without {f}"));
    match kind {
        "users" => s("username"),
        "clients" => s("name"),
        "apis" => s("identifier"),
        "plugins" => s("name"),
        _ => Ok(binding_key(
            v["position"].as_i64().ok_or_else(|| anyhow!("bindings: an object without position"))?,
            &s("plugin")?,
        )),
    }
}

/// The directory's configuration.
fn desired(dir: &Path) -> anyhow::Result<State> {
    if !dir.is_dir() {
        bail!("{} is not a directory (write one with `tessera export`)", dir.display());
    }
    let mut state = State::new();
    for kind in KINDS {
        let mut objects = BTreeMap::new();
        let sub = dir.join(kind);
        if sub.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(&sub)
                .with_context(|| format!("cannot read {}", sub.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
                .collect();
            files.sort();
            for f in files {
                let text = std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?;
                let v: Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", f.display()))?;
                let Some(o) = v.as_object() else { bail!("{}: must hold one JSON object", f.display()) };
                let ok = allowed(kind);
                if let Some(unknown) = o.keys().find(|k| !ok.contains(&k.as_str())) {
                    bail!("{}: unknown field {unknown:?} (known: {})", f.display(), ok.join(", "));
                }
                let key = key_of(kind, &v).with_context(|| f.display().to_string())?;
                if objects.insert(key.clone(), sorted(v)).is_some() {
                    bail!("{kind} {key:?} is in two files of {}", sub.display());
                }
            }
        }
        state.insert(kind, objects);
    }
    Ok(state)
}

/// `v` without the fields that are set once and never compared.
fn comparable(kind: &str, v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        match kind {
            "users" => {
                o.remove("password");
                o.remove("password_hash");
            }
            // Secrets compare by name only: their values are never shown.
            "bindings" => {
                let names: Vec<String> = o
                    .get("secrets")
                    .and_then(Value::as_object)
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                o.insert("secrets".into(), json!(names));
            }
            // Versions compare by content: numbers differ between servers.
            "plugins" => {
                let mut shas: Vec<String> = o
                    .get("versions")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|v| v["sha256"].as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                shas.sort();
                o.insert("versions".into(), json!(shas));
            }
            _ => {}
        }
    }
    v
}

/// The fields whose values differ between two objects.
fn changed_fields(kind: &str, current: &Value, wanted: &Value) -> Vec<String> {
    let (c, w) = (comparable(kind, current), comparable(kind, wanted));
    let mut keys: Vec<String> = w.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    keys.retain(|k| c[k.as_str()] != w[k.as_str()]);
    keys
}

/// The plan: what makes `current` into `wanted`.
fn plan(current: &State, wanted: &State, delete: bool) -> Vec<Step> {
    let mut steps = Vec::new();
    for kind in KINDS {
        let (have, want) =
            (current.get(kind).cloned().unwrap_or_default(), wanted.get(kind).cloned().unwrap_or_default());
        for (key, w) in &want {
            match have.get(key) {
                None => steps.push(Step { action: Action::Create, kind, key: key.clone(), fields: vec![] }),
                Some(c) => {
                    let fields = changed_fields(kind, c, w);
                    if !fields.is_empty() {
                        steps.push(Step { action: Action::Update, kind, key: key.clone(), fields });
                    }
                }
            }
        }
        // Plugins are never deleted: the API keeps every version.
        if delete && kind != "plugins" {
            for key in have.keys().filter(|k| !want.contains_key(*k)) {
                steps.push(Step { action: Action::Delete, kind, key: key.clone(), fields: vec![] });
            }
        }
    }
    steps
}

/// The value of an `{"env": "NAME"}` reference.
fn from_env(what: &str, v: &Value) -> anyhow::Result<String> {
    let Some(name) = v["env"].as_str() else {
        bail!("{what}: write secrets as {{\"env\": \"NAME\"}}, never in the file");
    };
    std::env::var(name).map_err(|_| anyhow!("{what}: the environment variable {name} is not set"))
}

/// Every environment reference the plan will read is set, so a missing
/// one stops `apply` before it changes anything.
fn check_env(steps: &[Step], wanted: &State) -> anyhow::Result<()> {
    for s in steps {
        let w = wanted.get(s.kind).and_then(|m| m.get(&s.key)).cloned().unwrap_or(Value::Null);
        let what = format!("{} {:?}", s.kind, s.key);
        match (s.kind, s.action) {
            ("users", Action::Create) if !w["password"].is_null() => {
                from_env(&what, &w["password"])?;
            }
            ("bindings", Action::Create) | ("bindings", Action::Update)
                if s.action == Action::Create || s.fields.iter().any(|f| f == "secrets") =>
            {
                for (name, r) in object(&w["secrets"]) {
                    from_env(&format!("{what} secret {name}"), &r)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn object(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// Client names in `v[field]` as the server's ids.
fn client_ids(ids: &Ids, what: &str, v: &Value) -> anyhow::Result<Value> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let names = v.as_array().ok_or_else(|| anyhow!("{what}: expected a list of client names"))?;
    let list = names
        .iter()
        .map(|n| {
            let n = n.as_str().unwrap_or_default();
            ids.client_ids.get(n).cloned().ok_or_else(|| anyhow!("{what}: no client named {n:?}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(json!(list))
}

fn id_of<'a>(ids: &'a Ids, kind: &str, key: &str) -> anyhow::Result<&'a str> {
    ids.by_key.get(kind).and_then(|m| m.get(key)).map(String::as_str).ok_or_else(|| anyhow!("{kind} {key:?}: no id"))
}

/// What carrying out a plan works on.
struct Run<'a> {
    b: &'a dyn Backend,
    dir: &'a Path,
    current: &'a State,
    wanted: &'a State,
}

/// Carries out `steps` of one kind; new clients' secrets go to `secrets`.
fn run_steps(
    run: &Run<'_>,
    kind: &'static str,
    steps: &[&Step],
    ids: &Ids,
    secrets: &mut Map<String, Value>,
) -> anyhow::Result<()> {
    let Run { b, dir, current, wanted } = *run;
    let cur = |key: &str| current.get(kind).and_then(|m| m.get(key)).cloned().unwrap_or(Value::Null);
    let want = |key: &str| wanted.get(kind).and_then(|m| m.get(key)).cloned().unwrap_or(Value::Null);
    for s in steps {
        let what = format!("{kind} {:?}", s.key);
        let (c, w) = (cur(&s.key), want(&s.key));
        match (kind, s.action) {
            (_, Action::Delete) => {
                let kind_of = match kind {
                    "users" => Kind::Users,
                    "clients" => Kind::Clients,
                    "apis" => Kind::Apis,
                    _ => Kind::Bindings,
                };
                b.delete(kind_of, id_of(ids, kind, &s.key)?)?;
            }
            ("users", Action::Create) => {
                let mut body = object(&w);
                let hash = body.remove("password_hash");
                if let Some(p) = body.remove("password") {
                    body.insert("password".into(), json!(from_env(&what, &p)?));
                }
                let made = b.create(Kind::Users, body)?;
                if let Some(h) = hash.as_ref().and_then(Value::as_str) {
                    b.set_password_hash(made["id"].as_str().unwrap_or_default(), h)?;
                }
            }
            ("users", Action::Update) => {
                let w = pick(&w, USER_FIELDS);
                let patch = replacing(&only_keys_of(&c, &w), &w);
                b.update(Kind::Users, id_of(ids, kind, &s.key)?, patch)?;
            }
            ("clients", Action::Create) => {
                let made = b.create(Kind::Clients, object(&w))?;
                if let Some(secret) = made["client_secret"].as_str() {
                    secrets.insert(s.key.clone(), json!(secret));
                }
            }
            ("clients", Action::Update) => {
                let patch = replacing(&only_keys_of(&c, &w), &w);
                b.update(Kind::Clients, id_of(ids, kind, &s.key)?, patch)?;
            }
            ("apis", action) => {
                let mut body = object(&w);
                body.insert("resource_servers".into(), client_ids(ids, &what, &w["resource_servers"])?);
                if action == Action::Create {
                    let made = b.create(Kind::Apis, body)?;
                    if let Some(secret) = made["hs256_secret"].as_str() {
                        secrets.insert(s.key.clone(), json!(secret));
                    }
                } else {
                    let mut current = object(&c);
                    current.insert("resource_servers".into(), client_ids(ids, &what, &c["resource_servers"])?);
                    let body = Value::Object(body);
                    let patch = replacing(&only_keys_of(&Value::Object(current), &body), &body);
                    b.update(Kind::Apis, id_of(ids, kind, &s.key)?, patch)?;
                }
            }
            ("plugins", _) => {
                let have: Vec<String> = c["versions"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v["sha256"].as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                for v in w["versions"].as_array().cloned().unwrap_or_default() {
                    let sha = v["sha256"].as_str().ok_or_else(|| anyhow!("{what}: a version without sha256"))?;
                    if have.iter().any(|h| h == sha) {
                        continue;
                    }
                    let file = dir.join("plugins").join("components").join(format!("{sha}.wasm"));
                    let wasm =
                        std::fs::read(&file).with_context(|| format!("{what}: cannot read {}", file.display()))?;
                    if crate::crypto::sha256_hex(&wasm) != sha {
                        bail!("{}: its content's sha256 is not its name", file.display());
                    }
                    let declared_claims = v["declared_claims"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect());
                    b.upload(Upload { name: s.key.clone(), wasm, signature: None, declared_claims })?;
                }
            }
            (_, action) => {
                // Bindings: the version by content, the clients by name.
                let plugin = w["plugin"].as_str().unwrap_or_default().to_owned();
                let sha = w["sha256"].as_str().ok_or_else(|| anyhow!("{what}: no sha256 of the version to run"))?;
                let version = *ids
                    .versions
                    .get(&(plugin.clone(), sha.to_owned()))
                    .ok_or_else(|| anyhow!("{what}: plugin {plugin:?} has no version with sha256 {sha}"))?;
                let mut body = Map::new();
                body.insert("plugin".into(), json!(plugin));
                body.insert("version".into(), json!(version));
                for f in ["grant_types", "config", "failure_policy", "position", "enabled"] {
                    body.insert(f.into(), w[f].clone());
                }
                // Files written before these fields existed leave them out:
                // then they keep their value (none on a new binding).
                for f in ["http_allow", "http_cache_ttl_secs"] {
                    if let Some(v) = w.get(f) {
                        body.insert(f.into(), v.clone());
                    }
                }
                body.insert(
                    "client_ids".into(),
                    client_ids(ids, &what, &w["clients"])?.as_array().cloned().map_or(json!([]), Value::Array),
                );
                let wanted_secrets = || -> anyhow::Result<Value> {
                    let mut m = Map::new();
                    for (name, r) in object(&w["secrets"]) {
                        m.insert(name.clone(), json!(from_env(&format!("{what} secret {name}"), &r)?));
                    }
                    Ok(Value::Object(m))
                };
                if action == Action::Create {
                    body.insert("secrets".into(), wanted_secrets()?);
                    b.create(Kind::Bindings, body)?;
                } else {
                    let id = id_of(ids, kind, &s.key)?;
                    let current = b.get(Kind::Bindings, id)?;
                    let mut before = Map::new();
                    before.insert("plugin".into(), current["plugin"].clone());
                    before.insert("version".into(), current["version"].clone());
                    for f in ["grant_types", "config", "failure_policy", "position", "enabled"] {
                        before.insert(f.into(), current["binding"][f].clone());
                    }
                    for f in ["http_allow", "http_cache_ttl_secs"].into_iter().filter(|f| body.contains_key(*f)) {
                        before.insert(f.into(), current["binding"][f].clone());
                    }
                    before.insert(
                        "client_ids".into(),
                        current["binding"]["client_ids"].as_array().cloned().map_or(json!([]), Value::Array),
                    );
                    let mut patch = replacing(&Value::Object(before), &Value::Object(body));
                    if s.fields.iter().any(|f| f == "secrets") {
                        patch["secrets"] = wanted_secrets()?;
                    }
                    b.update(Kind::Bindings, id, patch)?;
                }
            }
        }
    }
    Ok(())
}

/// The fields of `fields` that `v` has (a hand-written file may leave
/// some out: those keep their value).
fn pick(v: &Value, fields: &[&str]) -> Value {
    Value::Object(fields.iter().filter_map(|f| v.get(*f).map(|x| ((*f).to_owned(), x.clone()))).collect())
}

/// `current` restricted to the members `wanted` names, so a patch leaves
/// the others alone, as the plan (which compares only those) says.
fn only_keys_of(current: &Value, wanted: &Value) -> Value {
    let keys = wanted.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    pick(current, &keys.iter().map(String::as_str).collect::<Vec<_>>())
}

/// `tessera apply DIR [--yes] [--no-delete]`.
pub fn apply(b: &dyn Backend, a: ApplyArgs) -> anyhow::Result<()> {
    let wanted = desired(&a.dir)?;
    let (current, _) = export::current(b)?;
    let steps = plan(&current, &wanted, !a.no_delete);
    let lines: Vec<String> = steps
        .iter()
        .map(|s| {
            let fields = if s.fields.is_empty() { String::new() } else { format!(" ({})", s.fields.join(", ")) };
            format!("{} {} {} {}{fields}", s.action.sign(), s.action.as_str(), s.kind.trim_end_matches('s'), s.key)
        })
        .collect();
    let listed: Vec<Value> = steps
        .iter()
        .map(|s| json!({"action": s.action.as_str(), "kind": s.kind, "key": s.key, "fields": s.fields}))
        .collect();
    let mut secrets = Map::new();
    if a.yes && !steps.is_empty() {
        check_env(&steps, &wanted)?;
        // Creates and updates in dependency order (users before the clients
        // naming them as service accounts, clients before the APIs and
        // bindings naming them, plugins before bindings); deletes in the
        // reverse order. The ids are read again after each kind, so a
        // later kind finds what an earlier one created.
        let order = ["users", "clients", "apis", "plugins", "bindings"];
        let run = Run { b, dir: &a.dir, current: &current, wanted: &wanted };
        for kind in order.iter().rev() {
            let (_, ids) = export::current(b)?;
            let del: Vec<&Step> = steps.iter().filter(|s| s.kind == *kind && s.action == Action::Delete).collect();
            run_steps(&run, kind, &del, &ids, &mut secrets)?;
        }
        for kind in order {
            let (_, ids) = export::current(b)?;
            let todo: Vec<&Step> = steps.iter().filter(|s| s.kind == kind && s.action != Action::Delete).collect();
            if !todo.is_empty() {
                run_steps(&run, kind, &todo, &ids, &mut secrets)?;
            }
        }
    }
    let applied = a.yes && !steps.is_empty();
    let mut human =
        if steps.is_empty() { "nothing to do: the server matches the directory".to_owned() } else { lines.join("\n") };
    if !steps.is_empty() {
        human.push_str(&if applied {
            format!("\napplied {} change(s)", steps.len())
        } else {
            format!("\n{} change(s) planned; run again with --yes to apply them", steps.len())
        });
    }
    for (name, secret) in &secrets {
        human.push_str(&format!("\nnew secret of {name}: {} (shown only now)", secret.as_str().unwrap_or("")));
    }
    super::output(a.json, &json!({"plan": listed, "applied": applied, "secrets": secrets}), &human);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn state(kind: &'static str, objects: &[(&str, Value)]) -> State {
        let mut s = State::new();
        s.insert(kind, objects.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect());
        s
    }

    #[test]
    fn the_plan_creates_updates_and_deletes_by_key_and_ignores_set_once_values() {
        let current =
            state("users", &[("ada", json!({"username": "ada", "roles": []})), ("bob", json!({"username": "bob"}))]);
        let wanted = state(
            "users",
            &[
                ("ada", json!({"username": "ada", "roles": ["ops"], "password": {"env": "P"}})),
                ("eve", json!({"username": "eve"})),
            ],
        );
        let steps: Vec<String> = plan(&current, &wanted, true)
            .iter()
            .map(|s| format!("{} {} {}", s.action.as_str(), s.key, s.fields.join(",")))
            .collect();
        assert_eq!(steps, ["update ada roles", "create eve ", "delete bob "]);
        assert_eq!(plan(&current, &wanted, false).len(), 2, "--no-delete");
        assert!(plan(&wanted, &wanted, true).is_empty(), "the password is set once, never compared");
    }

    #[test]
    fn binding_secrets_compare_by_name_and_plugins_by_content() {
        let b = |secret: &str| json!({"plugin": "p", "position": 1, "secrets": {"KEY": {"env": secret}}});
        let (current, wanted) = (state("bindings", &[("0001-p", b("A"))]), state("bindings", &[("0001-p", b("B"))]));
        assert!(plan(&current, &wanted, true).is_empty());
        let p = |v: i64| json!({"name": "p", "versions": [{"version": v, "sha256": "aa"}]});
        assert!(plan(&state("plugins", &[("p", p(1))]), &state("plugins", &[("p", p(4))]), true).is_empty());
    }

    #[test]
    fn secrets_are_references_to_the_environment_never_values() {
        assert!(from_env("x", &json!("plain")).unwrap_err().to_string().contains("{\"env\": \"NAME\"}"));
        let err = from_env("x", &json!({"env": "TESSERA_TEST_SURELY_UNSET_VARIABLE"})).unwrap_err();
        assert!(err.to_string().contains("TESSERA_TEST_SURELY_UNSET_VARIABLE is not set"));
    }
}
