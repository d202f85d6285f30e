//! `/api/v1/apis`: APIs (resource servers), through the console's
//! `service::admin` functions (same validation, same audit events).

use super::bearer::{Bearer, scope};
use super::body::{json_object, parse_fields, patched};
use super::etag::{self, etag_of};
use super::problem::{BodyProblems, GuardProblems, PreconditionProblems, Problem, ProblemBody};
use super::{ListQuery, Reply, blocking, created, no_content, ok};
use crate::crypto::MasterKey;
use crate::service::admin::{self, AdminError, ApiEdit, NewApi};
use crate::service::db::Db;
use crate::service::management;
use crate::service::precondition::guarded;
use crate::service::views::ApiView;
use crate::web::AppState;
use crate::web::routes::api as paths;
use actix_web::{HttpRequest, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use tessera_protocol::model::{SigningAlg, UnsupportedAlg};
use tessera_store::Store;
use tessera_store::row_lock::Row;
use utoipa::ToSchema;

/// An API as it is created and patched (JSON Merge Patch applies to this
/// shape). `identifier` is required on create and cannot change.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(default)]
pub struct ApiBody {
    /// The audience its tokens carry (a URI is recommended).
    pub identifier: String,
    /// Display name; empty: the identifier.
    pub name: String,
    /// RS256 (default), ES256, EdDSA or HS256 (whose shared secret the
    /// create response shows once).
    pub alg: String,
    /// Access-token lifetime, seconds; absent: the server's default.
    pub token_lifetime_secs: Option<i64>,
    /// Scopes it defines.
    pub scopes: Vec<String>,
    /// Client ids of its resource servers (they may introspect its tokens).
    pub resource_servers: Vec<String>,
    /// What each scope lets a client do, by scope (at most 200 characters,
    /// shown on the consent page); only scopes the API defines; an empty
    /// text removes a description.
    pub scope_descriptions: BTreeMap<String, String>,
}

const API_FIELDS: &[&str] =
    &["identifier", "name", "alg", "token_lifetime_secs", "scopes", "resource_servers", "scope_descriptions"];

impl ApiBody {
    fn of(a: &ApiView) -> ApiBody {
        ApiBody {
            identifier: a.identifier.clone(),
            name: a.name.clone(),
            alg: a.alg.clone(),
            token_lifetime_secs: Some(a.token_lifetime_secs),
            scopes: a.scopes.clone(),
            resource_servers: a.resource_servers.clone(),
            scope_descriptions: a.scope_descriptions.clone(),
        }
    }

    fn alg(&self) -> Result<SigningAlg, Problem> {
        if self.alg.is_empty() {
            return Ok(SigningAlg::RS256);
        }
        self.alg.parse().map_err(|e: UnsupportedAlg| Problem::field("alg", e.to_string()))
    }
}

/// A page of APIs.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiList {
    /// The APIs, by identifier.
    pub items: Vec<ApiView>,
    /// Give it as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// A created API and, for HS256, its shared secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApi {
    /// The API.
    pub api: ApiView,
    /// The HS256 shared secret, shown only in this response.
    pub hs256_secret: Option<String>,
}

/// The API `id`, or 404.
pub fn find(store: &impl Db, id: &str) -> Result<ApiView, Problem> {
    admin::find_api(store, id)?.ok_or_else(|| Problem::from(AdminError::NotFound(format!("api {id}"))))
}

/// Creates an API from a create body (`default_lifetime_secs` when it
/// names none): the one path of `POST /apis` and of the CLI's local backend.
pub fn create_api(
    store: &Store,
    master: &MasterKey,
    actor: &str,
    now: i64,
    default_lifetime_secs: i64,
    body: Map<String, Value>,
) -> Result<CreatedApi, Problem> {
    let mut body: ApiBody = parse_fields(body, API_FIELDS)?;
    if let Some(unknown) = body.scope_descriptions.keys().find(|s| !body.scopes.contains(s)) {
        return Err(Problem::field("scope_descriptions", format!("{unknown} is not a scope of this API")));
    }
    let descriptions = std::mem::take(&mut body.scope_descriptions);
    let new = NewApi {
        alg: body.alg()?,
        identifier: body.identifier,
        name: Some(body.name),
        token_lifetime_secs: body.token_lifetime_secs.unwrap_or(default_lifetime_secs),
        scopes: body.scopes,
        resource_servers: body.resource_servers,
    };
    admin::check_scope_descriptions(&descriptions)?;
    let (api, secret) = admin::create_api(store, master, actor, now, new)?;
    if !descriptions.is_empty() {
        admin::describe_scopes(store, actor, now, &api.id, descriptions)?;
    }
    Ok(CreatedApi { api: find(store, &api.id)?, hs256_secret: secret })
}

/// Applies a merge patch to API `id`: the one path of `PATCH /apis/{id}`
/// (inside the transaction that checked its `If-Match`) and of the CLI's
/// local backend.
pub fn patch_api(store: &impl Db, actor: &str, now: i64, id: &str, patch: &Value) -> Result<ApiView, Problem> {
    let current = find(store, id)?;
    let body = patched(&ApiBody::of(&current), patch, API_FIELDS)?;
    if body.identifier != current.identifier {
        return Err(Problem::field("identifier", "cannot change: tokens already carry it as their audience"));
    }
    let edit = ApiEdit {
        alg: body.alg()?,
        name: body.name,
        token_lifetime_secs: body.token_lifetime_secs.unwrap_or(current.token_lifetime_secs),
        scopes: body.scopes,
        resource_servers: body.resource_servers,
    };
    admin::update_api(store, actor, now, id, edit)?;
    // Descriptions of scopes the patch drops go with them (update_api);
    // new ones are stored once the scopes they describe exist.
    let described = patch.get("scope_descriptions").is_some();
    if described && body.scope_descriptions != current.scope_descriptions {
        admin::describe_scopes(store, actor, now, id, body.scope_descriptions)?;
    }
    find(store, id)
}

