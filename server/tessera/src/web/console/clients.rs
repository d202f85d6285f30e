//! Clients: create from an application-type preset (machine to machine,
//! web app, single-page app, native) with the rest under "advanced"; grant
//! types with the reasons some are off by default, redirect and logout URIs,
//! metadata, service account; secrets shown once, rotated with overlap,
//! revoked; the client's own hooks, its effective pipeline per grant type,
//! and a quick-start box (issuer, endpoints, a real test token for an M2M
//! client).

use super::names::Link;
use super::{
    Admin, ConsoleError, Empty, Failure, FieldErrors, Layout, Page, PageQuery, Pager, Posted, blocking, filters,
    pretty, render, render_form, see_other,
};
use crate::service::admin::{self, AdminError, ExchangePolicy, NewClient, json_object, split_list};
use crate::service::client_page::{self, PipelineLane, TestToken};
use crate::service::db::InTx;
use crate::service::precondition::{self, Row};
use crate::service::views::{BindingView, ClientDetail, ClientSecretView, ClientView, RegistrationView};
use crate::web::routes::console as paths;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use tessera_protocol::model::GrantType;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::relative(paths::CLIENTS), web::get().to(list))
        .route(paths::relative(paths::CLIENTS), web::post().to(create))
        .route(paths::relative(paths::NEW_CLIENT), web::get().to(new_form))
        .route(paths::relative(paths::CLIENT), web::get().to(show))
        .route(paths::relative(paths::CLIENT), web::post().to(update))
        .route(paths::relative(paths::CLIENT_DELETE), web::post().to(delete))
        .route(paths::relative(paths::CLIENT_SECRETS), web::post().to(add_secret))
        .route(paths::relative(paths::CLIENT_SECRET_REVOKE), web::post().to(revoke_secret))
        .route(paths::relative(paths::CLIENT_TEST_TOKEN), web::post().to(test_token));
}

/// The application types a new client starts from: each sets the client
/// type, the grant types (hence the authentication method: a secret for a
/// confidential client, none but PKCE for a public one) and says which
/// redirect URIs it needs; everything else stays under "advanced".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// A service calling APIs for itself: client_credentials, a secret.
    MachineToMachine,
    /// A server-side web app: authorization code, refresh tokens, a secret.
    WebApp,
    /// A browser app: authorization code with PKCE, no secret.
    SinglePageApp,
    /// A desktop or mobile app (RFC 8252): PKCE, no secret, loopback or
    /// private-use-scheme redirects.
    Native,
}

impl Preset {
    /// Every preset, in the order the form offers them.
    pub const ALL: [Preset; 4] = [Preset::MachineToMachine, Preset::WebApp, Preset::SinglePageApp, Preset::Native];

    /// The name in `?preset=`.
    pub fn key(self) -> &'static str {
        match self {
            Preset::MachineToMachine => "m2m",
            Preset::WebApp => "web",
            Preset::SinglePageApp => "spa",
            Preset::Native => "native",
        }
    }

    fn parse(key: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.key() == key)
    }

    /// The label on the chooser.
    pub fn label(self) -> &'static str {
        match self {
            Preset::MachineToMachine => "Machine to machine",
            Preset::WebApp => "Web app",
            Preset::SinglePageApp => "Single-page app",
            Preset::Native => "Native app",
        }
    }

    /// What it sets, in a sentence.
    pub fn summary(self) -> &'static str {
        match self {
            Preset::MachineToMachine => {
                "A backend service, job or CLI acting for itself: client_credentials with a client secret \
                 (client_secret_basic); no users, no redirects."
            }
            Preset::WebApp => {
                "A server-rendered app that signs users in: authorization code with PKCE and refresh tokens, \
                 authenticating with a client secret; https redirect URIs."
            }
            Preset::SinglePageApp => {
                "A JavaScript app in the browser: a public client (no secret it could not keep), authorization \
                 code with PKCE and refresh tokens; https redirect URIs."
            }
            Preset::Native => {
                "A desktop or mobile app (RFC 8252): a public client with PKCE and refresh tokens; redirects to \
                 a loopback address (http://127.0.0.1/cb, any port) or a private-use scheme (com.example.app:/cb)."
            }
        }
    }

    /// The redirect-URI rule shown next to the field.
    pub fn redirect_help(self) -> &'static str {
        match self {
            Preset::MachineToMachine => "none needed: client_credentials never redirects",
            Preset::WebApp | Preset::SinglePageApp => {
                "https URLs of your app, matched exactly; http only for 127.0.0.1 or localhost while developing"
            }
            Preset::Native => {
                "RFC 8252: http://127.0.0.1/… (any port is accepted at run time) or a reverse-domain private-use \
                 scheme such as com.example.app:/callback"
            }
        }
    }

    /// An example for the empty field.
    pub fn redirect_placeholder(self) -> &'static str {
        match self {
            Preset::MachineToMachine => "",
            Preset::WebApp => "https://app.example.com/callback",
            Preset::SinglePageApp => "https://spa.example.com/",
            Preset::Native => "http://127.0.0.1/callback",
        }
    }

    fn form(self) -> ClientForm {
        let grants: &[GrantType] = match self {
            Preset::MachineToMachine => &[GrantType::ClientCredentials],
            _ => &[GrantType::AuthorizationCode, GrantType::RefreshToken],
        };
        let public = matches!(self, Preset::SinglePageApp | Preset::Native);
        ClientForm {
            kind: if public { "public".into() } else { "confidential".into() },
            grant_types: grants.iter().map(|g| g.as_str().to_owned()).collect(),
            metadata: "{}".into(),
            preset: self.key().into(),
            ..ClientForm::default()
        }
    }
}

