//! OAuth and discovery endpoints: extract, call the service on a blocking
//! thread (or, for client_credentials served from memory, on the worker or
//! the CPU pool), render.

use super::render;
use super::routes;
use crate::service::oauth::FromSnapshot;
use crate::service::rate_limit::Class;
use crate::web::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use tessera_protocol::discovery::{self, Endpoints};
use tessera_protocol::model::GrantType;
use tessera_protocol::{OAuthError, dpop};

/// The form body and `Authorization` header of a client's POST to an OAuth
/// endpoint, checked the same way everywhere.
pub(super) fn client_post(req: &HttpRequest) -> Result<Option<String>, OAuthError> {
    let is_form = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
        ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    });
    if !is_form {
        return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"));
    }
    match req.headers().get(header::AUTHORIZATION).map(|v| v.to_str()) {
        Some(Err(_)) => Err(OAuthError::invalid_client().with_detail("non-ASCII Authorization header")),
        Some(Ok(a)) => Ok(Some(a.to_owned())),
        None => Ok(None),
    }
}

/// The request's one `DPoP` header (RFC 9449 §4.1), if any; several, or
/// one that is not ASCII, is `invalid_dpop_proof` (§4.3 item 1).
pub(super) fn dpop_proofs(req: &HttpRequest) -> Result<Vec<String>, OAuthError> {
    req.headers()
        .get_all(dpop::HEADER)
        .map(|v| v.to_str().map(str::to_owned).map_err(|_| dpop::invalid("the DPoP header is not ASCII")))
        .collect()
}

/// Runs `f` on a blocking thread and renders its OAuth outcome.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, OAuthError> + Send + 'static,
    ok: impl FnOnce(T) -> HttpResponse,
) -> HttpResponse {
    match crate::web::block(f).await {
        Ok(Ok(v)) => ok(v),
        Ok(Err(e)) => render::oauth_error(&e),
        Err(e) => render::oauth_error(&OAuthError::server_error(format!("blocking task failed: {e}"))),
    }
}

/// POST /oauth/token (RFC 6749 §3.2).
pub async fn token(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let authorization = match client_post(&req) {
        Ok(a) => a,
        Err(e) => return render::oauth_error(&e),
    };
    if let Some(refused) = super::rate_limit::client_refusal(&state, Class::Token, authorization.as_deref(), &body) {
        return refused;
    }
    // X-Forwarded-For only from a trusted proxy: throttling must key on
    // what a client cannot forge.
    let peer = state.client_addr(&req);
    let token = state.oauth.token.clone();
    let nonce = state.oauth.dpop.fresh_nonce();
    // Issue #13 item 5: client_credentials served from the snapshot is
    // answered here, on the worker, without a hand-off; with a plugin bound
    // it is answered on the CPU pool, which keeps about one thread per CPU
    // running (`crate::cpu_pool`). A request with a DPoP proof always takes
    // the full path (its proof's jti is recorded in the database).
    if !req.headers().contains_key(DPOP) {
        let served = match token.token_request_from_snapshot(authorization.as_deref(), &body, peer.as_deref()) {
            FromSnapshot::CallsPlugins(request) => {
                let (token, peer) = (token.clone(), peer.clone());
                let on_cpu = super::on_cpu(&state.cpu, move || token.answer_with_plugins(&request, peer.as_deref()));
                match on_cpu.await {
                    Ok(served) => served,
                    Err(e) => FromSnapshot::Answered(Err(OAuthError::server_error(e.to_string()))),
                }
            }
            served => served,
        };
        // Declined (on the pool too, if the snapshot changed meanwhile):
        // the full path below decides it from the start.
        if let FromSnapshot::Answered(answer) = served {
            let answer = match answer {
                Ok(r) => render::token_ok(&r),
                Err(e) => render::oauth_error(&e),
            };
            return render::with_dpop_nonce(answer, nonce);
        }
    }
    let proofs = match dpop_proofs(&req) {
        Ok(p) => p,
        Err(e) => return render::with_dpop_nonce(render::oauth_error(&e), nonce),
    };
    let answer = blocking(
        move || {
            let refs: Vec<&str> = proofs.iter().map(String::as_str).collect();
            let proof = dpop::single_header(&refs)?;
            token.token_request(authorization.as_deref(), &body, peer.as_deref(), proof)
        },
        |r| render::token_ok(&r),
    )
    .await;
    render::with_dpop_nonce(answer, nonce)
}

