//! `/api/v1/plugin-runs`: the plugin run log, read-only (the token pipeline
//! writes it; it keeps the newest `plugin_runs.keep` records). Paged in
//! the database by a keyset cursor, newest first, filtered by plugin,
//! binding, client, outcome and time range.

use super::bearer::{Bearer, scope};
use super::etag::etag_of;
use super::problem::{GuardProblems, Problem, ProblemBody};
use super::{Order, Reply, blocking, ok};
use crate::service::admin::AdminError;
use crate::service::management::{self, RunQuery, TimeRange};
use crate::service::views::RunView;
use crate::web::AppState;
use actix_web::{get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The query of the run list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// Items per page, 1 to 200 (default 50).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only runs at or after this, Unix seconds.
    pub since: Option<i64>,
    /// Only runs before this, Unix seconds.
    pub until: Option<i64>,
    /// Only runs of this plugin (by name, any version).
    pub plugin: Option<String>,
    /// Only runs of this binding (by id).
    pub binding: Option<String>,
    /// Only runs for this client's token requests (by client id).
    pub client: Option<String>,
    /// Only runs with this outcome (`ok`, `denied`, or a failure such as `trap`, `deadline`).
    pub outcome: Option<String>,
    /// `newest` first (the default) or `oldest` first.
    pub order: Option<Order>,
}

/// A page of plugin runs.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunList {
    /// The runs, newest first (or oldest first with `order=oldest`).
    pub items: Vec<RunView>,
    /// Give it as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// Lists plugin runs, newest first.
#[utoipa::path(
    tag = "runs",
    params(RunsQuery),
    responses(
        (status = 200, description = "A page of runs", body = RunList),
        (status = 400, description = "A bad limit, cursor, order or time range", body = ProblemBody, content_type = "application/problem+json"),
        GuardProblems,
    ),
    security(("bearer" = ["read:runs"]))
)]
#[get("/plugin-runs")]
async fn list(_auth: Bearer<scope::ReadRuns>, state: web::Data<AppState>, q: web::Query<RunsQuery>) -> Reply {
    let q = q.into_inner();
    let query = RunQuery { plugin: q.plugin, binding: q.binding, client: q.client, outcome: q.outcome };
    let range = TimeRange {
        limit: q.limit,
        cursor: q.cursor,
        since: q.since,
        until: q.until,
        oldest_first: q.order == Some(Order::Oldest),
    };
    let page = blocking(move || Ok(management::runs_page(&state.store, &query, &range)?)).await?;
    ok(&RunList { items: page.items, next_cursor: page.next_cursor }, None)
}

/// One plugin run.
#[utoipa::path(
    tag = "runs",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run", body = RunView,
            headers(("ETag" = String, description = "Its version (runs never change)"))),
        GuardProblems,
        (status = 404, description = "No such run (or no longer kept)", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read:runs"]))
)]
#[get("/plugin-runs/{id}")]
async fn show(_auth: Bearer<scope::ReadRuns>, state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let r = blocking(move || {
        management::plugin_run(&state.store, &id)?
            .ok_or_else(|| Problem::from(AdminError::NotFound(format!("plugin run {id}"))))
    })
    .await?;
    let tag = etag_of(&r)?;
    ok(&r, Some(tag))
}

/// Mounts the run operations.
pub fn register<T>(scope: utoipa_actix_web::scope::Scope<T>) -> utoipa_actix_web::scope::Scope<T>
where
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Error = actix_web::Error,
            InitError = (),
        >,
{
    scope.service(list).service(show)
}
