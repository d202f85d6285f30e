//! `/api/v1/users`: users, through the console's `service::admin`
//! functions (same validation, same argon2 hashing, same audit events). A
//! password is write-only: it may come with the create body and is changed
//! at its own sub-resource (`PUT /users/{id}/password`), never read back.

use super::bearer::{Bearer, scope};
use super::body::{json_object, parse_fields, patched};
use super::etag::{self, etag_of};
use super::problem::{BodyProblems, GuardProblems, PreconditionProblems, Problem, ProblemBody};
use super::{ListQuery, Reply, blocking, created, no_content, ok};
use crate::service::admin::FactorChange;
use crate::service::admin::{self, AdminError, NewUser, UserEdit};
use crate::service::db::Db;
use crate::service::management;
use crate::service::precondition::guarded;
use crate::service::user_second_factor::FactorStatus;
use crate::service::views::UserView;
use crate::web::AppState;
use crate::web::routes::api as paths;
use actix_web::{HttpRequest, delete, get, patch, post, put, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tessera_store::Store;
use tessera_store::row_lock::Row;
use utoipa::ToSchema;

/// A user as it is created and patched (JSON Merge Patch applies to this
/// shape, without `password`). `username` is required on create and cannot
/// change (it is the stable login).
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(default)]
pub struct UserBody {
    /// Login name, 1 to 255 printable characters.
    pub username: String,
    /// On create only: the password (8 characters or more), hashed with
    /// argon2 as the console does; absent: an account that cannot sign in
    /// (a service account). Never returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// E-mail; null or empty: none.
    pub email: Option<String>,
    /// Profile object (OIDC standard claims such as `name`).
    #[schema(value_type = Object)]
    pub profile: Value,
    /// Metadata object shown to plugins.
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// Role names.
    pub roles: Vec<String>,
    /// Cannot sign in or get tokens; disabling ends their grants.
    pub disabled: bool,
}

const USER_FIELDS: &[&str] = &["username", "password", "email", "profile", "metadata", "roles", "disabled"];
const PATCH_FIELDS: &[&str] = &["username", "email", "profile", "metadata", "roles", "disabled"];

impl UserBody {
    /// The editable shape of a stored user, which a patch is merged into.
    fn of(u: &UserView) -> UserBody {
        UserBody {
            username: u.username.clone(),
            password: None,
            email: u.email.clone(),
            profile: u.profile.clone(),
            metadata: u.metadata.clone(),
            roles: u.roles.clone(),
            disabled: u.disabled,
        }
    }
}

/// An object field: absent or null is `{}`.
fn object_or_empty(v: Value) -> Value {
    if v.is_null() { json!({}) } else { v }
}

/// A page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    /// The users, by username.
    pub items: Vec<UserView>,
    /// Give it as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// A new password.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(default)]
pub struct PasswordBody {
    /// The password, 8 characters or more.
    pub password: String,
}

/// The user `id`, or 404.
pub fn find(store: &impl Db, id: &str) -> Result<UserView, Problem> {
    admin::find_user(store, id)?.ok_or_else(|| Problem::from(AdminError::NotFound(format!("user {id}"))))
}

/// Creates a user from a create body (`disabled`: created, then disabled):
/// the one path of `POST /users` and of the CLI's local backend.
pub fn create_user(store: &Store, actor: &str, now: i64, body: Map<String, Value>) -> Result<UserView, Problem> {
    let body: UserBody = parse_fields(body, USER_FIELDS)?;
    let new = NewUser {
        username: body.username,
        password: body.password,
        email: body.email.filter(|e| !e.trim().is_empty()),
        metadata: object_or_empty(body.metadata),
        profile: object_or_empty(body.profile),
        roles: body.roles,
    };
    let user = admin::create_user(store, actor, now, new)?;
    if body.disabled {
        admin::set_user_disabled(store, actor, now, &user.id, true)?;
    }
    find(store, &user.id)
}