/// The grant types a client can be given here, with why some are off by default.
pub const GRANT_CHOICES: &[(&str, &str)] = &[
    (
        GrantType::AuthorizationCode.as_str(),
        "Browser sign-in with PKCE. The right choice for web, mobile and single-page apps.",
    ),
    (GrantType::RefreshToken.as_str(), "Lets the client renew tokens without the user."),
    (
        GrantType::ClientCredentials.as_str(),
        "Machine to machine: the client acts for itself (confidential clients only).",
    ),
    (
        GrantType::DeviceCode.as_str(),
        "Device authorization (RFC 8628): for TVs, consoles and command-line tools without a browser; the user \
         approves on another device by entering a short code.",
    ),
    (
        GrantType::Password.as_str(),
        "Off by default: the client sees the user's password, and sign-in cannot use anything but a password \
         (RFC 9700 §2.4 says it MUST NOT be used). Enable only to migrate a legacy client you trust.",
    ),
    (
        GrantType::TokenExchange.as_str(),
        "Token exchange (RFC 8693): trades a user's token from Tessera for one to another API, acting for that \
         user. Nothing is allowed until the exchange policy below names audiences and scopes.",
    ),
    (
        GrantType::JwtBearer.as_str(),
        "JWT bearer (RFC 7523): trades a JWT that an issuer you trust signed about a user for a token for that \
         user. Nothing is accepted until trusted issuers are added on the client's page.",
    ),
    (
        GrantType::Implicit.as_str(),
        "Off by default: tokens travel in the URL fragment, exposed to history, referrers and injection \
         (RFC 9700 §2.1.2). Use authorization code with PKCE instead.",
    ),
];

#[derive(Template)]
#[template(path = "console/clients.html")]
struct ListPage {
    l: Layout,
    clients: Vec<ClientView>,
    pager: Pager,
}

async fn list(admin: Admin, q: web::Query<PageQuery>) -> Page {
    let (page, offset, limit) = Pager::window(q.page);
    let store = admin.state.store.clone();
    let mut rows = blocking(move || admin::list_clients(&store, offset, limit)).await??;
    let pager = Pager::paginate(page, &mut rows, &[]);
    let l = Layout::new(&admin, "clients", "Clients").with_done(q.done.as_deref());
    Ok(render(StatusCode::OK, &ListPage { l, clients: rows, pager }))
}

/// The form's fields as typed; grant types come from repeated checkboxes.
#[derive(serde::Deserialize, Default)]
struct ClientForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(skip)]
    grant_types: Vec<String>,
    #[serde(default)]
    redirect_uris: String,
    #[serde(default)]
    post_logout_redirect_uris: String,
    #[serde(default)]
    scopes: String,
    #[serde(default)]
    audiences: String,
    #[serde(default)]
    metadata: String,
    #[serde(default)]
    service_account: String,
    #[serde(default)]
    first_party: Option<String>,
    #[serde(default)]
    disabled: Option<String>,
    #[serde(default)]
    exchange_audiences: String,
    #[serde(default)]
    exchange_scopes: String,
    #[serde(default)]
    exchange_impersonation: Option<String>,
    #[serde(default)]
    require_pushed_authorization_requests: Option<String>,
    #[serde(default)]
    dpop_bound_access_tokens: Option<String>,
    #[serde(default)]
    require_signed_request_object: Option<String>,
    /// Absent (a form without the field) keeps the stored keys; empty
    /// removes them.
    #[serde(default)]
    jwks: Option<String>,
    /// Absent keeps the stored URL; empty removes it.
    #[serde(default)]
    jwks_uri: Option<String>,
    /// Absent keeps the stored URL; empty removes it.
    #[serde(default)]
    backchannel_logout_uri: Option<String>,
    /// Absent keeps the stored URL; empty removes it.
    #[serde(default)]
    frontchannel_logout_uri: Option<String>,
    /// The application-type preset the form started from (help text only).
    #[serde(default)]
    preset: String,
    /// The version of the client the form was filled from
    /// (`precondition::form_version`); empty on the new-client form.
    #[serde(default)]
    etag: String,
}

