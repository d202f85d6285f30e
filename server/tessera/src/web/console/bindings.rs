//! Bindings: the matrix of grant types with each one's ordered pipeline
//! (claim rules for every client, hooks for listed clients), add, reorder,
//! enable or disable, config and write-only secrets, failure policy.
//! Changes reach the next token request on every node, with no restart.
//! A binding's shadow candidate is shown on its page and set, promoted or
//! discarded by `console::shadow`.

use super::shadow::ShadowForm;
use super::{
    Admin, ConsoleError, Empty, Failure, FieldErrors, Layout, Page, PageQuery, Posted, blocking, filters, pretty,
    render, render_form, see_other,
};
use crate::service::admin::names::{self, Kind, Named};
use crate::service::admin::{AdminError, split_list};
use crate::service::db::InTx;
use crate::service::plugins::{self as svc, BindingChange, BindingEntry, NewBinding};
use crate::service::precondition::{self, Row};
use crate::service::shadow::admin::{self as shadow_svc, ShadowReport};
use crate::service::suspensions::Suspended;
use crate::web::routes::console as paths;
use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};
use tessera_protocol::model::GrantType;
use tessera_store::plugins::FailurePolicy;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::relative(paths::BINDINGS), web::get().to(matrix))
        .route(paths::relative(paths::BINDINGS), web::post().to(create))
        .route(paths::relative(paths::NEW_BINDING), web::get().to(new_form))
        .route(paths::relative(paths::BINDING), web::get().to(show))
        .route(paths::relative(paths::BINDING), web::post().to(update))
        .route(paths::relative(paths::BINDING_MOVE), web::post().to(move_binding))
        .route(paths::relative(paths::BINDING_DELETE), web::post().to(delete));
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
    all: Vec<BindingEntry>,
    lanes: Vec<Lane>,
    /// The client names of each hook in `all` (ids of deleted clients), by client id.
    client_names: HashMap<String, Named>,
    /// The bindings this node suspended (`service::suspensions`).
    suspended: Vec<Suspended>,
}

impl MatrixPage {
    fn entry(&self, i: &usize) -> &BindingEntry {
        &self.all[*i]
    }

    /// Whether this node suspended `e`'s binding.
    fn is_suspended(&self, e: &BindingEntry) -> bool {
        self.suspended.iter().any(|s| s.binding == e.binding.id)
    }

    /// A hook's clients by name, for its badge.
    fn clients_of(&self, e: &BindingEntry) -> String {
        let ids = e.binding.client_ids.as_deref().unwrap_or_default();
        let label = |id: &String| self.client_names.get(id).and_then(|n| n.name.clone()).unwrap_or_else(|| id.clone());
        ids.iter().map(label).collect::<Vec<_>>().join(", ")
    }
}