/// Applies a merge patch to user `id`: the one path of `PATCH /users/{id}`
/// (inside the transaction that checked its `If-Match`) and of the CLI's
/// local backend. Each kind of change is its own audited action.
pub fn patch_user(store: &impl Db, actor: &str, now: i64, id: &str, patch: &Value) -> Result<UserView, Problem> {
    let current = find(store, id)?;
    let before = UserBody::of(&current);
    let body = patched(&before, patch, PATCH_FIELDS)?;
    if body.username != current.username {
        return Err(Problem::field("username", "cannot change: it is the user's stable login"));
    }
    let edit = UserEdit {
        email: body.email,
        profile: object_or_empty(body.profile),
        metadata: object_or_empty(body.metadata),
        roles: body.roles,
    };
    if (&edit.email, &edit.profile, &edit.metadata, &edit.roles)
        != (&before.email, &before.profile, &before.metadata, &before.roles)
    {
        admin::update_user(store, actor, now, id, edit)?;
    }
    if body.disabled != current.disabled {
        admin::set_user_disabled(store, actor, now, id, body.disabled)?;
    }
    find(store, id)
}

/// Lists users, by username (`prefix` filters the username).
#[utoipa::path(
    tag = "users",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of users", body = UserList),
        (status = 400, description = "A bad limit or cursor", body = ProblemBody, content_type = "application/problem+json"),
        GuardProblems,
    ),
    security(("bearer" = ["read:users"]))
)]
#[get("/users")]
async fn list(_auth: Bearer<scope::ReadUsers>, state: web::Data<AppState>, q: web::Query<ListQuery>) -> Reply {
    let req = q.into_inner().into();
    let page = blocking(move || management::users_page(&state.store, &req).map_err(Problem::from)).await?;
    ok(&UserList { items: page.items, next_cursor: page.next_cursor }, None)
}

/// Creates a user (with `disabled`, created and then disabled).
#[utoipa::path(
    tag = "users",
    request_body(content = UserBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; Location names it", body = UserView),
        (status = 400, description = "A field is invalid", body = ProblemBody, content_type = "application/problem+json"),
        BodyProblems,
        GuardProblems,
        (status = 409, description = "The username is taken", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["write:users"]))
)]
#[post("/users")]
async fn create(
    auth: Bearer<scope::WriteUsers>,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let body = json_object(&req, payload, false).await?;
    let actor = auth.audit_name();
    let view = blocking(move || {
        let now = state.oauth.management.now();
        create_user(&state.store, &actor, now, body)
    })
    .await?;
    created(&paths::user(&view.id), &view)
}

/// One user (never the password or its hash; `has_password` says whether
/// one is set).
#[utoipa::path(
    tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user; ETag for If-Match", body = UserView,
            headers(("ETag" = String, description = "The version to send as If-Match"))),
        GuardProblems,
        (status = 404, description = "No such user", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read:users"]))
)]
#[get("/users/{id}")]
async fn show(_auth: Bearer<scope::ReadUsers>, state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let u = blocking(move || find(&state.store, &id)).await?;
    let tag = etag_of(&u)?;
    ok(&u, Some(tag))
}

/// Changes a user by JSON Merge Patch (RFC 7396) of its [`UserBody`]
/// (without `password`: see the password sub-resource).
#[utoipa::path(
    tag = "users",
    params(("id" = String, Path, description = "The user's id"),
        ("If-Match" = String, Header, description = "The ETag of the last read")),
    request_body(content = UserBody, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed user", body = UserView,
            headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "A field is invalid or unknown", body = ProblemBody, content_type = "application/problem+json"),
        BodyProblems,
        GuardProblems,
        (status = 404, description = "No such user", body = ProblemBody, content_type = "application/problem+json"),
        PreconditionProblems,
    ),
    security(("bearer" = ["write:users"]))
)]
#[patch("/users/{id}")]
async fn update(
    auth: Bearer<scope::WriteUsers>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let if_match = etag::required_if_match(&req)?;
    let patch = Value::Object(json_object(&req, payload, true).await?);
    let actor = auth.audit_name();
    let user = blocking(move || {
        let now = state.oauth.management.now();
        guarded(
            &state.store,
            Row::User(&id),
            &if_match,
            |db| find(db, &id),
            |db| patch_user(db, &actor, now, &id, &patch),
        )
    })
    .await?;
    let tag = etag_of(&user)?;
    ok(&user, Some(tag))
}

