//! `/api/v1/audit-events`: the audit log, read-only (changes are recorded by
//! the operations that make them, in their own transactions). Paged in the
//! database by a keyset cursor, newest first, filtered by time range,
//! actor, action and target, as the console's audit page filters; or in
//! hash-chain order (`order=chain`), which with `/audit-chain` (the chain's
//! head) lets a client verify the chain as `tessera audit verify` does.

use super::bearer::{Bearer, scope};
use super::etag::etag_of;
use super::problem::{GuardProblems, Problem, ProblemBody};
use super::{Reply, blocking, ok};
use crate::service::admin::AdminError;
use crate::service::management::{self, TimeRange};
use crate::service::views::{AuditChainView, AuditEventView};
use crate::web::AppState;
use actix_web::{get, web};
use serde::{Deserialize, Serialize};
use tessera_store::audit::AuditFilter;
use utoipa::{IntoParams, ToSchema};

/// The query of the audit event list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Items per page, 1 to 200 (default 50).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only events at or after this, Unix seconds.
    pub since: Option<i64>,
    /// Only events before this, Unix seconds.
    pub until: Option<i64>,
    /// Only events of this actor exactly (`admin:alice`, `cli`, `client:ID`).
    pub actor: Option<String>,
    /// Only actions starting with this (`client.` for every client change),
    /// or with any of several prefixes, comma-separated.
    pub action: Option<String>,
    /// Only events about this target id exactly.
    pub target: Option<String>,
    /// `newest` first (the default), `oldest` first, or `chain`: by `seq`,
    /// chained events only (no actor, action or target filter then).
    pub order: Option<AuditOrder>,
}

/// The order of the audit event list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditOrder {
    /// Newest first, by time (the default).
    Newest,
    /// Oldest first, by time.
    Oldest,
    /// By place in the hash chain (`seq`), first to last: the order the
    /// chain is verified in.
    Chain,
}

/// A page of audit events.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventList {
    /// The events, newest first (or as `order` asks).
    pub items: Vec<AuditEventView>,
    /// Give it as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// Lists audit events, newest first (or oldest first, or in chain order).
#[utoipa::path(
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of events", body = AuditEventList),
        (status = 400, description = "A bad limit, cursor, order or time range, or a filter with order=chain", body = ProblemBody, content_type = "application/problem+json"),
        GuardProblems,
    ),
    security(("bearer" = ["read:audit"]))
)]
#[get("/audit-events")]
async fn list(_auth: Bearer<scope::ReadAudit>, state: web::Data<AppState>, q: web::Query<AuditQuery>) -> Reply {
    let q = q.into_inner();
    let range = TimeRange {
        limit: q.limit,
        cursor: q.cursor,
        since: q.since,
        until: q.until,
        oldest_first: q.order == Some(AuditOrder::Oldest),
    };
    let page = if q.order == Some(AuditOrder::Chain) {
        if q.actor.is_some() || q.action.is_some() || q.target.is_some() {
            return Err(Problem::field("order", "chain cannot be combined with actor, action or target"));
        }
        blocking(move || Ok(management::audit_chain_page(&state.store, &range)?)).await?
    } else {
        let filter = AuditFilter { actor: q.actor, action_prefix: q.action, target: q.target };
        blocking(move || Ok(management::audit_page(&state.store, &filter, &range)?)).await?
    };
    ok(&AuditEventList { items: page.items, next_cursor: page.next_cursor }, None)
}

/// Where the hash chain ends: read it before walking the events in chain
/// order, and the walk stops there (events appended meanwhile lie beyond).
#[utoipa::path(
    tag = "audit",
    responses(
        (status = 200, description = "The chain's head and the oldest event outside the chain", body = AuditChainView),
        GuardProblems,
    ),
    security(("bearer" = ["read:audit"]))
)]
#[get("/audit-chain")]
async fn chain(_auth: Bearer<scope::ReadAudit>, state: web::Data<AppState>) -> Reply {
    let head = blocking(move || Ok(management::audit_chain_head(&state.store)?)).await?;
    ok(&head, None)
}

/// One audit event.
#[utoipa::path(
    tag = "audit",
    params(("id" = String, Path, description = "The event's id")),
    responses(
        (status = 200, description = "The event", body = AuditEventView,
            headers(("ETag" = String, description = "Its version (events never change)"))),
        GuardProblems,
        (status = 404, description = "No such event", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read:audit"]))
)]
#[get("/audit-events/{id}")]
async fn show(_auth: Bearer<scope::ReadAudit>, state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let e = blocking(move || {
        management::audit_event(&state.store, &id)?
            .ok_or_else(|| Problem::from(AdminError::NotFound(format!("audit event {id}"))))
    })
    .await?;
    let tag = etag_of(&e)?;
    ok(&e, Some(tag))
}

/// Mounts the audit operations.
pub fn register<T>(scope: utoipa_actix_web::scope::Scope<T>) -> utoipa_actix_web::scope::Scope<T>
where
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Error = actix_web::Error,
            InitError = (),
        >,
{
    scope.service(list).service(chain).service(show)
}
