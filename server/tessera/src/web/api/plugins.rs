//! `/api/v1/plugins`: plugins and their versions, and the upload of a
//! version as a raw `application/wasm` body or as `multipart/form-data`,
//! idempotent by content hash (`service::management::upload_once`, which
//! applies the signature policy as the console's upload does).

use super::bearer::{Bearer, scope};
use super::body::read_limited;
use super::etag::etag_of;
use super::problem::{BodyProblems, GuardProblems, Problem, ProblemBody, ProblemKind};
use super::{ListQuery, Reply, blocking, ok};
use crate::service::admin::{AdminError, split_list};
use crate::service::management;
use crate::service::plugins::NewUpload;
use crate::service::views::{PluginVersionView, PluginView};
use crate::web::AppState;
use crate::web::routes::api as paths;
use actix_multipart::form::MultipartForm;
use actix_multipart::form::bytes::Bytes as FileBytes;
use actix_multipart::form::text::Text;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The header carrying a raw upload's signature: the text of a `.sig` file
/// from `tessera plugin sign`, or a Sigstore bundle's JSON on one line
/// (`plugin_signatures::one_line`; `jq -c . FILE.sigstore.json`).
pub const SIGNATURE_HEADER: &str = "Tessera-Plugin-Signature";

/// A page of plugins.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginList {
    /// The plugins, by name.
    pub items: Vec<PluginView>,
    /// Give it as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// A plugin's versions.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionList {
    /// Newest first.
    pub items: Vec<PluginVersionView>,
}

/// The query of a raw upload.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// Claims this version may set, comma-separated; absent: any
    /// non-reserved claim.
    pub declared_claims: Option<String>,
}

/// A multipart upload's fields.
#[derive(Debug, MultipartForm, ToSchema)]
pub struct UploadForm {
    /// The component (`.wasm`).
    #[schema(value_type = String, format = Binary)]
    pub component: FileBytes,
    /// The signature file's text: a detached signature, or a Sigstore bundle.
    /// A file part (any media type, as `curl -F signature=@FILE` labels it
    /// `application/octet-stream`) or a plain field; UTF-8.
    #[schema(value_type = Option<String>)]
    pub signature: Option<FileBytes>,
    /// Claims this version may set, comma-separated.
    #[schema(value_type = Option<String>)]
    pub declared_claims: Option<Text<String>>,
}

fn not_found(name: &str) -> Problem {
    AdminError::NotFound(format!("plugin {name:?}")).into()
}

/// Lists plugins, by name (`prefix` filters the name).
#[utoipa::path(
    tag = "plugins",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of plugins", body = PluginList),
        (status = 400, description = "A bad limit or cursor", body = ProblemBody, content_type = "application/problem+json"),
        GuardProblems,
    ),
    security(("bearer" = ["read:plugins"]))
)]
#[get("/plugins")]
async fn list(_auth: Bearer<scope::ReadPlugins>, state: web::Data<AppState>, q: web::Query<ListQuery>) -> Reply {
    let req = q.into_inner().into();
    let page = blocking(move || management::plugins_page(&state.store, &req).map_err(Problem::from)).await?;
    ok(&PluginList { items: page.items, next_cursor: page.next_cursor }, None)
}

/// One plugin.
#[utoipa::path(
    tag = "plugins",
    params(("name" = String, Path, description = "The plugin's name")),
    responses(
        (status = 200, description = "The plugin", body = PluginView,
            headers(("ETag" = String, description = "Its version"))),
        GuardProblems,
        (status = 404, description = "No such plugin", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read:plugins"]))
)]
#[get("/plugins/{name}")]
async fn show(_auth: Bearer<scope::ReadPlugins>, state: web::Data<AppState>, name: web::Path<String>) -> Reply {
    let p = blocking(move || management::plugin(&state.store, &name)?.ok_or_else(|| not_found(&name))).await?;
    let tag = etag_of(&p)?;
    ok(&p, Some(tag))
}

