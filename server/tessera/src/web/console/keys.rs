//! Signing keys: every algorithm's next, current and retired keys, and rotation.

use super::{Admin, Empty, Layout, PageQuery, Posted, blocking, filters, render, see_other};
use crate::service::admin;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use tessera_store::keys::{self, KeyState, SigningKey};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/keys", web::get().to(list)).route("/keys/rotate", web::post().to(rotate));
}

#[derive(Template)]
#[template(path = "console/keys.html")]
struct KeysPage {
    l: Layout,
    keys: Vec<SigningKey>,
}

async fn list(admin: Admin, q: web::Query<PageQuery>) -> HttpResponse {
    let store = admin.state.store.clone();
    match blocking(move || keys::all(&mut *store.conn()?)).await {
        Ok(Ok(mut rows)) => {
            let rank = |s: KeyState| match s {
                KeyState::Current => 0,
                KeyState::Next => 1,
                KeyState::Retired => 2,
            };
            rows.sort_by(|a, b| {
                a.alg.cmp(&b.alg).then(rank(a.state).cmp(&rank(b.state))).then(b.created_at.cmp(&a.created_at))
            });
            let l = Layout::new(&admin, "keys", "Signing keys").with_done(q.done.as_deref());
            render(StatusCode::OK, &KeysPage { l, keys: rows })
        }
        Ok(Err(e)) => super::store_page(e),
        Err(r) => r,
    }
}

async fn rotate(p: Posted<Empty>) -> HttpResponse {
    let admin = p.admin;
    let (state, actor) = (admin.state.clone(), admin.actor());
    match blocking(move || {
        admin::rotate_keys(&state.store, state.keys.master(), &actor, state.admin.retired_publish_secs)
    })
    .await
    {
        Ok(Ok(_)) => see_other("/admin/keys?done=rotated"),
        Ok(Err(e)) => super::admin_error_page(e),
        Err(r) => r,
    }
}
