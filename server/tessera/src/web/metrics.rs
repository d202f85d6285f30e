//! `/metrics` in the Prometheus text format, mounted on the admin listener
//! (or the only one, without `admin_listen`), and the middleware that
//! counts every request. What is recorded, and under which names, lives in
//! `service::metrics`.

use crate::service::metrics::{self, Gauges};
use crate::service::rate_limit::{Class, Scope};
use crate::web::{AppState, routes};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use std::time::Instant;

/// The Prometheus text format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Mounts `/metrics`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(routes::METRICS, web::get().to(scrape));
}

/// One scrape: the gauges read from this node's parts, then everything the
/// recorder holds. 503 when no recorder could be installed.
pub async fn scrape(state: web::Data<AppState>) -> HttpResponse {
    let Some(handle) = metrics::install() else {
        return HttpResponse::ServiceUnavailable().finish();
    };
    let pool = state.store.pool_state();
    metrics::set_gauges(&Gauges {
        plugin_slots_in_use: state.host.slots_in_use(),
        plugin_standby: state.host.standby_len(),
        run_records_dropped: state.run_log.dropped(),
        db_in_use: pool.in_use,
        db_idle: pool.idle,
        snapshot_age: state.snapshots.age(),
        snapshot_generation: state.snapshots.generation(),
        rate_limit_refusals: Class::ALL
            .into_iter()
            .flat_map(|class| Scope::ALL.into_iter().map(move |scope| (class, scope)))
            .map(|(class, scope)| (class.as_str(), scope.as_str(), state.rate_limits.refusals(class, scope)))
            .collect(),
    });
    handle.run_upkeep();
    HttpResponse::Ok().content_type(CONTENT_TYPE).insert_header(("Cache-Control", "no-store")).body(handle.render())
}

/// Counts and times every request by route pattern, method and status. The
/// pattern is known only once routing is done, so it is read from the
/// response's request.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let resp = next.call(req).await?;
    let endpoint = metrics::endpoint_label(resp.request().match_pattern());
    metrics::http_request(endpoint, method.as_str(), resp.status().as_u16(), started.elapsed());
    Ok(resp)
}
