//! `tessera binding shadow set|show|promote|discard`: a binding's shadow
//! candidate, through a [`Backend`]: locally the `service::shadow::admin`
//! functions the console calls, remotely the management API's.

use super::backend::{Backend, Kind};
use super::output;
use crate::cli::ShadowCommand;
use crate::service::admin::split_list;
use serde_json::{Value, json};

fn us(v: &Value) -> String {
    v.as_i64().map_or_else(|| "-".to_owned(), |v| format!("{v}us"))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "(none)".to_owned(),
        other => other.to_string(),
    }
}

/// The report (as `GET /api/v1/bindings/{id}/shadow` shows it) as
/// `binding shadow show` prints it without `--json`.
fn human(id: &str, r: &Value) -> String {
    let mut out = format!(
        "binding {id}: live version {}, candidate version {} on {} of requests (since {})\n\
         compared {}, differed {}, errors live {} / candidate {}, skipped {}\n\
         p50 live {} / candidate {}; p99 live {} / candidate {} (last {} compared)",
        r["live_version"],
        r["version"],
        r["share"],
        r["since"],
        r["compared"],
        r["differed"],
        r["live_errors"],
        r["shadow_errors"],
        r["skipped"],
        us(&r["live_p50_us"]),
        us(&r["shadow_p50_us"]),
        us(&r["live_p99_us"]),
        us(&r["shadow_p99_us"]),
        r["window"],
    );
    let sensitive: Vec<String> = r["sensitive_claims"].as_array().into_iter().flatten().map(text).collect();
    if !sensitive.is_empty() {
        out.push_str(&format!("\nsensitive claims (shown hashed): {}", sensitive.join(", ")));
    }
    for d in r["recent"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n{} live {} / candidate {}",
            d["at"],
            text(&d["live_outcome"]),
            text(&d["shadow_outcome"])
        ));
        for x in d["differences"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "\n  {} {} {}: {} -> {}",
                text(&x["place"]),
                text(&x["claim"]),
                text(&x["change"]),
                text(&x["live"]),
                text(&x["shadow"]),
            ));
        }
    }
    out
}

/// `tessera binding shadow ...`, on this machine or (with `--server`)
/// through the management API: the candidate is set by patching the
/// binding's `shadow`, read from `/bindings/{id}/shadow`, and ended by its
/// promote and discard actions.
pub fn shadow(b: &dyn Backend, cmd: ShadowCommand) -> anyhow::Result<()> {
    match cmd {
        ShadowCommand::Set(a) => {
            let sensitive: Vec<String> = a.sensitive_claims.iter().flat_map(|s| split_list(s)).collect();
            let candidate = json!({"version": a.version, "share": a.share, "sensitive_claims": sensitive});
            b.update(Kind::Bindings, &a.id, json!({ "shadow": candidate }))?;
            let v = json!({"binding_id": a.id, "shadow": b.shadow_report(&a.id)?});
            output(
                a.json,
                &v,
                &format!("binding {}: version {} runs in shadow on {} of requests", a.id, a.version, a.share),
            );
        }
        ShadowCommand::Show { id, json } => match b.shadow_report(&id)? {
            Some(r) => output(json, &json!({"binding_id": id, "shadow": r}), &human(&id, &r)),
            None => output(
                json,
                &json!({"binding_id": id, "shadow": null}),
                &format!("binding {id} has no shadow candidate"),
            ),
        },
        ShadowCommand::Promote { id, json } => {
            let version = b.shadow_report(&id)?.and_then(|r| r["version"].as_i64());
            b.end_shadow(&id, true)?;
            output(
                json,
                &json!({"binding_id": id, "version": version}),
                &format!("binding {id}: candidate promoted, version {} is live", version.unwrap_or(0)),
            );
        }
        ShadowCommand::Discard { id, json } => {
            b.end_shadow(&id, false)?;
            output(json, &json!({"binding_id": id, "shadow": null}), &format!("binding {id}: candidate discarded"));
        }
    }
    Ok(())
}
