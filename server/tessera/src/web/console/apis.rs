//! APIs (resource servers): audience, signing algorithm, token lifetime, scopes.

use super::{
    Admin, ConsoleError, Empty, Failure, FieldErrors, Layout, Page, PageQuery, Pager, Posted, blocking, filters,
    render, render_form, see_other,
};
use crate::service::admin::{self, AdminError, ApiEdit, NewApi, split_list};
use crate::service::views::ApiView;
use crate::web::routes::console as paths;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use tessera_protocol::model::SigningAlg;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::relative(paths::APIS), web::get().to(list))
        .route(paths::relative(paths::APIS), web::post().to(create))
        .route(paths::relative(paths::NEW_API), web::get().to(new_form))
        .route(paths::relative(paths::API), web::get().to(show))
        .route(paths::relative(paths::API), web::post().to(update))
        .route(paths::relative(paths::API_DELETE), web::post().to(delete));
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
}

fn again(mut page: ApiPage, failure: Failure) -> Page {
    failure.show_form(|errors, banner| {
        page.errors = errors;
        page.l.error = banner;
        render_form(true, &page)
    })
}

async fn new_form(admin: Admin) -> HttpResponse {
    let l = Layout::new(&admin, "apis", "New API");
    let form = ApiForm {
        alg: "RS256".into(),
        lifetime: admin.state.admin.api_lifetime_secs.to_string(),
        ..ApiForm::default()
    };
    render(StatusCode::OK, &ApiPage { l, api: None, form, errors: FieldErrors::default(), algs: ALGS })
}

async fn create(p: Posted<ApiForm>) -> Page {
    let Posted { admin, form, .. } = p;
    let blank = |admin: &Admin, form| ApiPage {
        l: Layout::new(admin, "apis", "New API"),
        api: None,
        form,
        errors: FieldErrors::default(),
        algs: ALGS,
    };
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

/// An API with the client ids of its resource servers.
async fn load(admin: &Admin, id: String) -> Result<ApiView, ConsoleError> {
    let store = admin.state.store.clone();
    blocking(move || admin::find_api(&store, &id)).await??.ok_or(ConsoleError::NotFound("No such API."))
}

fn detail(admin: &Admin, api: ApiView, form: Option<ApiForm>) -> ApiPage {
    ApiPage {
        l: Layout::new(admin, "apis", format!("API {}", api.identifier)),
        form: form.unwrap_or_else(|| ApiForm::of(&api)),
        api: Some(api),
        errors: FieldErrors::default(),
        algs: ALGS,
    }
}

async fn show(admin: Admin, id: web::Path<String>, q: web::Query<PageQuery>) -> Page {
    let api = load(&admin, id.into_inner()).await?;
    let mut page = detail(&admin, api, None);
    page.l = page.l.with_done(q.done.as_deref());
    Ok(render(StatusCode::OK, &page))
}

async fn update(p: Posted<ApiForm>, id: web::Path<String>) -> Page {
    let Posted { admin, form, .. } = p;
    let api = load(&admin, id.into_inner()).await?;
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
        Err(e) => return again(detail(&admin, api, Some(form)), e.into()),
    };
    let (store, actor, aid) = (admin.state.store.clone(), admin.actor(), api.id.clone());
    let now = admin.now();
    match blocking(move || admin::update_api(&store, &actor, now, &aid, edit)).await? {
        Ok(a) => Ok(see_other(&paths::done(&paths::api(&a.id), "saved"))),
        Err(e) => again(detail(&admin, api, Some(form)), e.into()),
    }
}

async fn delete(p: Posted<Empty>, id: web::Path<String>) -> Page {
    let admin = p.admin;
    let (store, actor, aid) = (admin.state.store.clone(), admin.actor(), id.into_inner());
    let now = admin.now();
    blocking(move || admin::delete_api(&store, &actor, now, &aid)).await??;
    Ok(see_other(&paths::done(paths::APIS, "deleted")))
}
