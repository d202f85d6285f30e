//! Liveness and readiness probes for load balancers and orchestrators, on
//! every listener (public and admin).
//!
//! `/healthz` says the process serves requests; `/readyz` says this node
//! can answer token requests now, naming each check in its JSON body so an
//! operator sees which one failed:
//! - `database`: a round trip within [`DATABASE_CHECK`];
//! - `keys`: the published signing keys are at hand (from the key ring's
//!   cache, or re-read within the same bound);
//! - `plugins`: the plugin warmer has prepared the bound plugin versions.
//!
//! A new check is one more entry in [`readyz`]'s list.

use crate::service::warmer::Warmth;
use crate::web::{AppState, routes};
use actix_web::{HttpResponse, web};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

/// How long readiness waits for the database. Shorter than the pool's
/// connect timeout, so a probe answers before a balancer gives up on it.
pub const DATABASE_CHECK: Duration = Duration::from_secs(1);

/// What readiness reads besides the application state.
#[derive(Debug, Clone)]
pub struct Readiness {
    /// The plugin warmer's progress (`service::warmer`).
    pub plugins: Arc<Warmth>,
}

/// Mounts the probes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(routes::HEALTHZ, web::get().to(healthz)).route(routes::READYZ, web::get().to(readyz));
}

/// Liveness: the process serves requests.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: 200 when every check passes, 503 otherwise, so a balancer
/// drains the node. `config_generation` is the change counter of the
/// configuration this node serves (`service::snapshot`): equal on every node
/// once a change has reached them all.
pub async fn readyz(state: web::Data<AppState>, readiness: web::Data<Readiness>) -> HttpResponse {
    let store = state.store.clone();
    let database = match actix_web::rt::time::timeout(DATABASE_CHECK, crate::web::block(move || store.ping())).await {
        Ok(Ok(Ok(()))) => "ok",
        Ok(Ok(Err(e))) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            "unreachable"
        }
        Ok(Err(_)) | Err(_) => "unreachable",
    };
    let keys = state.keys.clone();
    // Within the cache's life the keys answer from memory; past it they are
    // re-read, so the same bound applies.
    let keys = match actix_web::rt::time::timeout(DATABASE_CHECK, crate::web::block(move || keys.jwks())).await {
        Ok(Ok(Ok(jwks))) if jwks["keys"].as_array().is_some_and(|k| !k.is_empty()) => "ok",
        _ => "unavailable",
    };
    let generation = state.snapshots.generation();
    let plugins = if readiness.plugins.warmed() { "ok" } else { "warming" };
    let checks: Map<String, Value> = [("database", database), ("keys", keys), ("plugins", plugins)]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    if checks.values().all(|v| v == "ok") {
        HttpResponse::Ok().json(json!({"status": "ready", "checks": checks, "config_generation": generation}))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(json!({"status": "unavailable", "checks": checks, "config_generation": generation}))
    }
}