/// The DPoP proof header (RFC 9449 §4.1).
const DPOP: header::HeaderName = header::HeaderName::from_static("dpop");

/// POST /oauth/introspect (RFC 7662).
pub async fn introspect(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let authorization = match client_post(&req) {
        Ok(a) => a,
        Err(e) => return render::oauth_error(&e),
    };
    let addr = state.client_addr(&req);
    let introspection = state.oauth.introspection.clone();
    // Issue #13 item 5: an access token is introspected here, on the
    // worker, from memory, as client_credentials tokens are issued; what
    // needs the database goes to a blocking thread.
    if let Some(answer) = introspection.introspect_without_blocking(authorization.as_deref(), &body, addr.as_deref()) {
        return match answer {
            Ok(r) => render::token_ok(&r),
            Err(e) => render::oauth_error(&e),
        };
    }
    blocking(
        move || introspection.introspect(authorization.as_deref(), &body, addr.as_deref()),
        |r| render::token_ok(&r),
    )
    .await
}

/// POST /oauth/revoke (RFC 7009): 200 with an empty body whether or not the
/// token was known (§2.2).
pub async fn revoke(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let authorization = match client_post(&req) {
        Ok(a) => a,
        Err(e) => return render::oauth_error(&e),
    };
    let addr = state.client_addr(&req);
    let revocation = state.oauth.revocation.clone();
    blocking(
        move || revocation.revoke(authorization.as_deref(), &body, addr.as_deref()),
        |()| render::token_ok(&serde_json::json!({})),
    )
    .await
}

/// Answers a wrong method on the token endpoint (RFC 6749 §3.2: POST only).
pub async fn token_method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed().insert_header((header::ALLOW, "POST")).finish()
}

/// The endpoint URLs for `issuer`, every optional endpoint included (the
/// metadata handler leaves out what is turned off).
pub fn endpoints(issuer: &str) -> Endpoints {
    Endpoints {
        token: format!("{issuer}{}", routes::TOKEN),
        introspection: format!("{issuer}{}", routes::INTROSPECT),
        revocation: format!("{issuer}{}", routes::REVOKE),
        jwks: format!("{issuer}{}", routes::JWKS),
        authorization: Some(format!("{issuer}{}", routes::AUTHORIZE)),
        userinfo: Some(format!("{issuer}{}", routes::USERINFO)),
        end_session: Some(format!("{issuer}{}", routes::END_SESSION)),
        device_authorization: Some(format!("{issuer}{}", routes::DEVICE_AUTHORIZATION)),
        pushed_authorization_request: Some(format!("{issuer}{}", routes::PAR)),
        registration: Some(format!("{issuer}{}", routes::REGISTER)),
    }
}

/// GET both well-known metadata paths, from the snapshot: no database
/// round trip, so discovery answers while the database is away.
pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    let scopes = state.snapshots.current().scopes_supported();
    let mut served = endpoints(&state.issuer);
    if !state.oauth.par.enabled() {
        served.pushed_authorization_request = None;
    }
    if !state.registration.enabled() {
        served.registration = None;
    }
    let doc = discovery::metadata(&state.issuer, &served, scopes, &GrantType::all_advertised());
    render::public_json(&doc, 60)
}

/// GET the JWKS: next, current and recently retired keys.
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let keys = state.keys.clone();
    match result_flatten(crate::web::block(move || keys.jwks().map_err(crate::service::key_failure)).await) {
        // Short max-age: a verifier refetches soon after a rotation, and the
        // `next` key is published a rotation ahead anyway (docs/security-checklist.md R-7).
        Ok(doc) => render::public_json(&*doc, 300),
        Err(e) => render::oauth_error(&e),
    }
}

fn result_flatten<T>(r: Result<Result<T, OAuthError>, actix_web::error::BlockingError>) -> Result<T, OAuthError> {
    r.map_err(|e| OAuthError::server_error(format!("blocking task failed: {e}")))?
}
