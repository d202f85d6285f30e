//! The second factor in the console (issue #18 item 2): the second stage of
//! sign-in (a code after the password, or enrolment when the server
//! requires a factor and the administrator has none), and enrolling or
//! removing one from the account page. A session waiting for its second
//! factor opens nothing else: the [`Admin`] extractor refuses it, so these
//! handlers take it from the cookie themselves and check its CSRF token and
//! the origin as `Posted` would.

use super::{Admin, ConsoleError, Empty, Page, Posted, blocking, cookie_name, message_page, render, see_other};
use crate::service::admin::AdminError;
use crate::service::console::{PENDING_CODE, PENDING_ENROL, Session};
use crate::service::second_factor::{CodeError, Enrolment, resume};
use crate::web::AppState;
use crate::web::routes::console as paths;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::relative(paths::LOGIN_CODE), web::post().to(code))
        .route(paths::relative(paths::LOGIN_ENROL), web::post().to(enrol_at_sign_in))
        .route(paths::relative(paths::ACCOUNT_SECOND_FACTOR), web::get().to(enrol_form))
        .route(paths::relative(paths::ACCOUNT_SECOND_FACTOR), web::post().to(enrol))
        .route(paths::relative(paths::ACCOUNT_SECOND_FACTOR_REMOVE), web::post().to(remove));
}

#[derive(Template)]
#[template(path = "console/second_factor.html")]
struct SecondFactorPage<'a> {
    csrf: &'a str,
    action: &'a str,
    enrolment: Option<Enrolment>,
    required: bool,
    signing_in: bool,
    error: Option<&'a str>,
    /// The code form (the administrator has TOTP, hence recovery codes).
    code: bool,
    /// "Use a passkey" (the administrator has one and passkeys work here).
    passkey: bool,
}

#[derive(Template)]
#[template(path = "console/recovery_codes.html")]
struct RecoveryCodesPage {
    codes: Vec<String>,
}

/// The session behind the request's cookie, complete or waiting.
pub(super) async fn session_of(
    state: &web::Data<AppState>,
    req: &HttpRequest,
) -> Result<Option<Session>, ConsoleError> {
    let Some(cookie) = req.cookie(cookie_name(state)).map(|c| c.value().to_owned()) else {
        return Ok(None);
    };
    let auth = state.console.clone();
    blocking(move || auth.session(&cookie)).await?.map_err(ConsoleError::Store)
}

/// A waiting session's form check: same origin and its CSRF token.
pub(super) fn checked(state: &AppState, req: &HttpRequest, session: &Session, csrf: &str) -> bool {
    super::same_origin(req, &state.issuer) && session.csrf_matches(csrf)
}

/// The second stage of sign-in for a waiting session: the code form, or a
/// new secret to enrol (`enrolment` to show one again after a mistake).
pub(super) async fn stage_page(
    state: &web::Data<AppState>,
    session: Session,
    status: StatusCode,
    error: Option<&str>,
    enrolment: Option<Enrolment>,
) -> Page {
    if session.pending.as_deref() == Some(PENDING_ENROL) {
        let enrolment = match enrolment {
            Some(e) => e,
            None => {
                let (auth, s) = (state.console.clone(), session.clone());
                blocking(move || auth.begin_enrolment(&s)).await?.map_err(ConsoleError::Action)?
            }
        };
        let page = SecondFactorPage {
            csrf: &session.csrf,
            action: paths::LOGIN_ENROL,
            enrolment: Some(enrolment),
            required: true,
            signing_in: true,
            error,
            code: true,
            passkey: false,
        };
        return Ok(render(status, &page));
    }
    let (auth, s) = (state.console.clone(), session.clone());
    let passkeys = blocking(move || auth.passkey_count(&s)).await?.map_err(ConsoleError::Store)?;
    let page = SecondFactorPage {
        csrf: &session.csrf,
        action: paths::LOGIN_CODE,
        enrolment: None,
        required: false,
        signing_in: true,
        error,
        code: session.admin.totp_secret_enc.is_some(),
        passkey: passkeys > 0 && state.console.passkeys_available(),
    };
    Ok(render(status, &page))
}

const EXPIRED: &str = "This sign-in expired or did not come from the console. Sign in again.";

#[derive(serde::Deserialize)]
struct CodeForm {
    csrf: String,
    code: String,
}

