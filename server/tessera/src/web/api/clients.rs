//! `/api/v1/clients`: clients and their secrets, through the console's
//! `service::admin` functions (same validation, same audit events).

use super::bearer::{Bearer, scope};
use super::body::{json_object, parse_fields, patched};
use super::etag::{self, etag_of};
use super::problem::{BodyProblems, GuardProblems, PreconditionProblems, Problem, ProblemBody};
use super::{ListQuery, Reply, blocking, created, no_content, ok};
use crate::service::admin::{self, AdminError, ExchangePolicy, NewClient};
use crate::service::db::{Db, InTx};
use crate::service::management;
use crate::service::precondition::guarded;
use crate::service::views::{ClientDetail, ClientSecretView, ClientView};
use crate::web::AppState;
use crate::web::routes::api as paths;
use actix_web::{HttpRequest, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tessera_protocol::grant::jwt_bearer::TrustedIssuer;
use tessera_store::Store;
use tessera_store::row_lock::Row;
use utoipa::ToSchema;

/// A client as it is created and patched (JSON Merge Patch applies to this
/// shape). Every field is optional on create except `name` and `grant_types`.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(default)]
pub struct ClientBody {
    /// Display name, 1 to 200 characters.
    pub name: String,
    /// A public client (no secret); fixed at creation.
    pub public: bool,
    /// Allowed grant types (`client_credentials`, `authorization_code`, ...).
    pub grant_types: Vec<String>,
    /// Redirect URIs (exact match).
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs (exact match).
    pub post_logout_redirect_uris: Vec<String>,
    /// Allowed scopes; absent or null: any scope an API defines.
    pub allowed_scopes: Option<Vec<String>>,
    /// Allowed audiences; absent or null: any API.
    pub allowed_audiences: Option<Vec<String>>,
    /// Metadata object shown to plugins.
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// Username of the service-account user of its `client_credentials` tokens.
    pub service_account: Option<String>,
    /// The operator's own application: no consent page.
    pub first_party: bool,
    /// Cannot authenticate or start an authorization.
    pub disabled: bool,
    /// APIs it may obtain by token exchange (RFC 8693).
    pub exchange_audiences: Vec<String>,
    /// Scopes it may obtain by token exchange.
    pub exchange_scopes: Vec<String>,
    /// It may exchange without an actor token (impersonation).
    pub exchange_impersonation: bool,
    /// Its authorization requests must be pushed first (RFC 9126).
    pub require_pushed_authorization_requests: bool,
    /// Public keys for `private_key_jwt` (a JWK Set); null: none.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    /// Where its `private_key_jwt` keys are published instead of `jwks`
    /// (https; http only for a loopback host); null: none.
    pub jwks_uri: Option<String>,
    /// Issuers whose assertions it may trade for tokens with the JWT
    /// bearer grant (RFC 7523 §2.1): each `{"issuer", "jwks" or
    /// "jwks_uri", "subject": "user_id" | "username"}`.
    #[schema(value_type = Vec<Object>)]
    pub jwt_bearer_issuers: Vec<TrustedIssuer>,
    /// Every token request must carry a DPoP proof (RFC 9449 §5.2), so its
    /// access tokens are all bound to a key.
    pub dpop_bound_access_tokens: bool,
    /// OpenID Connect Back-Channel Logout §2.2: where a Logout Token is
    /// posted when a browser session it signed in through ends (https;
    /// http for a confidential client); null: none.
    pub backchannel_logout_uri: Option<String>,
    /// RFC 9101 §10.5: its authorization requests count only as signed
    /// request objects (by value or pushed); needs `jwks` or `jwks_uri`.
    pub require_signed_request_object: bool,
    /// OpenID Connect Front-Channel Logout §2: the page of the client the
    /// browser loads when a session it signed in through ends (same scheme,
    /// host and port as a redirect URI); null: none.
    pub frontchannel_logout_uri: Option<String>,
}

/// The fields of [`ClientBody`], for naming an unknown one; also the
/// fields of a client's file in `tessera export` (`commands/export.rs`).
pub const CLIENT_FIELDS: &[&str] = &[
    "name",
    "public",
    "grant_types",
    "redirect_uris",
    "post_logout_redirect_uris",
    "allowed_scopes",
    "allowed_audiences",
    "metadata",
    "service_account",
    "first_party",
    "disabled",
    "exchange_audiences",
    "exchange_scopes",
    "exchange_impersonation",
    "require_pushed_authorization_requests",
    "jwks",
    "jwks_uri",
    "jwt_bearer_issuers",
    "dpop_bound_access_tokens",
    "backchannel_logout_uri",
    "require_signed_request_object",
    "frontchannel_logout_uri",
];

impl ClientBody {
    /// The editable shape of a stored client, which a patch is merged into.
    fn of(d: &ClientDetail) -> ClientBody {
        let c = &d.client;
        ClientBody {
            name: c.name.clone(),
            public: !c.confidential,
            grant_types: c.grant_types.iter().map(|g| g.as_str().to_owned()).collect(),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            allowed_scopes: c.allowed_scopes.clone(),
            allowed_audiences: c.allowed_audiences.clone(),
            metadata: c.metadata.clone(),
            service_account: d.service_account.clone(),
            first_party: c.first_party,
            disabled: c.disabled,
            exchange_audiences: c.exchange_audiences.clone(),
            exchange_scopes: c.exchange_scopes.clone(),
            exchange_impersonation: c.exchange_impersonation,
            require_pushed_authorization_requests: c.require_pushed_authorization_requests,
            jwks: c.jwks.clone(),
            jwks_uri: c.jwks_uri.clone(),
            jwt_bearer_issuers: c.jwt_bearer_issuers.clone(),
            dpop_bound_access_tokens: c.dpop_bound_access_tokens,
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            require_signed_request_object: c.require_signed_request_object,
            frontchannel_logout_uri: c.frontchannel_logout_uri.clone(),
        }
    }

    fn into_new(self) -> NewClient {
        NewClient {
            name: self.name,
            public: self.public,
            grant_types: self.grant_types,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            scopes: self.allowed_scopes,
            audiences: self.allowed_audiences,
            metadata: if self.metadata.is_null() { json!({}) } else { self.metadata },
            service_account: self.service_account,
            first_party: self.first_party,
            disabled: self.disabled,
            exchange: Some(ExchangePolicy {
                audiences: self.exchange_audiences,
                scopes: self.exchange_scopes,
                impersonation: self.exchange_impersonation,
            }),
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            // The body is the whole shape after the merge: null removes the keys.
            jwks: Some(self.jwks.unwrap_or(Value::Null)),
            jwks_uri: Some(self.jwks_uri.unwrap_or_default()),
            jwt_bearer_issuers: Some(self.jwt_bearer_issuers),
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            backchannel_logout_uri: Some(self.backchannel_logout_uri.unwrap_or_default()),
            require_signed_request_object: self.require_signed_request_object,
            frontchannel_logout_uri: Some(self.frontchannel_logout_uri.unwrap_or_default()),
        }
    }
}

/// A page of clients.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientList {
    /// The clients, by name.
    pub items: Vec<ClientView>,
    /// Give it as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// A created client and, for a confidential one, its first secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedClient {
    /// The client.
    pub client: ClientView,
    /// The secret, shown only in this response.
    pub client_secret: Option<String>,
}