/// Sets a user's password (the old one stops working at once); the user's
/// refresh tokens, browser sessions and pending codes end with it.
#[utoipa::path(
    tag = "users",
    params(("id" = String, Path, description = "The user's id"),
        ("If-Match" = String, Header, description = "The ETag of the user's last read")),
    request_body(content = PasswordBody, content_type = "application/json"),
    responses(
        (status = 204, description = "Set"),
        (status = 400, description = "The password is too short", body = ProblemBody, content_type = "application/problem+json"),
        BodyProblems,
        GuardProblems,
        (status = 404, description = "No such user", body = ProblemBody, content_type = "application/problem+json"),
        PreconditionProblems,
    ),
    security(("bearer" = ["write:users"]))
)]
#[put("/users/{id}/password")]
async fn set_password(
    auth: Bearer<scope::WriteUsers>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let if_match = etag::required_if_match(&req)?;
    let body: PasswordBody = parse_fields(json_object(&req, payload, false).await?, &["password"])?;
    let actor = auth.audit_name();
    blocking(move || {
        let now = state.oauth.management.now();
        guarded(
            &state.store,
            Row::User(&id),
            &if_match,
            |db| find(db, &id),
            |db| {
                admin::set_user_password(db, &actor, now, &id, &body.password)?;
                Ok(())
            },
        )
    })
    .await?;
    no_content()
}

/// Deletes a user with their sessions, consents and refresh tokens.
#[utoipa::path(
    tag = "users",
    params(("id" = String, Path, description = "The user's id"),
        ("If-Match" = String, Header, description = "The ETag of the last read")),
    responses(
        (status = 204, description = "Deleted"),
        GuardProblems,
        (status = 404, description = "No such user", body = ProblemBody, content_type = "application/problem+json"),
        PreconditionProblems,
    ),
    security(("bearer" = ["write:users"]))
)]
#[delete("/users/{id}")]
async fn remove(
    auth: Bearer<scope::WriteUsers>,
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
            Row::User(&id),
            &if_match,
            |db| find(db, &id),
            |db| Ok(admin::delete_user(db, &actor, now, &id)?),
        )
    })
    .await?;
    no_content()
}

/// Signs the user out everywhere, the account unchanged: their browser
/// sessions end (each client with a back-channel logout URL is told) and
/// their refresh and access tokens are revoked.
#[utoipa::path(
    tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Signed out"),
        GuardProblems,
        (status = 404, description = "No such user", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["write:users"]))
)]
#[post("/users/{id}/sign-out")]
async fn sign_out(auth: Bearer<scope::WriteUsers>, state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let actor = auth.audit_name();
    blocking(move || {
        let now = state.oauth.management.now();
        admin::sign_out_user(&state.store, &actor, now, &id)?;
        Ok(())
    })
    .await?;
    no_content()
}

/// A user's second factor at the hosted sign-in (TOTP): when they enrolled
/// it, whether this user must have one, and how many recovery codes are
/// left. Secrets and codes are never shown.
#[utoipa::path(
    tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user's second factor", body = FactorStatus),
        GuardProblems,
        (status = 404, description = "No such user", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read:users"]))
)]
#[get("/users/{id}/second-factor")]
async fn second_factor(_auth: Bearer<scope::ReadUsers>, state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let status = blocking(move || Ok(admin::user_second_factor(&state.store, &id)?)).await?;
    ok(&status, None)
}

/// Changes a user's second factor: `{"reset": true}` takes it away (lost
/// device) and ends their browser sessions, and they enrol a new one at
/// their next sign-in; `{"required": true|false}` requires one of this
/// user (enrolled at their next sign-in) or stops requiring it. Answers
/// the second factor as it is now.
#[utoipa::path(
    tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    request_body(content = FactorChange, content_type = "application/json"),
    responses(
        (status = 200, description = "The user's second factor now", body = FactorStatus),
        (status = 400, description = "The body is not a change of `reset` and `required`", body = ProblemBody, content_type = "application/problem+json"),
        BodyProblems,
        GuardProblems,
        (status = 404, description = "No such user", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["write:users"]))
)]
#[post("/users/{id}/second-factor")]
async fn change_second_factor(
    auth: Bearer<scope::WriteUsers>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let change: FactorChange = parse_fields(json_object(&req, payload, false).await?, &["reset", "required"])?;
    let actor = auth.audit_name();
    let status = blocking(move || {
        let now = state.oauth.management.now();
        Ok(admin::change_user_second_factor(&state.store, &actor, now, &id, change)?)
    })
    .await?;
    ok(&status, None)
}

/// Mounts the user operations.
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
        .service(sign_out)
        .service(second_factor)
        .service(change_second_factor)
        .service(remove)
}
