//! `/metrics` in the Prometheus text format, mounted on the admin listener
//! (or the only one, without `admin_listen`), and the middleware that
//! counts every request. What is recorded, and under which names, lives in
//! `service::metrics`.

use crate::service::metrics::{self, Gauges};
use crate::service::rate_limit::{Class, Scope};
use crate::web::{AppState, routes};
use ::metrics::{Counter, Histogram};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

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
        bindings_suspended: state.suspensions.all(std::time::Instant::now()).len(),
        cpu_pool: state.cpu.stats(),
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
/// response's request; requests to a fixed path go to series kept in
/// `fixed`, without reading the pattern or building labels again.
pub async fn middleware(
    fixed: Rc<FixedPaths>,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = metrics::method_label(req.method().as_str());
    let resp = next.call(req).await?;
    fixed.record(resp.request(), method, resp.status().as_u16(), started.elapsed());
    Ok(resp)
}

/// The series of the routes without parameters (`/oauth/token`, `/jwks`,
/// ...), by path, for one worker's app (hence `RefCell`, not a lock):
/// a request to one of them costs a map lookup and two atomic updates,
/// where finding its route pattern again (`HttpRequest::match_pattern`)
/// and building its labels allocated and hashed on every request. Only a
/// path equal to the pattern it matched is kept, so the map holds at most
/// one entry per fixed route, whatever paths clients send.
#[derive(Default)]
pub struct FixedPaths {
    paths: RefCell<HashMap<Box<str>, FixedPath>>,
}

/// One fixed route's series.
struct FixedPath {
    duration: Histogram,
    /// By method label and status: a handful per route.
    requests: Vec<(&'static str, u16, Counter)>,
}

impl FixedPaths {
    fn record(&self, req: &HttpRequest, method: &'static str, status: u16, took: Duration) {
        let mut paths = self.paths.borrow_mut();
        let path = req.path();
        if let Some(route) = paths.get_mut(path) {
            route.record(path, method, status, took);
            return;
        }
        let endpoint = metrics::endpoint_label(req.match_pattern());
        if endpoint != path {
            metrics::http_request(endpoint, method, status, took);
            return;
        }
        let mut route = FixedPath { duration: metrics::http_duration(&endpoint), requests: Vec::new() };
        route.record(&endpoint, method, status, took);
        paths.insert(endpoint.into_boxed_str(), route);
    }
}

impl FixedPath {
    fn record(&mut self, endpoint: &str, method: &'static str, status: u16, took: Duration) {
        metrics::record_duration(&self.duration, took);
        match self.requests.iter().find(|(m, s, _)| *m == method && *s == status) {
            Some((_, _, counter)) => counter.increment(1),
            None => {
                let counter = metrics::http_requests(endpoint, method, status);
                counter.increment(1);
                self.requests.push((method, status, counter));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use actix_web::{App, test};

    /// The kept series count what `metrics::http_request` would, and only
    /// fixed routes are kept, whatever paths come in.
    #[actix_web::test]
    async fn fixed_routes_keep_their_series_and_nothing_else_is_kept() {
        let handle = metrics::install().unwrap();
        let fixed = Rc::new(FixedPaths::default());
        let kept = fixed.clone();
        let app = test::init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(move |req, next| middleware(kept.clone(), req, next)))
                .route("/fixed-paths-test", web::post().to(HttpResponse::Ok))
                .route("/fixed-paths-test/{id}", web::get().to(HttpResponse::NoContent)),
        )
        .await;
        for uri in ["/fixed-paths-test", "/fixed-paths-test"] {
            test::call_service(&app, test::TestRequest::post().uri(uri).to_request()).await;
        }
        test::call_service(&app, test::TestRequest::get().uri("/fixed-paths-test").to_request()).await;
        for uri in ["/fixed-paths-test/1", "/fixed-paths-test/2", "/no-such-path-1", "/no-such-path-2"] {
            test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
        }
        let keys: Vec<String> = fixed.paths.borrow().keys().map(|k| k.to_string()).collect();
        assert_eq!(keys, ["/fixed-paths-test"]);
        let text = handle.render();
        // The value of the one series of `name` that has all of `labels`.
        let value = |name: &str, labels: &[&str]| {
            text.lines()
                .filter(|l| l.starts_with(&format!("{name}{{")) && labels.iter().all(|lb| l.contains(lb)))
                .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
                .collect::<Vec<_>>()
        };
        let fixed_path = r#"endpoint="/fixed-paths-test""#;
        assert_eq!(value(metrics::HTTP_REQUESTS, &[fixed_path, r#"method="POST""#, r#"status="200""#]), [2.0]);
        assert_eq!(value(metrics::HTTP_REQUESTS, &[fixed_path, r#"method="GET""#]), [1.0], "{text}");
        let pattern = r#"endpoint="/fixed-paths-test/{id}""#;
        assert_eq!(value(metrics::HTTP_REQUESTS, &[pattern, r#"status="204""#]), [2.0], "{text}");
        assert_eq!(value(&format!("{}_count", metrics::HTTP_DURATION), &[fixed_path]), [3.0], "{text}");
    }
}
