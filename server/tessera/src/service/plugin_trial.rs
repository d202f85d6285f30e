//! The plugin test panel of the console and `tessera plugin run`: one run
//! of one plugin version outside the token path ([`trial_run`]), on a
//! sample context built as a real token request of the chosen grant,
//! client, user and API would build it ([`sample_context`],
//! [`test_choices`]), with what a 0.2.0 plugin may fetch there
//! ([`trial_grant`]; for an administrator who may not change bindings, only
//! what a binding already allows). Nothing here writes: a trial is not a
//! change.

use super::admin::AdminError;
use super::oauth::issuer::{self, HookInput, IdTokenRequest};
use super::oauth::management::ManagementScope;
use super::pipeline::{self, TOKEN_TRIGGER};
use super::plugins::{http_allow, invalid};
use super::roles::Role;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use tessera_plugin_host::{
    AllowListError, AllowedPrefix, HttpExchange, HttpGrant, LogLine, PluginHost, PluginSecrets, PluginVerdict,
    TokenContext, UserSource,
};
use tessera_protocol::grant::{
    TokenPlan, client_credentials, jwt_bearer, password, plan_for_api, refresh_token, token_exchange, user_plan,
};
use tessera_protocol::model::{ApiProfile, GrantType, SigningAlg};
use tessera_protocol::secret::PlainSecret;
use tessera_protocol::{ApiId, Audience, ErrorCode, OAuthError, ScopeSet, UserId};
use tessera_store::apis;
use tessera_store::clients::{self, Client, ExchangePolicy};
use tessera_store::plugins;
use tessera_store::users::{self, User};
use tessera_store::{Store, StoreError};

/// What a trial run produced: the claims as they would be after this one
/// plugin, its logs and its duration, as `tessera plugin run` prints them
/// (serialized) and the console's test panel shows them.
#[derive(Debug, serde::Serialize)]
pub struct TrialRun {
    /// `ok`, `denied`, or the failure code (`trap`, `deadline`, ...).
    pub outcome: String,
    /// Null when ok; the denial's OAuth error object; the failure's text.
    pub error: Value,
    /// The plugin's validated decision, when it made one.
    pub verdict: Option<PluginVerdict>,
    /// Access-token claims after the plugin.
    pub access_token_claims: Map<String, Value>,
    /// ID-token claims after the plugin, when the context has an ID token.
    pub id_token_claims: Option<Map<String, Value>>,
    /// Granted scopes after the plugin's drops.
    pub granted_scopes: Vec<String>,
    /// What the plugin logged.
    pub logs: Vec<LogLine>,
    /// The requests a 0.2.0 plugin made (`http.fetch`), allowed or refused.
    pub http: Vec<HttpExchange>,
    /// Host-side duration of the call.
    pub duration_us: u64,
    /// The component's sha256.
    pub sha256: String,
}

/// What a trial run lets a 0.2.0 plugin fetch: the URL prefixes an author
/// names (`plugin run` / `plugin test --http-allow`, checked as a binding's
/// allow-list is), the context's secrets for secret headers, no cache.
pub fn trial_grant(allow: &[String], secrets: PluginSecrets) -> Result<Arc<HttpGrant>, AllowListError> {
    let allow = allow.iter().map(|a| AllowedPrefix::parse(a)).collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(HttpGrant { binding_id: "trial".into(), allow, cache_ttl: None, secrets }))
}

