//! Users: list with search and paging, create, edit profile and metadata,
//! reset password, disable, delete.

use super::{
    Admin, ConsoleError, Empty, Failure, FieldErrors, Layout, Page, PageQuery, Pager, Posted, blocking, filters,
    pretty, render, render_form, see_other,
};
use crate::service::admin::FactorChange;
use crate::service::admin::{self, NewUser, UserEdit, json_object, split_list};
use crate::service::db::InTx;
use crate::service::precondition::{self, Row};
use crate::service::user_second_factor::FactorStatus;
use crate::service::views::UserView;
use crate::web::routes::console as paths;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::relative(paths::USERS), web::get().to(list))
        .route(paths::relative(paths::USERS), web::post().to(create))
        .route(paths::relative(paths::NEW_USER), web::get().to(new_form))
        .route(paths::relative(paths::USER), web::get().to(show))
        .route(paths::relative(paths::USER), web::post().to(update))
        .route(paths::relative(paths::USER_PASSWORD), web::post().to(password))
        .route(paths::relative(paths::USER_STATUS), web::post().to(status))
        .route(paths::relative(paths::USER_DELETE), web::post().to(delete))
        .route(paths::relative(paths::USER_SIGN_OUT), web::post().to(sign_out))
        .route(paths::relative(paths::USER_SECOND_FACTOR), web::post().to(second_factor));
}

#[derive(serde::Deserialize)]
struct ListQuery {
    #[serde(default)]
    q: String,
    page: Option<i64>,
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct ListPage {
    l: Layout,
    q: String,
    users: Vec<UserView>,
    pager: Pager,
}

async fn list(admin: Admin, q: web::Query<ListQuery>) -> Page {
    let q = q.into_inner();
    let (page, offset, limit) = Pager::window(q.page);
    let store = admin.state.store.clone();
    let search = q.q.clone();
    let mut rows = blocking(move || admin::list_users(&store, &search, offset, limit)).await??;
    let pager = Pager::paginate(page, &mut rows, &[("q", &q.q)]);
    let l = Layout::new(&admin, "users", "Users").with_done(q.done.as_deref());
    Ok(render(StatusCode::OK, &ListPage { l, q: q.q, users: rows, pager }))
}

/// The form's fields, as typed (kept on an error).
#[derive(serde::Deserialize, Default)]
struct UserForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    profile: String,
    #[serde(default)]
    metadata: String,
    #[serde(default)]
    roles: String,
    /// The version of the user the form was filled from
    /// (`precondition::form_version`); empty on the new-user form.
    #[serde(default)]
    etag: String,
}

impl UserForm {
    fn of(u: &UserView) -> UserForm {
        UserForm {
            username: u.username.clone(),
            password: String::new(),
            email: u.email.clone().unwrap_or_default(),
            profile: pretty(&u.profile),
            metadata: pretty(&u.metadata),
            roles: u.roles.join(", "),
            etag: precondition::form_version(u),
        }
    }

    fn json(text: &str) -> Option<&str> {
        Some(text).filter(|t| !t.trim().is_empty())
    }
}

#[derive(Template)]
#[template(path = "console/user.html")]
struct UserPage {
    l: Layout,
    user: Option<UserView>,
    form: UserForm,
    errors: FieldErrors,
    /// The user's second factor (`None` on the new-user form).
    factor: Option<FactorStatus>,
    /// `[login] require_second_factor`: every user must have one.
    factor_everyone: bool,
}

async fn new_form(admin: Admin) -> HttpResponse {
    let l = Layout::new(&admin, "users", "New user");
    let form = UserForm { profile: "{}".into(), metadata: "{}".into(), ..UserForm::default() };
    let factor_everyone = admin.state.oauth.login.second_factor_everyone();
    let page = UserPage { l, user: None, form, errors: FieldErrors::default(), factor: None, factor_everyone };
    render(StatusCode::OK, &page)
}

fn form_again(admin: &Admin, user: Option<UserView>, form: UserForm, failure: Failure, title: &str) -> Page {
    failure.show_form(|errors, banner| {
        let mut l = Layout::new(admin, "users", title);
        l.error = banner;
        let factor_everyone = admin.state.oauth.login.second_factor_everyone();
        render_form(true, &UserPage { l, user, form, errors, factor: None, factor_everyone })
    })
}

async fn create(p: Posted<UserForm>) -> Page {
    let Posted { admin, form, .. } = p;
    let built = (|| -> Result<NewUser, admin::AdminError> {
        Ok(NewUser {
            username: form.username.clone(),
            password: Some(form.password.clone()),
            email: Some(form.email.trim().to_owned()).filter(|e| !e.is_empty()),
            metadata: json_object("metadata", UserForm::json(&form.metadata))?,
            profile: json_object("profile", UserForm::json(&form.profile))?,
            roles: split_list(&form.roles),
        })
    })();
    let new = match built {
        Ok(n) => n,
        Err(e) => return form_again(&admin, None, form, e.into(), "New user"),
    };
    let (store, actor) = (admin.state.store.clone(), admin.actor());
    let now = admin.now();
    match blocking(move || admin::create_user(&store, &actor, now, new)).await? {
        Ok(u) => Ok(see_other(&paths::done(&paths::user(&u.id), "created"))),
        Err(e) => form_again(&admin, None, form, e.into(), "New user"),
    }
}

async fn load(admin: &Admin, id: String) -> Result<UserView, ConsoleError> {
    let store = admin.state.store.clone();
    blocking(move || admin::find_user(&store, &id)).await??.ok_or(ConsoleError::NotFound("No such user."))
}

