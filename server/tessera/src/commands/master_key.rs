//! `tessera master-key generate | status | rewrap`: the operator's side of a
//! master-key rotation (README, "Master key rotation"). Local only: the key
//! ring is this node's configuration, never sent over the management API.

use super::{Context, output};
use crate::cli::MasterKeyCommand;
use crate::clock;
use crate::crypto::MasterKey;
use crate::service::admin::{self, SealedReport};
use serde_json::json;

/// The audit actor of local commands (as `commands::backend`).
const ACTOR: &str = "cli";

/// `master-key generate`: needs no database.
pub fn generate(json_flag: bool) -> anyhow::Result<()> {
    let key = MasterKey::generate_base64()?;
    output(json_flag, &json!({"master_key": key.as_str()}), key.as_str());
    Ok(())
}

/// `master-key status` and `rewrap`.
pub fn run(ctx: &Context, cmd: MasterKeyCommand) -> anyhow::Result<()> {
    match cmd {
        MasterKeyCommand::Generate { json } => generate(json),
        MasterKeyCommand::Status { json } => {
            let report = admin::sealed_status(&ctx.store, &ctx.master)?;
            output(json, &report.to_json(), &human(&report, ctx.master.accepted_count()));
            Ok(())
        }
        MasterKeyCommand::Rewrap { json } => {
            let report = admin::rewrap_sealed(&ctx.store, &ctx.master, ACTOR, clock::now())?;
            let mut text = format!("sealed {} values again with the master key\n", report.resealed);
            text.push_str(&human(&report, ctx.master.accepted_count()));
            output(json, &report.to_json(), &text);
            Ok(())
        }
    }
}

fn human(report: &SealedReport, accepted_keys: usize) -> String {
    let mut lines: Vec<String> = report
        .kinds
        .iter()
        .map(|(kind, c)| {
            format!("{kind:16} {:4} with the master key, {:4} with an accepted key", c.current, c.accepted)
        })
        .collect();
    lines.push(match (report.accepted(), accepted_keys) {
        (0, 0) => "no accepted keys are configured".to_owned(),
        (0, _) => "no stored value needs an accepted key: they can leave accepted_master_keys \
                   once every node has the master key"
            .to_owned(),
        (n, _) => format!("{n} values still need an accepted key: run `tessera master-key rewrap`"),
    });
    lines.join("\n")
}
