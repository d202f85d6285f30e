//! The client registration endpoint (RFC 7591 §3) and each registered
//! client's configuration endpoint (RFC 7592 §2): JSON in, JSON out, every
//! answer `Cache-Control: no-store` (they carry secrets). Turned off
//! (`registration.mode = "off"`) they are not there: 404.

use super::api::bearer::bearer_token;
use super::{AppState, render};
use crate::service::oauth::management::BearerError;
use crate::service::registration::Refusal;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use tessera_protocol::OAuthError;

/// A refusal as RFC 7591 §3.2.2 and RFC 6750 §3.1 write it.
fn refusal(r: Refusal) -> HttpResponse {
    match r {
        Refusal::Off => HttpResponse::NotFound().finish(),
        Refusal::Bearer(BearerError::Missing) => render::bearer_error(StatusCode::UNAUTHORIZED, None),
        Refusal::Bearer(BearerError::InvalidToken) => {
            render::bearer_error(StatusCode::UNAUTHORIZED, Some("invalid_token"))
        }
        Refusal::Bearer(BearerError::InsufficientScope(_)) => {
            render::bearer_error(StatusCode::FORBIDDEN, Some("insufficient_scope"))
        }
        Refusal::Bearer(BearerError::Internal(e)) | Refusal::OAuth(e) => render::oauth_error(&e),
    }
}

/// Runs `f` on the blocking pool and writes its answer with `ok`.
async fn answer<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Refusal> + Send + 'static,
    ok: impl FnOnce(T) -> HttpResponse,
) -> HttpResponse {
    match crate::web::block(f).await {
        Ok(Ok(v)) => ok(v),
        Ok(Err(r)) => refusal(r),
        Err(e) => render::oauth_error(&OAuthError::server_error(format!("blocking task failed: {e}"))),
    }
}

/// POST /oauth/register (RFC 7591 §3.1): 201 with the client information.
pub async fn register(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if !state.registration.enabled() {
        return HttpResponse::NotFound().finish();
    }
    let token = bearer_token(&req);
    let service = state.registration.clone();
    answer(move || service.register(token.as_deref(), &body), |v| render::created_no_store(&v)).await
}

/// GET /oauth/register/{client_id} (RFC 7592 §2.1).
pub async fn read(state: web::Data<AppState>, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    let token = bearer_token(&req);
    let service = state.registration.clone();
    answer(move || service.read(&id, token.as_deref()), |v| render::token_ok(&v)).await
}

/// PUT /oauth/register/{client_id} (RFC 7592 §2.2).
pub async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let token = bearer_token(&req);
    let service = state.registration.clone();
    answer(move || service.update(&id, token.as_deref(), &body), |v| render::token_ok(&v)).await
}

/// DELETE /oauth/register/{client_id} (RFC 7592 §2.3): 204.
pub async fn delete(state: web::Data<AppState>, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    let token = bearer_token(&req);
    let service = state.registration.clone();
    answer(move || service.delete(&id, token.as_deref()), |()| render::no_content_no_store()).await
}
