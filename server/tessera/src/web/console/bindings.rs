//! Bindings: the matrix of grant types with each one's ordered pipeline
//! (claim rules for every client, hooks for listed clients), add, reorder,
//! enable or disable, config and write-only secrets, failure policy.
//! Changes reach the next token request on every node, with no restart.

use super::{
    Admin, Empty, Failure, FieldErrors, Layout, PageQuery, Posted, blocking, filters, pretty, render, render_form,
    see_other,
};
use crate::service::admin::{AdminError, split_list};
use crate::service::pipeline::TOKEN_TRIGGER;
use crate::service::plugins::{self as svc, BindingChange, NewBinding};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde_json::{Map, Value};
use std::collections::HashMap;
use tessera_protocol::model::GrantType;
use tessera_store::plugins::{self, Binding, FailurePolicy};
use tessera_store::{StoreError, clients};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/bindings", web::get().to(matrix))
        .route("/bindings", web::post().to(create))
        .route("/bindings/new", web::get().to(new_form))
        .route("/bindings/{id}", web::get().to(show))
        .route("/bindings/{id}", web::post().to(update))
        .route("/bindings/{id}/move", web::post().to(move_binding))
        .route("/bindings/{id}/delete", web::post().to(delete));
}

/// A binding with the names the page shows.
struct Entry {
    b: Binding,
    plugin: String,
    version: i32,
}

impl Entry {
    fn is_hook(&self) -> bool {
        self.b.client_ids.is_some()
    }
}

/// Every binding with its plugin name and version number, in pipeline order
/// (one query for the bindings, one per plugin for its names and versions).
fn entries(conn: &mut tessera_store::DbConn) -> Result<Vec<Entry>, StoreError> {
    let mut names: HashMap<String, String> = HashMap::new();
    let mut numbers: HashMap<String, i32> = HashMap::new();
    for p in plugins::list(conn)? {
        numbers.extend(plugins::versions(conn, &p.id)?.into_iter().map(|v| (v.id, v.version)));
        names.insert(p.id, p.name);
    }
    Ok(plugins::bindings_for_trigger(conn, TOKEN_TRIGGER)?
        .into_iter()
        .map(|b| Entry {
            plugin: names.get(&b.plugin_id).cloned().unwrap_or_default(),
            version: numbers.get(&b.plugin_version_id).copied().unwrap_or(0),
            b,
        })
        .collect())
}

/// One binding with its plugin name and version number.
fn entry(conn: &mut tessera_store::DbConn, id: &str) -> Result<Option<Entry>, StoreError> {
    let Some(b) = plugins::binding(conn, id)? else { return Ok(None) };
    let plugin = plugins::find(conn, &b.plugin_id)?.map(|p| p.name).unwrap_or_default();
    let version = plugins::version(conn, &b.plugin_version_id)?.map_or(0, |v| v.version);
    Ok(Some(Entry { b, plugin, version }))
}

/// One grant type's pipeline.
struct Lane {
    grant_type: &'static str,
    entries: Vec<usize>,
}

#[derive(Template)]
#[template(path = "console/bindings.html")]
struct MatrixPage {
    l: Layout,
    all: Vec<Entry>,
    lanes: Vec<Lane>,
}

impl MatrixPage {
    fn entry(&self, i: &usize) -> &Entry {
        &self.all[*i]
    }
}

async fn matrix(admin: Admin, q: web::Query<PageQuery>) -> HttpResponse {
    let store = admin.state.store.clone();
    match blocking(move || entries(&mut *store.conn()?)).await {
        Ok(Ok(all)) => {
            let lanes = GrantType::all_advertised()
                .into_iter()
                .map(|g| Lane {
                    grant_type: g.as_str(),
                    entries: (0..all.len()).filter(|i| all[*i].b.grant_types.contains(&g)).collect(),
                })
                .collect();
            let l = Layout::new(&admin, "bindings", "Bindings").with_done(q.done.as_deref());
            render(StatusCode::OK, &MatrixPage { l, all, lanes })
        }
        Ok(Err(e)) => super::store_page(e),
        Err(r) => r,
    }
}

/// The form's fields as typed; grant types come from repeated checkboxes.
#[derive(serde::Deserialize, Default)]
struct BindingForm {
    #[serde(default)]
    plugin: String,
    #[serde(default)]
    version: String,
    #[serde(skip)]
    grant_types: Vec<String>,
    #[serde(default)]
    clients: String,
    #[serde(default)]
    config: String,
    #[serde(default)]
    secrets: String,
    #[serde(default)]
    clear_secrets: Option<String>,
    #[serde(default)]
    failure_policy: String,
    #[serde(default)]
    position: String,
    #[serde(default)]
    enabled: Option<String>,
}

impl BindingForm {
    fn has_grant(&self, g: &&str) -> bool {
        self.grant_types.iter().any(|x| x == g)
    }

    fn config(&self) -> Result<Value, AdminError> {
        if self.config.trim().is_empty() {
            return Ok(Value::Object(Map::new()));
        }
        serde_json::from_str(&self.config)
            .map_err(|e| AdminError::Invalid { field: "config", message: format!("is not valid JSON: {e}") })
    }