/// A client's secrets (hints only).
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretList {
    /// Newest first.
    pub items: Vec<ClientSecretView>,
}

/// Adding a secret.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(default)]
pub struct SecretBody {
    /// Rotation: every other active secret expires this many seconds from
    /// now. Absent: the old secrets stay active.
    pub overlap_secs: Option<i64>,
}

/// A new secret, in plaintext this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedSecret {
    /// The secret's view.
    pub secret: ClientSecretView,
    /// The secret itself, shown only in this response.
    pub client_secret: String,
}

/// A refused client change, its field named as [`ClientBody`] names it.
fn problem(e: AdminError) -> Problem {
    Problem::renamed(e, &[("scopes", "allowed_scopes")])
}

/// The client `id` with its secrets, or 404.
fn detail(state: &AppState, id: &str) -> Result<ClientDetail, Problem> {
    client_detail(&state.store, id, state.oauth.management.now())
}

/// The client `id` with its secrets (as of `now`), or 404.
pub fn client_detail(store: &impl Db, id: &str, now: i64) -> Result<ClientDetail, Problem> {
    admin::client_detail(store, id, now)?.ok_or_else(|| Problem::from(AdminError::NotFound(format!("client {id}"))))
}

/// Creates a client from a create body: the one path of `POST /clients`
/// and of the CLI's local backend.
pub fn create_client(store: &Store, actor: &str, now: i64, body: Map<String, Value>) -> Result<CreatedClient, Problem> {
    let body: ClientBody = parse_fields(body, CLIENT_FIELDS)?;
    let (client, secret) = admin::create_client(store, actor, now, body.into_new()).map_err(problem)?;
    Ok(CreatedClient { client: ClientView::from(client), client_secret: secret.map(|s| s.expose().to_owned()) })
}

