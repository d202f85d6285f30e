//! `user`, `client` and `api` commands, written once against [`Backend`]:
//! on this machine's database or, with `--server`, on a remote server's
//! management API, with the same flags and the same `--json` output. Flags
//! become the API's create and merge-patch bodies.

use super::backend::{Backend, Kind, is_not_found};
use super::output;
use crate::cli::{ApiCommand, ClientCommand, PasswordArgs, SecretCommand, UserCommand, UserUpdateArgs};
use crate::service::admin::FactorChange;
use crate::service::admin::{json_object, split_list};
use anyhow::{Context as _, anyhow, bail};
use serde_json::{Map, Value, json};
use std::io::BufRead;

/// The password from `--password-stdin` (first line) or `--password`.
pub fn password(args: PasswordArgs) -> anyhow::Result<String> {
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

/// A JSON-object flag (`--metadata`, `--profile`), refused as the console refuses it.
fn object_flag(field: &'static str, text: &str) -> anyhow::Result<Value> {
    Ok(json_object(field, Some(text))?)
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// `tessera user ...`
pub fn user(b: &dyn Backend, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create(a) => {
            let mut body = Map::new();
            body.insert("username".into(), json!(a.username));
            body.insert("password".into(), json!(password(a.password)?));
            body.insert("email".into(), json!(a.email));
            if let Some(m) = &a.metadata {
                body.insert("metadata".into(), object_flag("metadata", m)?);
            }
            if let Some(p) = &a.profile {
                body.insert("profile".into(), object_flag("profile", p)?);
            }
            body.insert("roles".into(), json!(a.roles.as_deref().map(split_list).unwrap_or_default()));
            let u = b.create(Kind::Users, body)?;
            output(
                a.json,
                &json!({"id": u["id"], "username": u["username"], "email": u["email"], "roles": u["roles"]}),
                &format!("created user {} ({})", text(&u["username"]), text(&u["id"])),
            );
        }
        UserCommand::List { json } => {
            let users = b.list(Kind::Users)?;
            let human = users
                .iter()
                .map(|u| {
                    let off = if u["disabled"] == true { "  (disabled)" } else { "" };
                    format!("{}  {}  {}{off}", text(&u["id"]), text(&u["username"]), u["email"].as_str().unwrap_or("-"))
                })
                .collect::<Vec<_>>()
                .join("\n");
            output(json, &json!({ "users": users }), &human);
        }
        UserCommand::Show { id, json } => print_user(json, &b.get(Kind::Users, &id)?),
        UserCommand::Update(a) => print_user(a.json, &b.update(Kind::Users, &a.id.clone(), user_patch(a)?)?),
        UserCommand::Password(a) => {
            let id = a.id.clone();
            b.set_password(&id, &password(a.password)?)?;
            println!("password of user {id} set; their sessions and refresh tokens ended");
        }
        UserCommand::SignOut { id } => {
            b.sign_out_user(&id)?;
            println!("user {id} signed out everywhere: their sessions ended and their tokens were revoked");
        }
        UserCommand::SecondFactor { id, reset, require, json } => {
            let status = b.user_second_factor(&id, FactorChange { reset, required: require })?;
            let human = match status.enrolled_at {
                Some(at) => {
                    format!("enrolled at {at} (unix seconds), {} recovery codes left", status.recovery_codes_left)
                }
                None if status.required => "not enrolled; required: enrols at the next sign-in".to_owned(),
                None => "not enrolled".to_owned(),
            };
            output(json, &serde_json::to_value(&status)?, &format!("user {id}: second factor {human}"));
        }
        UserCommand::Delete { id } => {
            b.delete(Kind::Users, &id)?;
            println!("user {id} deleted");
        }
    }
    Ok(())
}

/// `user update` flags as a merge patch: only the given ones change.
fn user_patch(a: UserUpdateArgs) -> anyhow::Result<Value> {
    let mut p = Map::new();
    if let Some(e) = a.email {
        p.insert("email".into(), if e.is_empty() { Value::Null } else { json!(e) });
    }
    if let Some(m) = &a.metadata {
        p.insert("metadata".into(), object_flag("metadata", m)?);
    }
    if let Some(pr) = &a.profile {
        p.insert("profile".into(), object_flag("profile", pr)?);
    }
    if let Some(r) = &a.roles {
        p.insert("roles".into(), json!(split_list(r)));
    }
    if let Some(d) = a.disabled {
        p.insert("disabled".into(), json!(d));
    }
    Ok(Value::Object(p))
}

fn print_user(json_flag: bool, u: &Value) {
    let human = format!(
        "user {} ({})\nemail:     {}\nroles:     {}\ndisabled:  {}\npassword:  {}\nprofile:   {}\nmetadata:  {}",
        text(&u["username"]),
        text(&u["id"]),
        u["email"].as_str().unwrap_or("-"),
        u["roles"].as_array().map(|r| r.iter().map(text).collect::<Vec<_>>().join(", ")).unwrap_or_default(),
        yes_no(u["disabled"] == true),
        if u["has_password"] == true { "set" } else { "none (cannot sign in)" },
        u["profile"],
        u["metadata"],
    );
    output(json_flag, u, &human);
}

/// The client settings `client create` and `client update` both take, as
/// given on the command line, as the API's client body: each flag given is
/// a field, each one absent is left out (kept, on update). One parser, so
/// the two commands read a flag the same way.
#[derive(Debug, Default)]
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
    require_signed_requests: Option<bool>,
    backchannel_logout_uri: Option<String>,
    frontchannel_logout_uri: Option<String>,
}

