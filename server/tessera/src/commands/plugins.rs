//! `plugin` and `binding` commands.

use super::{Context, output};
use crate::cli::{BindingCommand, PluginCommand, PluginKeygenArgs, PluginRunArgs, PluginSignArgs};
use crate::clock;
use crate::plugin_signatures;
use crate::service::admin::split_list;
use crate::service::plugins::{self as svc, BindingChange, NewBinding};
use anyhow::{Context as _, anyhow, bail};
use serde_json::{Map, Value, json};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::sync::Arc;
use tessera_plugin_host::{Compiler, PluginHost, TokenContext};
use tessera_store::plugins as repo;

const ACTOR: &str = "cli";

/// The production host for this node: compiles in a bounded child process
/// (this binary's hidden `plugin compile-worker`).
pub fn host(ctx_config: &crate::config::Config) -> anyhow::Result<Arc<PluginHost>> {
    let config = ctx_config.plugin_host();
    crate::files::private_dir(&config.cache_dir)
        .with_context(|| format!("cannot create {}", config.cache_dir.display()))?;
    let node_key = crate::crypto::node_key(&ctx_config.data_dir)?;
    let program = std::env::current_exe().context("cannot locate the tessera binary for the compile worker")?;
    let compiler = Compiler::Subprocess { program, args: vec!["plugin".into(), "compile-worker".into()] };
    Ok(Arc::new(PluginHost::new(config, *node_key, compiler).context("cannot start the plugin host")?))
}

fn secrets(pairs: &[String]) -> anyhow::Result<Map<String, Value>> {
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

fn any_json(field: &str, text: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).map_err(|e| anyhow!("{field}: is not valid JSON: {e}"))
}

fn binding_json(b: &repo::Binding, conn: &mut tessera_store::DbConn) -> anyhow::Result<Value> {
    let plugin = repo::find(conn, &b.plugin_id)?.map(|p| p.name).unwrap_or_default();
    let version = repo::version(conn, &b.plugin_version_id)?.map(|v| v.version);
    let shadow = match &b.shadow {
        Some(c) => {
            let number = repo::version(conn, &c.version_id)?.map_or(0, |v| v.version);
            Some(crate::service::shadow::admin::ShadowSummary::of(c, number))
        }
        None => None,
    };
    Ok(json!({
        "id": b.id, "plugin": plugin, "version": version, "trigger": b.trigger, "grant_types": b.grant_types,
        "clients": b.client_ids, "position": b.position, "enabled": b.enabled, "config": b.config,
        "secret_names": b.secret_names, "failure_policy": b.failure_policy,
        "shadow": shadow,
    }))
}

