//! The audit log (who changed what, when; filterable) and the plugin run
//! log (recent failures first, then every run).

use super::names::Link;
use super::{Admin, Layout, Page, Pager, blocking, filters, render};
use crate::service::admin;
use crate::service::admin::names::{AuditRow, RunRow};
use crate::service::plugins;
use crate::web::routes::console as paths;
use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::relative(paths::AUDIT), web::get().to(audit_log))
        .route(paths::relative(paths::RUNS), web::get().to(runs));
}

#[derive(serde::Deserialize)]
struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    target: String,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    l: Layout,
    actor: String,
    action: String,
    target: String,
    events: Vec<(AuditRow, Option<Link>)>,
    pager: Pager,
}

fn opt(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

async fn audit_log(admin: Admin, q: web::Query<AuditQuery>) -> Page {
    let q = q.into_inner();
    let (page, offset, limit) = Pager::window(q.page);
    let (actor, action, target) = (opt(&q.actor), opt(&q.action), opt(&q.target));
    let store = admin.state.store.clone();
    let mut rows = blocking(move || admin::audit_log(&store, actor, action, target, offset, limit)).await??;
    let pager = Pager::paginate(page, &mut rows, &[("actor", &q.actor), ("action", &q.action), ("target", &q.target)]);
    let events = rows
        .into_iter()
        .map(|r| {
            let target = r.target.as_ref().map(Link::from);
            (r, target)
        })
        .collect();
    let l = Layout::new(&admin, "audit", "Audit log");
    Ok(render(StatusCode::OK, &AuditPage { l, actor: q.actor, action: q.action, target: q.target, events, pager }))
}

#[derive(serde::Deserialize)]
struct RunsQuery {
    #[serde(default)]
    binding: String,
    page: Option<i64>,
}

/// A run with its plugin, binding and client as links (the runs page and
/// the dashboard's failures).
pub(super) struct RunLinks {
    pub(super) row: RunRow,
    pub(super) plugin: Link,
    pub(super) binding: Link,
    pub(super) client: Link,
}

impl From<RunRow> for RunLinks {
    fn from(row: RunRow) -> RunLinks {
        RunLinks {
            plugin: Link::from(&row.plugin),
            binding: Link::from(&row.binding),
            client: Link::from(&row.client),
            row,
        }
    }
}

#[derive(Template)]
#[template(path = "console/runs.html")]
struct RunsPage {
    l: Layout,
    binding: String,
    failures: Vec<RunLinks>,
    runs: Vec<RunLinks>,
    pager: Pager,
}

async fn runs(admin: Admin, q: web::Query<RunsQuery>) -> Page {
    let q = q.into_inner();
    let (page, offset, limit) = Pager::window(q.page);
    let store = admin.state.store.clone();
    let binding = opt(&q.binding);
    let (failures, mut all) =
        blocking(move || plugins::runs(&store, binding.as_deref(), page, offset, limit)).await??;
    let pager = Pager::paginate(page, &mut all, &[("binding", &q.binding)]);
    let l = Layout::new(&admin, "runs", "Plugin runs");
    let (failures, runs) =
        (failures.into_iter().map(RunLinks::from).collect(), all.into_iter().map(RunLinks::from).collect());
    Ok(render(StatusCode::OK, &RunsPage { l, binding: q.binding, failures, runs, pager }))
}