async fn matrix(admin: Admin, q: web::Query<PageQuery>) -> Page {
    let store = admin.state.store.clone();
    let all = blocking(move || svc::binding_entries(&store)).await??;
    let ids: Vec<String> = all
        .iter()
        .flat_map(|e| e.binding.client_ids.iter().flatten().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let store = admin.state.store.clone();
    let named = blocking(move || names::name_each(&store, Kind::Client, &ids)).await??;
    let client_names = named.into_iter().map(|n| (n.id.clone(), n)).collect();
    let lanes = GrantType::all_advertised()
        .into_iter()
        .map(|g| Lane {
            grant_type: g.as_str(),
            entries: (0..all.len()).filter(|i| all[*i].binding.grant_types.contains(&g)).collect(),
        })
        .collect();
    let l = Layout::new(&admin, "bindings", "Bindings").with_done(q.done.as_deref());
    let suspended = admin.state.suspensions.all(std::time::Instant::now());
    Ok(render(StatusCode::OK, &MatrixPage { l, all, lanes, client_names, suspended }))
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
    #[serde(flatten, default)]
    http: HttpForm,
    /// The version of the binding the form was filled from
    /// (`precondition::form_version`); empty on the new-binding form.
    #[serde(default)]
    etag: String,
}

/// The binding's outbound HTTP for `tessera:plugin@0.2.0` plugins
/// (issue #17 item 4): its own block of the form.
#[derive(Debug, Default, serde::Deserialize)]
struct HttpForm {
    /// Allowed URL prefixes, one per line.
    #[serde(default)]
    http_allow: String,
    /// Cache TTL in seconds; blank or 0: no cache.
    #[serde(default)]
    http_cache_ttl: String,
}

impl HttpForm {
    fn of(b: &crate::service::views::BindingView) -> HttpForm {
        HttpForm {
            http_allow: b.http_allow.join("\n"),
            http_cache_ttl: b.http_cache_ttl_secs.map(|t| t.to_string()).unwrap_or_default(),
        }
    }

    fn allow(&self) -> Vec<String> {
        self.http_allow.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
    }

    fn cache_ttl(&self) -> Result<Option<i64>, AdminError> {
        match self.http_cache_ttl.trim() {
            "" => Ok(None),
            t => t.parse().map(Some).map_err(|_| AdminError::Invalid {
                field: "http-cache-ttl",
                message: "must be a whole number of seconds (0 or blank: no cache)".into(),
            }),
        }
    }
}

impl BindingForm {
    /// Whether the client `id` is among the chosen ones.
    fn has_client(&self, id: &str) -> bool {
        split_list(&self.clients).iter().any(|c| c == id)
    }

    /// The chosen ids that the picker does not list (typed by hand).
    fn other_clients(&self, known: &[(String, String)]) -> String {
        split_list(&self.clients)
            .into_iter()
            .filter(|id| !known.iter().any(|(k, _)| k == id))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Adds the clients ticked in the picker (`client_ids`, by name) to
    /// those typed as ids (`clients`, for clients not listed).
    fn with_picked(mut self, picked: Vec<String>) -> BindingForm {
        let mut all = split_list(&self.clients);
        for id in picked {
            if !all.contains(&id) {
                all.push(id);
            }
        }
        self.clients = all.join(", ");
        self
    }

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
    binding: Option<BindingEntry>,
    form: BindingForm,
    errors: FieldErrors,
    plugins: Vec<(String, Vec<i32>)>,
    versions: Vec<i32>,
    clients: Vec<(String, String)>,
    choices: Vec<&'static str>,
    /// The candidate and its comparison (`console/binding_shadow.html`).
    shadow: Option<ShadowReport>,
    shadow_form: ShadowForm,
    shadow_errors: FieldErrors,
    /// Whether this node suspended the binding (`service::suspensions`).
    suspended: Option<Suspended>,
}

/// A binding's shadow report, if it has a candidate.
async fn shadow_report(admin: &Admin, id: &str) -> Result<Option<ShadowReport>, ConsoleError> {
    let (store, id) = (admin.state.store.clone(), id.to_owned());
    Ok(blocking(move || shadow_svc::report(&store, &id)).await??)
}

/// The binding page again, with the shadow form's errors (from
/// `console::shadow`).
pub(super) async fn with_shadow_errors(admin: &Admin, id: String, shadow_form: ShadowForm, failure: Failure) -> Page {
    let (shadow_errors, banner) = match failure {
        Failure::Form(e, b) => (e, b),
        Failure::Page(e) => return Err(e),
    };
    let entry = load(admin, id).await?;
    let (plugins, versions, clients) = options(admin, Some(entry.binding.plugin_id.clone())).await?;
    let shadow = shadow_report(admin, &entry.binding.id).await?;
    let mut l = Layout::new(admin, "bindings", format!("Binding of {}", entry.plugin));
    l.error = banner;
    let page = BindingPage {
        l,
        form: form_of(&entry),
        binding: Some(entry),
        errors: FieldErrors::default(),
        plugins,
        versions,
        clients,
        choices: GrantType::advertised_names(),
        shadow,
        shadow_form,
        shadow_errors,
        suspended: None,
    };
    Ok(render_form(true, &page))
}

/// Plugin names, the bound plugin's versions, and clients, for the form.
async fn options(
    admin: &Admin,
    plugin_id: Option<String>,
) -> Result<(Vec<(String, Vec<i32>)>, Vec<i32>, Vec<(String, String)>), ConsoleError> {
    let store = admin.state.store.clone();
    let o = blocking(move || svc::binding_options(&store, plugin_id.as_deref())).await??;
    Ok((o.plugins, o.versions, o.clients))
}

#[derive(serde::Deserialize)]
struct NewQuery {
    plugin: Option<String>,
    client: Option<String>,
}

async fn new_form(admin: Admin, q: web::Query<NewQuery>) -> Page {
    let (plugins, _, clients) = options(&admin, None).await?;
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
        shadow: None,
        shadow_form: ShadowForm::default(),
        shadow_errors: FieldErrors::default(),
        suspended: None,
    };
    Ok(render(StatusCode::OK, &page))
}

async fn again(admin: &Admin, binding: Option<BindingEntry>, form: BindingForm, failure: Failure) -> Page {
    let (errors, banner) = match failure {
        Failure::Form(e, b) => (e, b),
        Failure::Page(e) => return Err(e),
    };
    let (plugins, versions, clients) = options(admin, binding.as_ref().map(|e| e.binding.plugin_id.clone())).await?;
    let title = if binding.is_some() { "Binding" } else { "New binding" };
    let mut l = Layout::new(admin, "bindings", title);
    l.error = banner;
    let shadow = match &binding {
        Some(e) => shadow_report(admin, &e.binding.id).await?,
        None => None,
    };
    let page = BindingPage {
        l,
        binding,
        form,
        errors,
        plugins,
        versions,
        clients,
        choices: GrantType::advertised_names(),
        shadow,
        shadow_form: ShadowForm::default(),
        shadow_errors: FieldErrors::default(),
        suspended: None,
    };
    Ok(render_form(true, &page))
}

async fn create(p: Posted<BindingForm>) -> Page {
    let (grants, picked) = (p.all("grant_types"), p.all("client_ids"));
    let Posted { admin, form, .. } = p;
    let mut form = form.with_picked(picked);
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
            http_allow: form.http.allow(),
            http_cache_ttl_secs: form.http.cache_ttl()?,
        })
    })();
    let new = match new {
        Ok(n) => n,
        Err(e) => return again(&admin, None, form, e.into()).await,
    };
    let (store, state, actor) = (admin.state.store.clone(), admin.state.clone(), admin.actor());
    let now = admin.now();
    match blocking(move || svc::create_binding(&store, state.keys.master(), &actor, now, new)).await? {
        Ok(b) => Ok(see_other(&paths::done(&paths::binding(&b.id), "created"))),
        Err(e) => again(&admin, None, form, e.into()).await,
    }
}

