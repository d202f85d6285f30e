//! Plugin admin use cases: upload a version (validated by the host, compiled
//! off the request path), roll back or delete versions, list plugins and
//! their runs. Binding them per grant type and client is `bindings.rs`.
//! Every change is audited in the same transaction. The test panel (a trial
//! run on a sample context) is `service/plugin_trial.rs`.

mod bindings;

pub(super) use bindings::http_allow;
pub use bindings::{
    BindingChange, BindingEntry, BindingOptions, NewBinding, binding_entries, binding_entry, binding_options,
    create_binding, delete_binding, move_binding, update_binding,
};

use super::admin::names::{RunRow, run_rows};
use super::admin::{AdminError, audit};
use super::pipeline::TOKEN_TRIGGER;
use crate::clock;
use crate::plugin_signatures::{SignaturePolicy, SignatureRefused};
use crate::service::views::{self, BindingView, PluginVersionView, PluginView};
use serde_json::json;
use tessera_plugin_host::{PluginHost, PluginInfo};
use tessera_store::plugins::{self, NewVersion, Plugin, VersionInfo, VersionSignature};
use tessera_store::{Store, StoreError};

pub(super) fn invalid(field: &'static str, message: impl Into<String>) -> AdminError {
    AdminError::Invalid { field, message: message.into() }
}

/// Validates a plugin name: 1 to 100 of `[A-Za-z0-9._-]`.
pub fn validate_name(name: &str) -> Result<(), AdminError> {
    if name.is_empty()
        || name.len() > 100
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(invalid("name", "must be 1 to 100 letters, digits, '.', '_' or '-'"));
    }
    Ok(())
}

/// A plugin version to upload.
#[derive(Debug, Clone, Copy)]
pub struct NewUpload<'a> {
    /// The plugin's name (a new plugin on its first upload).
    pub name: &'a str,
    /// The component.
    pub wasm: &'a [u8],
    /// Claims this version may set; `None`: any non-reserved claim.
    pub declared_claims: Option<&'a [String]>,
    /// The signature file's text, if the uploader gave one: a detached
    /// signature or a Sigstore bundle (`plugin_signatures` has both forms).
    pub signature: Option<&'a str>,
}

/// Uploads a new version of plugin `name`. The signature policy is applied
/// first (an unsigned upload where signatures are required, or a signature
/// no trusted key verifies, is refused on the `signature` field; a valid
/// one records its signer), then the host checks that it is a component of
/// the right world that compiles within its bounds; each refusal is a clear
/// message on its field.
pub fn upload(
    store: &Store,
    host: &PluginHost,
    policy: &SignaturePolicy,
    actor: &str,
    now: i64,
    up: NewUpload<'_>,
) -> Result<(Plugin, VersionInfo, PluginInfo), AdminError> {
    let NewUpload { name, wasm, declared_claims, signature } = up;
    validate_name(name)?;
    let reserved = declared_claims.iter().copied().flatten().find(|c| tessera_protocol::claims::is_reserved(c));
    if let Some(r) = reserved {
        return Err(invalid("declare-claims", format!("{r} is a reserved claim that plugins cannot set")));
    }
    let signed_by = match policy.check(wasm, signature) {
        Ok(by) => by,
        Err(refused) => return Err(refuse_unsigned(store, actor, now, name, wasm, &refused)),
    };
    let info = host.inspect(wasm).map_err(|e| invalid("file", e.to_string()))?;
    let version_id = clock::uuid();
    let new_plugin_id = clock::uuid();
    let interface = json!({"imports": info.imports, "exports": info.exports});
    let signature = match (&signed_by, signature) {
        (Some(by), Some(sig)) => Some(VersionSignature { signed_by: by, signature: sig.trim() }),
        _ => None,
    };
    let (plugin, version) = store.tx(|conn| {
        let (p, v) = plugins::add_version(
            conn,
            name,
            &new_plugin_id,
            NewVersion {
                id: &version_id,
                wasm,
                sha256: &info.sha256,
                world: &info.world,
                declared_claims: declared_claims.map(<[String]>::to_vec),
                interface: interface.clone(),
                uploaded_by: actor,
                now,
                signature,
            },
        )?;
        audit(
            conn,
            actor,
            now,
            "plugin.upload",
            &p.id,
            json!({"name": name, "version": v.version, "sha256": v.sha256, "size": v.size, "signed_by": v.signed_by}),
        )?;
        Ok((p, v))
    })?;
    Ok((plugin, version, info))
}

/// A signature refusal, audited (`plugin.upload.refused`, target the
/// plugin's name): under `require_signatures` an unsigned or forged upload
/// is an attempt on the supply chain that the operator should see, not only
/// the uploader. The audit write failing does not change the answer.
fn refuse_unsigned(
    store: &Store,
    actor: &str,
    now: i64,
    name: &str,
    wasm: &[u8],
    refused: &SignatureRefused,
) -> AdminError {
    let reason = refused.to_string();
    let detail = json!({
        "name": name,
        "sha256": crate::crypto::sha256_hex(wasm),
        "size": wasm.len(),
        // `Missing` is the one refusal of an upload without a signature (an
        // empty one counts as none, `SignaturePolicy::check`).
        "signature_given": *refused != SignatureRefused::Missing,
        "reason": reason,
    });
    if let Err(e) = store.tx(|conn| audit(conn, actor, now, "plugin.upload.refused", name, detail.clone())) {
        tracing::warn!(error = %e, plugin = name, "a refused plugin upload could not be audited");
    }
    invalid("signature", reason)
}

