//! Browser-facing endpoints: the authorization endpoint (GET and POST, OIDC
//! Core §3.1.2.1), the login form, the userinfo endpoint and static assets.

use super::pages::{self, LoginPage};
use super::{AppState, render, routes};
use crate::service::oauth::authorize::Outcome;
use crate::service::oauth::login::{FactorOutcome, LoginOutcome};
use crate::service::oauth::logout::LogoutOutcome;
use crate::service::oauth::userinfo::{Presented, UserinfoError};
use crate::service::totp::Enrolment;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use subtle::ConstantTimeEq;
use tessera_protocol::{ErrorCode, OAuthError};

/// The browser session cookie.
pub const SESSION_COOKIE: &str = "tessera_session";
/// The login form's CSRF cookie (double submit).
pub const CSRF_COOKIE: &str = "tessera_csrf";
/// A sign-in past the password, waiting for its second factor (its
/// random id; the row is `pending_sign_ins`).
pub const PENDING_COOKIE: &str = "tessera_pending_sign_in";

#[derive(rust_embed::Embed)]
#[folder = "../../admin-ui/static/"]
struct Assets;

/// GET /static/{path}: embedded CSS and images.
pub async fn asset(path: web::Path<String>) -> HttpResponse {
    match Assets::get(&path) {
        Some(f) => HttpResponse::Ok()
            .content_type(f.metadata.mimetype())
            .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
            .body(f.data.into_owned()),
        None => HttpResponse::NotFound().finish(),
    }
}

fn secure(state: &AppState) -> bool {
    state.issuer.starts_with("https://")
}

pub(super) fn cookie(
    state: &AppState,
    name: &'static str,
    value: String,
    path: &'static str,
    same_site: SameSite,
) -> Cookie<'static> {
    Cookie::build(name, value).path(path).http_only(true).secure(secure(state)).same_site(same_site).finish()
}

/// A hosted sign-in form: where it posts, the path of its CSRF cookie, and
/// where the browser resumes after signing in (with the form's query).
#[derive(Debug, Clone, Copy)]
pub(super) struct SignInForm {
    /// The form's target.
    pub action: &'static str,
    /// The target of its second stage (a code, or enrolling a factor).
    pub second_factor: &'static str,
    /// The CSRF cookie's path (it must reach `action`).
    pub cookie_path: &'static str,
    /// Where the browser goes after signing in: `resume?query`.
    pub resume: &'static str,
}

/// The sign-in form of the authorization endpoint.
const AUTHORIZE_SIGN_IN: SignInForm = SignInForm {
    action: routes::LOGIN,
    second_factor: routes::LOGIN_SECOND_FACTOR,
    cookie_path: routes::LOGIN,
    resume: routes::AUTHORIZE,
};

/// The login form for `query` (401 after a failed attempt).
pub(super) fn login_page(
    state: &AppState,
    form: SignInForm,
    query: &str,
    client_name: &str,
    error: Option<&str>,
    username: &str,
) -> HttpResponse {
    let status = if error.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    login_page_with(state, form, status, query, client_name, error, username)
}

fn login_page_with(
    state: &AppState,
    form: SignInForm,
    status: StatusCode,
    query: &str,
    client_name: &str,
    error: Option<&str>,
    username: &str,
) -> HttpResponse {
    let csrf = match crate::clock::random_id(32) {
        Ok(c) => c,
        Err(e) => return render::oauth_error(&OAuthError::server_error(e.to_string())),
    };
    let page = LoginPage { action: form.action, client_name, query, csrf: &csrf, error, username };
    let mut resp = pages::render(status, &page);
    let _ = resp.add_cookie(&cookie(state, CSRF_COOKIE, csrf.clone(), form.cookie_path, SameSite::Strict));
    resp
}