/// Runs a plugin once on `ctx` with the production host, a 0.2.0 plugin's
/// requests limited by `http`; see [`TrialRun`].
pub fn trial_run(
    host: &PluginHost,
    sha256: &str,
    wasm: impl FnOnce() -> Result<Vec<u8>, String>,
    ctx: &TokenContext,
    declared: Option<&[String]>,
    http: Arc<HttpGrant>,
) -> TrialRun {
    let run = host.call_with_http(sha256, wasm, ctx, declared, http);
    let mut access = ctx.access_token_claims.clone();
    let mut id = ctx.id_token_claims.clone();
    let mut granted = ctx.granted_scopes.clone();
    let (outcome, error) = match &run.outcome {
        // The host already filtered the claims (`verdict.rs`): apply them as they are.
        Ok(PluginVerdict::Allow(p)) => {
            p.access().apply_to(&mut access);
            if let Some(claims) = id.as_mut() {
                p.id().apply_to(claims);
            }
            granted.retain(|s| !p.drop_scopes().contains(s));
            ("ok".to_owned(), Value::Null)
        }
        Ok(PluginVerdict::Deny { code, description }) => {
            ("denied".to_owned(), json!({"error": code.as_str(), "error_description": description}))
        }
        Err(f) => (f.code().to_owned(), json!(f.to_string())),
    };
    TrialRun {
        outcome,
        error,
        verdict: run.outcome.ok(),
        access_token_claims: access,
        id_token_claims: id,
        granted_scopes: granted,
        logs: run.logs,
        http: run.http,
        duration_us: u64::try_from(run.duration.as_micros()).unwrap_or(u64::MAX),
        sha256: sha256.to_owned(),
    }
}

/// The client of the test panel when none is chosen: confidential and
/// allowed every grant the panel offers, with no other restriction.
fn sample_client() -> Client {
    Client {
        id: "sample-client".into(),
        name: "Sample client".into(),
        confidential: true,
        grant_types: GrantType::all_advertised(),
        redirect_uris: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        allowed_scopes: None,
        allowed_audiences: None,
        metadata: json!({}),
        service_account_user_id: None,
        first_party: true,
        disabled: false,
        exchange: ExchangePolicy::default(),
        require_pushed_authorization_requests: false,
        jwks: None,
        jwks_uri: None,
        backchannel_logout_uri: None,
        jwt_bearer_issuers: Vec::new(),
        dpop_bound_access_tokens: false,
        require_signed_request_object: false,
        frontchannel_logout_uri: None,
        created_at: 0,
        updated_at: 0,
    }
}

/// The API of the test panel when the audience names none: no scopes.
fn sample_api(audience: &str) -> ApiProfile {
    let audience = if audience.is_empty() { "https://api.example" } else { audience };
    ApiProfile {
        id: ApiId::new("sample-api"),
        audience: Audience::new(audience),
        alg: SigningAlg::RS256,
        token_lifetime_secs: 300,
        scopes: ScopeSet::default(),
    }
}

/// Where the user of a token of `grant` comes from, as the token and
/// authorization endpoints say it (`service/oauth/token.rs`, `authorize.rs`).
fn user_source(grant: GrantType) -> UserSource {
    match grant {
        GrantType::ClientCredentials => UserSource::ServiceAccount,
        GrantType::TokenExchange => UserSource::Impersonated,
        GrantType::AuthorizationCode
        | GrantType::Implicit
        | GrantType::Password
        | GrantType::RefreshToken
        | GrantType::DeviceCode
        | GrantType::JwtBearer => UserSource::SignedIn,
    }
}

