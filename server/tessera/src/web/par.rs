//! The pushed authorization request endpoint (RFC 9126 §2): a client's
//! POST, answered 201 by the OAuth writer. Turned off (`[par] enabled =
//! false`) it is not there: 404. A `DPoP` header binds the request's code
//! to the proof's key (RFC 9449 §10.1), with server nonces as at the token
//! endpoint.

use super::oauth::{blocking, client_post, dpop_proofs};
use super::{AppState, render};
use crate::service::rate_limit::Class;
use actix_web::{HttpRequest, HttpResponse, web};
use tessera_protocol::dpop;

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
    let nonce = state.oauth.dpop.fresh_nonce();
    let proofs = match dpop_proofs(&req) {
        Ok(p) => p,
        Err(e) => return render::with_dpop_nonce(render::oauth_error(&e), nonce),
    };
    let answer = blocking(
        move || {
            let refs: Vec<&str> = proofs.iter().map(String::as_str).collect();
            let proof = dpop::single_header(&refs)?;
            par.push(authorization.as_deref(), &body, peer.as_deref(), proof)
        },
        |r| render::created_no_store(&r),
    )
    .await;
    render::with_dpop_nonce(answer, nonce)
}