/// Applies a merge patch to client `id`: the one path of `PATCH
/// /clients/{id}` (inside the transaction that checked its `If-Match`) and
/// of the CLI's local backend.
pub fn patch_client(store: &impl Db, actor: &str, now: i64, id: &str, patch: &Value) -> Result<ClientView, Problem> {
    let d = client_detail(store, id, now)?;
    let body = patched(&ClientBody::of(&d), patch, CLIENT_FIELDS)?;
    let mut changed = ClientView::from(admin::update_client(store, actor, now, id, body.into_new()).map_err(problem)?);
    // A patch cannot register a client or undo its registration: the view
    // (and so its ETag) says what a read of it says.
    changed.self_registered = d.client.self_registered;
    Ok(changed)
}

/// Lists clients, by name (`prefix` filters the name).
#[utoipa::path(
    tag = "clients",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of clients", body = ClientList),
        (status = 400, description = "A bad limit or cursor", body = ProblemBody, content_type = "application/problem+json"),
        GuardProblems,
    ),
    security(("bearer" = ["read:clients"]))
)]
#[get("/clients")]
async fn list(_auth: Bearer<scope::ReadClients>, state: web::Data<AppState>, q: web::Query<ListQuery>) -> Reply {
    let req = q.into_inner().into();
    let page = blocking(move || management::clients_page(&state.store, &req).map_err(Problem::from)).await?;
    ok(&ClientList { items: page.items, next_cursor: page.next_cursor }, None)
}

/// Creates a client; a confidential one's secret is in the response, once.
#[utoipa::path(
    tag = "clients",
    request_body(content = ClientBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; Location names it", body = CreatedClient),
        (status = 400, description = "A field is invalid", body = ProblemBody, content_type = "application/problem+json"),
        GuardProblems,
        BodyProblems,
    ),
    security(("bearer" = ["write:clients"]))
)]
#[post("/clients")]
async fn create(
    auth: Bearer<scope::WriteClients>,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let body = json_object(&req, payload, false).await?;
    let actor = auth.audit_name();
    let created_client = blocking(move || {
        let now = state.oauth.management.now();
        create_client(&state.store, &actor, now, body)
    })
    .await?;
    created(&paths::client(&created_client.client.id), &created_client)
}