impl ClientForm {
    fn of(c: &ClientView, service_account: Option<String>) -> ClientForm {
        ClientForm {
            name: c.name.clone(),
            kind: if c.confidential { "confidential".into() } else { "public".into() },
            grant_types: c.grant_types.iter().map(|g| g.as_str().to_owned()).collect(),
            redirect_uris: c.redirect_uris.join("\n"),
            post_logout_redirect_uris: c.post_logout_redirect_uris.join("\n"),
            scopes: c.allowed_scopes.as_ref().map(|s| s.join(", ")).unwrap_or_default(),
            audiences: c.allowed_audiences.as_ref().map(|s| s.join(", ")).unwrap_or_default(),
            metadata: pretty(&c.metadata),
            service_account: service_account.unwrap_or_default(),
            first_party: c.first_party.then(|| "on".into()),
            disabled: c.disabled.then(|| "on".into()),
            exchange_audiences: c.exchange_audiences.join(", "),
            exchange_scopes: c.exchange_scopes.join(", "),
            exchange_impersonation: c.exchange_impersonation.then(|| "on".into()),
            require_pushed_authorization_requests: c.require_pushed_authorization_requests.then(|| "on".into()),
            jwks: Some(c.jwks.as_ref().map(pretty).unwrap_or_default()),
            jwks_uri: Some(c.jwks_uri.clone().unwrap_or_default()),
            backchannel_logout_uri: Some(c.backchannel_logout_uri.clone().unwrap_or_default()),
            frontchannel_logout_uri: Some(c.frontchannel_logout_uri.clone().unwrap_or_default()),
            dpop_bound_access_tokens: c.dpop_bound_access_tokens.then(|| "on".into()),
            require_signed_request_object: c.require_signed_request_object.then(|| "on".into()),
            preset: String::new(),
            etag: precondition::form_version(c),
        }
    }

    /// The preset the form started from, if any.
    fn preset(&self) -> Option<Preset> {
        Preset::parse(&self.preset)
    }

    fn public(&self) -> bool {
        self.kind == "public"
    }

    fn has_grant(&self, g: &&str) -> bool {
        self.grant_types.iter().any(|x| x == g)
    }

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
    }

    fn optional_list(text: &str) -> Option<Vec<String>> {
        let l = split_list(text);
        (!l.is_empty()).then_some(l)
    }

    fn to_new(&self) -> Result<NewClient, AdminError> {
        if !matches!(self.kind.as_str(), "confidential" | "public") {
            return Err(AdminError::Invalid { field: "kind", message: "choose confidential or public".into() });
        }
        let metadata = Some(self.metadata.as_str()).filter(|m| !m.trim().is_empty());
        Ok(NewClient {
            name: self.name.clone(),
            public: self.public(),
            grant_types: self.grant_types.clone(),
            redirect_uris: Self::lines(&self.redirect_uris),
            post_logout_redirect_uris: Self::lines(&self.post_logout_redirect_uris),
            scopes: Self::optional_list(&self.scopes),
            audiences: Self::optional_list(&self.audiences),
            metadata: json_object("metadata", metadata)?,
            service_account: Some(self.service_account.trim().to_owned()).filter(|s| !s.is_empty()),
            first_party: self.first_party.is_some(),
            disabled: self.disabled.is_some(),
            exchange: Some(ExchangePolicy {
                audiences: split_list(&self.exchange_audiences),
                scopes: split_list(&self.exchange_scopes),
                impersonation: self.exchange_impersonation.is_some(),
            }),
            require_pushed_authorization_requests: self.require_pushed_authorization_requests.is_some(),
            dpop_bound_access_tokens: self.dpop_bound_access_tokens.is_some(),
            require_signed_request_object: self.require_signed_request_object.is_some(),
            jwks: match self.jwks.as_deref().map(str::trim) {
                None => None,
                Some("") => Some(serde_json::Value::Null),
                Some(text) => Some(
                    serde_json::from_str(text)
                        .map_err(|e| AdminError::Invalid { field: "jwks", message: format!("not JSON: {e}") })?,
                ),
            },
            jwks_uri: self.jwks_uri.as_deref().map(|u| u.trim().to_owned()),
            backchannel_logout_uri: self.backchannel_logout_uri.as_deref().map(|u| u.trim().to_owned()),
            frontchannel_logout_uri: self.frontchannel_logout_uri.as_deref().map(|u| u.trim().to_owned()),
            // Edited one at a time on the client page (`trusted_issuers.rs`).
            jwt_bearer_issuers: None,
        })
    }
}