pub(super) fn redirect(status: StatusCode, location: &str) -> HttpResponse {
    let mut resp = HttpResponse::build(status).finish();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn authorize(state: web::Data<AppState>, req: HttpRequest, query: String, status: StatusCode) -> HttpResponse {
    let session = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
    let authorize = state.oauth.authorize.clone();
    let outcome = crate::web::block(move || authorize.authorize(&query, session.as_deref())).await;
    respond(&state, outcome, status).await
}

/// The consent page for `query`: the client, the API (name and
/// identifier) and each scope asked for.
fn consent_page(
    state: &AppState,
    query: &str,
    client: (&str, Option<&str>),
    api: (&str, &str),
    scopes: &[(String, Option<String>)],
) -> HttpResponse {
    let csrf = match crate::clock::random_id(32) {
        Ok(c) => c,
        Err(e) => return render::oauth_error(&OAuthError::server_error(e.to_string())),
    };
    let (api_name, api_identifier) = api;
    let (client_name, registered_host) = client;
    let page =
        pages::ConsentPage { client_name, registered_host, api_name, api_identifier, scopes, query, csrf: &csrf };
    let mut resp = pages::render(StatusCode::OK, &page);
    let _ = resp.add_cookie(&cookie(state, CSRF_COOKIE, csrf.clone(), routes::CONSENT, SameSite::Strict));
    resp
}

/// Renders the outcome of an authorization request.
async fn respond(
    state: &AppState,
    outcome: Result<Result<Outcome, OAuthError>, actix_web::error::BlockingError>,
    status: StatusCode,
) -> HttpResponse {
    match outcome {
        Ok(Ok(Outcome::Redirect(to))) => redirect(status, &to),
        Ok(Ok(Outcome::Login { query, client_name })) => {
            login_page(state, AUTHORIZE_SIGN_IN, &query, &client_name, None, "")
        }
        Ok(Ok(Outcome::Consent { query, client_name, api_name, api_identifier, scopes, registered_host })) => {
            consent_page(
                state,
                &query,
                (&client_name, registered_host.as_deref()),
                (&api_name, &api_identifier),
                &scopes,
            )
        }
        Ok(Ok(Outcome::StepUp { user_id, session_hash, query, client_name })) => {
            let login = state.oauth.login.clone();
            match crate::web::block(move || login.step_up(&user_id, &session_hash)).await {
                Ok(Ok((pending, enrolment))) => {
                    second_stage(state, AUTHORIZE_SIGN_IN, (&query, &client_name), pending, enrolment.as_ref())
                }
                Ok(Err(_)) | Err(_) => pages::render(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &pages::ErrorPage { message: "The service is temporarily unavailable." },
                ),
            }
        }
        Ok(Ok(Outcome::Page(message))) => pages::error(&message),
        Ok(Ok(Outcome::FormPost { action, fields })) => pages::render_with_csp(
            StatusCode::OK,
            &pages::FormPostPage { action: &action, fields: &fields },
            pages::FORM_POST_CSP,
        ),
        Ok(Err(e)) => {
            tracing::error!(error = %e, detail = e.detail.as_deref().unwrap_or(""), "authorization failed");
            pages::render(
                StatusCode::SERVICE_UNAVAILABLE,
                &pages::ErrorPage { message: "The service is temporarily unavailable." },
            )
        }
        Err(_) => {
            pages::render(StatusCode::INTERNAL_SERVER_ERROR, &pages::ErrorPage { message: "Something went wrong." })
        }
    }
}

/// Double-submit check: the form's token equals the cookie `cookie`'s, in
/// constant time (forms shown before any session exists: sign-in, consent).
pub fn double_submit_ok(req: &HttpRequest, cookie: &str, field: &str) -> bool {
    req.cookie(cookie).is_some_and(|c| bool::from(c.value().as_bytes().ct_eq(field.as_bytes())))
}

pub(super) fn csrf_ok(req: &HttpRequest, field: &str) -> bool {
    double_submit_ok(req, CSRF_COOKIE, field)
}

pub(super) fn csrf_refused(form: &str) -> HttpResponse {
    let message = format!("The {form} form expired or did not come from this site. Start again from the application.");
    pages::render(StatusCode::FORBIDDEN, &pages::ErrorPage { message: &message })
}

/// The consent form's fields.
#[derive(serde::Deserialize)]
pub struct ConsentForm {
    csrf: String,
    authorize: String,
    decision: String,
}

/// POST /consent: check CSRF, then allow (record consent and answer the
/// client) or deny (`access_denied` to the client).
pub async fn consent(state: web::Data<AppState>, req: HttpRequest, form: web::Form<ConsentForm>) -> HttpResponse {
    let form = form.into_inner();
    if !csrf_ok(&req, &form.csrf) {
        return csrf_refused("consent");
    }
    let session = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
    let allow = form.decision == "allow";
    let authorize = state.oauth.authorize.clone();
    let outcome = crate::web::block(move || authorize.consent(&form.authorize, session.as_deref(), allow)).await;
    respond(&state, outcome, StatusCode::SEE_OTHER).await
}

/// GET /oauth/authorize.
pub async fn authorize_get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let query = req.query_string().to_owned();
    authorize(state, req, query, StatusCode::FOUND).await
}

/// POST /oauth/authorize (form-encoded, OIDC Core §3.1.2.1).
pub async fn authorize_post(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let query = String::from_utf8_lossy(&body).into_owned();
    // RFC 9700 §4.12: 303 after a POST, never 307.
    authorize(state, req, query, StatusCode::SEE_OTHER).await
}

