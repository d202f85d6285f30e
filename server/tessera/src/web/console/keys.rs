//! Signing keys: every algorithm's next, current and retired keys, and rotation.

use super::{Admin, Empty, Layout, Page, PageQuery, Posted, blocking, filters, render, see_other};
use crate::service::admin;
use crate::service::views::SigningKeyView;
use crate::web::routes::console as paths;
use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use tessera_store::keys::KeyState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::relative(paths::KEYS), web::get().to(list))
        .route(paths::relative(paths::KEYS_ROTATE), web::post().to(rotate));
}

#[derive(Template)]
#[template(path = "console/keys.html")]
struct KeysPage {
    l: Layout,
    keys: Vec<SigningKeyView>,
}

async fn list(admin: Admin, q: web::Query<PageQuery>) -> Page {
    let store = admin.state.store.clone();
    let rows = blocking(move || admin::list_keys(&store)).await??;
    let l = Layout::new(&admin, "keys", "Signing keys").with_done(q.done.as_deref());
    Ok(render(StatusCode::OK, &KeysPage { l, keys: rows }))
}

async fn rotate(p: Posted<Empty>) -> Page {
    let admin = p.admin;
    let (state, actor, now) = (admin.state.clone(), admin.actor(), admin.now());
    blocking(move || {
        admin::rotate_keys(&state.store, state.keys.master(), &actor, now, state.admin.retired_publish_secs)
    })
    .await??;
    Ok(see_other(&paths::done(paths::KEYS, "rotated")))
}
