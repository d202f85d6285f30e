//! The device authorization grant's HTTP surface (RFC 8628): the device
//! authorization endpoint (a client's POST, answered by the OAuth writer)
//! and the user's page in the hosted login: enter the code (or arrive with
//! it from `verification_uri_complete`), sign in if needed, then allow or
//! deny on a CSRF-protected form. The polls arrive at the token endpoint.

use super::browser::{self, LoginForm, SignInForm};
use super::oauth::{blocking, client_post};
use super::{AppState, pages, render, routes};
use crate::service::oauth::device::DevicePage;
use crate::service::rate_limit::Class;
use actix_web::cookie::SameSite;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use tessera_protocol::OAuthError;

/// The device page's sign-in form: its CSRF cookie shares the page's path,
/// and signing in comes back to the page with the code.
const DEVICE_SIGN_IN: SignInForm = SignInForm {
    action: routes::DEVICE_LOGIN,
    second_factor: routes::DEVICE_LOGIN_SECOND_FACTOR,
    cookie_path: routes::DEVICE,
    resume: routes::DEVICE,
};

/// POST /oauth/device_authorization (RFC 8628 §3.1, §3.2).
pub async fn authorize(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let authorization = match client_post(&req) {
        Ok(a) => a,
        Err(e) => return render::oauth_error(&e),
    };
    if let Some(refused) = super::rate_limit::client_refusal(&state, Class::Device, authorization.as_deref(), &body) {
        return refused;
    }
    let peer = state.client_addr(&req);
    let device = state.oauth.device.clone();
    blocking(move || device.start(authorization.as_deref(), &body, peer.as_deref()), |r| render::token_ok(&r)).await
}

/// The `user_code` of a query string or form.
fn user_code(encoded: &[u8]) -> Option<String> {
    url::form_urlencoded::parse(encoded).find(|(k, _)| k == "user_code").map(|(_, v)| v.into_owned())
}

/// GET /device: the code form, or with `?user_code=` the next step.
pub async fn page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Some(typed) = user_code(req.query_string().as_bytes()).filter(|c| !c.trim().is_empty()) else {
        return entry_page(StatusCode::OK, "", None);
    };
    let session = req.cookie(browser::SESSION_COOKIE).map(|c| c.value().to_owned());
    let peer = state.client_addr(&req);
    let device = state.oauth.device.clone();
    let t = typed.clone();
    let outcome = crate::web::block(move || device.page(&t, session.as_deref(), peer.as_deref())).await;
    respond(&state, &typed, outcome)
}

/// The confirmation form's fields.
#[derive(serde::Deserialize)]
pub struct DecisionForm {
    csrf: String,
    user_code: String,
    decision: String,
}

/// POST /device: check CSRF, then allow or deny the request.
pub async fn decide(state: web::Data<AppState>, req: HttpRequest, form: web::Form<DecisionForm>) -> HttpResponse {
    let form = form.into_inner();
    if !browser::csrf_ok(&req, &form.csrf) {
        return browser::csrf_refused("device");
    }
    let session = req.cookie(browser::SESSION_COOKIE).map(|c| c.value().to_owned());
    let peer = state.client_addr(&req);
    let approve = form.decision == "allow";
    let device = state.oauth.device.clone();
    let typed = form.user_code.clone();
    let outcome =
        crate::web::block(move || device.decide(&form.user_code, session.as_deref(), approve, peer.as_deref())).await;
    respond(&state, &typed, outcome)
}

/// POST /device/login: the sign-in form shown on the device page; back to
/// the page with the code on success.
pub async fn login(state: web::Data<AppState>, req: HttpRequest, form: web::Form<LoginForm>) -> HttpResponse {
    browser::sign_in(state, req, form.into_inner(), DEVICE_SIGN_IN).await
}

/// POST /device/login/second-factor: the sign-in's second stage.
pub async fn second_factor(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<browser::SecondFactorForm>,
) -> HttpResponse {
    browser::second_factor(state, req, form.into_inner(), DEVICE_SIGN_IN).await
}

fn entry_page(status: StatusCode, typed: &str, error: Option<&str>) -> HttpResponse {
    pages::render(status, &pages::DeviceEntryPage { action: routes::DEVICE, user_code: typed, error })
}

/// Renders what the device service decided for the code `typed`.
fn respond(
    state: &AppState,
    typed: &str,
    outcome: Result<Result<DevicePage, OAuthError>, actix_web::error::BlockingError>,
) -> HttpResponse {
    match outcome {
        Ok(Ok(DevicePage::WrongCode)) => entry_page(
            StatusCode::BAD_REQUEST,
            typed,
            Some("That code is not valid or has expired. Check the code on your device and try again."),
        ),
        Ok(Ok(DevicePage::Throttled(secs))) => {
            let message = "Too many wrong codes. Wait a few minutes and try again.";
            let mut resp = entry_page(StatusCode::TOO_MANY_REQUESTS, typed, Some(message));
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
        Ok(Ok(DevicePage::Login { client_id, client_name })) => {
            // client_id only lets a failed sign-in name the client again; the
            // page itself goes by the user code alone.
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("user_code", typed)
                .append_pair("client_id", &client_id)
                .finish();
            browser::login_page(state, DEVICE_SIGN_IN, &query, &client_name, None, "")
        }
        Ok(Ok(DevicePage::Confirm(c))) => {
            let csrf = match crate::clock::random_id(32) {
                Ok(c) => c,
                Err(e) => return render::oauth_error(&OAuthError::server_error(e.to_string())),
            };
            let page = pages::DeviceConfirmPage {
                action: routes::DEVICE,
                user_code: &c.user_code,
                client_name: &c.client_name,
                api_name: &c.api_name,
                api_identifier: &c.api_identifier,
                scopes: &c.scopes,
                username: &c.username,
                csrf: &csrf,
            };
            let mut resp = pages::render(StatusCode::OK, &page);
            let csrf_cookie = browser::cookie(state, browser::CSRF_COOKIE, csrf, routes::DEVICE, SameSite::Strict);
            let _ = resp.add_cookie(&csrf_cookie);
            resp
        }
        Ok(Ok(DevicePage::Done { approved, client_name })) => {
            pages::render(StatusCode::OK, &pages::DeviceDonePage { approved, client_name: &client_name })
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, detail = e.detail.as_deref().unwrap_or(""), "device page failed");
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