/// The login form's fields.
#[derive(serde::Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    csrf: String,
    authorize: String,
}

/// POST /login: check CSRF, sign in, resume the authorization request.
pub async fn login(state: web::Data<AppState>, req: HttpRequest, form: web::Form<LoginForm>) -> HttpResponse {
    sign_in(state, req, form.into_inner(), AUTHORIZE_SIGN_IN).await
}

/// A sign-in form's POST: check CSRF, sign in, go to `target.resume` with
/// the form's query, or show the form again.
pub(super) async fn sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: LoginForm,
    target: SignInForm,
) -> HttpResponse {
    if !csrf_ok(&req, &form.csrf) {
        return csrf_refused("sign-in");
    }
    let peer = state.client_addr(&req);
    let login = state.oauth.login.clone();
    let (username, query) = (form.username.clone(), form.authorize.clone());
    let outcome =
        crate::web::block(move || login.login(&form.username, &form.password, &form.authorize, peer.as_deref())).await;
    match outcome {
        Ok(Ok(LoginOutcome::SignedIn { session, resume_query })) => {
            let mut resp = redirect(StatusCode::SEE_OTHER, &format!("{}?{resume_query}", target.resume));
            let _ = resp.add_cookie(&cookie(&state, SESSION_COOKIE, session, "/", SameSite::Lax));
            resp
        }
        Ok(Ok(LoginOutcome::SecondFactor { pending, enrolment })) => {
            let client = client_name(&state, &query).await;
            second_stage(&state, target, (&query, &client), pending, enrolment.as_ref())
        }
        Ok(Ok(LoginOutcome::Failed(message))) => {
            let client = client_name(&state, &query).await;
            login_page(&state, target, &query, &client, Some(&message), &username)
        }
        Ok(Ok(LoginOutcome::Throttled(secs))) => {
            let client = client_name(&state, &query).await;
            let message = "Too many failed attempts. Wait a few minutes and try again.";
            let mut resp = login_page_with(
                &state,
                target,
                StatusCode::TOO_MANY_REQUESTS,
                &query,
                &client,
                Some(message),
                &username,
            );
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
        Ok(Ok(LoginOutcome::Busy)) => {
            // Issue #11 item 17: too many sign-ins at once; retryable.
            let client = client_name(&state, &query).await;
            let message = "The server is busy. Try again in a few seconds.";
            let mut resp = login_page_with(
                &state,
                target,
                StatusCode::SERVICE_UNAVAILABLE,
                &query,
                &client,
                Some(message),
                &username,
            );
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            resp
        }
        Ok(Err(_)) | Err(_) => pages::render(
            StatusCode::SERVICE_UNAVAILABLE,
            &pages::ErrorPage { message: "The service is temporarily unavailable." },
        ),
    }
}

/// The second stage of a sign-in: the code form, or the enrolment form for
/// `enrolment`, with a new CSRF token (the cookie at the form's path).
fn second_factor_page(
    state: &AppState,
    form: SignInForm,
    status: StatusCode,
    (query, client_name): (&str, &str),
    error: Option<&str>,
    enrolment: Option<&Enrolment>,
) -> HttpResponse {
    let csrf = match crate::clock::random_id(32) {
        Ok(c) => c,
        Err(e) => return render::oauth_error(&OAuthError::server_error(e.to_string())),
    };
    let page =
        pages::SecondFactorPage { action: form.second_factor, client_name, query, csrf: &csrf, error, enrolment };
    let mut resp = pages::render(status, &page);
    let _ = resp.add_cookie(&cookie(state, CSRF_COOKIE, csrf.clone(), form.cookie_path, SameSite::Strict));
    resp
}

/// Starts the second stage of a sign-in (after the password, or a step-up):
/// its page, and the cookie of the waiting sign-in `pending` at the form's path.
fn second_stage(
    state: &AppState,
    form: SignInForm,
    request: (&str, &str),
    pending: String,
    enrolment: Option<&Enrolment>,
) -> HttpResponse {
    let mut resp = second_factor_page(state, form, StatusCode::OK, request, None, enrolment);
    let _ = resp.add_cookie(&cookie(state, PENDING_COOKIE, pending, form.cookie_path, SameSite::Strict));
    resp
}

/// The second stage's fields: the code, and when enrolling the secret the
/// form showed.
#[derive(serde::Deserialize)]
pub struct SecondFactorForm {
    csrf: String,
    code: String,
    #[serde(default)]
    secret: Option<String>,
    authorize: String,
}

/// POST /login/second-factor.
pub async fn login_second_factor(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<SecondFactorForm>,
) -> HttpResponse {
    second_factor(state, req, form.into_inner(), AUTHORIZE_SIGN_IN).await
}

/// A second stage's POST: check CSRF and the waiting sign-in, then the
/// code; on success the waiting sign-in becomes a session (its cookie
/// replaces the waiting one) and the browser resumes at `target.resume`,
/// after the recovery codes of a new enrolment.
pub(super) async fn second_factor(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: SecondFactorForm,
    target: SignInForm,
) -> HttpResponse {
    if !csrf_ok(&req, &form.csrf) {
        return csrf_refused("sign-in");
    }
    let pending = req.cookie(PENDING_COOKIE).map(|c| c.value().to_owned());
    let login = state.oauth.login.clone();
    let query = form.authorize.clone();
    let outcome = crate::web::block(move || {
        login.second_factor(pending.as_deref(), &form.code, form.secret.as_deref(), &form.authorize)
    })
    .await;
    let outcome = match outcome {
        Ok(Ok(o)) => o,
        Ok(Err(_)) | Err(_) => {
            return pages::render(
                StatusCode::SERVICE_UNAVAILABLE,
                &pages::ErrorPage { message: "The service is temporarily unavailable." },
            );
        }
    };
    // Every page but the plain redirect names the client.
    let client = match &outcome {
        FactorOutcome::SignedIn { recovery_codes: None, .. } => String::new(),
        _ => client_name(&state, &query).await,
    };
    let again = |status, message: &str, enrolment: Option<&Enrolment>| {
        second_factor_page(&state, target, status, (&query, &client), Some(message), enrolment)
    };
    let mut resp = match outcome {
        FactorOutcome::SignedIn { session, resume_query, recovery_codes } => {
            let next = format!("{}?{resume_query}", target.resume);
            let mut resp = match recovery_codes {
                Some(codes) => pages::render(
                    StatusCode::OK,
                    &pages::RecoveryCodesPage { codes: &codes, next: &next, client_name: &client },
                ),
                None => redirect(StatusCode::SEE_OTHER, &next),
            };
            if let Some(session) = session {
                let _ = resp.add_cookie(&cookie(&state, SESSION_COOKIE, session, "/", SameSite::Lax));
            }
            resp
        }
        FactorOutcome::Again { message, enrolment } => {
            return again(StatusCode::UNAUTHORIZED, &message, enrolment.as_ref());
        }
        FactorOutcome::Throttled(secs) => {
            let message = "Too many wrong codes. Wait a few minutes and try again.";
            let mut resp = again(StatusCode::TOO_MANY_REQUESTS, message, None);
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return resp;
        }
        FactorOutcome::Expired => {
            let message = "This sign-in expired. Sign in again.";
            login_page(&state, target, &query, &client, Some(message), "")
        }
    };
    // Signed in, or back to the password: the waiting sign-in is over.
    let mut gone = cookie(&state, PENDING_COOKIE, String::new(), target.cookie_path, SameSite::Strict);
    gone.make_removal();
    let _ = resp.add_cookie(&gone);
    resp
}

async fn client_name(state: &AppState, query: &str) -> String {
    let id = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "client_id").map(|(_, v)| v.into_owned());
    let store = state.store.clone();
    let found = crate::web::block(move || -> Option<String> {
        let mut conn = store.conn().ok()?;
        tessera_store::clients::find(&mut conn, &id?).ok().flatten().map(|c| c.name)
    })
    .await;
    found.ok().flatten().unwrap_or_else(|| "the application".into())
}

