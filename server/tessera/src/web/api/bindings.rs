//! `/api/v1/bindings`: token bindings (which plugin version runs for which
//! grant types and clients), through the console's `service::plugins`
//! functions. A change is a store write; every node's pipeline reads the
//! bindings per token request, so it applies to the next one.
//!
//! A binding's shadow candidate (`service::shadow`) is its `shadow` field:
//! a merge patch sets or replaces it (`{"shadow": {"version": 2}}`) or
//! discards it (`{"shadow": null}`); `GET .../shadow` is the comparison, and
//! `POST .../shadow/promote` and `.../shadow/discard` end it.

use super::bearer::{Bearer, scope};
use super::body::{json_object, parse_fields, patched};
use super::etag::{self, etag_of};
use super::problem::{BodyProblems, GuardProblems, PreconditionProblems, Problem, ProblemBody};
use super::{ListQuery, Reply, blocking, created, no_content, ok};
use crate::crypto::MasterKey;
use crate::service::admin::AdminError;
use crate::service::db::Db;
use crate::service::management;
use crate::service::plugins::{self, BindingChange, BindingEntry, NewBinding};
use crate::service::precondition::guarded;
use crate::service::shadow::admin::{self as shadow, ShadowReport, ShadowSettings};
use crate::web::AppState;
use crate::web::routes::api as paths;
use actix_web::{HttpRequest, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tessera_store::Store;
use tessera_store::row_lock::Row;
use utoipa::ToSchema;

/// A binding as it is created and patched (JSON Merge Patch applies to this
/// shape; `secrets` is write-only: absent from reads, replaced when sent).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(default)]
pub struct BindingBody {
    /// The plugin's name; fixed once created.
    pub plugin: String,
    /// The version number; absent on create: the latest.
    pub version: Option<i32>,
    /// Grant types it runs for, or `["all"]`.
    pub grant_types: Vec<String>,
    /// Clients it runs for (a client hook); empty: every client.
    pub client_ids: Vec<String>,
    /// Configuration object passed to the plugin.
    #[schema(value_type = Object)]
    pub config: Value,
    /// Secrets by name (string values), sealed at rest and never shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub secrets: Option<Map<String, Value>>,
    /// `deny` (the default) or `skip`.
    pub failure_policy: String,
    /// Position in the pipeline; absent on create: after the last.
    pub position: Option<i32>,
    /// Whether it runs (default true).
    pub enabled: bool,
    /// A candidate version running in shadow beside the live one; `null`
    /// discards it.
    pub shadow: Option<ShadowBody>,
    /// URL prefixes a `tessera:plugin@0.2.0` plugin may reach with
    /// `http.fetch`: https (http only to a loopback host), scheme, host and
    /// port exact, path prefix. Default none.
    pub http_allow: Vec<String>,
    /// Seconds a successful `http.fetch` answer is reused; `null` or 0: no
    /// cache. At most 86400.
    pub http_cache_ttl_secs: Option<i64>,
}

/// A shadow candidate as it is set: the comparisons start again whenever
/// it changes.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowBody {
    /// A version number of the binding's plugin.
    pub version: i32,
    /// The share of token requests it runs on, more than 0 and at most 1
    /// (default 1).
    #[serde(default = "every_request")]
    pub share: f64,
    /// Claims whose values comparisons show only as a sha256 prefix.
    #[serde(default)]
    pub sensitive_claims: Vec<String>,
}

fn every_request() -> f64 {
    1.0
}

impl ShadowBody {
    fn settings(&self) -> ShadowSettings {
        ShadowSettings {
            version: self.version,
            share: Some(self.share),
            sensitive_claims: self.sensitive_claims.clone(),
        }
    }
}

impl Default for BindingBody {
    fn default() -> BindingBody {
        BindingBody {
            plugin: String::new(),
            version: None,
            grant_types: vec![],
            client_ids: vec![],
            config: json!({}),
            secrets: None,
            failure_policy: String::new(),
            position: None,
            enabled: true,
            shadow: None,
            http_allow: vec![],
            http_cache_ttl_secs: None,
        }
    }
}

