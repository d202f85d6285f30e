//! `plugin` (upload, list, show, versions, rollback) and `binding` commands,
//! written once against [`Backend`]: on this machine's database or, with
//! `--server`, on a remote server's management API, with the same flags and
//! the same `--json` output. (`plugin run`, `test`, `new`, `keygen` and
//! `sign` work on files and need neither: `commands::plugins`.)

use super::backend::{Backend, Kind, Upload, replacing};
use super::output;
use crate::cli::{BindingCommand, PluginCommand};
use crate::service::admin::split_list;
use anyhow::{Context as _, anyhow, bail};
use serde_json::{Map, Value, json};

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// `binding --secret NAME=VALUE` pairs as an object.
pub fn secrets(pairs: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut m = Map::new();
    for p in pairs {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| anyhow!("secret: expected NAME=VALUE, got {:?}", p.split('=').next().unwrap_or("")))?;
        if k.is_empty() {
            bail!("secret: the name is empty");
        }
        m.insert(k.to_owned(), Value::String(v.to_owned()));
    }
    Ok(m)
}

/// A JSON flag (`--config`).
pub fn any_json(field: &str, text: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).map_err(|e| anyhow!("{field}: is not valid JSON: {e}"))
}

/// A binding as the CLI has always printed it, from the API's entry
/// (`{"binding": view, "plugin": name, "version": n}`).
fn binding_json(e: &Value) -> Value {
    let b = &e["binding"];
    json!({
        "id": b["id"], "plugin": e["plugin"], "version": e["version"], "trigger": b["trigger"],
        "grant_types": b["grant_types"], "clients": b["client_ids"], "position": b["position"],
        "enabled": b["enabled"], "config": b["config"], "secret_names": b["secret_names"],
        "failure_policy": b["failure_policy"], "http_allow": b["http_allow"],
        "http_cache_ttl_secs": b["http_cache_ttl_secs"],
    })
}

/// A version's declared claims: the stored JSON list, or null (any).
fn declared(v: &Value) -> Value {
    match v["declared_claims"].as_str() {
        Some(s) => serde_json::from_str(s).unwrap_or_else(|_| json!(split_list(s))),
        None => Value::Null,
    }
}

