//! The OAuth writer: the only code that renders token-endpoint responses, so
//! `Content-Type`, `Cache-Control: no-store`, `Pragma: no-cache` and
//! `WWW-Authenticate` are set in exactly one place (RFC 6749 §5.1, §5.2),
//! and so are the DPoP headers (RFC 9449 §7.1 challenges, §8 `DPoP-Nonce`).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use serde::Serialize;
use serde_json::json;
use tessera_protocol::{ErrorCode, OAuthError, dpop};

fn no_store(resp: &mut HttpResponse) {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// A successful token response.
pub fn token_ok<T: Serialize>(body: &T) -> HttpResponse {
    let mut resp = HttpResponse::Ok().json(body);
    no_store(&mut resp);
    resp
}

/// A created resource answered like a token response (RFC 9126 §2.2: the
/// PAR endpoint's 201, uncacheable because it carries a bearer reference).
pub fn created_no_store<T: Serialize>(body: &T) -> HttpResponse {
    let mut resp = HttpResponse::Created().json(body);
    no_store(&mut resp);
    resp
}

/// An empty 204 that no cache keeps (RFC 7592 §2.3's deletion).
pub fn no_content_no_store() -> HttpResponse {
    let mut resp = HttpResponse::NoContent().finish();
    no_store(&mut resp);
    resp
}

/// An OAuth error response. Internal errors are logged with their detail;
/// the client sees only code and description.
pub fn oauth_error(err: &OAuthError) -> HttpResponse {
    match err.code {
        // Logged where it was refused (`web::rate_limit`), not as a failure.
        _ if err.rate_limited => {}
        ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable => {
            tracing::error!(error = %err.code, detail = err.detail.as_deref().unwrap_or(""), "request failed")
        }
        _ => {
            tracing::info!(error = %err.code, description = %err.description, detail = err.detail.as_deref().unwrap_or(""), "request refused")
        }
    }
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp =
        HttpResponse::build(status).json(json!({"error": err.code.as_str(), "error_description": err.description}));
    no_store(&mut resp);
    let h = resp.headers_mut();
    match err.code {
        // RFC 6749 §5.2: 401 with the scheme the client used (we accept Basic).
        ErrorCode::InvalidClient => {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"tessera\", charset=\"UTF-8\""));
        }
        ErrorCode::TemporarilyUnavailable if err.retry_after.is_none() => {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        _ => {}
    }
    if let Some(secs) = err.retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        h.insert(header::RETRY_AFTER, v);
    }
    resp
}

/// Adds a server nonce to a token-endpoint response (RFC 9449 §8.1: sent
/// with `use_dpop_nonce`, and with other responses so a client always holds
/// a fresh one); `None` (nonces off) leaves it as it is.
pub fn with_dpop_nonce(mut resp: HttpResponse, nonce: Option<String>) -> HttpResponse {
    if let Some(v) = nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
        resp.headers_mut().insert(header::HeaderName::from_static("dpop-nonce"), v);
    }
    resp
}

/// The `DPoP` challenge of a protected resource (RFC 9449 §7.1): the
/// accepted proof algorithms, and the error when there is one.
fn dpop_challenge(error: Option<(&str, &str)>) -> String {
    let algs = dpop::ALGORITHMS.join(" ");
    match error {
        None => format!("DPoP algs=\"{algs}\""),
        Some((code, description)) => {
            let description: String = description.chars().filter(|c| *c != '"' && *c != '\\').collect();
            format!("DPoP error=\"{code}\", error_description=\"{description}\", algs=\"{algs}\"")
        }
    }
}

/// A protected resource's 401 for a request without any token: the bearer
/// challenge (RFC 6750 §3.1) and a `DPoP` one (RFC 9449 §7.1), since both
/// schemes are accepted.
pub fn unauthenticated_resource() -> HttpResponse {
    let mut resp = bearer_error(StatusCode::UNAUTHORIZED, None);
    if let Ok(v) = HeaderValue::from_str(&dpop_challenge(None)) {
        resp.headers_mut().append(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// A protected resource's 401 under the `DPoP` scheme (RFC 9449 §7.1):
/// `invalid_token` or `invalid_dpop_proof`, with `description`.
pub fn dpop_error(error: ErrorCode, description: &str) -> HttpResponse {
    let mut resp =
        HttpResponse::Unauthorized().json(json!({"error": error.as_str(), "error_description": description}));
    no_store(&mut resp);
    if let Ok(v) = HeaderValue::from_str(&dpop_challenge(Some((error.as_str(), description)))) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// A public JSON document (discovery, JWKS) that caches may keep briefly.
pub fn public_json<T: Serialize>(body: &T, max_age_secs: u32) -> HttpResponse {
    let mut resp = HttpResponse::Ok().json(body);
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age_secs}")) {
        resp.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    resp
}

/// A protected-resource error (RFC 6750 §3): `WWW-Authenticate: Bearer`,
/// with an `error` unless the request carried no token at all (§3.1).
pub fn bearer_error(status: StatusCode, error: Option<&str>) -> HttpResponse {
    let challenge = match error {
        Some(e) => format!("Bearer realm=\"tessera\", error=\"{e}\""),
        None => "Bearer realm=\"tessera\"".to_owned(),
    };
    let mut resp = match error {
        Some(e) => HttpResponse::build(status).json(json!({"error": e})),
        None => HttpResponse::build(status).finish(),
    };
    no_store(&mut resp);
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}