/// A pipeline step as the client page shows it.
struct StepLinks {
    plugin: Link,
    version: Option<i32>,
    binding: Link,
    claim_rule: bool,
    failure_policy: &'static str,
}

/// One grant type's pipeline with links.
struct LaneLinks {
    grant_type: &'static str,
    /// The HTML id suffix of the lane.
    anchor: String,
    steps: Vec<StepLinks>,
}

impl From<PipelineLane> for LaneLinks {
    fn from(lane: PipelineLane) -> LaneLinks {
        LaneLinks {
            grant_type: lane.grant_type.as_str(),
            anchor: super::bindings::lane_id(lane.grant_type.as_str()),
            steps: lane
                .steps
                .iter()
                .map(|s| StepLinks {
                    plugin: Link::from(&s.plugin),
                    version: s.version,
                    binding: Link::from(&s.binding),
                    claim_rule: s.claim_rule,
                    failure_policy: s.failure_policy.as_str(),
                })
                .collect(),
        }
    }
}

/// The quick-start box: where an app finds this server, and the test token.
struct QuickStart {
    issuer: String,
    token_endpoint: String,
    discovery: String,
    /// A machine-to-machine client: it can get a test token here.
    m2m: bool,
    /// The APIs it may ask for.
    audiences: Vec<String>,
    /// The test token just issued, or why it was refused.
    test: Option<Result<TestToken, String>>,
}

#[derive(Template)]
#[template(path = "console/client.html")]
pub(super) struct ClientPage {
    l: Layout,
    client: Option<ClientView>,
    form: ClientForm,
    errors: FieldErrors,
    secrets: Vec<ClientSecretView>,
    hooks: Vec<BindingView>,
    choices: &'static [(&'static str, &'static str)],
    presets: [Preset; 4],
    pipeline: Vec<LaneLinks>,
    quick: Option<QuickStart>,
    pub(super) side: SideForms,
    /// The client's own registration (RFC 7591), if it registered itself.
    registration: Option<RegistrationView>,
}

/// What the client page's smaller forms (a new secret, a trusted issuer)
/// were sent with: shown again, with the error on its field, when one is
/// refused.
#[derive(Debug, Clone)]
pub(super) struct SideForms {
    pub(super) overlap_hours: String,
    pub(super) issuer: String,
    pub(super) jwks_uri: String,
    pub(super) jwks: String,
    pub(super) subject: String,
}

impl Default for SideForms {
    fn default() -> SideForms {
        SideForms {
            overlap_hours: "24".into(),
            issuer: String::new(),
            jwks_uri: String::new(),
            jwks: String::new(),
            subject: "username".into(),
        }
    }
}

impl ClientPage {
    fn blank(l: Layout, form: ClientForm, errors: FieldErrors) -> ClientPage {
        ClientPage {
            l,
            client: None,
            form,
            errors,
            secrets: vec![],
            hooks: vec![],
            choices: GRANT_CHOICES,
            presets: Preset::ALL,
            pipeline: vec![],
            quick: None,
            side: SideForms::default(),
            registration: None,
        }
    }

    /// "Advanced" starts open on a client's own page and after a refusal,
    /// closed on a fresh new-client form.
    fn advanced_open(&self) -> bool {
        self.client.is_some() || self.errors.any() || self.l.error.is_some()
    }
}

#[derive(serde::Deserialize)]
struct NewQuery {
    preset: Option<String>,
}

async fn new_form(admin: Admin, q: web::Query<NewQuery>) -> HttpResponse {
    let l = Layout::new(&admin, "clients", "New client");
    let preset = q.preset.as_deref().and_then(Preset::parse).unwrap_or(Preset::MachineToMachine);
    render(StatusCode::OK, &ClientPage::blank(l, preset.form(), FieldErrors::default()))
}

