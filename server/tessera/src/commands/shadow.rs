//! `tessera binding shadow set|show|promote|discard`: a binding's shadow
//! candidate, through the same `service::shadow::admin` functions as the
//! console and the management API.

use super::{Context, output};
use crate::cli::ShadowCommand;
use crate::clock;
use crate::service::admin::split_list;
use crate::service::shadow::admin::{self as svc, ShadowReport, ShadowSettings};
use serde_json::json;

const ACTOR: &str = "cli";

fn us(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v}us"))
}

/// The report as `binding shadow show` prints it without `--json`.
fn human(id: &str, r: &ShadowReport) -> String {
    let mut out = format!(
        "binding {id}: live version {}, candidate version {} on {} of requests (since {})\n\
         compared {}, differed {}, errors live {} / candidate {}, skipped {}\n\
         p50 live {} / candidate {}; p99 live {} / candidate {} (last {} compared)",
        r.live_version,
        r.version,
        r.share,
        r.since,
        r.compared,
        r.differed,
        r.live_errors,
        r.shadow_errors,
        r.skipped,
        us(r.live_p50_us),
        us(r.shadow_p50_us),
        us(r.live_p99_us),
        us(r.shadow_p99_us),
        r.window,
    );
    if !r.sensitive_claims.is_empty() {
        out.push_str(&format!("\nsensitive claims (shown hashed): {}", r.sensitive_claims.join(", ")));
    }
    for d in &r.recent {
        out.push_str(&format!("\n{} live {} / candidate {}", d.at, d.live_outcome, d.shadow_outcome));
        for x in &d.differences {
            let change = serde_json::to_value(&x.change).unwrap_or_default();
            out.push_str(&format!(
                "\n  {} {} {}: {} -> {}",
                x.place,
                x.claim,
                change.as_str().unwrap_or(""),
                x.live.as_deref().unwrap_or("(none)"),
                x.shadow.as_deref().unwrap_or("(none)"),
            ));
        }
    }
    out
}

/// `tessera binding shadow ...`
pub fn shadow(ctx: &Context, cmd: ShadowCommand) -> anyhow::Result<()> {
    match cmd {
        ShadowCommand::Set(a) => {
            let settings = ShadowSettings {
                version: a.version,
                share: Some(a.share),
                sensitive_claims: a.sensitive_claims.iter().flat_map(|s| split_list(s)).collect(),
            };
            svc::set(&ctx.store, ACTOR, clock::now(), &a.id, &settings)?;
            let v = json!({"binding_id": a.id, "shadow": svc::report(&ctx.store, &a.id)?});
            output(
                a.json,
                &v,
                &format!("binding {}: version {} runs in shadow on {} of requests", a.id, a.version, a.share),
            );
        }
        ShadowCommand::Show { id, json } => match svc::report(&ctx.store, &id)? {
            Some(r) => output(json, &json!({"binding_id": id, "shadow": r}), &human(&id, &r)),
            None => output(
                json,
                &json!({"binding_id": id, "shadow": null}),
                &format!("binding {id} has no shadow candidate"),
            ),
        },
        ShadowCommand::Promote { id, json } => {
            let report = svc::report(&ctx.store, &id)?;
            svc::promote(&ctx.store, ACTOR, clock::now(), &id)?;
            let version = report.map(|r| r.version);
            output(
                json,
                &json!({"binding_id": id, "version": version}),
                &format!("binding {id}: candidate promoted, version {} is live", version.unwrap_or(0)),
            );
        }
        ShadowCommand::Discard { id, json } => {
            svc::discard(&ctx.store, ACTOR, clock::now(), &id)?;
            output(json, &json!({"binding_id": id, "shadow": null}), &format!("binding {id}: candidate discarded"));
        }
    }
    Ok(())
}
