//! Rate limits at the HTTP edge (`[rate_limits]`; the counting is
//! `service::rate_limit`). The middleware counts every request to a limited
//! path by its source address (`web::client_addr`, so `X-Forwarded-For`
//! only from trusted proxies) before the body is read; the OAuth endpoints
//! whose request names its client (token, PAR, device authorization) also
//! count by client id, in their handler, before any work.
//!
//! A refusal is 429 with `Retry-After` in whole seconds: on OAuth endpoints
//! the OAuth writer's `temporarily_unavailable` body
//! (`OAuthError::rate_limited`), on pages a short HTML page.

use super::{AppState, pages, render, routes};
use crate::service::rate_limit::{Class, Refused};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use tessera_protocol::OAuthError;
use tessera_protocol::client_auth;
use tessera_protocol::params::Params;

/// How a refusal is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// An OAuth JSON error (the client is a program).
    OAuth,
    /// An HTML page (the client is a browser).
    Page,
}

/// The limited endpoint a path belongs to, whatever the method (a flood of
/// wrong methods is a flood too).
fn classify(path: &str) -> Option<(Class, Answer)> {
    match path {
        routes::TOKEN => Some((Class::Token, Answer::OAuth)),
        routes::PAR => Some((Class::Par, Answer::OAuth)),
        routes::DEVICE_AUTHORIZATION => Some((Class::Device, Answer::OAuth)),
        routes::DEVICE => Some((Class::Device, Answer::Page)),
        routes::AUTHORIZE => Some((Class::Authorize, Answer::Page)),
        routes::LOGIN | routes::DEVICE_LOGIN | routes::LOGIN_SECOND_FACTOR | routes::DEVICE_LOGIN_SECOND_FACTOR => {
            Some((Class::Login, Answer::Page))
        }
        p if p == routes::REGISTER || p.strip_prefix(routes::REGISTER).is_some_and(|rest| rest.starts_with('/')) => {
            Some((Class::Register, Answer::OAuth))
        }
        _ => None,
    }
}

/// Counts a request to a limited endpoint by its source address, and
/// answers 429 itself when the address is over its limit.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let refusal = classify(req.path()).and_then(|(class, answer)| {
        let state = req.app_data::<web::Data<AppState>>()?;
        let addr = state.client_addr(req.request())?;
        state.rate_limits.check_address(class, &addr).err().map(|r| refused(class, answer, r))
    });
    match refusal {
        Some(resp) => Ok(req.into_response(resp)),
        None => Ok(next.call(req).await?.map_into_boxed_body()),
    }
}

/// Counts a request to an OAuth endpoint by the client id it claims (HTTP
/// Basic, the form's `client_id`, or a client assertion's subject, read as
/// client authentication reads them); the refusal to send when it is over
/// its limit. A request that names no client, or is malformed, is not
/// counted here: client authentication refuses it, and its address was
/// counted.
pub(super) fn client_refusal(
    state: &AppState,
    class: Class,
    authorization: Option<&str>,
    body: &[u8],
) -> Option<HttpResponse> {
    // Parsing the form is the cost of this check: skipped when it is off.
    if !state.rate_limits.limits_clients(class) {
        return None;
    }
    let params = Params::parse(body).ok()?;
    let claimed = client_auth::extract(authorization, &params).ok()?;
    state.rate_limits.check_client(class, claimed.client_id.as_str()).err().map(|r| refused(class, Answer::OAuth, r))
}

/// The 429 for `refused`.
/// At debug level: under a flood the access log already has a line per
/// request, and `RateLimiter::refusals` counts them for the metrics.
fn refused(class: Class, answer: Answer, refused: Refused) -> HttpResponse {
    tracing::debug!(
        endpoint = class.as_str(),
        scope = refused.scope.as_str(),
        retry_after = refused.retry_after_secs,
        "rate limited"
    );
    match answer {
        Answer::OAuth => render::oauth_error(&OAuthError::rate_limited(refused.retry_after_secs)),
        Answer::Page => {
            let message = "Too many requests. Wait a moment and try again.";
            let mut resp = pages::render(StatusCode::TOO_MANY_REQUESTS, &pages::ErrorPage { message });
            if let Ok(v) = HeaderValue::from_str(&refused.retry_after_secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registration endpoint and every client configuration endpoint
    /// below it count as one class; a path that only starts alike does not.
    #[test]
    fn registration_paths_are_limited_as_one_class() {
        let class = |p: &str| classify(p).map(|(c, _)| c);
        assert_eq!(class(routes::REGISTER), Some(Class::Register));
        assert_eq!(class(&routes::registered_client("abc")), Some(Class::Register));
        assert_eq!(class("/oauth/registered"), None);
        assert_eq!(class(routes::TOKEN), Some(Class::Token));
    }
}
