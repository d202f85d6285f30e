//! `admin` and `keys` commands, written once against [`Backend`]: on this
//! machine's database or, with `--server`, the management API's
//! `/api/v1/admins` and `/api/v1/keys`. They parse flags and print results;
//! the `--json` objects are the same on both sides.

use super::backend::Backend;
use super::output;
use super::resources::password;
use crate::cli::{AdminCommand, AdminNewArgs, KeysCommand};
use crate::service::roles::Role;
use anyhow::bail;
use serde_json::{Value, json};

/// `tessera admin ...`
pub fn admin(b: &dyn Backend, cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::Create(AdminNewArgs { account: a, role }) => {
            let password = password(a.password)?;
            let role = match role {
                Some(role) => role,
                None if b.admins()?.is_empty() => Role::Owner.as_str().to_owned(),
                None => bail!(
                    "administrators exist: name the new one's role with --role ({})",
                    Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
                ),
            };
            let admin = b.create_admin(&a.username, &password, &role)?;
            let username = admin["username"].as_str().unwrap_or(&a.username);
            output(
                a.json,
                &json!({"id": admin["id"], "username": username}),
                &format!("created administrator {username} ({role}); sign in at <issuer>/admin"),
            );
        }
        AdminCommand::Password(a) => {
            let password = password(a.password)?;
            b.set_admin_password(&a.username, &password)?;
            output(
                a.json,
                &json!({"username": a.username}),
                &format!("password of administrator {} changed; their sessions ended", a.username),
            );
        }
        AdminCommand::ResetSecondFactor { username, json } => {
            b.reset_admin_second_factor(&username)?;
            output(
                json,
                &json!({"username": username, "second_factor": false}),
                &format!("second factors of administrator {username} removed; their sessions ended"),
            );
        }
        AdminCommand::List { json } => {
            let admins = b.admins()?;
            let human = admins
                .iter()
                .map(|a| {
                    let text = |f: &str| a[f].as_str().unwrap_or("").to_owned();
                    let state = if a["disabled"] == json!(true) { " (disabled)" } else { "" };
                    format!("{} {} {}{state}", text("id"), text("username"), text("role"))
                })
                .collect::<Vec<_>>()
                .join("\n");
            output(json, &json!({"admins": admins}), &human);
        }
        AdminCommand::Delete { id, json } => {
            b.delete_admin(&id)?;
            output(
                json,
                &json!({"id": id, "deleted": true}),
                &format!("administrator {id} deleted; their sessions ended"),
            );
        }
    }
    Ok(())
}

/// A key as `keys list` prints it: its public facts without the JWK.
fn key_line(k: &Value) -> Value {
    json!({"kid": k["kid"], "alg": k["alg"], "state": k["state"], "created_at": k["created_at"],
        "activated_at": k["activated_at"], "retired_at": k["retired_at"]})
}

/// `tessera keys ...`
pub fn keys(b: &dyn Backend, cmd: KeysCommand) -> anyhow::Result<()> {
    let text = |v: &Value, field: &str| v[field].as_str().unwrap_or("").to_owned();
    match cmd {
        KeysCommand::Rotate { alg, json } => {
            let report = b.rotate_keys(alg.as_deref())?;
            let human = report
                .iter()
                .map(|r| format!("{}: current {} (next {})", text(r, "alg"), text(r, "current"), text(r, "next")))
                .collect::<Vec<_>>()
                .join("\n");
            output(json, &json!({"rotated": report}), &human);
        }
        KeysCommand::Retire { kid, json } => {
            let key = b.retire_key(&kid)?;
            output(json, &key_line(&key), &format!("{} {} retired", text(&key, "alg"), text(&key, "kid")));
        }
        KeysCommand::List { json } => {
            let keys = b.keys()?;
            let human = keys
                .iter()
                .map(|k| format!("{:8} {:7} {}", text(k, "alg"), text(k, "state"), text(k, "kid")))
                .collect::<Vec<_>>()
                .join("\n");
            output(json, &json!({"keys": keys.iter().map(key_line).collect::<Vec<_>>()}), &human);
        }
    }
    Ok(())
}
