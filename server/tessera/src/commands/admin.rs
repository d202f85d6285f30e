//! `user`, `client`, `api` and `keys` commands: thin wrappers over
//! `service::admin` that parse flags and print results.

use super::{Context, output};
use crate::cli::{AdminCommand, ApiCommand, ClientCommand, KeysCommand, PasswordArgs, SecretCommand, UserCommand};
use crate::clock;
use crate::service::admin::{self, ExchangePolicy, NewApi, NewClient, NewUser, json_object, split_list};
use crate::service::views::{ClientDetail, ClientView};
use anyhow::{Context as _, anyhow, bail};
use serde_json::{Map, Value, json};
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

/// The client settings `client create` and `client update` both take, as
/// given on the command line: each one given replaces the value in the
/// `NewClient` it is applied to, each one absent keeps it. One parser, so
/// the two commands read a flag the same way.
#[derive(Debug)]
struct ClientFlags {
    name: Option<String>,
    grant_types: Option<String>,
    redirect_uris: Option<Vec<String>>,
    post_logout_redirect_uris: Option<Vec<String>>,
    scopes: Option<String>,
    audiences: Option<String>,
    metadata: Option<String>,
    service_account: Option<String>,
    first_party: Option<bool>,
    exchange_audiences: Option<String>,
    exchange_scopes: Option<String>,
    exchange_impersonation: Option<bool>,
    require_par: Option<bool>,
    jwks: Option<String>,
    jwks_uri: Option<String>,
    jwt_bearer_issuers: Option<String>,
    require_dpop: Option<bool>,
}

impl ClientFlags {
    /// Writes the given flags over `c`.
    fn apply(self, c: &mut NewClient) -> anyhow::Result<()> {
        if let Some(v) = self.name {
            c.name = v;
        }
        if let Some(v) = self.grant_types {
            c.grant_types = split_list(&v);
        }
        if let Some(v) = self.redirect_uris {
            c.redirect_uris = v;
        }
        if let Some(v) = self.post_logout_redirect_uris {
            c.post_logout_redirect_uris = v;
        }
        if let Some(v) = self.scopes {
            c.scopes = Some(split_list(&v));
        }
        if let Some(v) = self.audiences {
            c.audiences = Some(split_list(&v));
        }
        if let Some(v) = self.metadata {
            c.metadata = json_object("metadata", Some(&v))?;
        }
        if let Some(v) = self.service_account {
            c.service_account = Some(v);
        }
        if let Some(v) = self.first_party {
            c.first_party = v;
        }
        let exchange = c.exchange.get_or_insert_with(ExchangePolicy::default);
        if let Some(v) = self.exchange_audiences {
            exchange.audiences = split_list(&v);
        }
        if let Some(v) = self.exchange_scopes {
            exchange.scopes = split_list(&v);
        }
        if let Some(v) = self.exchange_impersonation {
            exchange.impersonation = v;
        }
        if let Some(v) = self.require_par {
            c.require_pushed_authorization_requests = v;
        }
        if let Some(v) = self.require_dpop {
            c.dpop_bound_access_tokens = v;
        }
        if let Some(v) = self.jwks {
            c.jwks = Some(serde_json::from_str(&v).map_err(|e| anyhow!("--jwks is not JSON: {e}"))?);
        }
        if let Some(v) = self.jwks_uri {
            c.jwks_uri = Some(v);
        }
        if let Some(v) = self.jwt_bearer_issuers {
            c.jwt_bearer_issuers = Some(
                serde_json::from_str(&v)
                    .map_err(|e| anyhow!("--jwt-bearer-issuers is not a JSON array of trusted issuers: {e}"))?,
            );
        }
        Ok(())
    }
}

