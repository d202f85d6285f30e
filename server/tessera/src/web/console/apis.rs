//! APIs (resource servers): audience, signing algorithm, token lifetime,
//! scopes and what each means (shown on the consent page), and the clients
//! allowed to use each API.

use super::{
    Admin, ConsoleError, Empty, Failure, FieldErrors, Layout, Page, PageQuery, Pager, Posted, blocking, filters,
    render, render_form, see_other,
};
use crate::service::admin::{self, AdminError, ApiEdit, NewApi, split_list};
use crate::service::db::InTx;
use crate::service::precondition::{self, Row};
use crate::service::views::{AllowedClientView, ApiView};
use crate::web::routes::console as paths;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use std::collections::BTreeMap;
use tessera_protocol::model::SigningAlg;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::relative(paths::APIS), web::get().to(list))
        .route(paths::relative(paths::APIS), web::post().to(create))
        .route(paths::relative(paths::NEW_API), web::get().to(new_form))
        .route(paths::relative(paths::API), web::get().to(show))
        .route(paths::relative(paths::API), web::post().to(update))
        .route(paths::relative(paths::API_DELETE), web::post().to(delete))
        .route(paths::relative(paths::API_SCOPES), web::post().to(describe));
}

const ALGS: &[&str] = &["RS256", "ES256", "EdDSA", "HS256"];

#[derive(Template)]
#[template(path = "console/apis.html")]
struct ListPage {
    l: Layout,
    apis: Vec<ApiView>,
    pager: Pager,
}

async fn list(admin: Admin, q: web::Query<PageQuery>) -> Page {
    let (page, offset, limit) = Pager::window(q.page);
    let store = admin.state.store.clone();
    let mut rows = blocking(move || admin::list_apis(&store, offset, limit)).await??;
    let pager = Pager::paginate(page, &mut rows, &[]);
    let l = Layout::new(&admin, "apis", "APIs").with_done(q.done.as_deref());
    Ok(render(StatusCode::OK, &ListPage { l, apis: rows, pager }))
}

#[derive(serde::Deserialize, Default)]
struct ApiForm {
    #[serde(default)]
    identifier: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    alg: String,
    #[serde(default)]
    lifetime: String,
    #[serde(default)]
    scopes: String,
    /// Client ids of its resource servers, comma-separated (issue #11 item 7).
    #[serde(default)]
    resource_servers: String,
    /// The version of the API the form was filled from
    /// (`precondition::form_version`); empty on the new-API form.
    #[serde(default)]
    etag: String,
}

impl ApiForm {
    fn of(a: &ApiView) -> ApiForm {
        ApiForm {
            identifier: a.identifier.clone(),
            name: a.name.clone(),
            alg: a.alg.clone(),
            lifetime: a.token_lifetime_secs.to_string(),
            scopes: a.scopes.join(", "),
            resource_servers: a.resource_servers.join(", "),
            etag: precondition::form_version(a),
        }
    }

    fn alg(&self) -> Result<SigningAlg, AdminError> {
        self.alg.parse::<SigningAlg>().map_err(|e| AdminError::Invalid { field: "alg", message: e.to_string() })
    }

    fn lifetime(&self) -> Result<i64, AdminError> {
        self.lifetime
            .trim()
            .parse()
            .map_err(|_| AdminError::Invalid { field: "lifetime", message: "must be a whole number of seconds".into() })
    }
}

#[derive(Template)]
#[template(path = "console/api.html")]
struct ApiPage {
    l: Layout,
    api: Option<ApiView>,
    form: ApiForm,
    errors: FieldErrors,
    algs: &'static [&'static str],
    /// The clients that may get tokens for it.
    clients: Vec<AllowedClientView>,
    /// The scope descriptions as typed (after a refusal) or stored.
    descriptions: BTreeMap<String, String>,
}

impl ApiPage {
    fn description(&self, scope: &str) -> &str {
        self.descriptions.get(scope).map_or("", String::as_str)
    }
}

fn again(mut page: ApiPage, failure: Failure) -> Page {
    failure.show_form(|errors, banner| {
        page.errors = errors;
        page.l.error = banner;
        render_form(true, &page)
    })
}

/// The new-API page with `form` in it.
fn blank(admin: &Admin, form: ApiForm) -> ApiPage {
    ApiPage {
        l: Layout::new(admin, "apis", "New API"),
        api: None,
        form,
        errors: FieldErrors::default(),
        algs: ALGS,
        clients: vec![],
        descriptions: BTreeMap::new(),
    }
}

async fn new_form(admin: Admin) -> HttpResponse {
    let form = ApiForm {
        alg: "RS256".into(),
        lifetime: admin.state.admin.api_lifetime_secs.to_string(),
        ..ApiForm::default()
    };
    render(StatusCode::OK, &blank(&admin, form))
}