/// The plan of a token of `grant`, decided by the grant's own rule in
/// `tessera_protocol::grant` for a request that names `api` and omits
/// `scope` (so every scope the client may have). The browser grants (and
/// the device grant, approved in the browser) ask for `openid profile`
/// besides, as a sign-in does, and come with an ID token (the `bool`). A refresh keeps the scopes of the grant it came
/// from; token exchange impersonates `user` with a subject token that has
/// the API's lifetime left.
fn panel_plan(
    grant: GrantType,
    client: &Client,
    api: &ApiProfile,
    user: Option<&User>,
    now: i64,
) -> Result<(TokenPlan, bool), OAuthError> {
    let profile = client.profile();
    let audience = api.audience.clone();
    let user_id =
        || user.map(|u| u.id.clone()).ok_or_else(|| OAuthError::invalid_request("this grant issues tokens for a user"));
    match grant {
        GrantType::ClientCredentials => {
            let req = client_credentials::Request { scope: None, audience };
            Ok((client_credentials::decide(&req, &profile, Some(api))?, false))
        }
        GrantType::Password => {
            let username = user.map(|u| u.username.clone()).unwrap_or_default();
            let req = password::Request { username, password: PlainSecret::received(""), scope: None, audience };
            Ok((password::decide(&req, &profile, Some(api), &UserId::new(user_id()?))?, false))
        }
        GrantType::JwtBearer => {
            let req = jwt_bearer::Request { assertion: String::new(), scope: None, audience };
            Ok((jwt_bearer::decide(&req, &profile, Some(api), &UserId::new(user_id()?))?, false))
        }
        GrantType::RefreshToken => {
            let first = plan_for_api(grant, user_id()?, None, &audience, &profile, Some(api))?;
            let stored = refresh_token::Stored {
                client_id: client.id.clone(),
                scopes: first.scopes,
                absolute_expires_at: now + api.token_lifetime_secs,
                idle_expires_at: now + api.token_lifetime_secs,
                used: false,
                revoked: false,
            };
            let scopes = refresh_token::decide(&stored, &profile, None, now).map_err(|r| r.error)?;
            Ok((user_plan(grant, &user_id()?, &client.id, api, scopes), false))
        }
        GrantType::AuthorizationCode | GrantType::Implicit | GrantType::DeviceCode => {
            if !profile.allows_grant(grant) {
                return Err(OAuthError::new(
                    ErrorCode::UnauthorizedClient,
                    format!("{grant} is not allowed for this client"),
                ));
            }
            let api_part = plan_for_api(grant, String::new(), None, &audience, &profile, Some(api))?;
            let scopes = ScopeSet::from_tokens(["openid", "profile"].into_iter().chain(api_part.scopes.iter()));
            Ok((user_plan(grant, &user_id()?, &client.id, api, scopes), true))
        }
        GrantType::TokenExchange => {
            token_exchange::check_client(&profile)?;
            let subject_token = token_exchange::PresentedToken {
                token: PlainSecret::received(""),
                token_type: token_exchange::TokenType::AccessToken,
            };
            let req = token_exchange::Request { subject: subject_token, actor: None, audience, scope: None };
            let mut claims = Map::new();
            claims.insert("exp".into(), json!(now + api.token_lifetime_secs));
            let subject = token_exchange::Subject { user_id: user_id()?, claims };
            let exchange =
                token_exchange::decide(&req, &profile, &client.exchange.profile(), Some(api), &subject, None, now)?;
            Ok((exchange.plan, false))
        }
    }
}

/// The test panel's context and what would make it differ from a real
/// token: the context a bound plugin gets for a token of `grant` to
/// `client` (the sample client if `None`) for `user` and `api`, built as
/// the issuer builds it: the plan from the grant's rule ([`panel_plan`]),
/// the claims from `issuer::claims_before_plugins`, the context from
/// `pipeline::context`. So `sub`, `aud`, `scope`, `client_id`, the user and
/// its source agree with production; only `iat`, `nbf`, `exp` and `jti`
/// differ. When a real request would be refused, the context is built
/// from the plan without the rule's checks and the second value says why.
pub fn sample_context(
    issuer: &str,
    grant: GrantType,
    client: Option<&Client>,
    user: Option<&User>,
    api: &ApiProfile,
    now: i64,
) -> (TokenContext, Option<String>) {
    let sample = sample_client();
    let client = client.unwrap_or(&sample);
    let (plan, with_id, refusal) = match panel_plan(grant, client, api, user, now) {
        Ok((plan, with_id)) => (plan, with_id, None),
        Err(e) => {
            // As the grant's rule would set `sub`: the client for client credentials, else the user.
            let subject = match (grant, user) {
                (GrantType::ClientCredentials, _) | (_, None) => client.id.as_str(),
                (_, Some(u)) => u.id.as_str(),
            };
            let plan = user_plan(grant, subject, &client.id, api, api.scopes.clone());
            let browser = matches!(grant, GrantType::AuthorizationCode | GrantType::Implicit);
            (plan, browser, Some(format!("A real token request would be refused ({}): {}", e.code, e.description)))
        }
    };
    // A sample sign-in by password (a second factor would say `pwd otp mfa`).
    let amr = Some(crate::service::user_second_factor::AMR_PASSWORD);
    let id_request = with_id.then_some(IdTokenRequest { nonce: None, auth_time: now, sid: None, amr });
    let id_input = issuer::id_token_input(issuer, &plan, client, user, id_request.as_ref(), now);
    let (access, id) = issuer::claims_before_plugins(issuer, &plan, user, id_input.as_ref(), now, "sample-jti");
    let input = HookInput {
        plan: &plan,
        client,
        user: user.map(|u| (u, user_source(grant))),
        access_claims: &access,
        id_claims: id.as_ref(),
    };
    (pipeline::context(&input), refusal)
}

