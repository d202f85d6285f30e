//! Signing in to the console: the first-run setup link, the sign-in form
//! (throttled, generic errors, a double-submit CSRF cookie since there is no
//! session yet), and sign-out (the session is deleted server-side).

use super::{ConsoleError, Page, blocking, message_page, render, see_other, session_cookie};
use crate::service::admin::AdminError;
use crate::service::console::{Client, SignInError};
use crate::web::AppState;
use crate::web::routes::console as paths;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

/// The sign-in form's CSRF cookie (double submit: no session exists yet).
const LOGIN_CSRF: &str = "tessera_admin_csrf";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::relative(paths::SETUP), web::get().to(setup_form))
        .route(paths::relative(paths::SETUP), web::post().to(setup))
        .route(paths::relative(paths::LOGIN), web::get().to(login_form))
        .route(paths::relative(paths::LOGIN), web::post().to(login))
        .route(paths::relative(paths::LOGOUT), web::post().to(logout))
        .route(paths::relative(paths::INVITATION), web::get().to(invitation_form))
        .route(paths::relative(paths::INVITATION), web::post().to(accept_invitation));
}

#[derive(Template)]
#[template(path = "console/invitation.html")]
struct InvitationPage<'a> {
    token: &'a str,
    role: &'a str,
    username: &'a str,
    error: Option<&'a str>,
    field: &'a str,
}

const INVITATION_USED: &str = "This invitation was already used or has expired. Ask an owner for a new one.";

/// GET /admin/invitation?token=…: the invitee picks a username and password.
async fn invitation_form(state: web::Data<AppState>, q: web::Query<TokenQuery>) -> Page {
    let token = q.into_inner().token.unwrap_or_default();
    let auth = state.console.clone();
    let t = token.clone();
    Ok(match blocking(move || auth.invitation(&t)).await?? {
        Some(role) => {
            let page = InvitationPage { token: &token, role: role.label(), username: "", error: None, field: "" };
            render(StatusCode::OK, &page)
        }
        None => message_page(StatusCode::NOT_FOUND, INVITATION_USED),
    })
}

/// POST /admin/invitation: like the setup form, the token is the form's
/// secret (it also stops cross-site posts); it is used up on success.
async fn accept_invitation(state: web::Data<AppState>, req: HttpRequest, form: web::Form<SetupForm>) -> Page {
    let f = form.into_inner();
    if !super::same_origin(&req, &state.issuer) {
        return Ok(message_page(StatusCode::FORBIDDEN, "Cross-site requests to the console are refused."));
    }
    let auth = state.console.clone();
    let t = f.token.clone();
    let Some(role) = blocking(move || auth.invitation(&t)).await?? else {
        return Ok(message_page(StatusCode::GONE, INVITATION_USED));
    };
    let again = |message: &str, field: &str| {
        let page =
            InvitationPage { token: &f.token, role: role.label(), username: &f.username, error: Some(message), field };
        render(StatusCode::UNPROCESSABLE_ENTITY, &page)
    };
    if f.password != f.confirm {
        return Ok(again("The passwords do not match.", "confirm"));
    }
    let client = client_of(&state, &req);
    let auth = state.console.clone();
    let (token, username, password) = (f.token.clone(), f.username.clone(), f.password.clone());
    match blocking(move || auth.accept_invitation(&token, &username, &password, &client)).await? {
        Ok((_, cookie)) => {
            let mut resp = see_other(paths::HOME);
            let _ = resp.add_cookie(&session_cookie(&state, cookie));
            Ok(resp)
        }
        Err(AdminError::Invalid { field, message }) => Ok(again(&message, field)),
        Err(AdminError::Conflict(m)) if m.contains("invitation") => Ok(message_page(StatusCode::GONE, INVITATION_USED)),
        Err(AdminError::Conflict(m)) => Ok(again(&m, "username")),
        Err(AdminError::Store(e)) => Err(ConsoleError::Store(e)),
        Err(_) => Err(ConsoleError::Internal),
    }
}

#[derive(Template)]
#[template(path = "console/setup.html")]
struct SetupPage<'a> {
    token: &'a str,
    username: &'a str,
    error: Option<&'a str>,
    field: &'a str,
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

const LINK_USED: &str = "This setup link was already used or has expired. Use `tessera admin create`, \
                         or restart the server while no administrator exists for a new link.";

/// GET /admin/setup?token=…: the form that creates the first administrator.
async fn setup_form(state: web::Data<AppState>, q: web::Query<TokenQuery>) -> Page {
    let token = q.into_inner().token.unwrap_or_default();
    let auth = state.console.clone();
    let t = token.clone();
    Ok(if blocking(move || auth.setup_token_valid(&t)).await?? {
        render(StatusCode::OK, &SetupPage { token: &token, username: "", error: None, field: "" })
    } else {
        message_page(StatusCode::NOT_FOUND, LINK_USED)
    })
}

#[derive(serde::Deserialize)]
struct SetupForm {
    token: String,
    username: String,
    password: String,
    confirm: String,
}

