//! The pushed authorization request endpoint (RFC 9126 §2): a client's
//! POST, answered 201 by the OAuth writer. Turned off (`[par] enabled =
//! false`) it is not there: 404.

use super::oauth::{blocking, client_post};
use super::{AppState, render};
use crate::service::rate_limit::Class;
use actix_web::{HttpRequest, HttpResponse, web};

/// POST /oauth/par (RFC 9126 §2.1, §2.2).
pub async fn push(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if !state.oauth.par.enabled() {
        return HttpResponse::NotFound().finish();
    }
    let authorization = match client_post(&req) {
        Ok(a) => a,
        Err(e) => return render::oauth_error(&e),
    };
    if let Some(refused) = super::rate_limit::client_refusal(&state, Class::Par, authorization.as_deref(), &body) {
        return refused;
    }
    let peer = state.client_addr(&req);
    let par = state.oauth.par.clone();
    blocking(move || par.push(authorization.as_deref(), &body, peer.as_deref()), |r| render::created_no_store(&r)).await
}