/// POST /admin/login/code: the code completes the waiting session.
async fn code(state: web::Data<AppState>, req: HttpRequest, form: web::Form<CodeForm>) -> Page {
    let f = form.into_inner();
    let session = session_of(&state, &req).await?.filter(|s| s.pending.as_deref() == Some(PENDING_CODE));
    let Some(session) = session.filter(|s| checked(&state, &req, s, &f.csrf)) else {
        return Ok(message_page(StatusCode::FORBIDDEN, EXPIRED));
    };
    let (auth, s) = (state.console.clone(), session.clone());
    match blocking(move || auth.complete_with_code(&s, &f.code)).await? {
        Ok(()) => Ok(see_other(paths::HOME)),
        Err(e @ CodeError::Wrong) => {
            stage_page(&state, session, StatusCode::UNAUTHORIZED, Some(&e.to_string()), None).await
        }
        Err(e @ CodeError::Throttled(_)) => {
            stage_page(&state, session, StatusCode::TOO_MANY_REQUESTS, Some(&e.to_string()), None).await
        }
        Err(CodeError::Failed(e)) => Err(ConsoleError::Action(e)),
    }
}

#[derive(serde::Deserialize)]
struct EnrolForm {
    csrf: String,
    secret: String,
    code: String,
}

/// POST /admin/login/enrol: the first code confirms the enrolment, which
/// completes the waiting session; the recovery codes are shown once.
async fn enrol_at_sign_in(state: web::Data<AppState>, req: HttpRequest, form: web::Form<EnrolForm>) -> Page {
    let f = form.into_inner();
    let session = session_of(&state, &req).await?.filter(|s| s.pending.as_deref() == Some(PENDING_ENROL));
    let Some(session) = session.filter(|s| checked(&state, &req, s, &f.csrf)) else {
        return Ok(message_page(StatusCode::FORBIDDEN, EXPIRED));
    };
    let (auth, s, secret) = (state.console.clone(), session.clone(), f.secret.clone());
    match blocking(move || auth.confirm_enrolment(&s, &secret, &f.code)).await? {
        Ok(codes) => Ok(render(StatusCode::OK, &RecoveryCodesPage { codes })),
        Err(AdminError::Invalid { message, .. }) => {
            let again = resume(&f.secret, &session.admin.username).ok();
            let error = format!("The code {message}.");
            stage_page(&state, session, StatusCode::UNPROCESSABLE_ENTITY, Some(&error), again).await
        }
        Err(e) => Err(ConsoleError::Action(e)),
    }
}

/// GET /admin/account/second-factor: a new secret to enrol (replacing the
/// current one, if any, once confirmed).
async fn enrol_form(admin: Admin) -> Page {
    let (auth, s) = (admin.state.console.clone(), admin.session.clone());
    let enrolment = blocking(move || auth.begin_enrolment(&s)).await?.map_err(ConsoleError::Action)?;
    let page = SecondFactorPage {
        csrf: &admin.session.csrf,
        action: paths::ACCOUNT_SECOND_FACTOR,
        enrolment: Some(enrolment),
        required: false,
        signing_in: false,
        error: None,
        code: true,
        passkey: false,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(serde::Deserialize)]
struct ConfirmForm {
    secret: String,
    code: String,
}

/// POST /admin/account/second-factor: confirms the enrolment.
async fn enrol(p: Posted<ConfirmForm>) -> Page {
    let (admin, form) = (p.admin, p.form);
    let (auth, s, secret) = (admin.state.console.clone(), admin.session.clone(), form.secret.clone());
    match blocking(move || auth.confirm_enrolment(&s, &secret, &form.code)).await? {
        Ok(codes) => Ok(render(StatusCode::OK, &RecoveryCodesPage { codes })),
        Err(AdminError::Invalid { message, .. }) => {
            let error = format!("The code {message}.");
            let page = SecondFactorPage {
                csrf: &admin.session.csrf,
                action: paths::ACCOUNT_SECOND_FACTOR,
                enrolment: resume(&form.secret, &admin.session.admin.username).ok(),
                required: false,
                signing_in: false,
                error: Some(&error),
                code: true,
                passkey: false,
            };
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(ConsoleError::Action(e)),
    }
}

/// POST /admin/account/second-factor/remove.
async fn remove(p: Posted<Empty>) -> Page {
    let admin = p.admin;
    let (auth, s) = (admin.state.console.clone(), admin.session.clone());
    blocking(move || auth.remove_second_factor(&s)).await?.map_err(ConsoleError::Action)?;
    Ok(see_other(&paths::done(paths::ACCOUNT, "saved")))
}