/// The stored client as the settings `update_client` takes, so a change
/// keeps every setting it does not name.
fn stored_settings(d: &ClientDetail) -> NewClient {
    let c = &d.client;
    NewClient {
        name: c.name.clone(),
        public: !c.confidential,
        grant_types: c.grant_types.iter().map(|g| g.as_str().to_owned()).collect(),
        redirect_uris: c.redirect_uris.clone(),
        post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
        scopes: c.allowed_scopes.clone(),
        audiences: c.allowed_audiences.clone(),
        metadata: c.metadata.clone(),
        service_account: d.service_account.clone(),
        first_party: c.first_party,
        disabled: c.disabled,
        exchange: Some(ExchangePolicy {
            audiences: c.exchange_audiences.clone(),
            scopes: c.exchange_scopes.clone(),
            impersonation: c.exchange_impersonation,
        }),
        require_pushed_authorization_requests: c.require_pushed_authorization_requests,
        jwks: None,
        jwks_uri: None,
        jwt_bearer_issuers: None,
        dpop_bound_access_tokens: c.dpop_bound_access_tokens,
    }
}

/// The client with its secrets and service account, or the one-line refusal.
fn client_detail(ctx: &Context, id: &str) -> anyhow::Result<ClientDetail> {
    admin::client_detail(&ctx.store, id, clock::now())?.ok_or_else(|| anyhow!("no client {id}"))
}

/// Reads the client, applies `change` to its settings and saves them through
/// `update_client` (validated and audited there); returns the client as saved.
fn change_client(
    ctx: &Context,
    id: &str,
    change: impl FnOnce(&mut NewClient) -> anyhow::Result<()>,
) -> anyhow::Result<ClientDetail> {
    let mut settings = stored_settings(&client_detail(ctx, id)?);
    change(&mut settings)?;
    admin::update_client(&ctx.store, ACTOR, clock::now(), id, settings)?;
    client_detail(ctx, id)
}

/// Every client, page by page.
fn all_clients(ctx: &Context) -> anyhow::Result<Vec<ClientView>> {
    const PAGE: i64 = 200;
    let mut all = Vec::new();
    loop {
        let page = admin::list_clients(&ctx.store, i64::try_from(all.len())?, PAGE)?;
        let last = i64::try_from(page.len())? < PAGE;
        all.extend(page);
        if last {
            return Ok(all);
        }
    }
}

fn kind(c: &ClientView) -> &'static str {
    if c.confidential { "confidential" } else { "public" }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// `client show` and `client update` output: the client's view, its
/// service account's name and its secrets' ids, dates and state (never a
/// secret, its hint or its hash).
fn print_client(json_flag: bool, d: &ClientDetail) -> anyhow::Result<()> {
    let c = &d.client;
    let secrets: Vec<Value> = d
        .secrets
        .iter()
        .map(|s| {
            json!({"id": s.id, "created_at": s.created_at, "expires_at": s.expires_at, "revoked_at": s.revoked_at, "active": s.active})
        })
        .collect();
    let mut obj = match serde_json::to_value(c)? {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    obj.insert("service_account".into(), json!(d.service_account));
    obj.insert("secrets".into(), Value::Array(secrets));
    let list = |l: &[String]| if l.is_empty() { "-".to_owned() } else { l.join(", ") };
    let any = |l: &Option<Vec<String>>| l.as_deref().map_or_else(|| "any".to_owned(), list);
    let mut human = format!(
        "client {} ({})\ntype:              {}\ndisabled:          {}\ngrant types:       {}\nredirect uris:     {}\n\
         post-logout uris:  {}\nscopes:            {}\naudiences:         {}\nservice account:   {}\n\
         first party:       {}\nexchange:          audiences {}; scopes {}; impersonation {}\nrequire PAR:       {}\nrequire DPoP:      {}\n\
         metadata:          {}",
        c.name,
        c.id,
        kind(c),
        yes_no(c.disabled),
        c.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", "),
        list(&c.redirect_uris),
        list(&c.post_logout_redirect_uris),
        any(&c.allowed_scopes),
        any(&c.allowed_audiences),
        d.service_account.as_deref().unwrap_or("-"),
        yes_no(c.first_party),
        list(&c.exchange_audiences),
        list(&c.exchange_scopes),
        yes_no(c.exchange_impersonation),
        yes_no(c.require_pushed_authorization_requests),
        yes_no(c.dpop_bound_access_tokens),
        c.metadata,
    );
    for s in &d.secrets {
        human.push_str(&format!(
            "\nsecret {}: created {}, expires {}, {}",
            s.id,
            s.created_at,
            s.expires_at.map_or_else(|| "never".to_owned(), |e| e.to_string()),
            if s.active { "active" } else { "inactive" }
        ));
    }
    output(json_flag, &Value::Object(obj), &human);
    Ok(())
}

