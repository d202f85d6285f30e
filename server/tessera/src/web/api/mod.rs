//! The management API (`/api/v1/`, issue #14): what the console does, for
//! scripts and CI. One file per resource (`clients.rs`, `apis.rs`,
//! `plugins.rs`, `bindings.rs`, `keys.rs`, `admins.rs`, `audit.rs`,
//! `runs.rs`); handlers extract (`bearer.rs`: a valid
//! management token with the scope the handler names; `body.rs`: bounded JSON
//! bodies and JSON Merge Patch), call the services the console calls inside
//! [`blocking`], and reply with the views of `service/views.rs`. Errors leave
//! through one renderer, `problem.rs` (RFC 9457); reads carry an `ETag` and
//! changes need `If-Match` (`etag.rs`).
//!
//! The OpenAPI 3.1 document at `/api/v1/openapi.json` is collected from the
//! handlers' `#[utoipa::path]` attributes as they are mounted (`operations`),
//! so a handler cannot be served without being documented. The console's
//! API reference page renders the same document (`reference.rs`).

pub mod admins;
pub mod apis;
pub mod audit;
pub mod bearer;
pub mod bindings;
pub mod body;
pub mod clients;
pub mod etag;
pub mod keys;
pub mod plugins;
pub mod problem;
pub mod reference;
pub mod runs;
pub mod users;

use crate::service::management::PageRequest;
use crate::service::oauth::management::ManagementScope;
use crate::web::routes::api as paths;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, web};
use problem::{Problem, ProblemKind};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{ClientCredentials, Flow, OAuth2, Scopes, SecurityScheme};
use utoipa::openapi::{Info, OpenApi, OpenApiBuilder};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::OpenApiFactory;

/// What every handler returns.
pub type Reply = Result<HttpResponse, Problem>;

/// The query of every list operation.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Items per page, 1 to 200 (default 50).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only items whose name (identifier for APIs, plugin name for
    /// bindings) starts with this.
    pub prefix: Option<String>,
}

impl From<ListQuery> for PageRequest {
    fn from(q: ListQuery) -> PageRequest {
        PageRequest { limit: q.limit, cursor: q.cursor, prefix: q.prefix }
    }
}

/// Which end of a time-ordered list (plugin runs) comes first; the audit
/// event list has its own (`audit::AuditOrder`), with chain order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Newest first (the default).
    Newest,
    /// Oldest first.
    Oldest,
}

/// Runs `f` (which uses the database) on a blocking thread.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Problem> + Send + 'static,
) -> Result<T, Problem> {
    crate::web::block(f).await.map_err(Problem::internal)?
}

/// 200 with `body` as JSON and, for a single resource, its `ETag`.
pub fn ok<T: Serialize>(body: &T, etag: Option<String>) -> Reply {
    let mut res = HttpResponse::Ok();
    if let Some(tag) = etag {
        res.insert_header((header::ETAG, tag));
    }
    Ok(res.json(body))
}

/// 201 with `Location` and `body` as JSON.
pub fn created<T: Serialize>(location: &str, body: &T) -> Reply {
    Ok(HttpResponse::Created().insert_header((header::LOCATION, location)).json(body))
}

/// 204.
pub fn no_content() -> Reply {
    Ok(HttpResponse::NoContent().finish())
}

/// Every operation, mounted on a scope at [`paths::PREFIX`] that collects
/// their OpenAPI descriptions as it goes.
fn operations() -> utoipa_actix_web::scope::Scope<
    impl ServiceFactory<ServiceRequest, Config = (), Response = ServiceResponse, Error = actix_web::Error, InitError = ()>,
> {
    let scope = utoipa_actix_web::scope(paths::PREFIX);
    let scope = clients::register(scope);
    let scope = apis::register(scope);
    let scope = plugins::register(scope);
    let scope = bindings::register(scope);
    let scope = users::register(scope);
    let scope = keys::register(scope);
    let scope = admins::register(scope);
    let scope = audit::register(scope);
    runs::register(scope)
}

/// The OpenAPI 3.1 document of `operations` (whose paths it takes: call once).
fn document<F>(operations: &utoipa_actix_web::scope::Scope<F>) -> OpenApi {
    let mut schemas = Vec::new();
    operations.schemas(&mut schemas);
    let scopes = Scopes::from_iter(ManagementScope::ALL.iter().map(|s| (s.as_str(), s.description())));
    let mut components = utoipa::openapi::Components::new();
    components.schemas.extend(schemas);
    for (name, schema) in
        [("ProblemBody", problem::ProblemBody::schema()), ("InvalidParam", problem::InvalidParam::schema())]
    {
        components.schemas.insert(name.to_owned(), schema);
    }
    components.add_security_scheme(
        "bearer",
        SecurityScheme::OAuth2(OAuth2::with_description(
            [Flow::ClientCredentials(ClientCredentials::new(crate::web::routes::TOKEN, scopes))],
            "Access tokens Tessera issues by client_credentials for the management API's audience \
             (urn:tessera:management-api); `tessera mgmt-client create` makes a client that may get them.",
        )),
    );
    let mut info = Info::new("Tessera management API", env!("CARGO_PKG_VERSION"));
    info.description = Some(
        "Automates what the console does. Errors are application/problem+json (RFC 9457); reads carry an ETag \
         and PATCH and DELETE need If-Match; PATCH bodies are JSON Merge Patch (RFC 7396)."
            .into(),
    );
    OpenApiBuilder::new().info(info).paths(operations.paths()).components(Some(components)).build()
}

/// The OpenAPI document of every operation, as [`paths::OPENAPI`] serves
/// it: the console's reference page renders it, so the page and the
/// document cannot disagree.
pub fn openapi_document() -> OpenApi {
    document(&operations())
}

/// The OpenAPI document served at [`paths::OPENAPI`].
struct Document(String);

/// The OpenAPI document (unauthenticated: it describes, it holds no data).
async fn openapi(doc: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(doc.0.clone())
}

/// The management API's answer to a path it does not have, or a method a
/// path does not take (each operation is its own route, so the two are not
/// told apart).
async fn not_found() -> Reply {
    Err(Problem::new(ProblemKind::NotFound, "no such path in the management API"))
}

/// Mounts the management API and its OpenAPI document.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let ops = operations();
    let doc = document(&ops).to_json().unwrap_or_else(|e| {
        tracing::error!(error = %e, "the OpenAPI document does not serialize");
        String::new()
    });
    let query_errors = web::QueryConfig::default()
        .error_handler(|e, _| Problem::new(ProblemKind::InvalidField, format!("query: {e}")).into());
    let path_errors = web::PathConfig::default()
        .error_handler(|e, _| Problem::new(ProblemKind::NotFound, format!("path: {e}")).into());
    cfg.service(
        ops.app_data(web::Data::new(Document(doc)))
            .app_data(query_errors)
            .app_data(path_errors)
            .route(paths::relative(paths::OPENAPI), web::get().to(openapi))
            .default_service(web::to(not_found))
            .wrap(DefaultHeaders::new().add((header::CACHE_CONTROL, "no-store"))),
    );
}

/// The schema of a problem body, registered once for every operation.
trait SchemaOf {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>;
}

impl<T: ToSchema> SchemaOf for T {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <T as utoipa::PartialSchema>::schema()
    }
}