impl ClientFlags {
    fn body(self) -> anyhow::Result<Map<String, Value>> {
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_owned(), v);
        };
        if let Some(v) = self.name {
            put("name", json!(v));
        }
        if let Some(v) = self.grant_types {
            put("grant_types", json!(split_list(&v)));
        }
        if let Some(v) = self.redirect_uris {
            put("redirect_uris", json!(v));
        }
        if let Some(v) = self.post_logout_redirect_uris {
            put("post_logout_redirect_uris", json!(v));
        }
        if let Some(v) = self.scopes {
            put("allowed_scopes", json!(split_list(&v)));
        }
        if let Some(v) = self.audiences {
            put("allowed_audiences", json!(split_list(&v)));
        }
        if let Some(v) = self.metadata {
            put("metadata", object_flag("metadata", &v)?);
        }
        if let Some(v) = self.service_account {
            put("service_account", json!(v));
        }
        if let Some(v) = self.first_party {
            put("first_party", json!(v));
        }
        if let Some(v) = self.exchange_audiences {
            put("exchange_audiences", json!(split_list(&v)));
        }
        if let Some(v) = self.exchange_scopes {
            put("exchange_scopes", json!(split_list(&v)));
        }
        if let Some(v) = self.exchange_impersonation {
            put("exchange_impersonation", json!(v));
        }
        if let Some(v) = self.require_par {
            put("require_pushed_authorization_requests", json!(v));
        }
        if let Some(v) = self.jwks {
            put("jwks", serde_json::from_str::<Value>(&v).map_err(|e| anyhow!("--jwks is not JSON: {e}"))?);
        }
        if let Some(v) = self.jwks_uri {
            put("jwks_uri", json!(v));
        }
        if let Some(v) = self.jwt_bearer_issuers {
            let list = serde_json::from_str::<Value>(&v)
                .map_err(|e| anyhow!("--jwt-bearer-issuers is not a JSON array of trusted issuers: {e}"))?;
            put("jwt_bearer_issuers", list);
        }
        if let Some(v) = self.require_dpop {
            put("dpop_bound_access_tokens", json!(v));
        }
        if let Some(v) = self.require_signed_requests {
            put("require_signed_request_object", json!(v));
        }
        if let Some(v) = self.backchannel_logout_uri {
            put("backchannel_logout_uri", json!(v));
        }
        if let Some(v) = self.frontchannel_logout_uri {
            put("frontchannel_logout_uri", json!(v));
        }
        Ok(m)
    }
}

fn kind(c: &Value) -> &'static str {
    if c["confidential"] == true { "confidential" } else { "public" }
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().map(|a| a.iter().map(text).collect()).unwrap_or_default()
}