/// Parses `NAME` or `NAME@VERSION`.
pub fn parse_plugin_ref(s: &str) -> Result<(&str, Option<i32>), AdminError> {
    match s.split_once('@') {
        None => Ok((s, None)),
        Some((n, v)) => v
            .parse::<i32>()
            .map(|v| (n, Some(v)))
            .map_err(|_| invalid("plugin", format!("bad version in {s:?}: use NAME@NUMBER"))),
    }
}

/// Points every binding of plugin `name` at version `number`; returns how many.
pub fn rollback(store: &Store, actor: &str, now: i64, name: &str, number: i32) -> Result<usize, AdminError> {
    Ok(store.tx(|conn| {
        let plugin =
            plugins::find_by_name(conn, name)?.ok_or_else(|| StoreError::NotFound(format!("plugin {name:?}")))?;
        let v = plugins::version_by_number(conn, &plugin.id, Some(number))?
            .ok_or_else(|| StoreError::NotFound(format!("plugin {name:?} version {number}")))?;
        let mut n = 0;
        for mut b in
            plugins::bindings_for_trigger(conn, TOKEN_TRIGGER)?.into_iter().filter(|b| b.plugin_id == plugin.id)
        {
            b.plugin_version_id = v.id.clone();
            b.updated_at = now;
            plugins::update_binding(conn, &b)?;
            n += 1;
        }
        audit(
            conn,
            actor,
            now,
            "plugin.rollback",
            &plugin.id,
            json!({"name": name, "version": number, "bindings": n}),
        )?;
        Ok(n)
    })?)
}

/// Deletes version `number` of the plugin `name` and records it. Refused
/// with a message naming them while a binding runs that version or tries it
/// as its shadow candidate: point them elsewhere (rollback, or the binding's
/// page) first. Run records keep the deleted version's id.
pub fn delete_version(store: &Store, actor: &str, now: i64, name: &str, number: i32) -> Result<(), AdminError> {
    Ok(store.tx(|conn| {
        let plugin =
            plugins::find_by_name(conn, name)?.ok_or_else(|| StoreError::NotFound(format!("plugin {name:?}")))?;
        let v = plugins::version_by_number(conn, &plugin.id, Some(number))?
            .ok_or_else(|| StoreError::NotFound(format!("plugin {name:?} version {number}")))?;
        let users = plugins::version_users(conn, &v.id)?;
        if !users.is_empty() {
            let n = users.len();
            return Err(StoreError::Conflict(format!(
                "Version {number} of {name} is used by {n} binding{} ({}), as its version or its shadow candidate; \
                 point {} at another version first.",
                if n == 1 { "" } else { "s" },
                users.join(", "),
                if n == 1 { "it" } else { "them" },
            )));
        }
        plugins::delete_version(conn, &v.id)?;
        audit(
            conn,
            actor,
            now,
            "plugin.version.delete",
            &plugin.id,
            json!({"name": name, "version": number, "sha256": v.sha256}),
        )
    })?)
}

/// Plugin runs, newest first, with their plugin, binding and client named:
/// on the first page the ten newest failures, then a page of every run;
/// optionally of one binding.
pub fn runs(
    store: &Store,
    binding: Option<&str>,
    page: i64,
    offset: i64,
    limit: i64,
) -> Result<(Vec<RunRow>, Vec<RunRow>), StoreError> {
    let mut c = store.conn()?;
    let failures = if page == 1 { plugins::runs(&mut c, binding, true, 0, 10)? } else { vec![] };
    let all = plugins::runs(&mut c, binding, false, offset, limit)?;
    let failures = run_rows(&mut c, views::all(failures))?;
    Ok((failures, run_rows(&mut c, views::all(all))?))
}

/// A page of plugins, each with its newest version.
pub fn list_plugins(
    store: &Store,
    offset: i64,
    limit: i64,
) -> Result<Vec<(PluginView, Option<PluginVersionView>)>, StoreError> {
    let mut c = store.conn()?;
    let rows = plugins::page(&mut c, offset, limit)?;
    rows.into_iter()
        .map(|p| {
            let latest = plugins::version_by_number(&mut c, &p.id, None)?;
            Ok((p.into(), latest.map(PluginVersionView::from)))
        })
        .collect()
}

/// A plugin with its versions (newest first) and the token bindings that
/// use it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PluginDetail {
    /// The plugin.
    pub plugin: PluginView,
    /// Its versions, newest first.
    pub versions: Vec<PluginVersionView>,
    /// The token bindings of any of its versions.
    pub bindings: Vec<BindingView>,
}

/// The plugin named `name`, if it exists, with its versions and bindings.
pub fn plugin_detail(store: &Store, name: &str) -> Result<Option<PluginDetail>, StoreError> {
    let mut c = store.conn()?;
    let Some(plugin) = plugins::find_by_name(&mut c, name)? else { return Ok(None) };
    let versions = views::all(plugins::versions(&mut c, &plugin.id)?); // newest first
    let bindings = plugins::bindings_for_trigger(&mut c, TOKEN_TRIGGER)?
        .into_iter()
        .filter(|b| b.plugin_id == plugin.id)
        .map(BindingView::from)
        .collect();
    Ok(Some(PluginDetail { plugin: plugin.into(), versions, bindings }))
}
