//! `/api/v1/admins`: console administrators, through the functions `tessera
//! admin create` uses (`service::console`: the same name and password rules,
//! the same audit events). Nothing secret is ever returned: the view has no
//! password hash, and a created administrator's password is the one sent.
//! A password is set at its own sub-resource (`PUT /admins/{id}/password`),
//! never read back.

use super::bearer::{Bearer, scope};
use super::body::{json_object, parse_fields, patched};
use super::etag::{self, etag_of};
use super::problem::{BodyProblems, GuardProblems, PreconditionProblems, Problem, ProblemBody};
use super::{ListQuery, Reply, blocking, created, no_content, ok};
use crate::service::admin::AdminError;
use crate::service::console;
use crate::service::db::Db;
use crate::service::management;
use crate::service::precondition::guarded;
use crate::service::roles::Role;
use crate::service::second_factor;
use crate::service::views::AdminView;
use crate::web::AppState;
use crate::web::routes::api as paths;
use actix_web::{HttpRequest, delete, get, patch, post, put, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_store::row_lock::Row;
use utoipa::ToSchema;

/// A new administrator (`Debug` leaves the password out).
#[derive(Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct NewAdminBody {
    /// Login name: 1 to 100 letters, digits, `.`, `_`, `-` or `@`.
    pub username: String,
    /// 15 to 256 characters; stored only as an argon2id hash.
    #[schema(format = Password)]
    pub password: String,
    /// `owner` (the default: `write:admins` is an owner's scope), `editor`,
    /// `plugin-author` or `viewer`.
    pub role: Option<String>,
}

impl std::fmt::Debug for NewAdminBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAdminBody")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("role", &self.role)
            .finish()
    }
}

/// An administrator's new password (`Debug` leaves it out).
#[derive(Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct AdminPasswordBody {
    /// 15 to 256 characters; stored only as an argon2id hash.
    #[schema(format = Password)]
    pub password: String,
}

impl std::fmt::Debug for AdminPasswordBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminPasswordBody").field("password", &"[redacted]").finish()
    }
}

/// What a PATCH may change on an administrator (JSON Merge Patch applies
/// to this shape): the role and whether they are disabled. The username is
/// fixed; the password has its own sub-resource.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(default)]
pub struct AdminPatchBody {
    /// `owner`, `editor`, `plugin-author` or `viewer`.
    pub role: String,
    /// True: they cannot sign in, and their sessions end.
    pub disabled: bool,
}

/// A page of administrators.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminList {
    /// The administrators, by username.
    pub items: Vec<AdminView>,
    /// Give it as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

fn find(store: &impl Db, id: &str) -> Result<AdminView, Problem> {
    console::find_admin(store, id)?.ok_or_else(|| Problem::from(AdminError::NotFound(format!("administrator {id}"))))
}

/// Lists administrators, by username (`prefix` filters the username).
#[utoipa::path(
    tag = "admins",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of administrators", body = AdminList),
        (status = 400, description = "A bad limit or cursor", body = ProblemBody, content_type = "application/problem+json"),
        GuardProblems,
    ),
    security(("bearer" = ["read:admins"]))
)]
#[get("/admins")]
async fn list(_auth: Bearer<scope::ReadAdmins>, state: web::Data<AppState>, q: web::Query<ListQuery>) -> Reply {
    let req = q.into_inner().into();
    let page = blocking(move || Ok(management::admins_page(&state.store, &req)?)).await?;
    ok(&AdminList { items: page.items, next_cursor: page.next_cursor }, None)
}

/// Creates an administrator who signs in to the console with the password
/// sent (as `tessera admin create` does; open setup links become void).
#[utoipa::path(
    tag = "admins",
    request_body(content = NewAdminBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; Location names it", body = AdminView),
        (status = 400, description = "The username or password is invalid", body = ProblemBody, content_type = "application/problem+json"),
        GuardProblems,
        (status = 409, description = "The username is taken", body = ProblemBody, content_type = "application/problem+json"),
        BodyProblems,
    ),
    security(("bearer" = ["write:admins"]))
)]
#[post("/admins")]
async fn create(
    auth: Bearer<scope::WriteAdmins>,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let body: NewAdminBody = parse_fields(json_object(&req, payload, false).await?, &["username", "password", "role"])?;
    let actor = auth.audit_name();
    let view = blocking(move || {
        let now = state.oauth.management.now();
        let role = body.role.as_deref().map(console::parse_role).transpose()?.unwrap_or(Role::Owner);
        let admin = console::create_admin(&state.store, &actor, now, &body.username, &body.password, role)?;
        Ok(AdminView::from(admin))
    })
    .await?;
    created(&paths::admin(&view.id), &view)
}

/// One administrator.
#[utoipa::path(
    tag = "admins",
    params(("id" = String, Path, description = "The administrator's id")),
    responses(
        (status = 200, description = "The administrator; ETag for If-Match", body = AdminView,
            headers(("ETag" = String, description = "The version to send as If-Match"))),
        GuardProblems,
        (status = 404, description = "No such administrator", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read:admins"]))
)]
#[get("/admins/{id}")]
async fn show(_auth: Bearer<scope::ReadAdmins>, state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let a = blocking(move || find(&state.store, &id)).await?;
    let tag = etag_of(&a)?;
    ok(&a, Some(tag))
}