/// `client show` and `client update` output: the client's view, its
/// service account's name and its secrets' ids, dates and state (never a
/// secret, its hint or its hash).
fn print_client(b: &dyn Backend, json_flag: bool, c: &Value) -> anyhow::Result<()> {
    let id = text(&c["id"]);
    let secrets: Vec<Value> = b
        .client_secrets(id)?
        .into_iter()
        .map(|s| {
            json!({"id": s["id"], "created_at": s["created_at"], "expires_at": s["expires_at"], "revoked_at": s["revoked_at"], "active": s["active"]})
        })
        .collect();
    // The account's name is shown for convenience: a remote client without
    // read:users sees none rather than no client at all.
    let service_account = match c["service_account_user_id"].as_str() {
        Some(uid) => b.get(Kind::Users, uid).ok().map(|u| u["username"].clone()).unwrap_or(Value::Null),
        None => Value::Null,
    };
    let mut obj = c.as_object().cloned().unwrap_or_default();
    obj.insert("service_account".into(), service_account.clone());
    obj.insert("secrets".into(), Value::Array(secrets.clone()));
    let list = |l: &Value| {
        let v = strings(l);
        if v.is_empty() { "-".to_owned() } else { v.join(", ") }
    };
    let any = |l: &Value| if l.is_null() { "any".to_owned() } else { list(l) };
    let mut human = format!(
        "client {} ({})\ntype:              {}\ndisabled:          {}\ngrant types:       {}\nredirect uris:     {}\n\
         post-logout uris:  {}\nscopes:            {}\naudiences:         {}\nservice account:   {}\n\
         first party:       {}\nexchange:          audiences {}; scopes {}; impersonation {}\nrequire PAR:       {}\n\
         require DPoP:      {}\nsigned requests:   {}\njwks_uri:          {}\nback-channel logout: {}\nfront-channel logout: {}\nmetadata:          {}",
        text(&c["name"]),
        id,
        kind(c),
        yes_no(c["disabled"] == true),
        strings(&c["grant_types"]).join(", "),
        list(&c["redirect_uris"]),
        list(&c["post_logout_redirect_uris"]),
        any(&c["allowed_scopes"]),
        any(&c["allowed_audiences"]),
        service_account.as_str().unwrap_or("-"),
        yes_no(c["first_party"] == true),
        list(&c["exchange_audiences"]),
        list(&c["exchange_scopes"]),
        yes_no(c["exchange_impersonation"] == true),
        yes_no(c["require_pushed_authorization_requests"] == true),
        yes_no(c["dpop_bound_access_tokens"] == true),
        yes_no(c["require_signed_request_object"] == true),
        c["jwks_uri"].as_str().unwrap_or("-"),
        c["backchannel_logout_uri"].as_str().unwrap_or("-"),
        c["frontchannel_logout_uri"].as_str().unwrap_or("-"),
        c["metadata"],
    );
    for s in &secrets {
        human.push_str(&format!(
            "\nsecret {}: created {}, expires {}, {}",
            text(&s["id"]),
            s["created_at"],
            s["expires_at"].as_i64().map_or_else(|| "never".to_owned(), |e| e.to_string()),
            if s["active"] == true { "active" } else { "inactive" }
        ));
    }
    output(json_flag, &Value::Object(obj), &human);
    Ok(())
}

/// `tessera client ...`: an unknown id is "no client ID" on either side,
/// as scripts have long matched it.
pub fn client(b: &dyn Backend, cmd: ClientCommand) -> anyhow::Result<()> {
    let id = match &cmd {
        ClientCommand::Show { id, .. }
        | ClientCommand::Disable { id }
        | ClientCommand::Enable { id }
        | ClientCommand::Delete { id } => Some(id.clone()),
        ClientCommand::Update(a) => Some(a.id.clone()),
        ClientCommand::Secret(SecretCommand::Add(a)) => Some(a.client_id.clone()),
        ClientCommand::Secret(SecretCommand::Revoke(_)) | ClientCommand::Create(_) | ClientCommand::List { .. } => None,
    };
    client_command(b, cmd).map_err(|e| match id {
        Some(id) if is_not_found(&e) => anyhow!("no client {id}"),
        _ => e,
    })
}