/// One client.
#[utoipa::path(
    tag = "clients",
    params(("id" = String, Path, description = "The client_id")),
    responses(
        (status = 200, description = "The client; ETag for If-Match", body = ClientView,
            headers(("ETag" = String, description = "The version to send as If-Match"))),
        GuardProblems,
        (status = 404, description = "No such client", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read:clients"]))
)]
#[get("/clients/{id}")]
async fn show(_auth: Bearer<scope::ReadClients>, state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let d = blocking(move || detail(&state, &id)).await?;
    let tag = etag_of(&d.client)?;
    ok(&d.client, Some(tag))
}

/// Changes a client by JSON Merge Patch (RFC 7396) of its [`ClientBody`];
/// `If-Match` must carry the ETag of the last read.
#[utoipa::path(
    tag = "clients",
    params(("id" = String, Path, description = "The client_id"),
        ("If-Match" = String, Header, description = "The ETag of the last read")),
    request_body(content = ClientBody, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed client", body = ClientView,
            headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "A field is invalid or unknown", body = ProblemBody, content_type = "application/problem+json"),
        GuardProblems,
        (status = 404, description = "No such client", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The change contradicts the client (its type)", body = ProblemBody, content_type = "application/problem+json"),
        PreconditionProblems,
        BodyProblems,
    ),
    security(("bearer" = ["write:clients"]))
)]
#[patch("/clients/{id}")]
async fn update(
    auth: Bearer<scope::WriteClients>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let if_match = etag::required_if_match(&req)?;
    let patch = Value::Object(json_object(&req, payload, true).await?);
    let actor = auth.audit_name();
    let client = blocking(move || {
        let now = state.oauth.management.now();
        let view = |db: &InTx<'_>| Ok::<_, Problem>(client_detail(db, &id, now)?.client);
        guarded(&state.store, Row::Client(&id), &if_match, view, |db| patch_client(db, &actor, now, &id, &patch))
    })
    .await?;
    let tag = etag_of(&client)?;
    ok(&client, Some(tag))
}

/// Deletes a client with its secrets and grants.
#[utoipa::path(
    tag = "clients",
    params(("id" = String, Path, description = "The client_id"),
        ("If-Match" = String, Header, description = "The ETag of the last read")),
    responses(
        (status = 204, description = "Deleted"),
        GuardProblems,
        (status = 404, description = "No such client", body = ProblemBody, content_type = "application/problem+json"),
        PreconditionProblems,
    ),
    security(("bearer" = ["write:clients"]))
)]
#[delete("/clients/{id}")]
async fn remove(
    auth: Bearer<scope::WriteClients>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Reply {
    let if_match = etag::required_if_match(&req)?;
    let actor = auth.audit_name();
    blocking(move || {
        let now = state.oauth.management.now();
        let view = |db: &InTx<'_>| Ok::<_, Problem>(client_detail(db, &id, now)?.client);
        guarded(&state.store, Row::Client(&id), &if_match, view, |db| Ok(admin::delete_client(db, &actor, now, &id)?))
    })
    .await?;
    no_content()
}

/// A client's secrets, newest first (hints, never the secrets).
#[utoipa::path(
    tag = "clients",
    params(("id" = String, Path, description = "The client_id")),
    responses(
        (status = 200, description = "The secrets", body = SecretList),
        GuardProblems,
        (status = 404, description = "No such client", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read:clients"]))
)]
#[get("/clients/{id}/secrets")]
async fn secrets(_auth: Bearer<scope::ReadClients>, state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let d = blocking(move || detail(&state, &id)).await?;
    ok(&SecretList { items: d.secrets }, None)
}

/// Adds a secret to a confidential client (with `overlap_secs`, a rotation).
#[utoipa::path(
    tag = "clients",
    params(("id" = String, Path, description = "The client_id")),
    request_body(content = SecretBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; the secret is shown only now", body = CreatedSecret),
        (status = 400, description = "A field is invalid", body = ProblemBody, content_type = "application/problem+json"),
        GuardProblems,
        (status = 404, description = "No such client", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "A public client has no secrets", body = ProblemBody, content_type = "application/problem+json"),
        BodyProblems,
    ),
    security(("bearer" = ["write:clients"]))
)]
#[post("/clients/{id}/secrets")]
async fn add_secret(
    auth: Bearer<scope::WriteClients>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let body: SecretBody = parse_fields(json_object(&req, payload, false).await?, &["overlap_secs"])?;
    let actor = auth.audit_name();
    let (row, secret, id) = blocking(move || {
        let now = state.oauth.management.now();
        let (row, secret) = admin::add_client_secret(&state.store, &actor, now, &id, body.overlap_secs)?;
        Ok((ClientSecretView::of(row, now), secret, id.into_inner()))
    })
    .await?;
    let location = paths::client_secret(&id, &row.id);
    created(&location, &CreatedSecret { secret: row, client_secret: secret.expose().to_owned() })
}

