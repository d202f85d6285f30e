//! APIs (resource servers): audience, signing algorithm, token lifetime, scopes.

use super::{
    Admin, Empty, Failure, FieldErrors, Layout, PageQuery, Pager, Posted, blocking, filters, render, render_form,
    see_other,
};
use crate::service::admin::{self, AdminError, ApiEdit, NewApi, split_list};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use tessera_protocol::model::SigningAlg;
use tessera_store::apis::{self, Api};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/apis", web::get().to(list))
        .route("/apis", web::post().to(create))
        .route("/apis/new", web::get().to(new_form))
        .route("/apis/{id}", web::get().to(show))
        .route("/apis/{id}", web::post().to(update))
        .route("/apis/{id}/delete", web::post().to(delete));
}

const ALGS: &[&str] = &["RS256", "ES256", "EdDSA", "HS256"];

#[derive(Template)]
#[template(path = "console/apis.html")]
struct ListPage {
    l: Layout,
    apis: Vec<Api>,
    pager: Pager,
}

async fn list(admin: Admin, q: web::Query<PageQuery>) -> HttpResponse {
    let (page, offset, limit) = Pager::window(q.page);
    let store = admin.state.store.clone();
    match blocking(move || apis::page(&mut *store.conn()?, offset, limit)).await {
        Ok(Ok(mut rows)) => {
            let pager = Pager::paginate(page, &mut rows, &[]);
            let l = Layout::new(&admin, "apis", "APIs").with_done(q.done.as_deref());
            render(StatusCode::OK, &ListPage { l, apis: rows, pager })
        }
        Ok(Err(e)) => super::store_page(e),
        Err(r) => r,
    }
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
    fn of(a: &Api, resource_servers: &[String]) -> ApiForm {
        ApiForm {
            identifier: a.identifier.clone(),
            name: a.name.clone(),
            alg: a.alg.as_str().into(),
            lifetime: a.token_lifetime_secs.to_string(),
            scopes: a.scopes.join(", "),
            resource_servers: resource_servers.join(", "),
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
    api: Option<Api>,
    form: ApiForm,
    errors: FieldErrors,
    algs: &'static [&'static str],
}

fn again(mut page: ApiPage, failure: Failure) -> HttpResponse {
    match failure {
        Failure::Form(errors, banner) => {
            page.errors = errors;
            page.l.error = banner;
            render_form(true, &page)
        }
        Failure::Page(resp) => resp,
    }
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

async fn create(p: Posted<ApiForm>) -> HttpResponse {
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
    match blocking(move || admin::create_api(&store, state.keys.master(), &actor, new)).await {
        Ok(Ok((api, Some(secret)))) => {
            let l = Layout::new(&admin, "apis", format!("API {} created", api.identifier));
            super::secret_page(
                l,
                "HS256 shared secret of API",
                &api.identifier,
                &format!("/admin/apis/{}", api.id),
                &secret,
            )
        }
        Ok(Ok((api, None))) => see_other(&format!("/admin/apis/{}?done=created", api.id)),
        Ok(Err(e)) => again(blank(&admin, form), e.into()),
        Err(r) => r,
    }
}

/// An API and the client ids of its resource servers.
async fn load(admin: &Admin, id: String) -> Result<(Api, Vec<String>), HttpResponse> {
    let store = admin.state.store.clone();
    let found = blocking(move || -> Result<Option<(Vec<String>, Api)>, tessera_store::StoreError> {
        let mut conn = store.conn()?;
        match apis::find(&mut conn, &id)? {
            Some(a) => Ok(Some((apis::resource_servers(&mut conn, &a.id)?, a))),
            None => Ok(None),
        }
    })
    .await?;
    match found {
        Ok(Some((rs, a))) => Ok((a, rs)),
        Ok(None) => Err(super::message_page(StatusCode::NOT_FOUND, "No such API.")),
        Err(e) => Err(super::store_page(e)),
    }
}

fn detail(admin: &Admin, (api, resource_servers): (Api, Vec<String>), form: Option<ApiForm>) -> ApiPage {
    ApiPage {
        l: Layout::new(admin, "apis", format!("API {}", api.identifier)),
        form: form.unwrap_or_else(|| ApiForm::of(&api, &resource_servers)),
        api: Some(api),
        errors: FieldErrors::default(),
        algs: ALGS,
    }
}

async fn show(admin: Admin, id: web::Path<String>, q: web::Query<PageQuery>) -> HttpResponse {
    match load(&admin, id.into_inner()).await {
        Ok(api) => {
            let mut page = detail(&admin, api, None);
            page.l = page.l.with_done(q.done.as_deref());
            render(StatusCode::OK, &page)
        }
        Err(r) => r,
    }
}

async fn update(p: Posted<ApiForm>, id: web::Path<String>) -> HttpResponse {
    let Posted { admin, form, .. } = p;
    let api = match load(&admin, id.into_inner()).await {
        Ok(a) => a,
        Err(r) => return r,
    };
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
    let (store, actor, aid) = (admin.state.store.clone(), admin.actor(), api.0.id.clone());
    match blocking(move || admin::update_api(&store, &actor, &aid, edit)).await {
        Ok(Ok(a)) => see_other(&format!("/admin/apis/{}?done=saved", a.id)),
        Ok(Err(e)) => again(detail(&admin, api, Some(form)), e.into()),
        Err(r) => r,
    }
}

async fn delete(p: Posted<Empty>, id: web::Path<String>) -> HttpResponse {
    let admin = p.admin;
    let (store, actor, aid) = (admin.state.store.clone(), admin.actor(), id.into_inner());
    match blocking(move || admin::delete_api(&store, &actor, &aid)).await {
        Ok(Ok(())) => see_other("/admin/apis?done=deleted"),
        Ok(Err(e)) => super::admin_error_page(e),
        Err(r) => r,
    }
}