/// POST /admin/setup: the setup token is the form's secret (it cannot be
/// guessed, so it also stops cross-site posts); it is used up on success.
async fn setup(state: web::Data<AppState>, req: HttpRequest, form: web::Form<SetupForm>) -> Page {
    let f = form.into_inner();
    if !super::same_origin(&req, &state.issuer) {
        return Ok(message_page(StatusCode::FORBIDDEN, "Cross-site requests to the console are refused."));
    }
    if f.password != f.confirm {
        let page = SetupPage {
            token: &f.token,
            username: &f.username,
            error: Some("The passwords do not match."),
            field: "confirm",
        };
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    let auth = state.console.clone();
    let (token, username, password) = (f.token.clone(), f.username.clone(), f.password);
    let client = client_of(&state, &req);
    match blocking(move || auth.setup(&token, &username, &password, &client)).await? {
        Ok((_, cookie)) => {
            let mut resp = see_other(paths::HOME);
            let _ = resp.add_cookie(&session_cookie(&state, cookie));
            Ok(resp)
        }
        Err(AdminError::Invalid { field, message }) => {
            let page = SetupPage { token: &f.token, username: &f.username, error: Some(&message), field };
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(AdminError::Conflict(m)) if m.contains("setup link") => Ok(message_page(StatusCode::GONE, LINK_USED)),
        Err(AdminError::Conflict(m)) => {
            let page = SetupPage { token: &f.token, username: &f.username, error: Some(&m), field: "username" };
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(AdminError::Store(e)) => Err(ConsoleError::Store(e)),
        Err(_) => Err(ConsoleError::Internal),
    }
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

fn login_page(state: &AppState, status: StatusCode, username: &str, error: Option<&str>) -> HttpResponse {
    let Ok(csrf) = crate::clock::random_id(32) else {
        return message_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong.");
    };
    let mut resp = render(status, &LoginPage { csrf: &csrf, username, error });
    let cookie = Cookie::build(LOGIN_CSRF, csrf)
        .path(paths::HOME)
        .http_only(true)
        .secure(state.issuer.starts_with("https://"))
        .same_site(SameSite::Strict)
        .finish();
    let _ = resp.add_cookie(&cookie);
    resp
}

/// GET /admin/login: the password form; for a session past the password
/// but waiting for its second factor, the code (or enrolment) form; a
/// signed-in administrator goes to the dashboard.
async fn login_form(state: web::Data<AppState>, req: HttpRequest) -> Page {
    match super::second_factor::session_of(&state, &req).await? {
        Some(s) if s.pending.is_none() => Ok(see_other(paths::HOME)),
        Some(s) => super::second_factor::stage_page(&state, s, StatusCode::OK, None, None).await,
        None => Ok(login_page(&state, StatusCode::OK, "", None)),
    }
}

#[derive(serde::Deserialize)]
struct LoginForm {
    csrf: String,
    username: String,
    password: String,
}

/// POST /admin/login.
async fn login(state: web::Data<AppState>, req: HttpRequest, form: web::Form<LoginForm>) -> Page {
    let f = form.into_inner();
    let csrf_ok = crate::web::browser::double_submit_ok(&req, LOGIN_CSRF, &f.csrf);
    if !csrf_ok || !super::same_origin(&req, &state.issuer) {
        return Ok(message_page(
            StatusCode::FORBIDDEN,
            "The sign-in form expired or did not come from this site. Open the console again.",
        ));
    }
    let client = client_of(&state, &req);
    let auth = state.console.clone();
    let (username, password) = (f.username.clone(), f.password);
    match blocking(move || auth.sign_in(&username, &password, &client)).await? {
        Ok((_, cookie)) => {
            let mut resp = see_other(paths::HOME);
            let _ = resp.add_cookie(&session_cookie(&state, cookie));
            let mut gone = Cookie::build(LOGIN_CSRF, "").path(paths::HOME).finish();
            gone.make_removal();
            let _ = resp.add_cookie(&gone);
            Ok(resp)
        }
        Err(e @ (SignInError::BadCredentials | SignInError::Throttled(_) | SignInError::Busy)) => {
            let status = match e {
                SignInError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
                SignInError::Busy => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNAUTHORIZED,
            };
            Ok(login_page(&state, status, &f.username, Some(&e.to_string())))
        }
        Err(SignInError::Store(e)) => Err(ConsoleError::Store(e)),
        Err(SignInError::Internal(_)) => Err(ConsoleError::Internal),
    }
}

/// Where a request comes from, as a new session records it.
pub(super) fn client_of(state: &AppState, req: &HttpRequest) -> Client {
    let user_agent = req.headers().get(actix_web::http::header::USER_AGENT).and_then(|v| v.to_str().ok());
    Client { address: state.client_addr(req), user_agent: user_agent.map(str::to_owned) }
}

#[derive(serde::Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// POST /admin/logout: deletes the session server-side and clears the
/// cookie. It takes the session from the cookie itself (not through
/// [`Admin`]), so a session still waiting for its second factor can be
/// ended too; the origin and the session's CSRF token are checked as
/// `Posted` checks them.
async fn logout(state: web::Data<AppState>, req: HttpRequest, form: web::Form<LogoutForm>) -> Page {
    if !super::same_origin(&req, &state.issuer) {
        return Ok(message_page(StatusCode::FORBIDDEN, "Cross-site requests to the console are refused."));
    }
    let Some(session) = super::second_factor::session_of(&state, &req).await? else {
        return Ok(see_other(paths::LOGIN));
    };
    if !session.csrf_matches(&form.csrf) {
        return Ok(message_page(
            StatusCode::FORBIDDEN,
            "This form expired or did not come from the console. Go back, reload and try again.",
        ));
    }
    let cookie = req.cookie(super::cookie_name(&state)).map(|c| c.value().to_owned());
    if let Some(c) = cookie {
        let auth = state.console.clone();
        // Only a storage failure stops the sign-out; the cookie is cleared otherwise.
        if let Ok(Err(e)) = blocking(move || auth.sign_out(&c)).await {
            return Err(ConsoleError::Store(e));
        }
    }
    let mut resp = see_other(paths::LOGIN);
    let mut gone = session_cookie(&state, String::new());
    gone.make_removal();
    let _ = resp.add_cookie(&gone);
    Ok(resp)
}