pub(super) async fn load(admin: &Admin, id: String) -> Result<BindingEntry, ConsoleError> {
    let store = admin.state.store.clone();
    blocking(move || svc::binding_entry(&store, &id)).await??.ok_or(ConsoleError::NotFound("No such binding."))
}

fn form_of(e: &BindingEntry) -> BindingForm {
    BindingForm {
        plugin: e.plugin.clone(),
        version: e.version.to_string(),
        grant_types: e.binding.grant_types.iter().map(|g| g.as_str().to_owned()).collect(),
        clients: e.binding.client_ids.as_ref().map(|c| c.join(", ")).unwrap_or_default(),
        config: pretty(&e.binding.config),
        secrets: String::new(),
        clear_secrets: None,
        failure_policy: e.binding.failure_policy.as_str().to_owned(),
        position: e.binding.position.to_string(),
        enabled: e.binding.enabled.then(|| "on".into()),
        http: HttpForm::of(&e.binding),
        etag: precondition::form_version(&e.binding),
    }
}

async fn show(admin: Admin, id: web::Path<String>, q: web::Query<PageQuery>) -> Page {
    let entry = load(&admin, id.into_inner()).await?;
    let (plugins, versions, clients) = options(&admin, Some(entry.binding.plugin_id.clone())).await?;
    let l = Layout::new(&admin, "bindings", format!("Binding of {}", entry.plugin)).with_done(q.done.as_deref());
    let shadow = shadow_report(&admin, &entry.binding.id).await?;
    let suspended = admin.state.suspensions.of(&entry.binding.id, std::time::Instant::now());
    let page = BindingPage {
        l,
        form: form_of(&entry),
        binding: Some(entry),
        errors: FieldErrors::default(),
        plugins,
        versions,
        clients,
        choices: GrantType::advertised_names(),
        shadow,
        shadow_form: ShadowForm::default(),
        shadow_errors: FieldErrors::default(),
        suspended,
    };
    Ok(render(StatusCode::OK, &page))
}

