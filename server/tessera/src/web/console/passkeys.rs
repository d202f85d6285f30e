//! Passkeys in the console (issue #18 item 2): enrolling and removing them
//! from the account page, and completing a waiting sign-in with one. Each
//! ceremony is two POSTs that `admin-ui/static/passkeys.js` makes with the
//! form's CSRF token: the first returns the options for
//! `navigator.credentials.create`/`get` as JSON, the second carries the
//! authenticator's answer and returns `{"next": path}` or `{"error": text}`.
//! The sign-in pair takes the waiting session from the cookie and checks
//! the origin and CSRF token itself, as `/admin/login/code` does.

use super::second_factor::{checked, session_of};
use super::{ConsoleError, Empty, Page, Posted, blocking, see_other};
use crate::service::admin::AdminError;
use crate::service::console::PENDING_CODE;
use crate::service::second_factor::CodeError;
use crate::web::AppState;
use crate::web::routes::console as paths;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::relative(paths::LOGIN_PASSKEY_OPTIONS), web::post().to(sign_in_options))
        .route(paths::relative(paths::LOGIN_PASSKEY), web::post().to(sign_in))
        .route(paths::relative(paths::ACCOUNT_PASSKEY_OPTIONS), web::post().to(enrol_options))
        .route(paths::relative(paths::ACCOUNT_PASSKEYS), web::post().to(enrol))
        .route(paths::relative(paths::ACCOUNT_PASSKEY_REMOVE), web::post().to(remove));
}

/// A JSON answer for the script: never cached (a challenge is single use).
fn json(status: StatusCode, body: &impl Serialize) -> HttpResponse {
    HttpResponse::build(status).insert_header((header::CACHE_CONTROL, "no-store")).json(body)
}

fn error(status: StatusCode, message: &str) -> Page {
    Ok(json(status, &json!({ "error": message })))
}

/// An enrolment's failure as the script shows it, or the console's error
/// page for an outage.
fn refused(e: AdminError) -> Page {
    match e {
        AdminError::Invalid { field, message } => {
            error(StatusCode::UNPROCESSABLE_ENTITY, &format!("The {field} {message}."))
        }
        AdminError::Conflict(message) => error(StatusCode::CONFLICT, &message),
        AdminError::NotFound(_) => error(StatusCode::NOT_FOUND, UNAVAILABLE),
        e => Err(ConsoleError::Action(e)),
    }
}

const EXPIRED: &str = "This sign-in expired or did not come from the console. Sign in again.";
const UNAVAILABLE: &str = "Passkeys are not available for this sign-in.";
const NOT_ACCEPTED: &str = "The passkey was not accepted. Try again, or use a code.";

#[derive(serde::Deserialize)]
struct CsrfForm {
    csrf: String,
}

/// POST /admin/login/passkey/options: a challenge for the waiting session.
async fn sign_in_options(state: web::Data<AppState>, req: HttpRequest, form: web::Form<CsrfForm>) -> Page {
    let session = session_of(&state, &req).await?.filter(|s| s.pending.as_deref() == Some(PENDING_CODE));
    let Some(session) = session.filter(|s| checked(&state, &req, s, &form.csrf)) else {
        return error(StatusCode::FORBIDDEN, EXPIRED);
    };
    let auth = state.console.clone();
    match blocking(move || auth.begin_passkey_sign_in(&session)).await? {
        Ok(options) => Ok(json(StatusCode::OK, &options)),
        Err(e) => refused(e),
    }
}

#[derive(serde::Deserialize)]
struct AnswerForm {
    csrf: String,
    credential: String,
}

/// POST /admin/login/passkey: the authenticator's answer completes the
/// waiting session.
async fn sign_in(state: web::Data<AppState>, req: HttpRequest, form: web::Form<AnswerForm>) -> Page {
    let f = form.into_inner();
    let session = session_of(&state, &req).await?.filter(|s| s.pending.as_deref() == Some(PENDING_CODE));
    let Some(session) = session.filter(|s| checked(&state, &req, s, &f.csrf)) else {
        return error(StatusCode::FORBIDDEN, EXPIRED);
    };
    let auth = state.console.clone();
    match blocking(move || auth.complete_with_passkey(&session, &f.credential)).await? {
        Ok(()) => Ok(json(StatusCode::OK, &json!({ "next": paths::HOME }))),
        Err(CodeError::Wrong) => error(StatusCode::UNAUTHORIZED, NOT_ACCEPTED),
        Err(e @ CodeError::Throttled(_)) => error(StatusCode::TOO_MANY_REQUESTS, &e.to_string()),
        Err(CodeError::Failed(e)) => Err(ConsoleError::Action(e)),
    }
}

/// POST /admin/account/passkeys/options: a challenge to enrol a passkey.
async fn enrol_options(p: Posted<Empty>) -> Page {
    let (auth, session) = (p.admin.state.console.clone(), p.admin.session.clone());
    match blocking(move || auth.begin_passkey_enrolment(&session)).await? {
        Ok(options) => Ok(json(StatusCode::OK, &options)),
        Err(e) => refused(e),
    }
}

#[derive(serde::Deserialize)]
struct EnrolForm {
    name: String,
    credential: String,
}

/// POST /admin/account/passkeys: stores the new passkey under its name.
async fn enrol(p: Posted<EnrolForm>) -> Page {
    let (auth, session, f) = (p.admin.state.console.clone(), p.admin.session.clone(), p.form);
    match blocking(move || auth.finish_passkey_enrolment(&session, &f.name, &f.credential)).await? {
        Ok(()) => Ok(json(StatusCode::OK, &json!({ "next": paths::done(paths::ACCOUNT, "saved") }))),
        Err(e) => refused(e),
    }
}

#[derive(serde::Deserialize)]
struct RemoveForm {
    id: String,
}

/// POST /admin/account/passkeys/remove.
async fn remove(p: Posted<RemoveForm>) -> Page {
    let (auth, session, id) = (p.admin.state.console.clone(), p.admin.session.clone(), p.form.id);
    blocking(move || auth.remove_passkey(&session, &id)).await?.map_err(ConsoleError::Action)?;
    Ok(see_other(&paths::done(paths::ACCOUNT, "saved")))
}
