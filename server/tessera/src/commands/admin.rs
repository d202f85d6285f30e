//! `user`, `client`, `api` and `keys` commands: thin wrappers over
//! `service::admin` that parse flags and print results.

use super::{Context, output};
use crate::cli::{AdminCommand, ApiCommand, ClientCommand, KeysCommand, PasswordArgs, SecretCommand, UserCommand};
use crate::clock;
use crate::service::admin::{self, ExchangePolicy, NewApi, NewClient, NewUser, json_object, split_list};
use anyhow::{Context as _, bail};
use serde_json::json;
use std::io::BufRead;

const ACTOR: &str = "cli";

/// The password from `--password-stdin` (first line) or `--password`.
fn password(args: PasswordArgs) -> anyhow::Result<String> {
    if args.password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("cannot read the password from stdin")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    match args.password {
        Some(p) => Ok(p),
        None => bail!("give --password-stdin or --password"),
    }
}

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

/// `tessera user ...`
pub fn user(ctx: &Context, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create(a) => {
            let password = Some(password(a.password)?);
            let user = admin::create_user(
                &ctx.store,
                ACTOR,
                clock::now(),
                NewUser {
                    username: a.username,
                    password,
                    email: a.email,
                    metadata: json_object("metadata", a.metadata.as_deref())?,
                    profile: json_object("profile", a.profile.as_deref())?,
                    roles: a.roles.as_deref().map(split_list).unwrap_or_default(),
                },
            )?;
            output(
                a.json,
                &json!({"id": user.id, "username": user.username, "email": user.email, "roles": user.roles}),
                &format!("created user {} ({})", user.username, user.id),
            );
        }
    }
    Ok(())
}

/// `tessera client ...`
pub fn client(ctx: &Context, cmd: ClientCommand) -> anyhow::Result<()> {
    match cmd {
        ClientCommand::Create(a) => {
            let (client, secret) = admin::create_client(
                &ctx.store,
                ACTOR,
                clock::now(),
                NewClient {
                    name: a.name,
                    public: a.public,
                    grant_types: split_list(&a.grant_types),
                    redirect_uris: a.redirect_uris,
                    post_logout_redirect_uris: a.post_logout_redirect_uris,
                    scopes: a.scopes.as_deref().map(split_list),
                    audiences: a.audiences.as_deref().map(split_list),
                    metadata: json_object("metadata", a.metadata.as_deref())?,
                    service_account: a.service_account,
                    first_party: a.first_party,
                    disabled: false,
                    exchange: Some(ExchangePolicy {
                        audiences: a.exchange_audiences.as_deref().map(split_list).unwrap_or_default(),
                        scopes: a.exchange_scopes.as_deref().map(split_list).unwrap_or_default(),
                        impersonation: a.exchange_impersonation,
                    }),
                },
            )?;
            let secret_text = secret.as_ref().map(|s| s.expose().to_owned());
            let mut human = format!(
                "created client {} ({})\nclient_id:     {}",
                client.name,
                if client.confidential { "confidential" } else { "public" },
                client.id
            );
            if let Some(s) = &secret_text {
                human.push_str(&format!("\nclient_secret: {s}\n(the secret is shown only now; store it safely)"));
            }
            output(
                a.json,
                &json!({
                    "client_id": client.id,
                    "client_secret": secret_text,
                    "name": client.name,
                    "confidential": client.confidential,
                    "grant_types": client.grant_types,
                    "redirect_uris": client.redirect_uris,
                    "service_account_user_id": client.service_account_user_id,
                    "first_party": client.first_party,
                    "exchange": {
                        "audiences": client.exchange.audiences,
                        "scopes": client.exchange.scopes,
                        "impersonation": client.exchange.impersonation,
                    },
                }),
                &human,
            );
        }
        ClientCommand::Secret(SecretCommand::Add(a)) => {
            let (row, secret) = admin::add_client_secret(&ctx.store, ACTOR, clock::now(), &a.client_id, a.overlap)?;
            output(
                a.json,
                &json!({"client_id": a.client_id, "secret_id": row.id, "client_secret": secret.expose()}),
                &format!("secret {} added\nclient_secret: {}\n(the secret is shown only now)", row.id, secret.expose()),
            );
        }
        ClientCommand::Secret(SecretCommand::Revoke(a)) => {
            admin::revoke_client_secret(&ctx.store, ACTOR, clock::now(), &a.client_id, &a.secret_id)?;
            println!("secret {} revoked", a.secret_id);
        }
    }
    Ok(())
}

/// `tessera api ...`
pub fn api(ctx: &Context, cmd: ApiCommand) -> anyhow::Result<()> {
    match cmd {
        ApiCommand::Create(a) => {
            let alg =
                a.alg.parse().map_err(|e: tessera_protocol::model::UnsupportedAlg| anyhow::anyhow!("alg: {e}"))?;
            let (api, secret) = admin::create_api(
                &ctx.store,
                &ctx.master,
                ACTOR,
                clock::now(),
                NewApi {
                    identifier: a.identifier,
                    name: a.name,
                    alg,
                    token_lifetime_secs: a.lifetime.unwrap_or(ctx.config.tokens.access_token_lifetime_secs),
                    scopes: a.scopes.as_deref().map(split_list).unwrap_or_default(),
                    resource_servers: a.resource_servers.clone(),
                },
            )?;
            let mut human = format!("created API {} ({}, {}s)", api.identifier, api.alg, api.token_lifetime_secs);
            if let Some(s) = &secret {
                human.push_str(&format!("\nhs256_secret: {s}\n(the secret is shown only now)"));
            }
            output(
                a.json,
                &json!({
                    "id": api.id,
                    "identifier": api.identifier,
                    "alg": api.alg.as_str(),
                    "scopes": api.scopes,
                    "token_lifetime_secs": api.token_lifetime_secs,
                    "resource_servers": a.resource_servers,
                    "hs256_secret": secret,
                }),
                &human,
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