/// A plugin's versions, newest first.
#[utoipa::path(
    tag = "plugins",
    params(("name" = String, Path, description = "The plugin's name")),
    responses(
        (status = 200, description = "Its versions", body = VersionList),
        GuardProblems,
        (status = 404, description = "No such plugin", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read:plugins"]))
)]
#[get("/plugins/{name}/versions")]
async fn versions(_auth: Bearer<scope::ReadPlugins>, state: web::Data<AppState>, name: web::Path<String>) -> Reply {
    let items =
        blocking(move || management::plugin_versions(&state.store, &name)?.ok_or_else(|| not_found(&name))).await?;
    ok(&VersionList { items }, None)
}

/// One version of a plugin.
#[utoipa::path(
    tag = "plugins",
    params(("name" = String, Path, description = "The plugin's name"), ("version" = i32, Path, description = "The version number")),
    responses(
        (status = 200, description = "The version", body = PluginVersionView,
            headers(("ETag" = String, description = "Its version"))),
        GuardProblems,
        (status = 404, description = "No such plugin or version", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read:plugins"]))
)]
#[get("/plugins/{name}/versions/{version}")]
async fn version(
    _auth: Bearer<scope::ReadPlugins>,
    state: web::Data<AppState>,
    path: web::Path<(String, i32)>,
) -> Reply {
    let (name, number) = path.into_inner();
    let v = blocking(move || {
        management::plugin_versions(&state.store, &name)?
            .ok_or_else(|| not_found(&name))?
            .into_iter()
            .find(|v| v.version == number)
            .ok_or_else(|| AdminError::NotFound(format!("plugin {name:?} version {number}")).into())
    })
    .await?;
    let tag = etag_of(&v)?;
    ok(&v, Some(tag))
}

/// The component of one version (`application/wasm`), so a plugin can be
/// exported and uploaded elsewhere (`tessera export`).
#[utoipa::path(
    tag = "plugins",
    params(("name" = String, Path, description = "The plugin's name"), ("version" = i32, Path, description = "The version number")),
    responses(
        (status = 200, description = "The component", content_type = "application/wasm", body = Vec<u8>),
        GuardProblems,
        (status = 404, description = "No such plugin or version", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read:plugins"]))
)]
#[get("/plugins/{name}/versions/{version}/component")]
async fn component(
    _auth: Bearer<scope::ReadPlugins>,
    state: web::Data<AppState>,
    path: web::Path<(String, i32)>,
) -> Reply {
    let (name, number) = path.into_inner();
    let wasm = blocking(move || {
        management::component(&state.store, &name, number)?
            .ok_or_else(|| AdminError::NotFound(format!("plugin {name:?} version {number}")).into())
    })
    .await?;
    Ok(HttpResponse::Ok().content_type("application/wasm").body(wasm))
}