/// Sets an administrator's password (as `tessera admin password` does, for
/// a forgotten one): the old one stops working and their console sessions
/// end.
#[utoipa::path(
    tag = "admins",
    params(("id" = String, Path, description = "The administrator's id"),
        ("If-Match" = String, Header, description = "The ETag of the administrator's last read")),
    request_body(content = AdminPasswordBody, content_type = "application/json"),
    responses(
        (status = 204, description = "Set"),
        (status = 400, description = "The password is invalid", body = ProblemBody, content_type = "application/problem+json"),
        GuardProblems,
        (status = 404, description = "No such administrator", body = ProblemBody, content_type = "application/problem+json"),
        PreconditionProblems,
        BodyProblems,
    ),
    security(("bearer" = ["write:admins"]))
)]
#[put("/admins/{id}/password")]
async fn set_password(
    auth: Bearer<scope::WriteAdmins>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let if_match = etag::required_if_match(&req)?;
    let body: AdminPasswordBody = parse_fields(json_object(&req, payload, false).await?, &["password"])?;
    let actor = auth.audit_name();
    blocking(move || {
        let now = state.oauth.management.now();
        guarded(
            &state.store,
            Row::Admin(&id),
            &if_match,
            |db| find(db, &id),
            |db| {
                let admin = find(db, &id)?;
                Ok(console::reset_admin_password(db, &actor, now, &admin.username, &body.password)?)
            },
        )
    })
    .await?;
    no_content()
}

/// Changes an administrator's role or disables them (JSON Merge Patch of
/// [`AdminPatchBody`]); never demotes or disables the last enabled owner.
#[utoipa::path(
    tag = "admins",
    params(("id" = String, Path, description = "The administrator's id"),
        ("If-Match" = String, Header, description = "The ETag of the last read")),
    request_body(content = AdminPatchBody, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed administrator", body = AdminView,
            headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "A field is invalid or unknown", body = ProblemBody, content_type = "application/problem+json"),
        GuardProblems,
        (status = 404, description = "No such administrator", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The last enabled owner cannot be demoted or disabled", body = ProblemBody, content_type = "application/problem+json"),
        PreconditionProblems,
        BodyProblems,
    ),
    security(("bearer" = ["write:admins"]))
)]
#[patch("/admins/{id}")]
async fn update(
    auth: Bearer<scope::WriteAdmins>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let if_match = etag::required_if_match(&req)?;
    let patch = Value::Object(json_object(&req, payload, true).await?);
    let actor = auth.audit_name();
    let admin = blocking(move || {
        let now = state.oauth.management.now();
        guarded(
            &state.store,
            Row::Admin(&id),
            &if_match,
            |db| find(db, &id),
            |db| {
                let current = find(db, &id)?;
                let was = AdminPatchBody { role: current.role.clone(), disabled: current.disabled };
                let body = patched(&was, &patch, &["role", "disabled"])?;
                let role = console::parse_role(&body.role)?;
                if role.as_str() != current.role {
                    console::set_admin_role(db, &actor, now, &id, role)?;
                }
                if body.disabled != current.disabled {
                    console::set_admin_disabled(db, &actor, now, &id, body.disabled)?;
                }
                find(db, &id)
            },
        )
    })
    .await?;
    let tag = etag_of(&admin)?;
    ok(&admin, Some(tag))
}

/// Takes every second factor away from an administrator who lost theirs
/// (TOTP, recovery codes, passkeys) and ends their console sessions; where a
/// second factor is required, they enrol a new one at their next sign-in.
#[utoipa::path(
    tag = "admins",
    params(("id" = String, Path, description = "The administrator's id"),
        ("If-Match" = String, Header, description = "The ETag of the last read")),
    responses(
        (status = 204, description = "Their second factors are gone and their sessions ended"),
        GuardProblems,
        (status = 404, description = "No such administrator", body = ProblemBody, content_type = "application/problem+json"),
        PreconditionProblems,
    ),
    security(("bearer" = ["write:admins"]))
)]
#[delete("/admins/{id}/second-factor")]
async fn reset_second_factor(
    auth: Bearer<scope::WriteAdmins>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Reply {
    let if_match = etag::required_if_match(&req)?;
    let actor = auth.audit_name();
    blocking(move || {
        let now = state.oauth.management.now();
        guarded(
            &state.store,
            Row::Admin(&id),
            &if_match,
            |db| find(db, &id),
            // A management client is no administrator: "" is nobody's id.
            |db| Ok(second_factor::reset(db, &actor, now, "", &id)?),
        )
    })
    .await?;
    no_content()
}

/// Deletes an administrator and ends their console sessions; never the
/// last one.
#[utoipa::path(
    tag = "admins",
    params(("id" = String, Path, description = "The administrator's id"),
        ("If-Match" = String, Header, description = "The ETag of the last read")),
    responses(
        (status = 204, description = "Deleted"),
        GuardProblems,
        (status = 404, description = "No such administrator", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The last administrator cannot be deleted", body = ProblemBody, content_type = "application/problem+json"),
        PreconditionProblems,
    ),
    security(("bearer" = ["write:admins"]))
)]
#[delete("/admins/{id}")]
async fn remove(
    auth: Bearer<scope::WriteAdmins>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Reply {
    let if_match = etag::required_if_match(&req)?;
    let actor = auth.audit_name();
    blocking(move || {
        let now = state.oauth.management.now();
        guarded(
            &state.store,
            Row::Admin(&id),
            &if_match,
            |db| find(db, &id),
            |db| Ok(console::delete_admin(db, &actor, now, &id)?),
        )
    })
    .await?;
    no_content()
}

/// Mounts the administrator operations.
pub fn register<T>(scope: utoipa_actix_web::scope::Scope<T>) -> utoipa_actix_web::scope::Scope<T>
where
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Error = actix_web::Error,
            InitError = (),
        >,
{
    scope
        .service(list)
        .service(create)
        .service(show)
        .service(update)
        .service(set_password)
        .service(reset_second_factor)
        .service(remove)
}
