//! The hosted pages (login, consent, device, error): askama templates from admin-ui/, with
//! the headers every such page carries (RFC 9700 §4.16 clickjacking, §4.2.4
//! referrer; no inline script or style, nothing from other origins).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use askama::Template;

/// The login form.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    /// Where the form posts (the authorization endpoint's or the device
    /// page's sign-in).
    pub action: &'a str,
    /// The client's display name.
    pub client_name: &'a str,
    /// The authorization request to resume.
    pub query: &'a str,
    /// The CSRF token (also in a cookie).
    pub csrf: &'a str,
    /// A message after a failed attempt.
    pub error: Option<&'a str>,
    /// The username typed before, kept after a failure.
    pub username: &'a str,
}

/// The second stage of a hosted sign-in: a code, or enrolling a factor
/// (`service::user_second_factor`).
#[derive(Template)]
#[template(path = "login_second_factor.html")]
pub struct SecondFactorPage<'a> {
    /// Where the form posts.
    pub action: &'a str,
    /// The client's display name.
    pub client_name: &'a str,
    /// The authorization request to resume.
    pub query: &'a str,
    /// The CSRF token (also in a cookie).
    pub csrf: &'a str,
    /// A message after a wrong code.
    pub error: Option<&'a str>,
    /// A secret to enrol; `None`: ask for a code.
    pub enrolment: Option<&'a crate::service::totp::Enrolment>,
}

/// The recovery codes of a new second factor, shown once, then on to the
/// application.
#[derive(Template)]
#[template(path = "login_recovery_codes.html")]
pub struct RecoveryCodesPage<'a> {
    /// The codes.
    pub codes: &'a [String],
    /// Where the sign-in goes on (the authorization request resumed).
    pub next: &'a str,
    /// The client's display name.
    pub client_name: &'a str,
}

/// The consent form.
#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    /// The client's display name.
    pub client_name: &'a str,
    /// Where the answer goes, for a client that registered itself (RFC
    /// 7591): its name is its own claim.
    pub registered_host: Option<&'a str>,
    /// The display name of the API the access is for (issue #11 item 4).
    pub api_name: &'a str,
    /// The API's identifier (the tokens' audience).
    pub api_identifier: &'a str,
    /// The scopes asked for, each with a description when one is known.
    pub scopes: &'a [(String, Option<String>)],
    /// The authorization request to resume.
    pub query: &'a str,
    /// The CSRF token (also in a cookie).
    pub csrf: &'a str,
}

/// The device page (RFC 8628 §3.3): enter the code the device shows.
#[derive(Template)]
#[template(path = "device.html")]
pub struct DeviceEntryPage<'a> {
    /// Where the form goes (GET, with `user_code`).
    pub action: &'a str,
    /// The code typed before, kept after a mistake.
    pub user_code: &'a str,
    /// Why the code was not accepted.
    pub error: Option<&'a str>,
}

/// The device confirmation (RFC 8628 §5.4): the client, the API, the
/// scopes and the signed-in user, then allow or deny.
#[derive(Template)]
#[template(path = "device_confirm.html")]
pub struct DeviceConfirmPage<'a> {
    /// Where the form posts.
    pub action: &'a str,
    /// The user code, `XXXX-XXXX`, to compare with the device's.
    pub user_code: &'a str,
    /// The client's display name.
    pub client_name: &'a str,
    /// The API's display name.
    pub api_name: &'a str,
    /// The API's identifier (the tokens' audience).
    pub api_identifier: &'a str,
    /// The scopes, each with a description when one is known.
    pub scopes: &'a [(String, Option<&'static str>)],
    /// The signed-in user who would allow it.
    pub username: &'a str,
    /// The CSRF token (also in a cookie).
    pub csrf: &'a str,
}

/// After the user allowed or denied a device.
#[derive(Template)]
#[template(path = "device_done.html")]
pub struct DeviceDonePage<'a> {
    /// True if allowed.
    pub approved: bool,
    /// The client's display name.
    pub client_name: &'a str,
}

/// An error page.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    /// What went wrong, for the user.
    pub message: &'a str,
}

/// The form_post response (OAuth 2.0 Form Post Response Mode §2).
#[derive(Template)]
#[template(path = "form_post.html")]
pub struct FormPostPage<'a> {
    /// The client's redirect URI.
    pub action: &'a str,
    /// The response parameters.
    pub fields: &'a [(String, String)],
}

/// The form_post page runs one script from this origin to submit itself.
pub const FORM_POST_CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// "Sign out?": RP-Initiated Logout §2 when the request does not prove the
/// user's own RP sent it (no valid `id_token_hint` for this session).
#[derive(Template)]
#[template(path = "logout_confirm.html")]
pub struct LogoutConfirmPage<'a> {
    /// The client's display name, or empty when unknown.
    pub client_name: &'a str,
    /// The end-session endpoint (the form's target).
    pub action: &'a str,
    /// The logout request to resume.
    pub query: &'a str,
    /// The CSRF token (also in a cookie).
    pub csrf: &'a str,
}

/// After logout without a return address.
#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOutPage;

/// Front-Channel Logout §4: signed out; each client's logout page loads in
/// a hidden iframe, then a script (`frontchannel_logout.js`) goes on to the
/// post-logout redirect, which is also a link for browsers without scripts.
#[derive(Template)]
#[template(path = "frontchannel_logout.html")]
pub struct FrontChannelLogoutPage<'a> {
    /// The clients' pages, with `iss` and `sid`.
    pub pages: &'a [String],
    /// The registered post-logout redirect URI (with `state`), if any.
    pub then: Option<&'a str>,
}

/// The Front-Channel Logout page's CSP: the hosted pages' own, with its
/// script and frames of the clients' origins (and nothing else).
pub fn frontchannel_csp(origins: &[String]) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; frame-src {}; \
         frame-ancestors 'none'; base-uri 'none'",
        origins.join(" ")
    )
}

/// The Content-Security-Policy of every hosted page.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Renders a page with the security headers.
pub fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    render_with_csp(status, page, CSP)
}

/// Renders a page with a specific Content-Security-Policy.
pub fn render_with_csp(status: StatusCode, page: &impl Template, csp: &str) -> HttpResponse {
    let body = match page.render() {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            return HttpResponse::InternalServerError().finish();
        }
    };
    let mut resp = HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body);
    let h = resp.headers_mut();
    // A policy that is no header value (never: origins are serialized
    // URLs) falls back to the strict one of every hosted page.
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_str(csp).unwrap_or(HeaderValue::from_static(CSP)));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// An error page with status 400.
pub fn error(message: &str) -> HttpResponse {
    render(StatusCode::BAD_REQUEST, &ErrorPage { message })
}
