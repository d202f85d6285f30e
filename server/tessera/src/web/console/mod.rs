//! The admin console: server-rendered pages under `/admin`, each behind a
//! server-side session (the [`Admin`] extractor) and, for every
//! state-changing request, a synchronizer CSRF token plus an Origin /
//! Sec-Fetch-Site check (the [`Posted`] extractor). No handler can forget
//! either: a POST handler gets its form only through `Posted`.

mod account;
mod apis;
mod auth;
mod bindings;
mod clients;
mod dashboard;
mod keys;
mod logs;
mod plugins;
mod users;

use super::AppState;
use crate::service::admin::AdminError;
use crate::service::console::Session;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::DefaultHeaders;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;
use tessera_store::StoreError;

/// Where the console lives.
pub const PREFIX: &str = "/admin";
/// Largest console form body (uploads have their own multipart limit).
pub const CONSOLE_FORM_BYTES: usize = 512 * 1024;

/// Rows per page in every list.
pub const PAGE_SIZE: i64 = 25;

/// The Content-Security-Policy of every console page (docs/security-checklist.md A-9): no
/// inline script or style, nothing from other origins, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The session cookie's name: with https the `__Host-` prefix pins it to
/// this origin and path `/` (browsers refuse it without Secure, so plain-http
/// development uses the bare name).
pub fn cookie_name(state: &AppState) -> &'static str {
    if secure(state) { "__Host-tessera_admin" } else { "tessera_admin" }
}

fn secure(state: &AppState) -> bool {
    state.issuer.starts_with("https://")
}

/// The session cookie (HttpOnly, SameSite=Strict, Secure under https).
pub fn session_cookie(state: &AppState, value: String) -> Cookie<'static> {
    Cookie::build(cookie_name(state), value)
        .path("/")
        .http_only(true)
        .secure(secure(state))
        .same_site(SameSite::Strict)
        .finish()
}

/// Mounts every console route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(PREFIX)
            // Forms here carry JSON (metadata, a plugin test context of up to
            // the host's 128 KiB input), so they get more room than OAuth forms.
            .app_data(web::PayloadConfig::new(CONSOLE_FORM_BYTES))
            .wrap(
                DefaultHeaders::new()
                    .add((header::CONTENT_SECURITY_POLICY, CSP))
                    .add((header::CACHE_CONTROL, "no-store"))
                    .add(("Cross-Origin-Opener-Policy", "same-origin"))
                    .add(("X-Frame-Options", "DENY"))
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("Referrer-Policy", "same-origin")),
            )
            .configure(auth::routes)
            .configure(account::routes)
            .configure(dashboard::routes)
            .configure(users::routes)
            .configure(clients::routes)
            .configure(apis::routes)
            .configure(plugins::routes)
            .configure(bindings::routes)
            .configure(keys::routes)
            .configure(logs::routes),
    );
}

/// What every console page shows around its content.
pub struct Layout {
    /// The page title (before " · Tessera console").
    pub title: String,
    /// The nav entry to highlight.
    pub section: &'static str,
    /// The signed-in administrator's name.
    pub admin: String,
    /// The session's CSRF token, for the forms on the page.
    pub csrf: String,
    /// A confirmation after a change.
    pub notice: Option<String>,
    /// A failure not tied to one field.
    pub error: Option<String>,
}

impl Layout {
    /// The layout for a page of `admin`'s session.
    pub fn new(admin: &Admin, section: &'static str, title: impl Into<String>) -> Layout {
        Layout {
            title: title.into(),
            section,
            admin: admin.session.admin.username.clone(),
            csrf: admin.session.csrf.clone(),
            notice: None,
            error: None,
        }
    }

    /// With a notice chosen by a `?done=` key (never text from the URL).
    pub fn with_done(mut self, done: Option<&str>) -> Layout {
        self.notice = done.and_then(notice).map(str::to_owned);
        self
    }
}

/// The confirmations a redirect can ask for.
fn notice(key: &str) -> Option<&'static str> {
    Some(match key {
        "created" => "Created.",
        "saved" => "Saved.",
        "deleted" => "Deleted.",
        "password" => "Password changed.",
        "disabled" => "Disabled.",
        "enabled" => "Enabled.",
        "revoked" => "Secret revoked.",
        "uploaded" => "Uploaded.",
        "rolled-back" => "Bindings now use the chosen version.",
        "rotated" => "Keys rotated.",
        "moved" => "Order changed.",
        _ => return None,
    })
}

/// Field errors of a submitted form, shown next to each field.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    /// The message for `field`, if any.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.iter().find(|(f, _)| *f == field).map(|(_, m)| m.as_str())
    }

    /// One error on one field.
    pub fn one(field: &'static str, message: String) -> FieldErrors {
        FieldErrors(vec![(field, message)])
    }

    /// True when some field failed.
    pub fn any(&self) -> bool {
        !self.0.is_empty()
    }
}