/// `tessera plugin upload|list|show|versions|rollback`.
pub fn plugin(b: &dyn Backend, cmd: PluginCommand) -> anyhow::Result<()> {
    match cmd {
        PluginCommand::Upload(a) => {
            let wasm = std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
            let signature = a
                .signature
                .as_ref()
                .map(|f| std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display())))
                .transpose()?;
            let declared_claims = a.declare_claims.as_deref().map(split_list);
            let v = b.upload(Upload { name: a.name.clone(), wasm, signature, declared_claims })?;
            let plugin = b.plugin(&a.name)?;
            let signed = v["signed_by"].as_str().map_or(String::new(), |s| format!(", signed by {s}"));
            output(
                a.json,
                &json!({
                    "plugin": a.name, "plugin_id": plugin["id"], "version": v["version"], "version_id": v["id"],
                    "sha256": v["sha256"], "size": v["size"], "world": v["world"], "imports": v["imports"], "exports": v["exports"],
                    "signed_by": v["signed_by"],
                }),
                &format!(
                    "uploaded {} version {} ({} bytes, sha256 {}{signed})",
                    a.name,
                    v["version"],
                    v["size"],
                    text(&v["sha256"])
                ),
            );
        }
        PluginCommand::List { json } => {
            let mut list = Vec::new();
            for p in b.plugins()? {
                let name = text(&p["name"]);
                let latest = b.versions(name)?.into_iter().next().unwrap_or(Value::Null);
                list.push(json!({
                    "name": name,
                    "id": p["id"],
                    "latest_version": latest["version"],
                    "sha256": latest["sha256"],
                    "signed_by": latest["signed_by"],
                }));
            }
            let human = list
                .iter()
                .map(|p| {
                    let signed =
                        p["signed_by"].as_str().map_or_else(|| "unsigned".to_owned(), |s| format!("signed by {s}"));
                    format!("{} v{} ({signed})", text(&p["name"]), p["latest_version"])
                })
                .collect::<Vec<_>>()
                .join("\n");
            output(json, &json!({"plugins": list}), &human);
        }
        PluginCommand::Show { name, json } => {
            let p = b.plugin(&name)?;
            let versions = b.versions(&name)?;
            let bindings: Vec<Value> =
                b.list(Kind::Bindings)?.iter().filter(|e| e["plugin"] == name.as_str()).map(binding_json).collect();
            let human = format!(
                "plugin {} ({})\nversions:  {}\nbindings:  {}",
                name,
                text(&p["id"]),
                versions.iter().map(|v| format!("v{}", v["version"])).collect::<Vec<_>>().join(", "),
                bindings
                    .iter()
                    .map(|e| format!("{} (v{})", text(&e["id"]), e["version"]))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            output(json, &json!({"plugin": p, "versions": versions, "bindings": bindings}), &human);
        }
        PluginCommand::Versions { name, json } => {
            let versions: Vec<Value> = b
                .versions(&name)?
                .iter()
                .map(|v| json!({"version": v["version"], "sha256": v["sha256"], "size": v["size"], "uploaded_at": v["uploaded_at"], "uploaded_by": v["uploaded_by"], "declared_claims": declared(v), "signed_by": v["signed_by"], "signature_form": v["signature_form"]}))
                .collect();
            let human = versions
                .iter()
                .map(|v| {
                    let signed = v["signed_by"].as_str().map_or("unsigned".to_owned(), |s| format!("signed by {s}"));
                    let form = if v["signature_form"] == "sigstore_bundle" { " (Sigstore bundle)" } else { "" };
                    format!("v{} {} {} bytes {signed}{form}", v["version"], text(&v["sha256"]), v["size"])
                })
                .collect::<Vec<_>>()
                .join("\n");
            output(json, &json!({"plugin": name, "versions": versions}), &human);
        }
        PluginCommand::Rollback { name, to, json } => {
            let n = b.rollback(&name, to)?;
            output(
                json,
                &json!({"plugin": name, "version": to, "bindings": n}),
                &format!("{n} binding(s) of {name} now run version {to}"),
            );
        }
        PluginCommand::Run(_)
        | PluginCommand::New(_)
        | PluginCommand::Test(_)
        | PluginCommand::Keygen(_)
        | PluginCommand::Sign(_)
        | PluginCommand::CompileWorker { .. } => {
            bail!("internal: handled before the database is opened")
        }
    }
    Ok(())
}

