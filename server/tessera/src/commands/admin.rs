//! `admin` and `keys` commands: thin wrappers over the services that parse
//! flags and print results. They open this machine's database; the
//! management API has no administrators or keys resource in this version.

use super::resources::password;
use super::{Context, output};
use crate::cli::{AdminCommand, KeysCommand};
use crate::clock;
use crate::service::admin;
use serde_json::json;

const ACTOR: &str = "cli";

/// `tessera admin ...`
pub fn admin(ctx: &Context, cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::Create(a) => {
            let password = password(a.password)?;
            let admin = crate::service::console::create_admin(&ctx.store, ACTOR, clock::now(), &a.username, &password)?;
            output(
                a.json,
                &json!({"id": admin.id, "username": admin.username}),
                &format!("created administrator {}; sign in at <issuer>/admin", admin.username),
            );
        }
        AdminCommand::Password(a) => {
            let password = password(a.password)?;
            crate::service::console::reset_admin_password(&ctx.store, ACTOR, clock::now(), &a.username, &password)?;
            output(
                a.json,
                &json!({"username": a.username}),
                &format!("password of administrator {} changed; their sessions ended", a.username),
            );
        }
    }
    Ok(())
}

/// `tessera keys ...`
pub fn keys(ctx: &Context, cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Rotate { json } => {
            let report =
                admin::rotate_keys(&ctx.store, &ctx.master, ACTOR, clock::now(), ctx.config.keys.retired_publish_secs)?;
            let human = report
                .iter()
                .map(|r| {
                    format!(
                        "{}: current {} (next {})",
                        r["alg"].as_str().unwrap_or(""),
                        r["current"].as_str().unwrap_or(""),
                        r["next"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            output(json, &json!({"rotated": report}), &human);
        }
        KeysCommand::List { json } => {
            let rows = tessera_store::keys::all(&mut *ctx.store.conn()?)?;
            let list: Vec<_> = rows
                .iter()
                .map(|k| json!({"kid": k.kid, "alg": k.alg, "state": k.state, "created_at": k.created_at, "activated_at": k.activated_at, "retired_at": k.retired_at}))
                .collect();
            let human =
                rows.iter().map(|k| format!("{:8} {:7} {}", k.alg, k.state, k.kid)).collect::<Vec<_>>().join("\n");
            output(json, &json!({"keys": list}), &human);
        }
    }
    Ok(())
}