pub(super) fn form_again(mut page: ClientPage, failure: Failure) -> Page {
    failure.show_form(|errors, banner| {
        page.errors = errors;
        page.l.error = banner;
        render_form(true, &page)
    })
}

async fn create(p: Posted<ClientForm>) -> Page {
    let grants = p.all("grant_types");
    let Posted { admin, mut form, .. } = p;
    form.grant_types = grants;
    let l = Layout::new(&admin, "clients", "New client");
    let new = match form.to_new() {
        Ok(n) => n,
        Err(e) => return form_again(ClientPage::blank(l, form, FieldErrors::default()), e.into()),
    };
    let (store, actor) = (admin.state.store.clone(), admin.actor());
    let now = admin.now();
    match blocking(move || admin::create_client(&store, &actor, now, new)).await? {
        Ok((client, Some(secret))) => {
            let l = Layout::new(&admin, "clients", format!("Client {} created", client.name));
            Ok(super::secret_page(l, "client_id", &client.id, &paths::client(&client.id), secret.expose()))
        }
        Ok((client, None)) => Ok(see_other(&paths::done(&paths::client(&client.id), "created"))),
        Err(e) => form_again(ClientPage::blank(l, form, FieldErrors::default()), e.into()),
    }
}

/// The client, its secrets, its hooks and its service account's name.
async fn load(admin: &Admin, id: String) -> Result<ClientDetail, ConsoleError> {
    let (store, now) = (admin.state.store.clone(), admin.now());
    blocking(move || admin::client_detail(&store, &id, now)).await??.ok_or(ConsoleError::NotFound("No such client."))
}

fn detail_page(admin: &Admin, loaded: ClientDetail, form: Option<ClientForm>) -> ClientPage {
    let ClientDetail { client, secrets, hooks, service_account, registration } = loaded;
    let l = Layout::new(admin, "clients", format!("Client {}", client.name));
    ClientPage {
        l,
        form: form.unwrap_or_else(|| ClientForm::of(&client, service_account)),
        client: Some(client),
        errors: FieldErrors::default(),
        secrets,
        hooks,
        choices: GRANT_CHOICES,
        presets: Preset::ALL,
        pipeline: vec![],
        quick: None,
        side: SideForms::default(),
        registration,
    }
}

/// The client page with its effective pipeline and quick-start box; `test`
/// is a test token just asked for.
pub(super) async fn full_page(
    admin: &Admin,
    id: String,
    test: Option<Result<TestToken, String>>,
) -> Result<ClientPage, ConsoleError> {
    let loaded = load(admin, id.clone()).await?;
    let (store, snapshots, cid) = (admin.state.store.clone(), admin.state.snapshots.clone(), id.clone());
    let lanes = blocking(move || client_page::client_pipeline(&store, &snapshots, &cid)).await??.unwrap_or_default();
    let store = admin.state.store.clone();
    let audiences = blocking(move || client_page::client_audiences(&store, &id)).await??;
    let c = &loaded.client;
    let m2m = c.confidential && c.grant_types.contains(&GrantType::ClientCredentials);
    let issuer = admin.state.issuer.clone();
    let quick = QuickStart {
        token_endpoint: format!("{issuer}{}", crate::web::routes::TOKEN),
        discovery: format!("{issuer}{}", crate::web::routes::OPENID_CONFIGURATION),
        issuer,
        m2m,
        audiences,
        test,
    };
    let mut page = detail_page(admin, loaded, None);
    page.pipeline = lanes.into_iter().map(LaneLinks::from).collect();
    page.quick = Some(quick);
    Ok(page)
}

async fn show(admin: Admin, id: web::Path<String>, q: web::Query<PageQuery>) -> Page {
    let mut page = full_page(&admin, id.into_inner(), None).await?;
    page.l = page.l.with_done(q.done.as_deref());
    Ok(render(StatusCode::OK, &page))
}

#[derive(serde::Deserialize)]
struct TestTokenForm {
    #[serde(default)]
    audience: String,
}