/// `tessera plugin ...` (except `run` and `compile-worker`, which need no database).
pub fn plugin(ctx: &Context, cmd: PluginCommand) -> anyhow::Result<()> {
    match cmd {
        PluginCommand::Upload(a) => {
            let wasm = std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
            let signature = a
                .signature
                .as_ref()
                .map(|f| std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display())))
                .transpose()?;
            let policy = ctx.config.signature_policy()?;
            let host = host(&ctx.config)?;
            let declared = a.declare_claims.as_deref().map(split_list);
            let up = svc::NewUpload {
                name: &a.name,
                wasm: &wasm,
                declared_claims: declared.as_deref(),
                signature: signature.as_deref(),
            };
            let (plugin, version, info) = svc::upload(&ctx.store, &host, &policy, ACTOR, clock::now(), up)?;
            let signed = version.signed_by.as_ref().map_or(String::new(), |s| format!(", signed by {s}"));
            output(
                a.json,
                &json!({
                    "plugin": plugin.name, "plugin_id": plugin.id, "version": version.version, "version_id": version.id,
                    "sha256": version.sha256, "size": version.size, "world": info.world, "imports": info.imports, "exports": info.exports,
                    "signed_by": version.signed_by,
                }),
                &format!(
                    "uploaded {} version {} ({} bytes, sha256 {}{signed})",
                    plugin.name, version.version, version.size, version.sha256
                ),
            );
        }
        PluginCommand::List { json } => {
            // Through the service and its views, as the console lists them.
            const PAGE: i64 = 200;
            let mut list = Vec::new();
            for offset in (0..).step_by(PAGE as usize) {
                let page = svc::list_plugins(&ctx.store, offset, PAGE)?;
                let last = (page.len() as i64) < PAGE;
                list.extend(page.into_iter().map(|(p, latest)| {
                    json!({
                        "name": p.name,
                        "id": p.id,
                        "latest_version": latest.as_ref().map(|v| v.version),
                        "sha256": latest.as_ref().map(|v| v.sha256.clone()),
                        "signed_by": latest.and_then(|v| v.signed_by),
                    })
                }));
                if last {
                    break;
                }
            }
            let human = list
                .iter()
                .map(|p| {
                    let signed =
                        p["signed_by"].as_str().map_or_else(|| "unsigned".to_owned(), |s| format!("signed by {s}"));
                    format!("{} v{} ({signed})", p["name"].as_str().unwrap_or(""), p["latest_version"])
                })
                .collect::<Vec<_>>()
                .join("\n");
            output(json, &json!({"plugins": list}), &human);
        }
        PluginCommand::Versions { name, json } => {
            let mut conn = ctx.store.conn()?;
            let p = repo::find_by_name(&mut conn, &name)?.ok_or_else(|| anyhow!("plugin {name:?} not found"))?;
            let versions: Vec<_> = repo::versions(&mut conn, &p.id)?
                .into_iter()
                .map(|v| json!({"version": v.version, "sha256": v.sha256, "size": v.size, "uploaded_at": v.uploaded_at, "uploaded_by": v.uploaded_by, "declared_claims": v.declared().ok().flatten(), "signed_by": v.signed_by}))
                .collect();
            let human = versions
                .iter()
                .map(|v| {
                    let signed = v["signed_by"].as_str().map_or("unsigned".to_owned(), |s| format!("signed by {s}"));
                    format!("v{} {} {} bytes {signed}", v["version"], v["sha256"].as_str().unwrap_or(""), v["size"])
                })
                .collect::<Vec<_>>()
                .join("\n");
            output(json, &json!({"plugin": name, "versions": versions}), &human);
        }
        PluginCommand::Rollback { name, to, json } => {
            let n = svc::rollback(&ctx.store, ACTOR, clock::now(), &name, to)?;
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
pub fn binding(ctx: &Context, cmd: BindingCommand) -> anyhow::Result<()> {
    match cmd {
        BindingCommand::Create(a) => {
            let b = svc::create_binding(
                &ctx.store,
                &ctx.master,
                ACTOR,
                clock::now(),
                NewBinding {
                    plugin: a.plugin,
                    grant_types: split_list(&a.grant_types),
                    clients: a.clients,
                    config: a
                        .config
                        .as_deref()
                        .map(|c| any_json("config", c))
                        .transpose()?
                        .unwrap_or_else(|| json!({})),
                    secrets: secrets(&a.secrets)?,
                    failure_policy: Some(a.failure_policy),
                    position: a.position,
                    disabled: a.disabled,
                },
            )?;
            let v = binding_json(&b, &mut *ctx.store.conn()?)?;
            output(a.json, &v, &format!("binding {} created (position {})", b.id, b.position));
        }
        BindingCommand::List { json } => {
            let mut conn = ctx.store.conn()?;
            let mut list = Vec::new();
            for b in repo::bindings_for_trigger(&mut conn, crate::service::pipeline::TOKEN_TRIGGER)? {
                list.push(binding_json(&b, &mut conn)?);
            }
            let human = list
                .iter()
                .map(|b| {
                    format!(
                        "{:>4} {} {}@{} [{}] {}",
                        b["position"],
                        b["id"].as_str().unwrap_or(""),
                        b["plugin"].as_str().unwrap_or(""),
                        b["version"],
                        b["grant_types"],
                        if b["enabled"] == true { "enabled" } else { "disabled" }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            output(json, &json!({"bindings": list}), &human);
        }
        BindingCommand::Update(a) => {
            let change = BindingChange {
                version: a.version,
                position: a.position,
                enabled: None,
                config: a.config.as_deref().map(|c| any_json("config", c)).transpose()?,
                failure_policy: a.failure_policy,
                secrets: if a.secrets.is_empty() { None } else { Some(secrets(&a.secrets)?) },
                grant_types: a.grant_types.as_deref().map(split_list),
                clients: None,
            };
            let b = svc::update_binding(&ctx.store, &ctx.master, ACTOR, clock::now(), &a.id, change)?;
            let v = binding_json(&b, &mut *ctx.store.conn()?)?;
            output(a.json, &v, &format!("binding {} updated", b.id));
        }
        BindingCommand::Enable { id } => {
            svc::update_binding(
                &ctx.store,
                &ctx.master,
                ACTOR,
                clock::now(),
                &id,
                BindingChange { enabled: Some(true), ..Default::default() },
            )?;
            println!("binding {id} enabled");
        }
        BindingCommand::Disable { id } => {
            svc::update_binding(
                &ctx.store,
                &ctx.master,
                ACTOR,
                clock::now(),
                &id,
                BindingChange { enabled: Some(false), ..Default::default() },
            )?;
            println!("binding {id} disabled");
        }
        BindingCommand::Delete { id } => {
            svc::delete_binding(&ctx.store, ACTOR, clock::now(), &id)?;
            println!("binding {id} deleted");
        }
        BindingCommand::Shadow(cmd) => super::shadow::shadow(ctx, cmd)?,
        BindingCommand::Runs { binding, limit, json } => {
            let runs = repo::recent_runs(&mut *ctx.store.conn()?, binding.as_deref(), 0, limit.clamp(1, 1000))?;
            let list: Vec<_> = runs
                .iter()
                .map(|r| json!({"id": r.id, "binding_id": r.binding_id, "grant_type": r.grant_type, "client_id": r.client_id, "at": r.at, "duration_us": r.duration_us, "outcome": r.outcome, "detail": r.detail, "logs": serde_json::from_str::<Value>(&r.logs).unwrap_or(Value::Null)}))
                .collect();
            let human = runs
                .iter()
                .map(|r| format!("{} {} {}us {} {}", r.at, r.binding_id, r.duration_us, r.outcome, r.detail))
                .collect::<Vec<_>>()
                .join("\n");
            output(json, &json!({"runs": list}), &human);
        }
    }
    Ok(())
}

/// `tessera plugin run FILE --context FILE.json`: the production host, an
/// in-process compiler and a temporary cache; prints one JSON object with the
/// outcome, the resulting claims, the log lines and the duration. Exits
/// non-zero when the plugin fails (so authors' CI catches it).
pub fn run_local(config: &crate::config::Config, a: PluginRunArgs) -> anyhow::Result<bool> {
    let wasm = std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let text = std::fs::read_to_string(&a.context).with_context(|| format!("cannot read {}", a.context.display()))?;
    let mut ctx: TokenContext =
        serde_json::from_str(&text).with_context(|| format!("{} is not a valid context", a.context.display()))?;
    if let Some(c) = &a.config {
        ctx.config = any_json("config", c)?;
    }
    let cache = tempfile_dir()?;
    let mut host_config = config.plugins.host.clone();
    host_config.cache_dir = cache.clone();
    // One call, then exit: an instance made ahead would be thrown away.
    host_config.standby_instances = 0;
    let host = PluginHost::new(host_config, crate::clock::random::<32>()?, Compiler::InProcess)?;
    let info = host.inspect(&wasm);
    let result = match info {
        Err(e) => json!({"outcome": "rejected", "error": e.to_string()}),
        Ok(info) => {
            let declared = a.declare_claims.as_deref().map(split_list);
            serde_json::to_value(svc::trial_run(&host, &info.sha256, || Ok(wasm.clone()), &ctx, declared.as_deref()))?
        }
    };
    let _ = std::fs::remove_dir_all(&cache);
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(matches!(result["outcome"].as_str(), Some("ok" | "denied")))
}

/// `tessera plugin keygen --out KEYFILE`: a new Ed25519 private key, written
/// 0600 to a file that must not exist yet; prints the public key and the
/// `[plugins]` line that trusts it.
pub fn keygen(a: PluginKeygenArgs) -> anyhow::Result<()> {
    let (pem, public) = plugin_signatures::generate()?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&a.out)
        .with_context(|| format!("cannot create {} (it must not exist yet)", a.out.display()))?;
    f.write_all(pem.as_bytes()).with_context(|| format!("cannot write {}", a.out.display()))?;
    output(
        a.json,
        &json!({"private_key_file": a.out, "public_key": public}),
        &format!(
            "private key written to {} (keep it secret)\npublic key: {public}\n\nTo trust it, add to the server's configuration:\n[plugins]\ntrusted_signers = [{{ name = \"NAME\", public_key = \"{public}\" }}]",
            a.out.display()
        ),
    );
    Ok(())
}

/// `tessera plugin sign FILE --key KEYFILE [--out SIG]`: writes the base64
/// Ed25519 signature over FILE's sha256 (default FILE.sig).
pub fn sign(a: PluginSignArgs) -> anyhow::Result<()> {
    let wasm = std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let key =
        zeroize::Zeroizing::new(std::fs::read(&a.key).with_context(|| format!("cannot read {}", a.key.display()))?);
    let signature = plugin_signatures::sign(&key, &wasm).with_context(|| format!("{}", a.key.display()))?;
    let public = plugin_signatures::public_key(&key)?;
    let out = a.out.clone().unwrap_or_else(|| {
        let mut name = a.file.clone().into_os_string();
        name.push(".sig");
        name.into()
    });
    std::fs::write(&out, format!("{signature}\n")).with_context(|| format!("cannot write {}", out.display()))?;
    output(
        a.json,
        &json!({"signature_file": out, "signature": signature, "public_key": public}),
        &format!("signed {} with the key {public}; signature in {}", a.file.display(), out.display()),
    );
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("tessera-plugin-run-{}", crate::clock::random_id(12)?));
    crate::files::private_dir(&dir)?;
    Ok(dir)
}