    /// `NAME=value` lines.
    fn secrets(&self) -> Result<Map<String, Value>, AdminError> {
        let mut m = Map::new();
        for line in self.secrets.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let Some((k, v)) = line.split_once('=') else {
                return Err(AdminError::Invalid { field: "secret", message: "write one NAME=value per line".into() });
            };
            m.insert(k.trim().to_owned(), Value::String(v.to_owned()));
        }
        Ok(m)
    }

    fn position(&self) -> Result<Option<i32>, AdminError> {
        match self.position.trim() {
            "" => Ok(None),
            p => p.parse().map(Some).map_err(|_| AdminError::Invalid {
                field: "position",
                message: "must be a whole number (smaller runs first)".into(),
            }),
        }
    }

    fn version(&self) -> Result<Option<i32>, AdminError> {
        match self.version.trim() {
            "" | "latest" => Ok(None),
            v => v
                .parse()
                .map(Some)
                .map_err(|_| AdminError::Invalid { field: "version", message: "choose a version".into() }),
        }
    }
}

#[derive(Template)]
#[template(path = "console/binding.html")]
struct BindingPage {
    l: Layout,
    binding: Option<Entry>,
    form: BindingForm,
    errors: FieldErrors,
    plugins: Vec<String>,
    versions: Vec<i32>,
    clients: Vec<(String, String)>,
    choices: Vec<&'static str>,
}

/// Plugin names, the bound plugin's versions, and clients, for the form.
async fn options(
    admin: &Admin,
    plugin_id: Option<String>,
) -> Result<(Vec<String>, Vec<i32>, Vec<(String, String)>), HttpResponse> {
    let store = admin.state.store.clone();
    match blocking(move || -> Result<_, StoreError> {
        let mut c = store.conn()?;
        let names = plugins::list(&mut c)?.into_iter().map(|p| p.name).collect();
        // Newest first, as the store lists them.
        let versions: Vec<i32> = match plugin_id {
            Some(id) => plugins::versions(&mut c, &id)?.into_iter().map(|v| v.version).collect(),
            None => vec![],
        };
        let clients = clients::list(&mut c, 0, 500)?.into_iter().map(|cl| (cl.id, cl.name)).collect();
        Ok((names, versions, clients))
    })
    .await?
    {
        Ok(x) => Ok(x),
        Err(e) => Err(super::store_page(e)),
    }
}

#[derive(serde::Deserialize)]
struct NewQuery {
    plugin: Option<String>,
    client: Option<String>,
}

async fn new_form(admin: Admin, q: web::Query<NewQuery>) -> HttpResponse {
    let (plugins, _, clients) = match options(&admin, None).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let form = BindingForm {
        plugin: q.plugin.clone().unwrap_or_default(),
        grant_types: vec![GrantType::ClientCredentials.as_str().into()],
        clients: q.client.clone().unwrap_or_default(),
        config: "{}".into(),
        failure_policy: FailurePolicy::default().as_str().into(),
        enabled: Some("on".into()),
        ..BindingForm::default()
    };
    let l = Layout::new(&admin, "bindings", "New binding");
    let page = BindingPage {
        l,
        binding: None,
        form,
        errors: FieldErrors::default(),
        plugins,
        versions: vec![],
        clients,
        choices: GrantType::advertised_names(),
    };
    render(StatusCode::OK, &page)
}

async fn again(admin: &Admin, binding: Option<Entry>, form: BindingForm, failure: Failure) -> HttpResponse {
    let (errors, banner) = match failure {
        Failure::Form(e, b) => (e, b),
        Failure::Page(r) => return r,
    };
    let (plugins, versions, clients) = match options(admin, binding.as_ref().map(|e| e.b.plugin_id.clone())).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let title = if binding.is_some() { "Binding" } else { "New binding" };
    let mut l = Layout::new(admin, "bindings", title);
    l.error = banner;
    let page =
        BindingPage { l, binding, form, errors, plugins, versions, clients, choices: GrantType::advertised_names() };
    render_form(true, &page)
}

async fn create(p: Posted<BindingForm>) -> HttpResponse {
    let grants = p.all("grant_types");
    let Posted { admin, mut form, .. } = p;
    form.grant_types = grants;
    let new = (|| -> Result<NewBinding, AdminError> {
        let plugin = match form.version()? {
            Some(v) => format!("{}@{v}", form.plugin.trim()),
            None => form.plugin.trim().to_owned(),
        };
        if form.plugin.trim().is_empty() {
            return Err(AdminError::Invalid { field: "plugin", message: "choose a plugin".into() });
        }
        Ok(NewBinding {
            plugin,
            grant_types: form.grant_types.clone(),
            clients: split_list(&form.clients),
            config: form.config()?,
            secrets: form.secrets()?,
            failure_policy: Some(form.failure_policy.clone()),
            position: form.position()?,
            disabled: form.enabled.is_none(),
        })
    })();
    let new = match new {
        Ok(n) => n,
        Err(e) => return again(&admin, None, form, e.into()).await,
    };
    let (store, state, actor) = (admin.state.store.clone(), admin.state.clone(), admin.actor());
    match blocking(move || svc::create_binding(&store, state.keys.master(), &actor, new)).await {
        Ok(Ok(b)) => see_other(&format!("/admin/bindings/{}?done=created", b.id)),
        Ok(Err(e)) => again(&admin, None, form, e.into()).await,
        Err(r) => r,
    }
}