/// Issues a real client_credentials token for the client through the token
/// service (its pipeline included), audited, and shows it decoded on the
/// client's page; a refusal is shown there as the token endpoint worded it.
async fn test_token(p: Posted<TestTokenForm>, id: web::Path<String>) -> Page {
    let Posted { admin, form, .. } = p;
    let id = id.into_inner();
    let (state, actor, now, cid) = (admin.state.clone(), admin.actor(), admin.now(), id.clone());
    let audience = form.audience.trim().to_owned();
    let issued =
        blocking(move || client_page::test_token(&state.store, &state.oauth.token, &actor, now, &cid, &audience))
            .await?;
    let test = match issued {
        Ok(t) => Ok(t),
        Err(client_page::TestTokenError::Refused(e)) => Err(format!("{}: {}", e.code.as_str(), e.description)),
        Err(client_page::TestTokenError::Audit(e)) => return Err(ConsoleError::Action(e)),
    };
    let refused = test.is_err();
    let page = full_page(&admin, id, Some(test)).await?;
    Ok(render(if refused { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK }, &page))
}

async fn update(p: Posted<ClientForm>, id: web::Path<String>) -> Page {
    let grants = p.all("grant_types");
    let Posted { admin, mut form, .. } = p;
    form.grant_types = grants;
    let loaded = load(&admin, id.into_inner()).await?;
    // The type is fixed at creation; the form cannot change it.
    form.kind = if loaded.client.confidential { "confidential".into() } else { "public".into() };
    let cid = loaded.client.id.clone();
    let new = match form.to_new() {
        Ok(n) => n,
        Err(e) => return form_again(detail_page(&admin, loaded, Some(form)), e.into()),
    };
    let (store, actor, etag) = (admin.state.store.clone(), admin.actor(), form.etag.clone());
    let now = admin.now();
    let saved = blocking(move || {
        // The version is read and the change written in one transaction
        // with the client's row locked: two saves of one version cannot both pass.
        let view = |db: &InTx<'_>| match admin::client_detail(db, &cid, now)? {
            Some(d) => Ok(d.client),
            None => Err(AdminError::NotFound("client".into())),
        };
        let change = |db: &InTx<'_>| admin::update_client(db, &actor, now, &cid, new);
        precondition::guarded(&store, Row::Client(&cid), &precondition::form_if_match(&etag)?, view, change)
    });
    match saved.await? {
        Ok(c) => {
            // Disabling revokes the client's access tokens: honour it here at once.
            admin.state.oauth.revoked.changed();
            Ok(see_other(&paths::done(&paths::client(&c.id), "saved")))
        }
        Err(e) => form_again(detail_page(&admin, loaded, Some(form)), e.into()),
    }
}

async fn delete(p: Posted<Empty>, id: web::Path<String>) -> Page {
    let admin = p.admin;
    let (store, actor, cid) = (admin.state.store.clone(), admin.actor(), id.into_inner());
    let now = admin.now();
    blocking(move || admin::delete_client(&store, &actor, now, &cid)).await??;
    admin.state.oauth.revoked.changed();
    Ok(see_other(&paths::done(paths::CLIENTS, "deleted")))
}

#[derive(serde::Deserialize)]
struct SecretForm {
    /// Hours the other secrets stay valid; blank keeps them active.
    #[serde(default)]
    overlap_hours: String,
}

async fn add_secret(p: Posted<SecretForm>, id: web::Path<String>) -> Page {
    let Posted { admin, form, .. } = p;
    let overlap = match form.overlap_hours.trim() {
        "" => None,
        h => match h.parse::<f64>() {
            Ok(h) if (0.0..=24.0 * 365.0).contains(&h) => Some((h * 3600.0) as i64),
            _ => {
                let mut page = full_page(&admin, id.into_inner(), None).await?;
                page.side.overlap_hours = form.overlap_hours;
                let refused = AdminError::Invalid {
                    field: "overlap",
                    message: "must be a number of hours between 0 and 8760".into(),
                };
                return form_again(page, refused.into());
            }
        },
    };
    let (store, actor, cid) = (admin.state.store.clone(), admin.actor(), id.into_inner());
    let now = admin.now();
    let (row, secret) = blocking(move || admin::add_client_secret(&store, &actor, now, &cid, overlap)).await??;
    let l = Layout::new(&admin, "clients", "New client secret");
    let back = paths::client(&row.client_id);
    Ok(super::secret_page(l, "client_id", &row.client_id, &back, secret.expose()))
}

async fn revoke_secret(p: Posted<Empty>, path: web::Path<(String, String)>) -> Page {
    let admin = p.admin;
    let (cid, sid) = path.into_inner();
    let (store, actor, c) = (admin.state.store.clone(), admin.actor(), cid.clone());
    let now = admin.now();
    blocking(move || admin::revoke_client_secret(&store, &actor, now, &c, &sid)).await??;
    Ok(see_other(&paths::done(&paths::client(&cid), "revoked")))
}