const BINDING_FIELDS: &[&str] = &[
    "plugin",
    "version",
    "grant_types",
    "client_ids",
    "config",
    "secrets",
    "failure_policy",
    "position",
    "enabled",
    "shadow",
    "http_allow",
    "http_cache_ttl_secs",
];

impl BindingBody {
    fn of(e: &BindingEntry) -> BindingBody {
        let b = &e.binding;
        BindingBody {
            plugin: e.plugin.clone(),
            version: Some(e.version),
            grant_types: b.grant_types.iter().map(|g| g.as_str().to_owned()).collect(),
            client_ids: b.client_ids.clone().unwrap_or_default(),
            config: b.config.clone(),
            secrets: None,
            failure_policy: b.failure_policy.as_str().to_owned(),
            position: Some(b.position),
            enabled: b.enabled,
            shadow: e.shadow.as_ref().map(|c| ShadowBody {
                version: c.version,
                share: c.share.get(),
                sensitive_claims: c.sensitive_claims.clone(),
            }),
            http_allow: b.http_allow.clone(),
            http_cache_ttl_secs: b.http_cache_ttl_secs,
        }
    }
}

/// A page of bindings.
#[derive(Debug, Serialize, ToSchema)]
pub struct BindingList {
    /// The bindings, in pipeline order.
    pub items: Vec<BindingEntry>,
    /// Give it as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// The binding `id`, or 404.
pub fn find(store: &impl Db, id: &str) -> Result<BindingEntry, Problem> {
    plugins::binding_entry(store, id)?.ok_or_else(|| AdminError::NotFound(format!("binding {id}")).into())
}

/// Creates a binding from a create body: the one path of `POST /bindings`
/// and of the CLI's local backend.
pub fn create_binding(
    store: &Store,
    master: &MasterKey,
    actor: &str,
    now: i64,
    body: Map<String, Value>,
) -> Result<BindingEntry, Problem> {
    let body: BindingBody = parse_fields(body, BINDING_FIELDS)?;
    let new = NewBinding {
        plugin: match body.version {
            Some(v) => format!("{}@{v}", body.plugin),
            None => body.plugin,
        },
        grant_types: body.grant_types,
        clients: body.client_ids,
        config: body.config,
        secrets: body.secrets.unwrap_or_default(),
        failure_policy: Some(body.failure_policy).filter(|p| !p.is_empty()),
        position: body.position,
        disabled: !body.enabled,
        http_allow: body.http_allow,
        http_cache_ttl_secs: body.http_cache_ttl_secs,
    };
    let b = plugins::create_binding(store, master, actor, now, new)?;
    if let Some(c) = &body.shadow {
        shadow::set(store, actor, now, &b.id, &c.settings())?;
    }
    find(store, &b.id)
}

/// Applies a merge patch to binding `id`: the one path of `PATCH
/// /bindings/{id}` (inside the transaction that checked its `If-Match`) and
/// of the CLI's local backend. Only the fields that differ are changed.
pub fn patch_binding(
    store: &impl Db,
    master: &MasterKey,
    actor: &str,
    now: i64,
    id: &str,
    patch: &Value,
) -> Result<BindingEntry, Problem> {
    let current = find(store, id)?;
    let before = BindingBody::of(&current);
    let after = patched(&before, patch, BINDING_FIELDS)?;
    if after.plugin != before.plugin {
        return Err(Problem::field("plugin", "cannot change; bind the other plugin with a new binding"));
    }
    let change = BindingChange {
        version: after.version.filter(|v| Some(*v) != before.version),
        position: after.position.filter(|p| Some(*p) != before.position),
        enabled: Some(after.enabled).filter(|e| *e != before.enabled),
        config: Some(after.config.clone()).filter(|c| *c != before.config),
        failure_policy: Some(after.failure_policy.clone()).filter(|p| *p != before.failure_policy),
        secrets: after.secrets.clone(),
        grant_types: Some(after.grant_types.clone()).filter(|g| *g != before.grant_types),
        clients: Some(after.client_ids.clone()).filter(|c| *c != before.client_ids),
        http_allow: Some(after.http_allow.clone()).filter(|a| *a != before.http_allow),
        http_cache_ttl_secs: Some(after.http_cache_ttl_secs).filter(|t| *t != before.http_cache_ttl_secs),
    };
    plugins::update_binding(store, master, actor, now, id, change)?;
    if after.shadow != before.shadow {
        match &after.shadow {
            Some(c) => shadow::set(store, actor, now, id, &c.settings())?,
            None => shadow::discard(store, actor, now, id)?,
        };
    }
    find(store, id)
}

/// Lists bindings in pipeline order (`prefix` filters the plugin's name).
#[utoipa::path(
    tag = "bindings",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of bindings", body = BindingList),
        (status = 400, description = "A bad limit or cursor", body = ProblemBody, content_type = "application/problem+json"),
        GuardProblems,
    ),
    security(("bearer" = ["read:bindings"]))
)]
#[get("/bindings")]
async fn list(_auth: Bearer<scope::ReadBindings>, state: web::Data<AppState>, q: web::Query<ListQuery>) -> Reply {
    let req = q.into_inner().into();
    let page = blocking(move || management::bindings_page(&state.store, &req).map_err(Problem::from)).await?;
    ok(&BindingList { items: page.items, next_cursor: page.next_cursor }, None)
}