async fn create(p: Posted<ApiForm>) -> Page {
    let Posted { admin, form, .. } = p;
    let new = (|| -> Result<NewApi, AdminError> {
        Ok(NewApi {
            identifier: form.identifier.clone(),
            name: Some(form.name.clone()),
            alg: form.alg()?,
            token_lifetime_secs: form.lifetime()?,
            scopes: split_list(&form.scopes),
            resource_servers: split_list(&form.resource_servers),
        })
    })();
    let new = match new {
        Ok(n) => n,
        Err(e) => return again(blank(&admin, form), e.into()),
    };
    let (store, actor, state) = (admin.state.store.clone(), admin.actor(), admin.state.clone());
    let now = admin.now();
    match blocking(move || admin::create_api(&store, state.keys.master(), &actor, now, new)).await? {
        Ok((api, Some(secret))) => {
            let l = Layout::new(&admin, "apis", format!("API {} created", api.identifier));
            Ok(super::secret_page(l, "HS256 shared secret of API", &api.identifier, &paths::api(&api.id), &secret))
        }
        Ok((api, None)) => Ok(see_other(&paths::done(&paths::api(&api.id), "created"))),
        Err(e) => again(blank(&admin, form), e.into()),
    }
}

/// An API (with its resource servers and scope descriptions) and the
/// clients that may use it.
struct Loaded {
    api: ApiView,
    clients: Vec<AllowedClientView>,
}

async fn load(admin: &Admin, id: String) -> Result<Loaded, ConsoleError> {
    let (store, aid) = (admin.state.store.clone(), id.clone());
    let api = blocking(move || admin::find_api(&store, &aid)).await??.ok_or(ConsoleError::NotFound("No such API."))?;
    let store = admin.state.store.clone();
    let clients = blocking(move || admin::api_clients(&store, &id)).await??.unwrap_or_default();
    Ok(Loaded { api, clients })
}

fn detail(admin: &Admin, loaded: Loaded, form: Option<ApiForm>) -> ApiPage {
    let Loaded { api, clients } = loaded;
    ApiPage {
        l: Layout::new(admin, "apis", format!("API {}", api.identifier)),
        form: form.unwrap_or_else(|| ApiForm::of(&api)),
        descriptions: api.scope_descriptions.clone(),
        api: Some(api),
        errors: FieldErrors::default(),
        algs: ALGS,
        clients,
    }
}

async fn show(admin: Admin, id: web::Path<String>, q: web::Query<PageQuery>) -> Page {
    let loaded = load(&admin, id.into_inner()).await?;
    let mut page = detail(&admin, loaded, None);
    page.l = page.l.with_done(q.done.as_deref());
    Ok(render(StatusCode::OK, &page))
}

async fn update(p: Posted<ApiForm>, id: web::Path<String>) -> Page {
    let Posted { admin, form, .. } = p;
    let loaded = load(&admin, id.into_inner()).await?;
    let edit = (|| -> Result<ApiEdit, AdminError> {
        Ok(ApiEdit {
            name: form.name.clone(),
            alg: form.alg()?,
            token_lifetime_secs: form.lifetime()?,
            scopes: split_list(&form.scopes),
            resource_servers: split_list(&form.resource_servers),
        })
    })();
    let edit = match edit {
        Ok(e) => e,
        Err(e) => return again(detail(&admin, loaded, Some(form)), e.into()),
    };
    let (store, actor, aid, etag) =
        (admin.state.store.clone(), admin.actor(), loaded.api.id.clone(), form.etag.clone());
    let now = admin.now();
    let saved = blocking(move || {
        let view = |db: &InTx<'_>| admin::find_api(db, &aid)?.ok_or_else(|| AdminError::NotFound("API".into()));
        let change = |db: &InTx<'_>| admin::update_api(db, &actor, now, &aid, edit);
        precondition::guarded(&store, Row::Api(&aid), &precondition::form_if_match(&etag)?, view, change)
    });
    match saved.await? {
        Ok(a) => Ok(see_other(&paths::done(&paths::api(&a.id), "saved"))),
        Err(e) => again(detail(&admin, loaded, Some(form)), e.into()),
    }
}

/// Saves the scope descriptions: the form repeats `scope` and `description`
/// in pairs, one per scope the API defines.
async fn describe(p: Posted<Empty>, id: web::Path<String>) -> Page {
    let descriptions: BTreeMap<String, String> = p.all("scope").into_iter().zip(p.all("description")).collect();
    let admin = p.admin;
    let loaded = load(&admin, id.into_inner()).await?;
    let (store, actor, aid, d) =
        (admin.state.store.clone(), admin.actor(), loaded.api.id.clone(), descriptions.clone());
    let now = admin.now();
    match blocking(move || admin::describe_scopes(&store, &actor, now, &aid, d)).await? {
        Ok(()) => Ok(see_other(&format!("{}#scope-descriptions", paths::done(&paths::api(&loaded.api.id), "saved")))),
        Err(e) => {
            let mut page = detail(&admin, loaded, None);
            page.descriptions = descriptions;
            again(page, e.into())
        }
    }
}

async fn delete(p: Posted<Empty>, id: web::Path<String>) -> Page {
    let admin = p.admin;
    let (store, actor, aid) = (admin.state.store.clone(), admin.actor(), id.into_inner());
    let now = admin.now();
    blocking(move || admin::delete_api(&store, &actor, now, &aid)).await??;
    Ok(see_other(&paths::done(paths::APIS, "deleted")))
}
