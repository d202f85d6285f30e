//! The signed-in administrator's own account: change the password (the
//! current one first; every other session of theirs ends).

use super::{Admin, Failure, FieldErrors, Layout, Page, PageQuery, Posted, blocking, render, render_form, see_other};
use crate::service::admin::AdminError;
use crate::web::routes::console as paths;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::relative(paths::ACCOUNT), web::get().to(show))
        .route(paths::relative(paths::ACCOUNT), web::post().to(change_password));
}

#[derive(Template)]
#[template(path = "console/account.html")]
struct AccountPage {
    l: Layout,
    errors: FieldErrors,
}

async fn show(admin: Admin, q: web::Query<PageQuery>) -> HttpResponse {
    let l = Layout::new(&admin, "account", "Your account").with_done(q.done.as_deref());
    render(StatusCode::OK, &AccountPage { l, errors: FieldErrors::default() })
}

#[derive(serde::Deserialize)]
struct PasswordForm {
    current: String,
    password: String,
    confirm: String,
}

async fn change_password(req: HttpRequest, p: Posted<PasswordForm>) -> Page {
    let Posted { admin, form, .. } = p;
    let again = |admin: &Admin, failure: Failure| {
        failure.show_form(|errors, banner| {
            let mut l = Layout::new(admin, "account", "Your account");
            l.error = banner;
            render_form(true, &AccountPage { l, errors })
        })
    };
    if form.password != form.confirm {
        let e = AdminError::Invalid { field: "confirm", message: "does not match the new password".into() };
        return again(&admin, e.into());
    }
    let Some(cookie) = req.cookie(super::cookie_name(&admin.state)).map(|c| c.value().to_owned()) else {
        return Ok(see_other(paths::LOGIN));
    };
    let auth = admin.state.console.clone();
    match blocking(move || auth.change_password(&cookie, &form.current, &form.password)).await? {
        Ok(()) => Ok(see_other(&paths::done(paths::ACCOUNT, "password"))),
        Err(e) => again(&admin, e.into()),
    }
}
