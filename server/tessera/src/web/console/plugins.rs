//! Plugins: upload a component (validated at once: not a component, wrong
//! world, too large, does not compile), the versions with their sha256, size
//! and interface, rollback, and a test panel that runs a version on a sample
//! context with the production host.

use super::{
    Admin, ConsoleError, Empty, Failure, FieldErrors, Layout, Page, PageQuery, Pager, Posted, blocking, filters,
    pretty, render, render_form, see_other,
};
use crate::service::admin::{AdminError, split_list};
use crate::service::plugin_trial as trial;
use crate::service::plugins::{self as svc, PluginDetail};
use crate::service::views::{BindingView, PluginVersionView, PluginView};
use crate::web::routes::console as paths;
use actix_multipart::form::MultipartForm;
use actix_multipart::form::bytes::Bytes as FileBytes;
use actix_multipart::form::text::Text;
use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use serde_json::Value;
use tessera_plugin_host::TokenContext;
use tessera_protocol::model::GrantType;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::relative(paths::PLUGINS), web::get().to(list))
        .route(paths::relative(paths::PLUGINS), web::post().to(upload))
        .route(paths::relative(paths::PLUGIN), web::get().to(show))
        .route(paths::relative(paths::PLUGIN_ROLLBACK), web::post().to(rollback))
        .route(paths::relative(paths::PLUGIN_VERSION_DELETE), web::post().to(delete_version))
        .route(paths::relative(paths::PLUGIN_TEST), web::get().to(test_form))
        .route(paths::relative(paths::PLUGIN_TEST), web::post().to(test_run));
}

#[derive(Template)]
#[template(path = "console/plugins.html")]
struct ListPage {
    l: Layout,
    plugins: Vec<(PluginView, Option<PluginVersionView>)>,
    pager: Pager,
    name: String,
    declare_claims: String,
    errors: FieldErrors,
    max_mib: String,
    signatures_required: bool,
}

/// The list with the upload form; after a refused upload, the name and
/// claims typed and the reason next to the field.
struct UploadState {
    name: String,
    declare: String,
    errors: FieldErrors,
    banner: Option<String>,
}

impl UploadState {
    fn fresh() -> UploadState {
        UploadState { name: String::new(), declare: String::new(), errors: FieldErrors::default(), banner: None }
    }
}

async fn list_page(admin: &Admin, page: Option<i64>, done: Option<&str>, up: UploadState) -> Page {
    let UploadState { name, declare, errors, banner } = up;
    let (page, offset, limit) = Pager::window(page);
    let store = admin.state.store.clone();
    let mut rows = blocking(move || svc::list_plugins(&store, offset, limit)).await??;
    let pager = Pager::paginate(page, &mut rows, &[]);
    let failed = errors.any() || banner.is_some();
    let mut l = Layout::new(admin, "plugins", "Plugins").with_done(done);
    l.error = banner;
    let max_mib = format!("{:.0}", admin.state.admin.max_upload_bytes as f64 / (1024.0 * 1024.0));
    let signatures_required = admin.state.admin.signature_policy.required;
    let page =
        ListPage { l, plugins: rows, pager, name, declare_claims: declare, errors, max_mib, signatures_required };
    Ok(render_form(failed, &page))
}

async fn list(admin: Admin, q: web::Query<PageQuery>) -> Page {
    list_page(&admin, q.page, q.done.as_deref(), UploadState::fresh()).await
}

/// The upload form (multipart: the CSRF token travels as a field).
#[derive(MultipartForm)]
struct UploadForm {
    csrf: Option<Text<String>>,
    name: Text<String>,
    declare_claims: Option<Text<String>>,
    file: FileBytes,
    /// The signature file (`tessera plugin sign`, or a Sigstore bundle), optional.
    signature: Option<FileBytes>,
}