async fn update(p: Posted<BindingForm>, id: web::Path<String>) -> Page {
    let (grants, picked) = (p.all("grant_types"), p.all("client_ids"));
    let Posted { admin, form, .. } = p;
    let mut form = form.with_picked(picked);
    form.grant_types = grants;
    let entry = load(&admin, id.into_inner()).await?;
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
            http_allow: Some(form.http.allow()),
            http_cache_ttl_secs: Some(form.http.cache_ttl()?),
        })
    })();
    let change = match change {
        Ok(c) => c,
        Err(e) => return again(&admin, Some(entry), form, e.into()).await,
    };
    let (store, state, actor, bid, etag) =
        (admin.state.store.clone(), admin.state.clone(), admin.actor(), entry.binding.id.clone(), form.etag.clone());
    let now = admin.now();
    let saved = blocking(move || {
        let view = |db: &InTx<'_>| match svc::binding_entry(db, &bid)? {
            Some(e) => Ok(e.binding),
            None => Err(AdminError::NotFound("binding".into())),
        };
        let save = |db: &InTx<'_>| svc::update_binding(db, state.keys.master(), &actor, now, &bid, change);
        precondition::guarded(&store, Row::Binding(&bid), &precondition::form_if_match(&etag)?, view, save)
    });
    match saved.await? {
        Ok(b) => Ok(see_other(&paths::done(&paths::binding(&b.id), "saved"))),
        Err(e) => again(&admin, Some(entry), form, e.into()).await,
    }
}

#[derive(serde::Deserialize)]
struct MoveForm {
    grant_type: String,
    direction: String,
}

async fn move_binding(p: Posted<MoveForm>, id: web::Path<String>) -> Page {
    let Posted { admin, form, .. } = p;
    let (store, actor, bid) = (admin.state.store.clone(), admin.actor(), id.into_inner());
    let up = form.direction == "up";
    let grant = form.grant_type.clone();
    let now = admin.now();
    blocking(move || svc::move_binding(&store, &actor, now, &bid, &grant, up)).await??;
    Ok(see_other(&format!("{}#lane-{}", paths::done(paths::BINDINGS, "moved"), lane_id(&form.grant_type))))
}

/// An HTML id for a grant type's lane (URNs have colons).
pub fn lane_id(grant_type: &str) -> String {
    grant_type.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

async fn delete(p: Posted<Empty>, id: web::Path<String>) -> Page {
    let admin = p.admin;
    let (store, actor, bid) = (admin.state.store.clone(), admin.actor(), id.into_inner());
    let now = admin.now();
    blocking(move || svc::delete_binding(&store, &actor, now, &bid)).await??;
    Ok(see_other(&paths::done(paths::BINDINGS, "deleted")))
}