/// `tessera client ...`
pub fn client(ctx: &Context, cmd: ClientCommand) -> anyhow::Result<()> {
    match cmd {
        ClientCommand::Create(a) => {
            let mut new = NewClient {
                public: a.public,
                metadata: json_object("metadata", None)?,
                disabled: false,
                ..NewClient::default()
            };
            ClientFlags {
                name: Some(a.name),
                grant_types: Some(a.grant_types),
                redirect_uris: Some(a.redirect_uris),
                post_logout_redirect_uris: Some(a.post_logout_redirect_uris),
                scopes: a.scopes,
                audiences: a.audiences,
                metadata: a.metadata,
                service_account: a.service_account,
                first_party: Some(a.first_party),
                exchange_audiences: a.exchange_audiences,
                exchange_scopes: a.exchange_scopes,
                exchange_impersonation: Some(a.exchange_impersonation),
                require_par: Some(a.require_par),
                jwks: a.jwks,
                jwks_uri: a.jwks_uri,
                jwt_bearer_issuers: a.jwt_bearer_issuers,
                require_dpop: Some(a.require_dpop),
            }
            .apply(&mut new)?;
            let (client, secret) = admin::create_client(&ctx.store, ACTOR, clock::now(), new)?;
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
        ClientCommand::List { json } => {
            let clients = all_clients(ctx)?;
            let rows: Vec<Value> = clients
                .iter()
                .map(|c| {
                    json!({"id": c.id, "name": c.name, "type": kind(c), "grant_types": c.grant_types, "disabled": c.disabled})
                })
                .collect();
            let human = clients
                .iter()
                .map(|c| {
                    let grants = c.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(",");
                    let off = if c.disabled { "  (disabled)" } else { "" };
                    format!("{}  {:12}  {}  {}{off}", c.id, kind(c), c.name, grants)
                })
                .collect::<Vec<_>>()
                .join("\n");
            output(json, &json!({"clients": rows}), &human);
        }
        ClientCommand::Show { id, json } => print_client(json, &client_detail(ctx, &id)?)?,
        ClientCommand::Update(a) => {
            let flags = ClientFlags {
                name: a.name,
                grant_types: a.grant_types,
                redirect_uris: a.redirect_uris.as_deref().map(split_list),
                post_logout_redirect_uris: a.post_logout_redirect_uris.as_deref().map(split_list),
                scopes: a.scopes,
                audiences: a.audiences,
                metadata: a.metadata,
                service_account: a.service_account,
                first_party: a.first_party,
                exchange_audiences: a.exchange_audiences,
                exchange_scopes: a.exchange_scopes,
                exchange_impersonation: a.exchange_impersonation,
                require_par: a.require_par,
                jwks: a.jwks,
                jwks_uri: a.jwks_uri,
                jwt_bearer_issuers: a.jwt_bearer_issuers,
                require_dpop: a.require_dpop,
            };
            let saved = change_client(ctx, &a.id, |c| flags.apply(c))?;
            print_client(a.json, &saved)?;
        }
        ClientCommand::Disable { id } => {
            change_client(ctx, &id, |c| {
                c.disabled = true;
                Ok(())
            })?;
            println!("client {id} disabled; its refresh tokens are revoked");
        }
        ClientCommand::Enable { id } => {
            change_client(ctx, &id, |c| {
                c.disabled = false;
                Ok(())
            })?;
            println!("client {id} enabled");
        }
        ClientCommand::Delete { id } => {
            client_detail(ctx, &id)?;
            admin::delete_client(&ctx.store, ACTOR, clock::now(), &id)?;
            println!("client {id} deleted");
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