/// POST /admin/plugins: a new plugin or a new version of one.
async fn upload(
    admin: Admin,
    req: actix_web::HttpRequest,
    form: Result<MultipartForm<UploadForm>, actix_web::Error>,
) -> Page {
    let form = match form {
        Ok(f) => f.into_inner(),
        Err(e) => {
            // Past the multipart limit the body is not read at all; the
            // declared length tells an oversized file from a broken form.
            let max = admin.state.admin.max_upload_bytes;
            let declared = req
                .headers()
                .get(actix_web::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
            let message = if declared.is_some_and(|n| n > max) {
                format!("The file is larger than the upload limit of {max} bytes.")
            } else {
                format!("The upload could not be read: {e}")
            };
            let up = UploadState { errors: FieldErrors::one("file", message), ..UploadState::fresh() };
            return list_page(&admin, None, None, up).await;
        }
    };
    let csrf = form.csrf.map(Text::into_inner).unwrap_or_default();
    if let Err(refusal) = admin.check_csrf(&csrf) {
        return Ok(actix_web::ResponseError::error_response(&refusal));
    }
    let name = form.name.into_inner().trim().to_owned();
    let declare = form.declare_claims.map(Text::into_inner).unwrap_or_default();
    let declared = Some(split_list(&declare)).filter(|d| !d.is_empty());
    let wasm = form.file.data.to_vec();
    if wasm.is_empty() {
        let errors = FieldErrors::one("file", "Choose a .wasm file to upload.".into());
        return list_page(&admin, None, None, UploadState { name, declare, errors, banner: None }).await;
    }
    // An empty file part (no signature file chosen) is no signature:
    // `SignaturePolicy::check` reads it as none.
    let signature = match form.signature.map(|f| f.data.to_vec()) {
        None => None,
        Some(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Some(text),
            Err(_) => {
                let errors = FieldErrors::one(
                    "signature",
                    "The signature file is not text: give the file `tessera plugin sign` writes, or a Sigstore bundle (JSON)."
                        .into(),
                );
                return list_page(&admin, None, None, UploadState { name, declare, errors, banner: None }).await;
            }
        },
    };
    let (store, host, actor, n) = (admin.state.store.clone(), admin.state.host.clone(), admin.actor(), name.clone());
    let policy = admin.state.admin.signature_policy.clone();
    let now = admin.now();
    let upload = move || {
        let up = svc::NewUpload {
            name: &n,
            wasm: &wasm,
            declared_claims: declared.as_deref(),
            signature: signature.as_deref(),
        };
        svc::upload(&store, &host, &policy, &actor, now, up)
    };
    match blocking(upload).await? {
        Ok((plugin, _, _)) => Ok(see_other(&paths::done(&paths::plugin(&plugin.name), "uploaded"))),
        Err(e) => match Failure::from(e) {
            Failure::Form(errors, banner) => {
                list_page(&admin, None, None, UploadState { name, declare, errors, banner }).await
            }
            Failure::Page(e) => Err(e),
        },
    }
}

/// One version, as the page shows it.
struct VersionRow {
    v: PluginVersionView,
    bound: usize,
}

#[derive(Template)]
#[template(path = "console/plugin.html")]
struct PluginPage {
    l: Layout,
    plugin: PluginView,
    versions: Vec<VersionRow>,
    bindings: Vec<BindingView>,
}

async fn show(admin: Admin, name: web::Path<String>, q: web::Query<PageQuery>) -> Page {
    let store = admin.state.store.clone();
    let name = name.into_inner();
    let PluginDetail { plugin, versions, bindings } =
        blocking(move || svc::plugin_detail(&store, &name)).await??.ok_or(ConsoleError::NotFound("No such plugin."))?;
    let versions = versions
        .into_iter()
        .map(|v| VersionRow { bound: bindings.iter().filter(|b| b.plugin_version_id == v.id).count(), v })
        .collect();
    let l = Layout::new(&admin, "plugins", format!("Plugin {}", plugin.name)).with_done(q.done.as_deref());
    Ok(render(StatusCode::OK, &PluginPage { l, plugin, versions, bindings }))
}

#[derive(serde::Deserialize)]
struct RollbackForm {
    version: i32,
}

async fn rollback(p: Posted<RollbackForm>, name: web::Path<String>) -> Page {
    let Posted { admin, form, .. } = p;
    let name = name.into_inner();
    let (store, actor, n) = (admin.state.store.clone(), admin.actor(), name.clone());
    let now = admin.now();
    blocking(move || svc::rollback(&store, &actor, now, &n, form.version)).await??;
    Ok(see_other(&paths::done(&paths::plugin(&name), "rolled-back")))
}

/// Deletes a version no binding uses; refused with the bindings named
/// otherwise (`service::plugins::delete_version`).
async fn delete_version(p: Posted<Empty>, path: web::Path<(String, i32)>) -> Page {
    let admin = p.admin;
    let (name, number) = path.into_inner();
    let (store, actor, n) = (admin.state.store.clone(), admin.actor(), name.clone());
    let now = admin.now();
    blocking(move || svc::delete_version(&store, &actor, now, &n, number)).await??;
    Ok(see_other(&paths::done(&paths::plugin(&name), "version-deleted")))
}

/// The test panel's choices and result.
#[derive(Template)]
#[template(path = "console/plugin_test.html")]
struct TestPage {
    l: Layout,
    plugin: String,
    versions: Vec<i32>,
    version: i32,
    grant_types: Vec<&'static str>,
    grant_type: String,
    clients: Vec<(String, String)>,
    client: String,
    username: String,
    audience: String,
    context: String,
    /// How a real token for these choices would differ (refused, no user).
    notice: Option<String>,
    config: String,
    /// The allow-list the run was given, one prefix per line.
    http_allow: String,
    errors: FieldErrors,
    result: Option<TestResult>,
}

/// What the run produced, ready to show.
struct TestResult {
    outcome: String,
    error: String,
    access: String,
    id: String,
    scopes: String,
    logs: Vec<String>,
    /// One line per `http.fetch` of a 0.2.0 plugin, as the run record keeps it.
    http: Vec<String>,
    duration_us: u64,
}

impl TestResult {
    fn of(t: &trial::TrialRun) -> TestResult {
        let error = match &t.error {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        TestResult {
            outcome: t.outcome.clone(),
            error,
            access: pretty(&Value::Object(t.access_token_claims.clone())),
            id: t.id_token_claims.as_ref().map(|c| pretty(&Value::Object(c.clone()))).unwrap_or_default(),
            scopes: t.granted_scopes.join(" "),
            logs: t.logs.iter().map(ToString::to_string).collect(),
            http: t.http.iter().map(exchange_line).collect(),
            duration_us: t.duration_us,
        }
    }

    fn ok(&self) -> bool {
        self.outcome == "ok"
    }
}

/// `GET https://dir.example/users/… 200 412 B 3120 µs (cached)`, or the
/// refusal: what a plugin author needs to see of one request.
fn exchange_line(x: &tessera_plugin_host::HttpExchange) -> String {
    let mut line = format!("{} {}", x.method, x.url);
    if let Some(status) = x.status {
        line.push_str(&format!(" {status} {} B", x.bytes));
    }
    line.push_str(&format!(" {} µs", x.duration_us));
    if x.cached {
        line.push_str(" (cached)");
    }
    if let Some(e) = &x.error {
        line.push_str(&format!(": {e}"));
    }
    line
}

#[derive(serde::Deserialize, Default)]
struct TestQuery {
    version: Option<i32>,
    grant_type: Option<String>,
    client: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    audience: String,
}

/// The panel's choices: versions, clients, and a sample context for them.
struct Choices {
    versions: Vec<i32>,
    clients: Vec<(String, String)>,
    context: TokenContext,
    audience: String,
    notice: Option<String>,
}

/// A username that does not exist is reported next to its field, and the
/// sample is built without a user.
async fn choices(admin: &Admin, name: String, q: &TestQuery) -> Result<(Choices, FieldErrors), ConsoleError> {
    let store = admin.state.store.clone();
    let issuer = admin.state.issuer.clone();
    let now = admin.now();
    let grant = q.grant_type.clone().unwrap_or_else(|| GrantType::ClientCredentials.as_str().into());
    let (client_id, username, audience) =
        (q.client.clone(), q.username.trim().to_owned(), q.audience.trim().to_owned());
    let loaded = blocking(move || {
        let chosen =
            trial::TestRequest { grant: &grant, client_id: client_id.as_deref(), username: &username, audience };
        trial::test_choices(&store, &issuer, &name, &chosen, now)
    })
    .await??
    .ok_or(ConsoleError::NotFound("No such plugin."))?;
    let errors = match loaded.unknown_user {
        Some(message) => FieldErrors::one("username", message),
        None => FieldErrors::default(),
    };
    let trial::TestChoices { versions, clients, context, audience, notice, .. } = loaded;
    Ok((Choices { versions, clients, context, audience, notice }, errors))
}

/// GET: the panel with a sample context for the chosen grant, client and user.
async fn test_form(admin: Admin, name: web::Path<String>, q: web::Query<TestQuery>) -> Page {
    let name = name.into_inner();
    let q = q.into_inner();
    let (choices, errors) = choices(&admin, name.clone(), &q).await?;
    let page = TestPage {
        l: Layout::new(&admin, "plugins", format!("Test {name}")),
        version: q.version.or(choices.versions.first().copied()).unwrap_or(1),
        versions: choices.versions,
        grant_types: GrantType::advertised_names(),
        grant_type: choices.context.grant_type.clone(),
        clients: choices.clients,
        client: q.client.unwrap_or_default(),
        username: q.username,
        audience: choices.audience,
        context: serde_json::to_string_pretty(&choices.context).unwrap_or_default(),
        notice: choices.notice,
        config: "{}".into(),
        http_allow: String::new(),
        errors,
        result: None,
        plugin: name,
    };
    Ok(render_form(page.errors.any(), &page))
}

#[derive(serde::Deserialize)]
struct RunForm {
    version: i32,
    #[serde(default)]
    context: String,
    #[serde(default)]
    config: String,
    /// URL prefixes a 0.2.0 plugin may fetch, one per line.
    #[serde(default)]
    http_allow: String,
}

/// POST: runs the chosen version on the context, as a binding would.
async fn test_run(p: Posted<RunForm>, name: web::Path<String>) -> Page {
    let Posted { admin, form, .. } = p;
    let name = name.into_inner();
    let parsed = (|| -> Result<TokenContext, AdminError> {
        let mut ctx: TokenContext = serde_json::from_str(&form.context)
            .map_err(|e| AdminError::Invalid { field: "context", message: format!("is not a valid context: {e}") })?;
        if !form.config.trim().is_empty() {
            ctx.config = serde_json::from_str(&form.config)
                .map_err(|e| AdminError::Invalid { field: "config", message: format!("is not valid JSON: {e}") })?;
        }
        Ok(ctx)
    })();
    let (store, host, n, number) = (admin.state.store.clone(), admin.state.host.clone(), name.clone(), form.version);
    let role = admin.session.role();
    let allow: Vec<String> =
        form.http_allow.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    let ran = match parsed {
        Err(e) => Err(e),
        Ok(ctx) => blocking(move || trial::trial_run_version(&store, &host, &n, number, &ctx, &allow, role)).await?,
    };
    let (result, errors, banner) = match ran {
        Ok(v) => (Some(TestResult::of(&v)), FieldErrors::default(), None),
        Err(e) => match Failure::from(e) {
            Failure::Form(errors, banner) => (None, errors, banner),
            Failure::Page(e) => return Err(e),
        },
    };
    let q = TestQuery { version: Some(form.version), ..TestQuery::default() };
    let (choices, _) = choices(&admin, name.clone(), &q).await?;
    // Keep the choices the context was built from selected.
    let sent = serde_json::from_str::<Value>(&form.context).unwrap_or_default();
    let field = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let (grant_type, client, username) =
        (field(&sent["grant_type"]), field(&sent["client"]["id"]), field(&sent["user"]["username"]));
    let mut l = Layout::new(&admin, "plugins", format!("Test {name}"));
    l.error = banner;
    let page = TestPage {
        l,
        plugin: name,
        versions: choices.versions,
        version: form.version,
        grant_types: GrantType::advertised_names(),
        grant_type,
        clients: choices.clients,
        client,
        username,
        audience: choices.audience,
        context: form.context,
        notice: None,
        config: if form.config.trim().is_empty() { "{}".into() } else { form.config },
        http_allow: form.http_allow,
        errors,
        result,
    };
    Ok(render_form(page.errors.any() || page.l.error.is_some(), &page))
}
