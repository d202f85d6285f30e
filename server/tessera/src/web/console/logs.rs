//! The audit log (who changed what, when; filterable) and the plugin run
//! log (recent failures first, then every run).

use super::{Admin, Layout, Page, Pager, blocking, filters, render};
use crate::web::routes::console as paths;
use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use tessera_plugin_host::LogLine;
use tessera_store::StoreError;
use tessera_store::audit::{self, AuditEvent, AuditFilter};
use tessera_store::plugins::{self, PluginRunRecord};

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
    events: Vec<AuditEvent>,
    pager: Pager,
}

fn opt(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

async fn audit_log(admin: Admin, q: web::Query<AuditQuery>) -> Page {
    let q = q.into_inner();
    let (page, offset, limit) = Pager::window(q.page);
    let filter = AuditFilter { actor: opt(&q.actor), action_prefix: opt(&q.action), target: opt(&q.target) };
    let store = admin.state.store.clone();
    let mut events = blocking(move || audit::recent(&mut *store.conn()?, &filter, offset, limit)).await??;
    let pager =
        Pager::paginate(page, &mut events, &[("actor", &q.actor), ("action", &q.action), ("target", &q.target)]);
    let l = Layout::new(&admin, "audit", "Audit log");
    Ok(render(StatusCode::OK, &AuditPage { l, actor: q.actor, action: q.action, target: q.target, events, pager }))
}

#[derive(serde::Deserialize)]
struct RunsQuery {
    #[serde(default)]
    binding: String,
    page: Option<i64>,
}

/// A run with its log lines parsed.
struct RunRow {
    r: PluginRunRecord,
    logs: Vec<String>,
}

impl RunRow {
    fn of(r: PluginRunRecord) -> RunRow {
        let logs =
            serde_json::from_str::<Vec<LogLine>>(&r.logs).unwrap_or_default().iter().map(ToString::to_string).collect();
        RunRow { r, logs }
    }

    fn ok(&self) -> bool {
        self.r.outcome == "ok"
    }
}

#[derive(Template)]
#[template(path = "console/runs.html")]
struct RunsPage {
    l: Layout,
    binding: String,
    failures: Vec<RunRow>,
    runs: Vec<RunRow>,
    pager: Pager,
}

async fn runs(admin: Admin, q: web::Query<RunsQuery>) -> Page {
    let q = q.into_inner();
    let (page, offset, limit) = Pager::window(q.page);
    let store = admin.state.store.clone();
    let binding = opt(&q.binding);
    let (failures, mut all) = blocking(move || -> Result<_, StoreError> {
        let mut c = store.conn()?;
        let failures = if page == 1 { plugins::runs(&mut c, binding.as_deref(), true, 0, 10)? } else { vec![] };
        let all = plugins::runs(&mut c, binding.as_deref(), false, offset, limit)?;
        Ok((failures, all))
    })
    .await??;
    let pager = Pager::paginate(page, &mut all, &[("binding", &q.binding)]);
    let l = Layout::new(&admin, "runs", "Plugin runs");
    let failures = failures.into_iter().map(RunRow::of).collect();
    let runs = all.into_iter().map(RunRow::of).collect();
    Ok(render(StatusCode::OK, &RunsPage { l, binding: q.binding, failures, runs, pager }))
}
