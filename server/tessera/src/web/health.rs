//! Liveness and readiness probes for load balancers and orchestrators.

use crate::web::AppState;
use actix_web::{HttpResponse, web};
use serde_json::json;

/// Liveness: the process serves requests.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: the database answers; 503 otherwise, so a balancer drains the node.
/// `config_generation` is the change counter of the configuration this node
/// serves (`service::snapshot`): equal on every node once a change has
/// reached them all.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let store = state.store.clone();
    match web::block(move || store.ping()).await {
        Ok(Ok(())) => HttpResponse::Ok()
            .json(json!({"status": "ready", "database": "ok", "config_generation": state.snapshots.generation()})),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(json!({"status": "unavailable", "database": "unreachable"}))
        }
        Err(_) => HttpResponse::ServiceUnavailable().json(json!({"status": "unavailable"})),
    }
}