/// Lists APIs, by identifier (`prefix` filters the identifier).
#[utoipa::path(
    tag = "apis",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of APIs", body = ApiList),
        (status = 400, description = "A bad limit or cursor", body = ProblemBody, content_type = "application/problem+json"),
        GuardProblems,
    ),
    security(("bearer" = ["read:apis"]))
)]
#[get("/apis")]
async fn list(_auth: Bearer<scope::ReadApis>, state: web::Data<AppState>, q: web::Query<ListQuery>) -> Reply {
    let req = q.into_inner().into();
    let page = blocking(move || management::apis_page(&state.store, &req).map_err(Problem::from)).await?;
    ok(&ApiList { items: page.items, next_cursor: page.next_cursor }, None)
}

/// Creates an API.
#[utoipa::path(
    tag = "apis",
    request_body(content = ApiBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; Location names it", body = CreatedApi),
        (status = 400, description = "A field is invalid", body = ProblemBody, content_type = "application/problem+json"),
        GuardProblems,
        (status = 409, description = "The identifier is taken", body = ProblemBody, content_type = "application/problem+json"),
        BodyProblems,
    ),
    security(("bearer" = ["write:apis"]))
)]
#[post("/apis")]
async fn create(
    auth: Bearer<scope::WriteApis>,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let body = json_object(&req, payload, false).await?;
    let actor = auth.audit_name();
    let made = blocking(move || {
        let now = state.oauth.management.now();
        create_api(&state.store, state.keys.master(), &actor, now, state.admin.api_lifetime_secs, body)
    })
    .await?;
    created(&paths::api(&made.api.id), &made)
}

/// One API.
#[utoipa::path(
    tag = "apis",
    params(("id" = String, Path, description = "The API's id")),
    responses(
        (status = 200, description = "The API; ETag for If-Match", body = ApiView,
            headers(("ETag" = String, description = "The version to send as If-Match"))),
        GuardProblems,
        (status = 404, description = "No such API", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read:apis"]))
)]
#[get("/apis/{id}")]
async fn show(_auth: Bearer<scope::ReadApis>, state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let a = blocking(move || find(&state.store, &id)).await?;
    let tag = etag_of(&a)?;
    ok(&a, Some(tag))
}

/// Changes an API by JSON Merge Patch (RFC 7396) of its [`ApiBody`].
#[utoipa::path(
    tag = "apis",
    params(("id" = String, Path, description = "The API's id"),
        ("If-Match" = String, Header, description = "The ETag of the last read")),
    request_body(content = ApiBody, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed API", body = ApiView,
            headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "A field is invalid or unknown", body = ProblemBody, content_type = "application/problem+json"),
        GuardProblems,
        (status = 404, description = "No such API", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "HS256 and the asymmetric algorithms do not interchange", body = ProblemBody, content_type = "application/problem+json"),
        PreconditionProblems,
        BodyProblems,
    ),
    security(("bearer" = ["write:apis"]))
)]
#[patch("/apis/{id}")]
async fn update(
    auth: Bearer<scope::WriteApis>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let if_match = etag::required_if_match(&req)?;
    let patch = Value::Object(json_object(&req, payload, true).await?);
    let actor = auth.audit_name();
    let api = blocking(move || {
        let now = state.oauth.management.now();
        guarded(
            &state.store,
            Row::Api(&id),
            &if_match,
            |db| find(db, &id),
            |db| patch_api(db, &actor, now, &id, &patch),
        )
    })
    .await?;
    let tag = etag_of(&api)?;
    ok(&api, Some(tag))
}

/// Deletes an API; tokens already issued for it stay valid until they expire.
#[utoipa::path(
    tag = "apis",
    params(("id" = String, Path, description = "The API's id"),
        ("If-Match" = String, Header, description = "The ETag of the last read")),
    responses(
        (status = 204, description = "Deleted"),
        GuardProblems,
        (status = 404, description = "No such API", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The management API cannot be deleted", body = ProblemBody, content_type = "application/problem+json"),
        PreconditionProblems,
    ),
    security(("bearer" = ["write:apis"]))
)]
#[delete("/apis/{id}")]
async fn remove(
    auth: Bearer<scope::WriteApis>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Reply {
    let if_match = etag::required_if_match(&req)?;
    let actor = auth.audit_name();
    blocking(move || {
        let now = state.oauth.management.now();
        guarded(
            &state.store,
            Row::Api(&id),
            &if_match,
            |db| find(db, &id),
            |db| Ok(admin::delete_api(db, &actor, now, &id)?),
        )
    })
    .await?;
    no_content()
}

/// Mounts the API operations.
pub fn register<T>(scope: utoipa_actix_web::scope::Scope<T>) -> utoipa_actix_web::scope::Scope<T>
where
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Error = actix_web::Error,
            InitError = (),
        >,
{
    scope.service(list).service(create).service(show).service(update).service(remove)
}
