//! Signing keys: every algorithm's next, current and retired keys; rotation
//! of every algorithm or of one; retiring one key now (a compromised key),
//! each behind a confirmation.

use super::{Admin, Empty, Layout, Page, PageQuery, Posted, blocking, filters, render, see_other};
use crate::service::admin;
use crate::service::views::SigningKeyView;
use crate::web::routes::console as paths;
use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use tessera_protocol::model::{SigningAlg, UnsupportedAlg};
use tessera_store::keys::KeyState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::relative(paths::KEYS), web::get().to(list))
        .route(paths::relative(paths::KEYS_ROTATE), web::post().to(rotate))
        .route(paths::relative(paths::KEYS_ROTATE_ALG), web::post().to(rotate_alg))
        .route(paths::relative(paths::KEY_RETIRE), web::post().to(retire));
}

#[derive(Template)]
#[template(path = "console/keys.html")]
struct KeysPage {
    l: Layout,
    keys: Vec<SigningKeyView>,
    /// The algorithms of the key ring, each rotatable on its own.
    algs: Vec<&'static str>,
}

async fn list(admin: Admin, q: web::Query<PageQuery>) -> Page {
    let store = admin.state.store.clone();
    let rows = blocking(move || admin::list_keys(&store)).await??;
    let l = Layout::new(&admin, "keys", "Signing keys").with_done(q.done.as_deref());
    let algs = SigningAlg::ASYMMETRIC.iter().map(|a| a.as_str()).collect();
    Ok(render(StatusCode::OK, &KeysPage { l, keys: rows, algs }))
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

async fn rotate_alg(p: Posted<Empty>, alg: web::Path<String>) -> Page {
    let admin = p.admin;
    let alg: SigningAlg =
        alg.parse().map_err(|e: UnsupportedAlg| admin::AdminError::Invalid { field: "alg", message: e.to_string() })?;
    let (state, actor, now) = (admin.state.clone(), admin.actor(), admin.now());
    blocking(move || {
        admin::rotate_alg_keys(&state.store, state.keys.master(), &actor, now, alg, state.admin.retired_publish_secs)
    })
    .await??;
    Ok(see_other(&paths::done(paths::KEYS, "rotated")))
}

async fn retire(p: Posted<Empty>, kid: web::Path<String>) -> Page {
    let admin = p.admin;
    let (state, actor, now, kid) = (admin.state.clone(), admin.actor(), admin.now(), kid.into_inner());
    blocking(move || admin::retire_key(&state.store, state.keys.master(), &actor, now, &kid)).await??;
    Ok(see_other(&paths::done(paths::KEYS, "key-retired")))
}