/// The test panel's choices for a plugin: its version numbers, the clients
/// as (id, name), and a sample context for the chosen grant, client and user.
#[derive(Debug)]
pub struct TestChoices {
    /// Version numbers, newest first.
    pub versions: Vec<i32>,
    /// Clients as (id, name).
    pub clients: Vec<(String, String)>,
    /// The sample context.
    pub context: TokenContext,
    /// The audience it was built for.
    pub audience: String,
    /// Why the typed username was not used (no such user).
    pub unknown_user: Option<String>,
    /// How a real token for these choices would differ from the sample:
    /// refused, or without the typed user (client credentials speak for the
    /// client's service account only).
    pub notice: Option<String>,
}

/// What an admin chose in the test panel to build a context from.
#[derive(Debug)]
pub struct TestRequest<'a> {
    /// The grant type's wire name.
    pub grant: &'a str,
    /// The client's id; `None` or empty for the sample client.
    pub client_id: Option<&'a str>,
    /// The user's username, or empty.
    pub username: &'a str,
    /// The API's audience; empty for the first API.
    pub audience: String,
}

/// The test panel's choices for the plugin `name` (`None` if it does not
/// exist). A username that does not exist is reported in `unknown_user`,
/// and the sample is built without a user. The context is the one a real
/// token request for the same choices hands a bound plugin
/// ([`sample_context`]); a client credentials token speaks for the
/// client's service account, whatever username was typed.
pub fn test_choices(
    store: &Store,
    issuer: &str,
    name: &str,
    chosen: &TestRequest<'_>,
    now: i64,
) -> Result<Option<TestChoices>, StoreError> {
    let (grant, client_id, username) = (chosen.grant, chosen.client_id, chosen.username);
    let audience = chosen.audience.clone();
    let mut c = store.conn()?;
    let Some(plugin) = plugins::find_by_name(&mut c, name)? else { return Ok(None) };
    let versions: Vec<i32> = plugins::versions(&mut c, &plugin.id)?.into_iter().map(|v| v.version).collect();
    let clients: Vec<(String, String)> =
        clients::list(&mut c, 0, 200)?.into_iter().map(|cl| (cl.id, cl.name)).collect();
    let client = match client_id.filter(|s| !s.is_empty()) {
        Some(id) => clients::find(&mut c, id)?,
        None => None,
    };
    let mut notices = Vec::new();
    let grant_type = grant.parse::<GrantType>().unwrap_or_else(|e| {
        notices.push(e.to_string());
        GrantType::ClientCredentials
    });
    let mut unknown_user = None;
    let typed = match username {
        "" => None,
        u => {
            let found = users::find_by_username(&mut c, u)?;
            if found.is_none() {
                unknown_user = Some(format!("no user named {u:?}"));
            }
            found
        }
    };
    // Client credentials speak for the client's service account (enabled), and for nobody else.
    let user = match grant_type {
        GrantType::ClientCredentials => {
            if typed.is_some() {
                notices.push("A client_credentials token has no user but the client's service account: the username is not used.".to_owned());
            }
            match client.as_ref().and_then(|cl| cl.service_account_user_id.as_deref()) {
                Some(uid) => users::find(&mut c, uid)?.filter(|u| !u.disabled),
                None => None,
            }
        }
        _ => typed,
    };
    if user.as_ref().is_some_and(|u| u.disabled) {
        notices.push("This user is disabled: a real token request would be refused.".to_owned());
    }
    let audience = if audience.is_empty() {
        apis::page(&mut c, 0, 1)?.into_iter().next().map(|a| a.identifier).unwrap_or_default()
    } else {
        audience
    };
    let api = match apis::find_by_identifier(&mut c, &audience)? {
        Some(a) => a.profile(),
        None => {
            notices.push(format!("No API has the audience {audience:?}: a real token request would be refused."));
            sample_api(&audience)
        }
    };
    drop(c);
    let (context, refusal) = sample_context(issuer, grant_type, client.as_ref(), user.as_ref(), &api, now);
    notices.extend(refusal);
    let notice = (!notices.is_empty()).then(|| notices.join(" "));
    Ok(Some(TestChoices { versions, clients, context, audience, unknown_user, notice }))
}