async fn show(admin: Admin, id: web::Path<String>, q: web::Query<PageQuery>) -> Page {
    let u = load(&admin, id.into_inner()).await?;
    let (store, uid) = (admin.state.store.clone(), u.id.clone());
    let factor = blocking(move || admin::user_second_factor(&store, &uid)).await??;
    let l = Layout::new(&admin, "users", format!("User {}", u.username)).with_done(q.done.as_deref());
    let page = UserPage {
        l,
        form: UserForm::of(&u),
        user: Some(u),
        errors: FieldErrors::default(),
        factor: Some(factor),
        factor_everyone: admin.state.oauth.login.second_factor_everyone(),
    };
    Ok(render(StatusCode::OK, &page))
}

async fn update(p: Posted<UserForm>, id: web::Path<String>) -> Page {
    let Posted { admin, form, .. } = p;
    let user = load(&admin, id.into_inner()).await?;
    let title = format!("User {}", user.username);
    let edit = (|| -> Result<UserEdit, admin::AdminError> {
        Ok(UserEdit {
            email: Some(form.email.clone()),
            metadata: json_object("metadata", UserForm::json(&form.metadata))?,
            profile: json_object("profile", UserForm::json(&form.profile))?,
            roles: split_list(&form.roles),
        })
    })();
    let edit = match edit {
        Ok(e) => e,
        Err(e) => return form_again(&admin, Some(user), form, e.into(), &title),
    };
    let (store, actor, uid, etag) = (admin.state.store.clone(), admin.actor(), user.id.clone(), form.etag.clone());
    let now = admin.now();
    let saved = blocking(move || {
        let view =
            |db: &InTx<'_>| admin::find_user(db, &uid)?.ok_or_else(|| admin::AdminError::NotFound("user".into()));
        let change = |db: &InTx<'_>| admin::update_user(db, &actor, now, &uid, edit);
        precondition::guarded(&store, Row::User(&uid), &precondition::form_if_match(&etag)?, view, change)
    });
    match saved.await? {
        Ok(u) => Ok(see_other(&paths::done(&paths::user(&u.id), "saved"))),
        Err(e) => form_again(&admin, Some(user), form, e.into(), &title),
    }
}

#[derive(serde::Deserialize)]
struct PasswordForm {
    password: String,
}

async fn password(p: Posted<PasswordForm>, id: web::Path<String>) -> Page {
    let Posted { admin, form, .. } = p;
    let user = load(&admin, id.into_inner()).await?;
    let (store, actor, uid) = (admin.state.store.clone(), admin.actor(), user.id.clone());
    let now = admin.now();
    match blocking(move || admin::set_user_password(&store, &actor, now, &uid, &form.password)).await? {
        Ok(u) => {
            // A password reset revokes the user's access tokens: honour it here at once.
            admin.state.oauth.revoked.changed();
            Ok(see_other(&paths::done(&paths::user(&u.id), "password")))
        }
        Err(e) => {
            let title = format!("User {}", user.username);
            form_again(&admin, Some(user.clone()), UserForm::of(&user), e.into(), &title)
        }
    }
}

#[derive(serde::Deserialize)]
struct StatusForm {
    disabled: bool,
}

async fn status(p: Posted<StatusForm>, id: web::Path<String>) -> Page {
    let Posted { admin, form, .. } = p;
    let (store, actor, uid) = (admin.state.store.clone(), admin.actor(), id.into_inner());
    let now = admin.now();
    let u = blocking(move || admin::set_user_disabled(&store, &actor, now, &uid, form.disabled)).await??;
    admin.state.oauth.revoked.changed();
    Ok(see_other(&paths::done(&paths::user(&u.id), if u.disabled { "disabled" } else { "enabled" })))
}

async fn sign_out(p: Posted<Empty>, id: web::Path<String>) -> Page {
    let admin = p.admin;
    let (store, actor, uid) = (admin.state.store.clone(), admin.actor(), id.into_inner());
    let now = admin.now();
    let u = blocking(move || admin::sign_out_user(&store, &actor, now, &uid)).await??;
    admin.state.oauth.revoked.changed();
    Ok(see_other(&paths::done(&paths::user(&u.id), "signed-out")))
}

/// The second factor panel's buttons (reset, or require / stop requiring)
/// post the fields of a [`FactorChange`].
async fn second_factor(p: Posted<FactorChange>, id: web::Path<String>) -> Page {
    let Posted { admin, form: change, .. } = p;
    let (store, actor, uid) = (admin.state.store.clone(), admin.actor(), id.into_inner());
    let now = admin.now();
    let uid2 = uid.clone();
    blocking(move || admin::change_user_second_factor(&store, &actor, now, &uid2, change)).await??;
    let done = match (change.reset, change.required) {
        (true, _) => "factor-reset",
        (false, Some(false)) => "factor-optional",
        _ => "factor-required",
    };
    Ok(see_other(&paths::done(&paths::user(&uid), done)))
}

async fn delete(p: Posted<Empty>, id: web::Path<String>) -> Page {
    let admin = p.admin;
    let (store, actor, uid) = (admin.state.store.clone(), admin.actor(), id.into_inner());
    let now = admin.now();
    blocking(move || admin::delete_user(&store, &actor, now, &uid)).await??;
    admin.state.oauth.revoked.changed();
    Ok(see_other(&paths::done(paths::USERS, "deleted")))
}