/// `tessera binding ...`
pub fn binding(b: &dyn Backend, cmd: BindingCommand) -> anyhow::Result<()> {
    match cmd {
        BindingCommand::Create(a) => {
            let (plugin, version) = match a.plugin.split_once('@') {
                Some((name, v)) => (
                    name.to_owned(),
                    Some(v.parse::<i32>().map_err(|_| anyhow!("plugin: bad version in {:?}", a.plugin))?),
                ),
                None => (a.plugin.clone(), None),
            };
            let mut body = Map::new();
            body.insert("plugin".into(), json!(plugin));
            body.insert("version".into(), json!(version));
            body.insert("grant_types".into(), json!(split_list(&a.grant_types)));
            body.insert("client_ids".into(), json!(a.clients));
            if let Some(c) = &a.config {
                body.insert("config".into(), any_json("config", c)?);
            }
            body.insert("secrets".into(), Value::Object(secrets(&a.secrets)?));
            body.insert("failure_policy".into(), json!(a.failure_policy));
            body.insert("position".into(), json!(a.position));
            body.insert("enabled".into(), json!(!a.disabled));
            body.insert("http_allow".into(), json!(a.http_allow));
            body.insert("http_cache_ttl_secs".into(), json!(a.http_cache_ttl));
            let e = b.create(Kind::Bindings, body)?;
            let v = binding_json(&e);
            output(a.json, &v, &format!("binding {} created (position {})", text(&v["id"]), v["position"]));
        }
        BindingCommand::List { json } => {
            let list: Vec<Value> = b.list(Kind::Bindings)?.iter().map(binding_json).collect();
            let human = list
                .iter()
                .map(|b| {
                    format!(
                        "{:>4} {} {}@{} [{}] {}",
                        b["position"],
                        text(&b["id"]),
                        text(&b["plugin"]),
                        b["version"],
                        b["grant_types"],
                        if b["enabled"] == true { "enabled" } else { "disabled" }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            output(json, &json!({"bindings": list}), &human);
        }
        BindingCommand::Show { id, json } => {
            let v = binding_json(&b.get(Kind::Bindings, &id)?);
            let human = format!(
                "binding {}\nplugin:          {}@{}\ngrant types:     {}\nclients:         {}\nposition:        {}\n\
                 enabled:         {}\nfailure policy:  {}\nconfig:          {}\nsecrets:         {}\n\
                 http allow:      {}\nhttp cache ttl:  {}",
                text(&v["id"]),
                text(&v["plugin"]),
                v["version"],
                v["grant_types"],
                if v["clients"].is_null() { "every client".to_owned() } else { v["clients"].to_string() },
                v["position"],
                v["enabled"],
                text(&v["failure_policy"]),
                v["config"],
                v["secret_names"],
                if v["http_allow"].as_array().is_none_or(Vec::is_empty) {
                    "none".to_owned()
                } else {
                    v["http_allow"].to_string()
                },
                v["http_cache_ttl_secs"].as_i64().map_or("no cache".to_owned(), |t| format!("{t} s")),
            );
            output(json, &v, &human);
        }
        BindingCommand::Update(a) => {
            let mut patch = Map::new();
            if let Some(v) = a.version {
                patch.insert("version".into(), json!(v));
            }
            if let Some(p) = a.position {
                patch.insert("position".into(), json!(p));
            }
            if let Some(g) = &a.grant_types {
                patch.insert("grant_types".into(), json!(split_list(g)));
            }
            if let Some(c) = &a.config {
                // A merge patch would merge the objects: the flag replaces the config.
                let current = b.get(Kind::Bindings, &a.id)?;
                patch.insert("config".into(), replacing(&current["binding"]["config"], &any_json("config", c)?));
            }
            if let Some(p) = &a.failure_policy {
                patch.insert("failure_policy".into(), json!(p));
            }
            if !a.secrets.is_empty() {
                patch.insert("secrets".into(), Value::Object(secrets(&a.secrets)?));
            }
            if !a.http_allow.is_empty() || a.no_http_allow {
                patch.insert("http_allow".into(), json!(a.http_allow));
            }
            if let Some(t) = a.http_cache_ttl {
                // 0 turns the cache off; a merge patch removes a member with null.
                patch.insert("http_cache_ttl_secs".into(), if t == 0 { Value::Null } else { json!(t) });
            }
            let v = binding_json(&b.update(Kind::Bindings, &a.id, Value::Object(patch))?);
            output(a.json, &v, &format!("binding {} updated", text(&v["id"])));
        }
        BindingCommand::Rollback { id, to, json } => {
            let v = binding_json(&b.update(Kind::Bindings, &id, json!({ "version": to }))?);
            output(json, &v, &format!("binding {id} now runs {}@{to}", text(&v["plugin"])));
        }
        BindingCommand::Enable { id } => {
            b.update(Kind::Bindings, &id, json!({"enabled": true}))?;
            println!("binding {id} enabled");
        }
        BindingCommand::Disable { id } => {
            b.update(Kind::Bindings, &id, json!({"enabled": false}))?;
            println!("binding {id} disabled");
        }
        BindingCommand::Delete { id } => {
            b.delete(Kind::Bindings, &id)?;
            println!("binding {id} deleted");
        }
        BindingCommand::Runs { binding, limit, json } => {
            let runs = b.runs(binding.as_deref(), usize::try_from(limit.clamp(1, 1000)).unwrap_or(1))?;
            let field = |r: &Value, name: &str| r[name].as_str().unwrap_or("").to_owned();
            let human = runs
                .iter()
                .map(|r| {
                    format!(
                        "{} {} {}us {} {}",
                        r["at"],
                        field(r, "binding_id"),
                        r["duration_us"],
                        field(r, "outcome"),
                        field(r, "detail")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            output(json, &json!({"runs": runs}), &human);
        }
        BindingCommand::Shadow(c) => super::shadow::shadow(b, c)?,
    }
    Ok(())
}