/// A failed save: field errors go next to their fields, anything else to the
/// page's banner; an outage is an error page.
pub enum Failure {
    /// Show the form again with these.
    Form(FieldErrors, Option<String>),
    /// The database is away or something broke: an error response.
    Page(HttpResponse),
}

impl From<AdminError> for Failure {
    fn from(e: AdminError) -> Failure {
        match e {
            AdminError::Invalid { field, message } => Failure::Form(FieldErrors(vec![(field, message)]), None),
            AdminError::Conflict(m) => Failure::Form(FieldErrors::default(), Some(m)),
            AdminError::NotFound(m) => Failure::Form(FieldErrors::default(), Some(format!("{m} not found."))),
            AdminError::Store(e) => Failure::Page(store_page(e)),
            AdminError::Internal(m) => {
                tracing::error!(error = %m, "console action failed");
                Failure::Page(message_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong."))
            }
        }
    }
}

/// The response to a storage failure: 503 for an outage, 500 otherwise.
pub fn store_page(e: StoreError) -> HttpResponse {
    match e {
        StoreError::Unavailable(_) => {
            message_page(StatusCode::SERVICE_UNAVAILABLE, "The database is unavailable. Try again in a moment.")
        }
        StoreError::NotFound(m) => message_page(StatusCode::NOT_FOUND, &format!("{m} not found.")),
        other => {
            tracing::error!(error = %other, "console storage failure");
            message_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong.")
        }
    }
}

/// A bare page with one message (before or outside a session).
#[derive(Template)]
#[template(path = "console/message.html")]
struct MessagePage<'a> {
    message: &'a str,
}

/// A bare message page with `status`.
pub fn message_page(status: StatusCode, message: &str) -> HttpResponse {
    render(status, &MessagePage { message })
}

/// Renders a console page.
pub fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// Renders a page with 200, or 422 when its form has errors.
pub fn render_form(failed: bool, page: &impl Template) -> HttpResponse {
    render(if failed { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK }, page)
}

