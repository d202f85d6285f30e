//! The dashboard: how much is configured, what failed lately, and how
//! fast and how often each plugin fails on this node.

use super::{Admin, Layout, Page, PageQuery, blocking, filters, render};
use crate::service::admin::{self, Dashboard};
use crate::web::routes::console as paths;
use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::relative(paths::HOME), web::get().to(dashboard)).route("/", web::get().to(dashboard));
}

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    l: Layout,
    d: Dashboard,
}

async fn dashboard(admin: Admin, q: web::Query<PageQuery>) -> Page {
    let store = admin.state.store.clone();
    let figures = admin.state.plugin_figures.clone();
    let d = blocking(move || admin::dashboard(&store, &figures)).await??;
    let l = Layout::new(&admin, "dashboard", "Dashboard").with_done(q.done.as_deref());
    Ok(render(StatusCode::OK, &DashboardPage { l, d }))
}
