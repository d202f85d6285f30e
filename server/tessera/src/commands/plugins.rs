//! The plugin commands that work on files (`plugin run`, `keygen`, `sign`)
//! and the production plugin host of this node. The commands on stored plugins and bindings are in
//! `pipeline.rs`, written once for the local and the remote backend.

use super::output;
use crate::cli::{PluginKeygenArgs, PluginRunArgs, PluginSignArgs};
use crate::plugin_signatures;
use crate::service::admin::split_list;
use crate::service::plugin_trial as trial;
use anyhow::Context as _;
use serde_json::json;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::sync::Arc;
use tessera_plugin_host::{Compiler, PluginHost, TokenContext};

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
        ctx.config = super::pipeline::any_json("config", c)?;
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
            let http = trial::trial_grant(&a.http_allow, ctx.secrets.clone()).context("--http-allow")?;
            serde_json::to_value(trial::trial_run(
                &host,
                &info.sha256,
                || Ok(wasm.clone()),
                &ctx,
                declared.as_deref(),
                http,
            ))?
        }
    };
    let _ = std::fs::remove_dir_all(&cache);
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(matches!(result["outcome"].as_str(), Some("ok" | "denied")))
}

/// `tessera plugin keygen --out KEYFILE`: a new Ed25519 private key, written
/// 0600 to a file that must not exist yet, and its public key as PEM beside
/// it (KEYFILE.pub, for cosign and OpenSSL); prints the public key and the
/// `[plugins]` line that trusts it.
pub fn keygen(a: PluginKeygenArgs) -> anyhow::Result<()> {
    let pub_file = with_suffix(&a.out, ".pub");
    if pub_file.exists() {
        anyhow::bail!("{} already exists", pub_file.display());
    }
    let (pem, public) = plugin_signatures::generate()?;
    let public_pem =
        plugin_signatures::PublicKey::parse(&public).map_err(|e| anyhow::anyhow!("the new public key {e}"))?.pem();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&a.out)
        .with_context(|| format!("cannot create {} (it must not exist yet)", a.out.display()))?;
    f.write_all(pem.as_bytes()).with_context(|| format!("cannot write {}", a.out.display()))?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&pub_file)
        .and_then(|mut f| f.write_all(public_pem.as_bytes()))
        .with_context(|| format!("cannot write {}", pub_file.display()))?;
    output(
        a.json,
        &json!({"private_key_file": a.out, "public_key": public, "public_key_file": pub_file}),
        &format!(
            "private key written to {} (keep it secret)\npublic key: {public}\npublic key as PEM (for cosign and openssl): {}\n\nTo trust it, add to the server's configuration:\n[plugins]\ntrusted_signers = [{{ name = \"NAME\", public_key = \"{public}\" }}]",
            a.out.display(),
            pub_file.display()
        ),
    );
    Ok(())
}

/// `tessera plugin sign FILE --key KEYFILE [--bundle] [--out SIG]`: writes
/// the base64 Ed25519 signature over FILE's sha256 (default FILE.sig), or
/// with `--bundle` a Sigstore bundle of FILE (default FILE.sigstore.json).
pub fn sign(a: PluginSignArgs) -> anyhow::Result<()> {
    let wasm = std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let key_file =
        zeroize::Zeroizing::new(std::fs::read(&a.key).with_context(|| format!("cannot read {}", a.key.display()))?);
    let key = plugin_signatures::SigningKey::read(&key_file).with_context(|| format!("{}", a.key.display()))?;
    let (signature, suffix, form) = if a.bundle {
        (plugin_signatures::bundle(&key, &wasm), ".sigstore.json", "Sigstore bundle")
    } else {
        (key.detached_signature(&wasm), ".sig", "signature")
    };
    let public = key.public_key();
    let out = a.out.clone().unwrap_or_else(|| with_suffix(&a.file, suffix));
    std::fs::write(&out, format!("{signature}\n")).with_context(|| format!("cannot write {}", out.display()))?;
    output(
        a.json,
        &json!({"signature_file": out, "signature": signature, "public_key": public.config_text(), "key_id": public.key_id()}),
        &format!("signed {} with the key {}; {form} in {}", a.file.display(), public.config_text(), out.display()),
    );
    Ok(())
}

/// `path` with `suffix` appended to its whole name (`plugin.wasm` and
/// `.sig` give `plugin.wasm.sig`), for the files written beside another.
fn with_suffix(path: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("tessera-plugin-run-{}", crate::clock::random_id(12)?));
    crate::files::private_dir(&dir)?;
    Ok(dir)
}
