//! The Administrators page (issue #18 item 2): every administrator with
//! their role, last sign-in and status; an owner changes roles, disables,
//! signs out everywhere, removes, and invites by one-time link. What a
//! route needs is declared in `permissions.rs` (reading: `read:admins`,
//! every change: `write:admins`, an owner's scope); the last owner is
//! guarded in the store, and every change is audited by the service.

use super::{Admin, ConsoleError, Empty, Layout, Page, PageQuery, Posted, blocking, filters, render, see_other};
use crate::service::console::{self, parse_role};
use crate::service::oauth::management::ManagementScope;
use crate::service::roles::Role;
use crate::service::second_factor;
use crate::service::views::AdminView;
use crate::web::routes::console as paths;
use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::relative(paths::ADMINS), web::get().to(list))
        .route(paths::relative(paths::ADMIN_INVITE), web::post().to(invite))
        .route(paths::relative(paths::ADMINS_SECOND_FACTOR), web::post().to(require_second_factor))
        .route(paths::relative(paths::ADMIN_ROLE), web::post().to(set_role))
        .route(paths::relative(paths::ADMIN_STATUS), web::post().to(set_status))
        .route(paths::relative(paths::ADMIN_SESSIONS), web::post().to(sign_out_everywhere))
        .route(paths::relative(paths::ADMIN_DELETE), web::post().to(delete))
        .route(paths::relative(paths::ADMIN_SECOND_FACTOR_RESET), web::post().to(reset_second_factor));
}

/// One row of the table.
struct Row {
    view: AdminView,
    role: Role,
    /// Whether this row is the signed-in administrator.
    me: bool,
}

/// An open invitation, without its token (only its hash is stored).
struct Open {
    role: &'static str,
    invited_by: String,
    expires_at: i64,
}

#[derive(Template)]
#[template(path = "console/admins.html")]
struct AdminsPage {
    l: Layout,
    rows: Vec<Row>,
    invitations: Vec<Open>,
    roles: [Role; 4],
    can_write: bool,
    second_factor_required: bool,
}

async fn list(admin: Admin, q: web::Query<PageQuery>) -> Page {
    let (store, now) = (admin.state.store.clone(), admin.now());
    let (views, invitations, second_factor_required) = blocking(move || {
        Ok::<_, tessera_store::StoreError>((
            console::list_admins(&store)?,
            console::open_invitations(&store, now)?,
            second_factor::required(&store)?,
        ))
    })
    .await?
    .map_err(ConsoleError::Store)?;
    let me = admin.session.admin.id.clone();
    let rows = views
        .into_iter()
        .map(|view| Row { role: Role::parse(&view.role).unwrap_or(Role::Viewer), me: view.id == me, view })
        .collect();
    let invitations = invitations
        .into_iter()
        .map(|i| Open {
            role: Role::parse(&i.role).map(Role::label).unwrap_or("Viewer"),
            invited_by: i.invited_by,
            expires_at: i.expires_at,
        })
        .collect();
    let can_write = admin.session.role().allows(ManagementScope::WriteAdmins);
    let l = Layout::new(&admin, "admins", "Administrators").with_done(q.done.as_deref());
    let page = AdminsPage { l, rows, invitations, roles: Role::ALL, can_write, second_factor_required };
    Ok(render(StatusCode::OK, &page))
}

#[derive(serde::Deserialize)]
struct RoleForm {
    role: String,
}

/// POST /admin/admins/invite: shows the one-time link once.
async fn invite(p: Posted<RoleForm>) -> Page {
    let admin = p.admin;
    let role = parse_role(&p.form.role).map_err(ConsoleError::Action)?;
    let (auth, actor) = (admin.state.console.clone(), admin.actor());
    let token = blocking(move || auth.invite(&actor, role)).await?.map_err(ConsoleError::Action)?;
    let link = format!("{}{}?token={token}", admin.state.issuer.trim_end_matches('/'), paths::INVITATION);
    let l = Layout::new(&admin, "admins", "Invitation link");
    Ok(super::secret_page(l, "An invitation link for the role", role.as_str(), paths::ADMINS, &link))
}

async fn set_role(p: Posted<RoleForm>, id: web::Path<String>) -> Page {
    let admin = p.admin;
    let role = parse_role(&p.form.role).map_err(ConsoleError::Action)?;
    let (store, actor, now, id) = (admin.state.store.clone(), admin.actor(), admin.now(), id.into_inner());
    blocking(move || console::set_admin_role(&store, &actor, now, &id, role)).await?.map_err(ConsoleError::Action)?;
    Ok(see_other(&paths::done(paths::ADMINS, "saved")))
}

#[derive(serde::Deserialize)]
struct RequireForm {
    required: bool,
}

/// POST /admin/admins/second-factor: the server-wide requirement; an
/// administrator without a factor enrols at their next sign-in.
async fn require_second_factor(p: Posted<RequireForm>) -> Page {
    let admin = p.admin;
    let required = p.form.required;
    let (store, actor, now) = (admin.state.store.clone(), admin.actor(), admin.now());
    blocking(move || second_factor::set_required(&store, &actor, now, required))
        .await?
        .map_err(ConsoleError::Action)?;
    Ok(see_other(&paths::done(paths::ADMINS, "saved")))
}

#[derive(serde::Deserialize)]
struct StatusForm {
    disabled: bool,
}

async fn set_status(p: Posted<StatusForm>, id: web::Path<String>) -> Page {
    let admin = p.admin;
    let disabled = p.form.disabled;
    let (store, actor, now, id) = (admin.state.store.clone(), admin.actor(), admin.now(), id.into_inner());
    blocking(move || console::set_admin_disabled(&store, &actor, now, &id, disabled))
        .await?
        .map_err(ConsoleError::Action)?;
    Ok(see_other(&paths::done(paths::ADMINS, if disabled { "disabled" } else { "enabled" })))
}

async fn sign_out_everywhere(p: Posted<Empty>, id: web::Path<String>) -> Page {
    let admin = p.admin;
    let (store, actor, now, id) = (admin.state.store.clone(), admin.actor(), admin.now(), id.into_inner());
    blocking(move || console::sign_out_everywhere(&store, &actor, now, &id)).await?.map_err(ConsoleError::Action)?;
    Ok(see_other(&paths::done(paths::ADMINS, "saved")))
}

/// An administrator lost their device: their TOTP, recovery codes and
/// passkeys go, their sessions end; they enrol again at the next sign-in.
async fn reset_second_factor(p: Posted<Empty>, id: web::Path<String>) -> Page {
    let admin = p.admin;
    let (store, actor, now, me, id) =
        (admin.state.store.clone(), admin.actor(), admin.now(), admin.session.admin.id.clone(), id.into_inner());
    blocking(move || second_factor::reset(&store, &actor, now, &me, &id)).await?.map_err(ConsoleError::Action)?;
    Ok(see_other(&paths::done(paths::ADMINS, "saved")))
}

async fn delete(p: Posted<Empty>, id: web::Path<String>) -> Page {
    let admin = p.admin;
    let (store, actor, now, id) = (admin.state.store.clone(), admin.actor(), admin.now(), id.into_inner());
    blocking(move || console::delete_admin(&store, &actor, now, &id)).await?.map_err(ConsoleError::Action)?;
    Ok(see_other(&paths::done(paths::ADMINS, "deleted")))
}
