//! The dashboard: how much is configured, and what failed lately.

use super::{Admin, Layout, Page, PageQuery, blocking, filters, render};
use crate::service::pipeline::TOKEN_TRIGGER;
use crate::web::routes::console as paths;
use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use tessera_store::audit::{self, AuditEvent, AuditFilter};
use tessera_store::plugins::{self, PluginRunRecord};
use tessera_store::{StoreError, apis, clients, users};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::relative(paths::HOME), web::get().to(dashboard)).route("/", web::get().to(dashboard));
}

struct Counts {
    users: i64,
    clients: i64,
    apis: i64,
    plugins: i64,
    bindings: i64,
}

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    l: Layout,
    counts: Counts,
    failures: Vec<PluginRunRecord>,
    events: Vec<AuditEvent>,
}

async fn dashboard(admin: Admin, q: web::Query<PageQuery>) -> Page {
    let store = admin.state.store.clone();
    let (counts, failures, events) = blocking(move || -> Result<_, StoreError> {
        let mut c = store.conn()?;
        let counts = Counts {
            users: users::count(&mut c)?,
            clients: clients::count(&mut c)?,
            apis: apis::count(&mut c)?,
            plugins: plugins::count(&mut c)?,
            bindings: plugins::binding_count(&mut c, TOKEN_TRIGGER)?,
        };
        let failures = plugins::runs(&mut c, None, true, 0, 10)?;
        let events = audit::recent(&mut c, &AuditFilter::default(), 0, 10)?;
        Ok((counts, failures, events))
    })
    .await??;
    let l = Layout::new(&admin, "dashboard", "Dashboard").with_done(q.done.as_deref());
    Ok(render(StatusCode::OK, &DashboardPage { l, counts, failures, events }))
}