/// 303 to a console path (never anywhere else: no open redirect).
pub fn see_other(path: &str) -> HttpResponse {
    let location = if path.starts_with(PREFIX) && !path.starts_with("//") { path } else { PREFIX };
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

/// Runs a blocking closure (diesel, argon2, wasm) off the event loop.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, HttpResponse> {
    web::block(f).await.map_err(|_| message_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong."))
}

/// Why a console request was refused before its handler ran.
#[derive(Debug)]
pub enum Refusal {
    /// No valid session: sign in first.
    SignIn,
    /// A state-changing request without a valid CSRF token or from another site.
    Forbidden(&'static str),
    /// The form could not be read.
    BadForm(String),
    /// The database is unavailable.
    Unavailable,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl ResponseError for Refusal {
    fn status_code(&self) -> StatusCode {
        match self {
            Refusal::SignIn => StatusCode::SEE_OTHER,
            Refusal::Forbidden(_) => StatusCode::FORBIDDEN,
            Refusal::BadForm(_) => StatusCode::BAD_REQUEST,
            Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = match self {
            Refusal::SignIn => see_other(&format!("{PREFIX}/login")),
            Refusal::Forbidden(m) => message_page(StatusCode::FORBIDDEN, m),
            Refusal::BadForm(m) => message_page(StatusCode::BAD_REQUEST, m),
            Refusal::Unavailable => {
                message_page(StatusCode::SERVICE_UNAVAILABLE, "The database is unavailable. Try again in a moment.")
            }
        };
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

/// The signed-in administrator of a request. Extracting it checks the
/// session (idle and absolute timeouts) and, for anything but GET and HEAD,
/// that the request comes from this origin.
pub struct Admin {
    /// The session.
    pub session: Session,
    /// The application state.
    pub state: web::Data<AppState>,
}

impl Admin {
    /// The audit log's actor.
    pub fn actor(&self) -> String {
        self.session.actor()
    }

    /// Checks a submitted synchronizer token.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), Refusal> {
        if self.session.csrf_matches(submitted) {
            Ok(())
        } else {
            Err(Refusal::Forbidden(
                "This form expired or did not come from the console. Go back, reload and try again.",
            ))
        }
    }
}

/// OWASP CSRF defence in depth: a browser's `Sec-Fetch-Site` must be
/// same-origin, and an `Origin` header must be the issuer's origin.
fn same_origin(req: &HttpRequest, issuer: &str) -> bool {
    let h = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = h("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match h("origin") {
        None => true,
        Some(origin) => url::Url::parse(issuer).is_ok_and(|u| u.origin().ascii_serialization() == origin),
    }
}

type Boxed<T> = Pin<Box<dyn Future<Output = Result<T, Refusal>>>>;

impl FromRequest for Admin {
    type Error = Refusal;
    type Future = Boxed<Admin>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let req = req.clone();
        Box::pin(async move {
            let state = state.ok_or(Refusal::Unavailable)?;
            let changing = !matches!(*req.method(), actix_web::http::Method::GET | actix_web::http::Method::HEAD);
            if changing && !same_origin(&req, &state.issuer) {
                return Err(Refusal::Forbidden("Cross-site requests to the console are refused."));
            }
            let cookie = req.cookie(cookie_name(&state)).map(|c| c.value().to_owned()).ok_or(Refusal::SignIn)?;
            let auth = state.console.clone();
            let session = web::block(move || auth.session(&cookie))
                .await
                .map_err(|_| Refusal::Unavailable)?
                .map_err(|_| Refusal::Unavailable)?
                .ok_or(Refusal::SignIn)?;
            Ok(Admin { session, state })
        })
    }
}

/// A state-changing form: the session, the CSRF token checked, and the
/// fields both typed (`form`) and raw (`pairs`, for repeated checkboxes).
pub struct Posted<T> {
    /// The administrator.
    pub admin: Admin,
    /// The typed form.
    pub form: T,
    /// Every field in order, repeated names included.
    pub pairs: Vec<(String, String)>,
}

impl<T> Posted<T> {
    /// Every value of a repeated field.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Posted<T> {
    type Error = Refusal;
    type Future = Boxed<Posted<T>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let admin = Admin::from_request(req, payload);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let admin = admin.await?;
            let body = body.await.map_err(|e| Refusal::BadForm(format!("The form could not be read: {e}")))?;
            let pairs: Vec<(String, String)> =
                url::form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            let csrf = pairs.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or("");
            admin.check_csrf(csrf)?;
            let form = serde_urlencoded::from_bytes::<T>(&body)
                .map_err(|e| Refusal::BadForm(format!("The form could not be read: {e}")))?;
            Ok(Posted { admin, form, pairs })
        })
    }
}

/// A form with nothing but the CSRF token (delete, rotate, sign out).
#[derive(serde::Deserialize)]
pub struct Empty {}

/// `?page=N` (from 1).
#[derive(serde::Deserialize, Default)]
pub struct PageQuery {
    /// 1-based page number.
    pub page: Option<i64>,
    /// A `notice` key after a redirect.
    pub done: Option<String>,
}

/// Paging links for a list fetched with one extra row.
pub struct Pager {
    /// 1-based.
    pub page: i64,
    /// A next page exists.
    pub has_next: bool,
    /// The query without `page`, ready to append `page=`.
    pub base: String,
}

impl Pager {
    /// The offset and limit (one more than a page, to see if another follows).
    pub fn window(page: Option<i64>) -> (i64, i64, i64) {
        let page = page.unwrap_or(1).clamp(1, 1_000_000);
        (page, (page - 1) * PAGE_SIZE, PAGE_SIZE + 1)
    }

    /// Trims the extra row off `rows` and builds the links; `params` are the
    /// list's filters, kept on every link.
    pub fn paginate<R>(page: i64, rows: &mut Vec<R>, params: &[(&str, &str)]) -> Pager {
        let has_next = rows.len() as i64 > PAGE_SIZE;
        rows.truncate(PAGE_SIZE as usize);
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params.iter().filter(|(_, v)| !v.is_empty()) {
            ser.append_pair(k, v);
        }
        let q = ser.finish();
        Pager { page, has_next, base: if q.is_empty() { "?".into() } else { format!("?{q}&") } }
    }

    /// The previous page's link.
    pub fn prev(&self) -> String {
        format!("{}page={}", self.base, self.page - 1)
    }

    /// The next page's link.
    pub fn next(&self) -> String {
        format!("{}page={}", self.base, self.page + 1)
    }
}

/// Template filters shared by the console pages (`{{ x|when }}`).
#[allow(missing_docs)] // `askama::filter_fn` generates undocumented items
pub mod filters {
    /// An HTML id for a grant type.
    #[askama::filter_fn]
    pub fn lane_id(g: &str, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(super::bindings::lane_id(g))
    }

    /// Unix seconds as a UTC date and time.
    #[askama::filter_fn]
    pub fn when(secs: &i64, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(super::when(*secs))
    }
}

/// Formats Unix seconds as UTC for tables.
pub fn when(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC")).ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

/// Pretty JSON for a textarea.
pub fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// A failed action with no form to show again (delete, toggle): the
/// reason on a page of its own.
pub fn admin_error_page(e: AdminError) -> HttpResponse {
    match Failure::from(e) {
        Failure::Page(r) => r,
        Failure::Form(errors, banner) => {
            let text = banner.or_else(|| errors.0.first().map(|(f, m)| format!("{f}: {m}"))).unwrap_or_default();
            message_page(StatusCode::UNPROCESSABLE_ENTITY, &text)
        }
    }
}

/// A secret, shown this once (client secrets, HS256 API secrets).
#[derive(Template)]
#[template(path = "console/secret.html")]
struct SecretPage<'a> {
    l: Layout,
    owner_label: &'a str,
    owner_id: &'a str,
    back: &'a str,
    secret: &'a str,
}

/// Renders the one time a secret is shown (the page is `no-store`).
pub fn secret_page(l: Layout, owner_label: &str, owner_id: &str, back: &str, secret: &str) -> HttpResponse {
    render(StatusCode::OK, &SecretPage { l, owner_label, owner_id, back, secret })
}