/// Binds a plugin version.
#[utoipa::path(
    tag = "bindings",
    request_body(content = BindingBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; Location names it", body = BindingEntry),
        (status = 400, description = "A field is invalid", body = ProblemBody, content_type = "application/problem+json"),
        GuardProblems,
        (status = 404, description = "No such plugin, version or client", body = ProblemBody, content_type = "application/problem+json"),
        BodyProblems,
    ),
    security(("bearer" = ["write:bindings"]))
)]
#[post("/bindings")]
async fn create(
    auth: Bearer<scope::WriteBindings>,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let body = json_object(&req, payload, false).await?;
    let actor = auth.audit_name();
    let entry = blocking(move || {
        let now = state.oauth.management.now();
        create_binding(&state.store, state.keys.master(), &actor, now, body)
    })
    .await?;
    created(&paths::binding(&entry.binding.id), &entry)
}

/// One binding.
#[utoipa::path(
    tag = "bindings",
    params(("id" = String, Path, description = "The binding's id")),
    responses(
        (status = 200, description = "The binding; ETag for If-Match", body = BindingEntry,
            headers(("ETag" = String, description = "The version to send as If-Match"))),
        GuardProblems,
        (status = 404, description = "No such binding", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read:bindings"]))
)]
#[get("/bindings/{id}")]
async fn show(_auth: Bearer<scope::ReadBindings>, state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let e = blocking(move || find(&state.store, &id)).await?;
    let tag = etag_of(&e)?;
    ok(&e, Some(tag))
}

/// Changes a binding by JSON Merge Patch (RFC 7396) of its [`BindingBody`]:
/// another version of the same plugin (upgrade, rollback), order, clients,
/// configuration, secrets, failure policy, enabled.
#[utoipa::path(
    tag = "bindings",
    params(("id" = String, Path, description = "The binding's id"),
        ("If-Match" = String, Header, description = "The ETag of the last read")),
    request_body(content = BindingBody, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed binding", body = BindingEntry,
            headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "A field is invalid or unknown", body = ProblemBody, content_type = "application/problem+json"),
        GuardProblems,
        (status = 404, description = "No such binding, version or client", body = ProblemBody, content_type = "application/problem+json"),
        PreconditionProblems,
        BodyProblems,
    ),
    security(("bearer" = ["write:bindings"]))
)]
#[patch("/bindings/{id}")]
async fn update(
    auth: Bearer<scope::WriteBindings>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let if_match = etag::required_if_match(&req)?;
    let patch = Value::Object(json_object(&req, payload, true).await?);
    let actor = auth.audit_name();
    let entry = blocking(move || {
        let now = state.oauth.management.now();
        let master = state.keys.master();
        guarded(
            &state.store,
            Row::Binding(&id),
            &if_match,
            |db| find(db, &id),
            |db| patch_binding(db, master, &actor, now, &id, &patch),
        )
    })
    .await?;
    let tag = etag_of(&entry)?;
    ok(&entry, Some(tag))
}