async fn load(admin: &Admin, id: String) -> Result<Entry, HttpResponse> {
    let store = admin.state.store.clone();
    match blocking(move || entry(&mut *store.conn()?, &id)).await? {
        Ok(Some(e)) => Ok(e),
        Ok(None) => Err(super::message_page(StatusCode::NOT_FOUND, "No such binding.")),
        Err(e) => Err(super::store_page(e)),
    }
}

fn form_of(e: &Entry) -> BindingForm {
    BindingForm {
        plugin: e.plugin.clone(),
        version: e.version.to_string(),
        grant_types: e.b.grant_types.iter().map(|g| g.as_str().to_owned()).collect(),
        clients: e.b.client_ids.as_ref().map(|c| c.join(", ")).unwrap_or_default(),
        config: pretty(&e.b.config),
        secrets: String::new(),
        clear_secrets: None,
        failure_policy: e.b.failure_policy.as_str().to_owned(),
        position: e.b.position.to_string(),
        enabled: e.b.enabled.then(|| "on".into()),
    }
}

async fn show(admin: Admin, id: web::Path<String>, q: web::Query<PageQuery>) -> HttpResponse {
    let entry = match load(&admin, id.into_inner()).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    let (plugins, versions, clients) = match options(&admin, Some(entry.b.plugin_id.clone())).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let l = Layout::new(&admin, "bindings", format!("Binding of {}", entry.plugin)).with_done(q.done.as_deref());
    let page = BindingPage {
        l,
        form: form_of(&entry),
        binding: Some(entry),
        errors: FieldErrors::default(),
        plugins,
        versions,
        clients,
        choices: GrantType::advertised_names(),
    };
    render(StatusCode::OK, &page)
}

async fn update(p: Posted<BindingForm>, id: web::Path<String>) -> HttpResponse {
    let grants = p.all("grant_types");
    let Posted { admin, mut form, .. } = p;
    form.grant_types = grants;
    let entry = match load(&admin, id.into_inner()).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    let change = (|| -> Result<BindingChange, AdminError> {
        let secrets = form.secrets()?;
        Ok(BindingChange {
            version: form.version()?,
            position: form.position()?,
            enabled: Some(form.enabled.is_some()),
            config: Some(form.config()?),
            failure_policy: Some(form.failure_policy.clone()),
            // Blank keeps the saved secrets (never shown again); "clear" removes them.
            secrets: if form.clear_secrets.is_some() {
                Some(Map::new())
            } else {
                (!secrets.is_empty()).then_some(secrets)
            },
            grant_types: Some(form.grant_types.clone()),
            clients: Some(split_list(&form.clients)),
        })
    })();
    let change = match change {
        Ok(c) => c,
        Err(e) => return again(&admin, Some(entry), form, e.into()).await,
    };
    let (store, state, actor, bid) =
        (admin.state.store.clone(), admin.state.clone(), admin.actor(), entry.b.id.clone());
    match blocking(move || svc::update_binding(&store, state.keys.master(), &actor, &bid, change)).await {
        Ok(Ok(b)) => see_other(&format!("/admin/bindings/{}?done=saved", b.id)),
        Ok(Err(e)) => again(&admin, Some(entry), form, e.into()).await,
        Err(r) => r,
    }
}

#[derive(serde::Deserialize)]
struct MoveForm {
    grant_type: String,
    direction: String,
}

async fn move_binding(p: Posted<MoveForm>, id: web::Path<String>) -> HttpResponse {
    let Posted { admin, form, .. } = p;
    let (store, actor, bid) = (admin.state.store.clone(), admin.actor(), id.into_inner());
    let up = form.direction == "up";
    let grant = form.grant_type.clone();
    match blocking(move || svc::move_binding(&store, &actor, &bid, &grant, up)).await {
        Ok(Ok(_)) => see_other(&format!("/admin/bindings?done=moved#lane-{}", lane_id(&form.grant_type))),
        Ok(Err(e)) => super::admin_error_page(e),
        Err(r) => r,
    }
}

/// An HTML id for a grant type's lane (URNs have colons).
pub fn lane_id(grant_type: &str) -> String {
    grant_type.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

async fn delete(p: Posted<Empty>, id: web::Path<String>) -> HttpResponse {
    let admin = p.admin;
    let (store, actor, bid) = (admin.state.store.clone(), admin.actor(), id.into_inner());
    match blocking(move || svc::delete_binding(&store, &actor, &bid)).await {
        Ok(Ok(())) => see_other("/admin/bindings?done=deleted"),
        Ok(Err(e)) => super::admin_error_page(e),
        Err(r) => r,
    }
}