fn client_command(b: &dyn Backend, cmd: ClientCommand) -> anyhow::Result<()> {
    match cmd {
        ClientCommand::Create(a) => {
            let mut body = ClientFlags {
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
                require_signed_requests: Some(a.require_signed_requests),
                backchannel_logout_uri: a.backchannel_logout_uri,
                frontchannel_logout_uri: a.frontchannel_logout_uri,
            }
            .body()?;
            body.insert("public".into(), json!(a.public));
            let made = b.create(Kind::Clients, body)?;
            let c = &made["client"];
            let secret = made["client_secret"].as_str();
            let mut human =
                format!("created client {} ({})\nclient_id:     {}", text(&c["name"]), kind(c), text(&c["id"]));
            if let Some(s) = secret {
                human.push_str(&format!("\nclient_secret: {s}\n(the secret is shown only now; store it safely)"));
            }
            output(
                a.json,
                &json!({
                    "client_id": c["id"],
                    "client_secret": secret,
                    "name": c["name"],
                    "confidential": c["confidential"],
                    "grant_types": c["grant_types"],
                    "redirect_uris": c["redirect_uris"],
                    "service_account_user_id": c["service_account_user_id"],
                    "first_party": c["first_party"],
                    "exchange": {
                        "audiences": c["exchange_audiences"],
                        "scopes": c["exchange_scopes"],
                        "impersonation": c["exchange_impersonation"],
                    },
                }),
                &human,
            );
        }
        ClientCommand::Secret(SecretCommand::Add(a)) => {
            let s = b.add_secret(&a.client_id, a.overlap)?;
            let (id, secret) = (text(&s["secret"]["id"]), text(&s["client_secret"]));
            output(
                a.json,
                &json!({"client_id": a.client_id, "secret_id": id, "client_secret": secret}),
                &format!("secret {id} added\nclient_secret: {secret}\n(the secret is shown only now)"),
            );
        }
        ClientCommand::Secret(SecretCommand::Revoke(a)) => {
            b.revoke_secret(&a.client_id, &a.secret_id)?;
            println!("secret {} revoked", a.secret_id);
        }
        ClientCommand::List { json } => {
            let clients = b.list(Kind::Clients)?;
            let rows: Vec<Value> = clients
                .iter()
                .map(|c| {
                    json!({"id": c["id"], "name": c["name"], "type": kind(c), "grant_types": c["grant_types"], "disabled": c["disabled"]})
                })
                .collect();
            let human = clients
                .iter()
                .map(|c| {
                    let off = if c["disabled"] == true { "  (disabled)" } else { "" };
                    let grants = strings(&c["grant_types"]).join(",");
                    format!("{}  {:12}  {}  {}{off}", text(&c["id"]), kind(c), text(&c["name"]), grants)
                })
                .collect::<Vec<_>>()
                .join("\n");
            output(json, &json!({"clients": rows}), &human);
        }
        ClientCommand::Show { id, json } => print_client(b, json, &b.get(Kind::Clients, &id)?)?,
        ClientCommand::Update(a) => {
            let patch = ClientFlags {
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
                require_signed_requests: a.require_signed_requests,
                backchannel_logout_uri: a.backchannel_logout_uri,
                frontchannel_logout_uri: a.frontchannel_logout_uri,
            }
            .body()?;
            let saved = b.update(Kind::Clients, &a.id, Value::Object(patch))?;
            print_client(b, a.json, &saved)?;
        }
        ClientCommand::Disable { id } => {
            b.update(Kind::Clients, &id, json!({"disabled": true}))?;
            println!("client {id} disabled; its refresh tokens are revoked");
        }
        ClientCommand::Enable { id } => {
            b.update(Kind::Clients, &id, json!({"disabled": false}))?;
            println!("client {id} enabled");
        }
        ClientCommand::Delete { id } => {
            b.delete(Kind::Clients, &id)?;
            println!("client {id} deleted");
        }
    }
    Ok(())
}

/// `tessera api ...`
pub fn api(b: &dyn Backend, cmd: ApiCommand) -> anyhow::Result<()> {
    match cmd {
        ApiCommand::Create(a) => {
            let mut body = Map::new();
            body.insert("identifier".into(), json!(a.identifier));
            body.insert("name".into(), json!(a.name.unwrap_or_default()));
            body.insert("alg".into(), json!(a.alg));
            body.insert("scopes".into(), json!(a.scopes.as_deref().map(split_list).unwrap_or_default()));
            if let Some(l) = a.lifetime {
                body.insert("token_lifetime_secs".into(), json!(l));
            }
            body.insert("resource_servers".into(), json!(a.resource_servers));
            let made = b.create(Kind::Apis, body)?;
            let (api, secret) = (&made["api"], made["hs256_secret"].as_str());
            let mut human = format!(
                "created API {} ({}, {}s)",
                text(&api["identifier"]),
                text(&api["alg"]),
                api["token_lifetime_secs"]
            );
            if let Some(s) = secret {
                human.push_str(&format!("\nhs256_secret: {s}\n(the secret is shown only now)"));
            }
            output(
                a.json,
                &json!({
                    "id": api["id"],
                    "identifier": api["identifier"],
                    "alg": api["alg"],
                    "scopes": api["scopes"],
                    "token_lifetime_secs": api["token_lifetime_secs"],
                    "resource_servers": api["resource_servers"],
                    "hs256_secret": secret,
                }),
                &human,
            );
        }
        ApiCommand::List { json } => {
            let apis = b.list(Kind::Apis)?;
            let human = apis
                .iter()
                .map(|a| {
                    format!("{}  {}  {}  {}", text(&a["id"]), text(&a["identifier"]), text(&a["alg"]), text(&a["name"]))
                })
                .collect::<Vec<_>>()
                .join("\n");
            output(json, &json!({ "apis": apis }), &human);
        }
        ApiCommand::Show { id, json } => {
            let a = b.get(Kind::Apis, &id)?;
            let human = format!(
                "API {} ({})\nname:              {}\nalg:               {}\nlifetime:          {}s\nscopes:            {}\nresource servers:  {}",
                text(&a["identifier"]),
                text(&a["id"]),
                text(&a["name"]),
                text(&a["alg"]),
                a["token_lifetime_secs"],
                strings(&a["scopes"]).join(", "),
                strings(&a["resource_servers"]).join(", "),
            );
            output(json, &a, &human);
        }
        ApiCommand::Delete { id } => {
            b.delete(Kind::Apis, &id)?;
            println!("API {id} deleted");
        }
    }
    Ok(())
}