/// Deletes a binding.
#[utoipa::path(
    tag = "bindings",
    params(("id" = String, Path, description = "The binding's id"),
        ("If-Match" = String, Header, description = "The ETag of the last read")),
    responses(
        (status = 204, description = "Deleted"),
        GuardProblems,
        (status = 404, description = "No such binding", body = ProblemBody, content_type = "application/problem+json"),
        PreconditionProblems,
    ),
    security(("bearer" = ["write:bindings"]))
)]
#[delete("/bindings/{id}")]
async fn remove(
    auth: Bearer<scope::WriteBindings>,
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
            Row::Binding(&id),
            &if_match,
            |db| find(db, &id),
            |db| Ok(plugins::delete_binding(db, &actor, now, &id)?),
        )
    })
    .await?;
    no_content()
}

/// A binding's shadow candidate and how it compares with the live version:
/// requests compared, differed, errors of each, p50/p99 of each, the latest
/// differences per claim (values of sensitive claims hashed).
#[utoipa::path(
    tag = "bindings",
    params(("id" = String, Path, description = "The binding's id")),
    responses(
        (status = 200, description = "The candidate and its comparison", body = ShadowReport),
        GuardProblems,
        (status = 404, description = "No such binding, or it has no candidate", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read:bindings"]))
)]
#[get("/bindings/{id}/shadow")]
async fn show_shadow(_auth: Bearer<scope::ReadBindings>, state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let r = blocking(move || {
        shadow::report(&state.store, &id)?
            .ok_or_else(|| AdminError::NotFound(format!("shadow candidate of binding {id}")).into())
    })
    .await?;
    ok(&r, None)
}

/// Makes the binding's candidate its live version and clears the shadow
/// (audited as `binding.shadow.promote`).
#[utoipa::path(
    tag = "bindings",
    params(("id" = String, Path, description = "The binding's id")),
    responses(
        (status = 200, description = "The binding, running the promoted version", body = BindingEntry),
        GuardProblems,
        (status = 404, description = "No such binding, or it has no candidate", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["write:bindings"]))
)]
#[post("/bindings/{id}/shadow/promote")]
async fn promote_shadow(
    auth: Bearer<scope::WriteBindings>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Reply {
    end_shadow(auth, state, id.into_inner(), true).await
}

/// Clears the binding's candidate; the live version stays (audited as
/// `binding.shadow.discard`).
#[utoipa::path(
    tag = "bindings",
    params(("id" = String, Path, description = "The binding's id")),
    responses(
        (status = 200, description = "The binding, without a candidate", body = BindingEntry),
        GuardProblems,
        (status = 404, description = "No such binding, or it has no candidate", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["write:bindings"]))
)]
#[post("/bindings/{id}/shadow/discard")]
async fn discard_shadow(
    auth: Bearer<scope::WriteBindings>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Reply {
    end_shadow(auth, state, id.into_inner(), false).await
}

async fn end_shadow(
    auth: Bearer<scope::WriteBindings>,
    state: web::Data<AppState>,
    id: String,
    promote: bool,
) -> Reply {
    let actor = auth.audit_name();
    let entry = blocking(move || {
        let now = state.oauth.management.now();
        if promote {
            shadow::promote(&state.store, &actor, now, &id)?;
        } else {
            shadow::discard(&state.store, &actor, now, &id)?;
        }
        find(&state.store, &id)
    })
    .await?;
    let tag = etag_of(&entry)?;
    ok(&entry, Some(tag))
}

/// Mounts the binding operations.
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
        .service(show_shadow)
        .service(promote_shadow)
        .service(discard_shadow)
}