/// The component, signature and declared claims of an upload, whichever
/// way it was sent; the component at most `limit` bytes.
async fn upload_parts(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<(Vec<u8>, Option<String>, Option<Vec<String>>), Problem> {
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let too_large = || Problem::new(ProblemKind::PayloadTooLarge, format!("the component exceeds {limit} bytes"));
    match essence.as_str() {
        "application/wasm" | "application/octet-stream" => {
            let wasm =
                read_limited(payload, limit).await.map_err(|p| if p.status() == 413 { too_large() } else { p })?;
            // UTF-8, not only visible ASCII: a real bundle's Rekor checkpoint
            // holds an em dash, and `jq -c` does not escape it.
            let signature = match req.headers().get(SIGNATURE_HEADER).map(|v| std::str::from_utf8(v.as_bytes())) {
                None => None,
                Some(Ok(text)) => Some(text.to_owned()),
                // Refused here rather than read as "no signature".
                Some(Err(_)) => {
                    return Err(Problem::field(
                        "signature",
                        format!(
                            "the {SIGNATURE_HEADER} header is not UTF-8 text: send the signature or the bundle's JSON on one line"
                        ),
                    ));
                }
            };
            let query = web::Query::<UploadQuery>::from_query(req.query_string())
                .map_err(|e| Problem::field("declared_claims", e.to_string()))?;
            Ok((wasm.to_vec(), signature, query.into_inner().declared_claims.as_deref().map(split_list)))
        }
        "multipart/form-data" => {
            let mut payload = payload.into_inner();
            let form = MultipartForm::<UploadForm>::from_request(req, &mut payload).await.map_err(|e| {
                if e.as_response_error().status_code() == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE {
                    too_large()
                } else {
                    Problem::new(ProblemKind::InvalidBody, format!("the multipart body is invalid: {e}"))
                }
            })?;
            let form = form.into_inner();
            if form.component.data.len() > limit {
                return Err(too_large());
            }
            let signature = match form.signature.map(|f| String::from_utf8(f.data.to_vec())) {
                None => None,
                Some(Ok(text)) => Some(text),
                // Refused here rather than read as "no signature".
                Some(Err(_)) => {
                    return Err(Problem::field(
                        "signature",
                        "the signature field is not UTF-8 text: send the signature file or the Sigstore bundle as written",
                    ));
                }
            };
            Ok((form.component.data.to_vec(), signature, form.declared_claims.map(|t| split_list(&t.into_inner()))))
        }
        _ => Err(Problem::new(ProblemKind::UnsupportedMediaType, "send application/wasm or multipart/form-data")),
    }
}

/// Uploads a version. The same content as an existing version of the
/// plugin answers 200 with that version and writes nothing.
#[utoipa::path(
    tag = "plugins",
    params(("name" = String, Path, description = "The plugin's name (created on its first upload)"),
        UploadQuery,
        ("Tessera-Plugin-Signature" = Option<String>, Header, description = "A raw upload's signature: a detached signature in base64, or a Sigstore bundle's JSON on one line")),
    request_body(content(
        (Vec<u8> = "application/wasm"),
        (UploadForm = "multipart/form-data"),
    )),
    responses(
        (status = 201, description = "A new version; Location names it", body = PluginVersionView),
        (status = 200, description = "The plugin already had this content: that version", body = PluginVersionView),
        (status = 400, description = "Not a component, a bad signature, a reserved claim", body = ProblemBody, content_type = "application/problem+json"),
        GuardProblems,
        BodyProblems,
    ),
    security(("bearer" = ["write:plugins"]))
)]
#[post("/plugins/{name}/versions")]
async fn upload(
    auth: Bearer<scope::WritePlugins>,
    state: web::Data<AppState>,
    name: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let (wasm, signature, declared) = upload_parts(&req, payload, state.admin.max_upload_bytes).await?;
    let actor = auth.audit_name();
    let name = name.into_inner();
    let (view, created, name) = blocking(move || {
        let now = state.oauth.management.now();
        let up = NewUpload {
            name: &name,
            wasm: &wasm,
            declared_claims: declared.as_deref(),
            signature: signature.as_deref(),
        };
        let (view, created) =
            management::upload_once(&state.store, &state.host, &state.admin.signature_policy, &actor, now, up)?;
        Ok((view, created, name))
    })
    .await?;
    let tag = etag_of(&view)?;
    let mut res = if created { HttpResponse::Created() } else { HttpResponse::Ok() };
    res.insert_header((header::LOCATION, paths::plugin_version(&name, view.version)));
    res.insert_header((header::ETAG, tag));
    Ok(res.json(&view))
}

/// Mounts the plugin operations.
pub fn register<T>(scope: utoipa_actix_web::scope::Scope<T>) -> utoipa_actix_web::scope::Scope<T>
where
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Error = actix_web::Error,
            InitError = (),
        >,
{
    scope.service(list).service(show).service(versions).service(version).service(component).service(upload)
}