/// The secret `secret` of client `id` (as of `now`), or 404.
fn find_secret(store: &impl Db, now: i64, id: &str, secret: &str) -> Result<ClientSecretView, Problem> {
    client_detail(store, id, now)?
        .secrets
        .into_iter()
        .find(|s| s.id == secret)
        .ok_or_else(|| Problem::from(AdminError::NotFound(format!("secret {secret} of client {id}"))))
}

/// One secret of a client (its hint and state).
#[utoipa::path(
    tag = "clients",
    params(("id" = String, Path, description = "The client_id"), ("secret_id" = String, Path, description = "The secret's id")),
    responses(
        (status = 200, description = "The secret's view; ETag for If-Match", body = ClientSecretView,
            headers(("ETag" = String, description = "The version to send as If-Match"))),
        GuardProblems,
        (status = 404, description = "No such client or secret", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read:clients"]))
)]
#[get("/clients/{id}/secrets/{secret_id}")]
async fn show_secret(
    _auth: Bearer<scope::ReadClients>,
    state: web::Data<AppState>,
    ids: web::Path<(String, String)>,
) -> Reply {
    let (id, secret) = ids.into_inner();
    let s = blocking(move || find_secret(&state.store, state.oauth.management.now(), &id, &secret)).await?;
    let tag = etag_of(&s)?;
    ok(&s, Some(tag))
}

/// Revokes a secret at once.
#[utoipa::path(
    tag = "clients",
    params(("id" = String, Path, description = "The client_id"), ("secret_id" = String, Path, description = "The secret's id"),
        ("If-Match" = String, Header, description = "The ETag of the last read")),
    responses(
        (status = 204, description = "Revoked"),
        GuardProblems,
        (status = 404, description = "No such client or secret", body = ProblemBody, content_type = "application/problem+json"),
        PreconditionProblems,
    ),
    security(("bearer" = ["write:clients"]))
)]
#[delete("/clients/{id}/secrets/{secret_id}")]
async fn revoke_secret(
    auth: Bearer<scope::WriteClients>,
    state: web::Data<AppState>,
    ids: web::Path<(String, String)>,
    req: HttpRequest,
) -> Reply {
    let if_match = etag::required_if_match(&req)?;
    let (id, secret) = ids.into_inner();
    let actor = auth.audit_name();
    blocking(move || {
        let now = state.oauth.management.now();
        guarded(
            &state.store,
            Row::ClientSecret(&secret),
            &if_match,
            |db| find_secret(db, now, &id, &secret),
            |db| Ok(admin::revoke_client_secret(db, &actor, now, &id, &secret)?),
        )
    })
    .await?;
    no_content()
}

/// Mounts the client operations.
pub fn register<T>(scope: utoipa_actix_web::scope::Scope<T>) -> utoipa_actix_web::scope::Scope<T>
where
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Error = actix_web::Error,
            InitError = (),
        >,
{
    scope
        .service(list)
        .service(create)
        .service(show)
        .service(update)
        .service(remove)
        .service(secrets)
        .service(add_secret)
        .service(show_secret)
        .service(revoke_secret)
}