/// GET or POST /oauth/userinfo (OIDC Core §5.3): the token comes in the
/// `Authorization: Bearer` header, or for POST in the form body (RFC 6750
/// §2.2); never in the query string (RFC 9700 §4.3.2).
///
/// `Authorization: DPoP <token>` with a `DPoP` proof (RFC 9449 §7.1) is the
/// other way in, and the only one for a DPoP-bound token.
pub async fn userinfo(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let scheme_token = |scheme: &str| {
        authorization.and_then(|v| {
            v.split_once(' ').filter(|(s, _)| s.eq_ignore_ascii_case(scheme)).map(|(_, t)| t.trim().to_owned())
        })
    };
    let header_token = scheme_token("bearer");
    let dpop_token = scheme_token(tessera_protocol::dpop::TOKEN_TYPE);
    let proofs = match super::oauth::dpop_proofs(&req) {
        Ok(p) => p,
        Err(e) => return render::dpop_error(e.code, &e.description),
    };
    let method = req.method().as_str().to_owned();
    let body_token = (req.method() == actix_web::http::Method::POST)
        .then(|| url::form_urlencoded::parse(&body).find(|(k, _)| k == "access_token").map(|(_, v)| v.into_owned()))
        .flatten();
    let token = header_token.or(body_token);
    let userinfo = state.oauth.userinfo.clone();
    let answer = crate::web::block(move || {
        let presented = match (&dpop_token, &token) {
            (Some(t), _) => {
                Some(Presented::Dpop { token: t, proofs: proofs.iter().map(String::as_str).collect(), method: &method })
            }
            (None, Some(t)) => Some(Presented::Bearer(t)),
            (None, None) => None,
        };
        userinfo.userinfo(presented)
    });
    match answer.await {
        Ok(Ok(claims)) => {
            let mut resp = HttpResponse::Ok().json(claims);
            resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Ok(Err(UserinfoError::Missing)) => render::unauthenticated_resource(),
        Ok(Err(UserinfoError::DpopInvalidToken(why))) => render::dpop_error(ErrorCode::InvalidToken, why),
        Ok(Err(UserinfoError::InvalidDpopProof(why))) => render::dpop_error(ErrorCode::InvalidDpopProof, &why),
        Ok(Err(UserinfoError::InvalidToken)) => render::bearer_error(StatusCode::UNAUTHORIZED, Some("invalid_token")),
        Ok(Err(UserinfoError::InsufficientScope)) => {
            render::bearer_error(StatusCode::FORBIDDEN, Some("insufficient_scope"))
        }
        Ok(Err(UserinfoError::Internal(e))) => render::oauth_error(&e),
        Err(e) => render::oauth_error(&OAuthError::server_error(e.to_string())),
    }
}

/// GET or POST /oauth/logout (RP-Initiated Logout). Without a valid
/// `id_token_hint` for the signed-in user, the user is asked first: a page
/// whose form (CSRF double-submit) posts back here with `confirm`. Only
/// then is the session ended and its cookie cleared (issue #11 item 11).
pub async fn end_session(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let mut query = if req.method() == actix_web::http::Method::POST {
        String::from_utf8_lossy(&body).into_owned()
    } else {
        req.query_string().to_owned()
    };
    let mut confirmed = false;
    if req.method() == actix_web::http::Method::POST {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
        let field = |n: &str| form.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        if field("confirm").is_some() {
            if !csrf_ok(&req, &field("csrf").unwrap_or_default()) {
                return csrf_refused("sign-out");
            }
            query = field("logout").unwrap_or_default();
            confirmed = true;
        }
    }
    let session = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
    let logout = state.oauth.logout.clone();
    let q = query.clone();
    let mut resp = match crate::web::block(move || logout.end_session(&q, session.as_deref(), confirmed)).await {
        Ok(Ok(LogoutOutcome::Confirm { query, client_name })) => {
            return logout_confirm_page(&state, &query, client_name.as_deref().unwrap_or(""));
        }
        Ok(Ok(LogoutOutcome::Redirect(to))) => redirect(StatusCode::SEE_OTHER, &to),
        Ok(Ok(LogoutOutcome::SignedOut)) => pages::render(StatusCode::OK, &pages::SignedOutPage),
        Ok(Ok(LogoutOutcome::FrontChannel { pages: apps, origins, then })) => pages::render_with_csp(
            StatusCode::OK,
            &pages::FrontChannelLogoutPage { pages: &apps, then: then.as_deref() },
            &pages::frontchannel_csp(&origins),
        ),
        Ok(Ok(LogoutOutcome::Page(message))) => pages::error(&message),
        Ok(Err(_)) | Err(_) => pages::render(
            StatusCode::SERVICE_UNAVAILABLE,
            &pages::ErrorPage { message: "The service is temporarily unavailable." },
        ),
    };
    let mut gone = cookie(&state, SESSION_COOKIE, String::new(), "/", SameSite::Lax);
    gone.make_removal();
    let _ = resp.add_cookie(&gone);
    resp
}

fn logout_confirm_page(state: &AppState, query: &str, client_name: &str) -> HttpResponse {
    let csrf = match crate::clock::random_id(32) {
        Ok(c) => c,
        Err(e) => return render::oauth_error(&OAuthError::server_error(e.to_string())),
    };
    let page = pages::LogoutConfirmPage { client_name, action: routes::END_SESSION, query, csrf: &csrf };
    let mut resp = pages::render(StatusCode::OK, &page);
    let _ = resp.add_cookie(&cookie(state, CSRF_COOKIE, csrf.clone(), routes::END_SESSION, SameSite::Strict));
    resp
}