/// Refuses an entry of a test panel's allow-list that no binding's
/// allow-list covers ([`AllowedPrefix::covers`]), naming it. The panel
/// makes the server fetch what the list names: an administrator who may not
/// change bindings could otherwise make it fetch any https URL or loopback
/// service (server-side request forgery), so they may only test against
/// what some binding already allows.
fn within_bindings(conn: &mut tessera_store::DbConn, allow: &[String]) -> Result<(), AdminError> {
    if allow.is_empty() {
        return Ok(());
    }
    let bound: Vec<AllowedPrefix> = plugins::bindings_for_trigger(conn, TOKEN_TRIGGER)?
        .iter()
        .flat_map(|b| b.http_allow.iter().filter_map(|e| AllowedPrefix::parse(e).ok()))
        .collect();
    for entry in allow {
        let asked = AllowedPrefix::parse(entry).map_err(|e| invalid("http-allow", e.to_string()))?;
        if !bound.iter().any(|b| b.covers(&asked)) {
            return Err(invalid(
                "http-allow",
                format!(
                    "{entry:?} is not under a URL prefix that a binding allows; without the right to change \
                     bindings, the test panel fetches only what a binding already allows"
                ),
            ));
        }
    }
    Ok(())
}

/// Runs version `number` of the plugin `name` on `ctx`, as a binding would
/// (the test panel); a 0.2.0 plugin may fetch what `allow` names, and for a
/// `role` without `write:bindings` only what a binding already allows
/// (`within_bindings`).
pub fn trial_run_version(
    store: &Store,
    host: &PluginHost,
    name: &str,
    number: i32,
    ctx: &TokenContext,
    allow: &[String],
    role: Role,
) -> Result<TrialRun, AdminError> {
    // Checked as a binding's allow-list is, so the panel refuses what a
    // binding would; secret headers come from the context's `secrets`.
    let allow = http_allow(allow)?;
    if !role.allows(ManagementScope::WriteBindings) {
        within_bindings(&mut *store.conn()?, &allow)?;
    }
    let http = trial_grant(&allow, ctx.secrets.clone()).map_err(|e| invalid("http-allow", e.to_string()))?;
    let (version, declared) = {
        let mut c = store.conn()?;
        let plugin =
            plugins::find_by_name(&mut c, name)?.ok_or_else(|| StoreError::NotFound(format!("plugin {name:?}")))?;
        let v = plugins::version_by_number(&mut c, &plugin.id, Some(number))?
            .ok_or_else(|| StoreError::NotFound(format!("version {number}")))?;
        let declared = v.declared()?;
        (v, declared)
    };
    let loader =
        || plugins::wasm(&mut *store.conn().map_err(|e| e.to_string())?, &version.id).map_err(|e| e.to_string());
    Ok(trial_run(host, &version.sha256, loader, ctx, declared.as_deref(), http))
}
