//! The signed-in administrator's own account: change the password (the
//! current one first; every other session of theirs ends), and their
//! sessions (where and when each began, when it was last used) with "sign
//! out other sessions", and their passkeys (enrolled and removed through
//! `web::console::passkeys`).

use super::{
    Admin, ConsoleError, Empty, Failure, FieldErrors, Layout, Page, PageQuery, Posted, blocking, filters, render_form,
    see_other,
};
use crate::service::admin::AdminError;
use crate::service::passkeys::PasskeyView;
use crate::web::routes::console as paths;
use actix_web::{HttpRequest, web};
use askama::Template;
use tessera_store::admins::AdminSession;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::relative(paths::ACCOUNT), web::get().to(show))
        .route(paths::relative(paths::ACCOUNT), web::post().to(change_password))
        .route(paths::relative(paths::ACCOUNT_SESSIONS), web::post().to(sign_out_others));
}

#[derive(Template)]
#[template(path = "console/account.html")]
struct AccountPage {
    l: Layout,
    errors: FieldErrors,
    role: &'static str,
    sessions: Vec<AdminSession>,
    current: String,
    second_factor: bool,
    recovery_left: i64,
    passkeys: Vec<PasskeyView>,
    passkeys_available: bool,
}

/// The page with its session list, the form's errors and the layout `l`.
async fn page(admin: &Admin, l: Layout, errors: FieldErrors) -> Page {
    let (auth, session) = (admin.state.console.clone(), admin.session.clone());
    let store = admin.state.store.clone();
    let (sessions, recovery_left, passkeys) = blocking(move || {
        Ok::<_, tessera_store::StoreError>((
            auth.sessions(&session)?,
            crate::service::second_factor::recovery_codes_left(&store, &session.admin.id)?,
            auth.passkeys(&session)?,
        ))
    })
    .await?
    .map_err(ConsoleError::Store)?;
    let failed = errors.any() || l.error.is_some();
    let page = AccountPage {
        role: admin.session.role().label(),
        current: admin.session.id_hash.clone(),
        l,
        sessions,
        errors,
        second_factor: admin.session.admin.totp_secret_enc.is_some(),
        recovery_left,
        passkeys,
        passkeys_available: admin.state.console.passkeys_available(),
    };
    Ok(render_form(failed, &page))
}

async fn show(admin: Admin, q: web::Query<PageQuery>) -> Page {
    let l = Layout::new(&admin, "account", "Your account").with_done(q.done.as_deref());
    page(&admin, l, FieldErrors::default()).await
}

/// POST /admin/account/sessions: every other session of yours ends.
async fn sign_out_others(p: Posted<Empty>) -> Page {
    let admin = p.admin;
    let (auth, session) = (admin.state.console.clone(), admin.session.clone());
    blocking(move || auth.sign_out_others(&session)).await?.map_err(ConsoleError::Store)?;
    Ok(see_other(&paths::done(paths::ACCOUNT, "saved")))
}

#[derive(serde::Deserialize)]
struct PasswordForm {
    current: String,
    password: String,
    confirm: String,
}

async fn change_password(req: HttpRequest, p: Posted<PasswordForm>) -> Page {
    let Posted { admin, form, .. } = p;
    if form.password != form.confirm {
        let e = AdminError::Invalid { field: "confirm", message: "does not match the new password".into() };
        return again(&admin, e.into()).await;
    }
    let Some(cookie) = req.cookie(super::cookie_name(&admin.state)).map(|c| c.value().to_owned()) else {
        return Ok(see_other(paths::LOGIN));
    };
    let auth = admin.state.console.clone();
    match blocking(move || auth.change_password(&cookie, &form.current, &form.password)).await? {
        Ok(()) => Ok(see_other(&paths::done(paths::ACCOUNT, "password"))),
        Err(e) => again(&admin, e.into()).await,
    }
}

/// The page again after a failed password change (an outage is an error page).
async fn again(admin: &Admin, failure: Failure) -> Page {
    match failure {
        Failure::Form(errors, banner) => {
            let mut l = Layout::new(admin, "account", "Your account");
            l.error = banner;
            page(admin, l, errors).await
        }
        Failure::Page(e) => Err(e),
    }
}
