//! One access-log event per request, with its fields as fields: `client`
//! (through the trusted-proxy rule of `crate::proxies`, and `proxy` when the
//! peer was one), `method`, `path`, `status`, `bytes` and `ms`.
//!
//! It is a `tracing` event in the request's span (`web::request_id`), so
//! the text format prints it as `request{request_id=…}: … client=… status=…`
//! and the JSON format as an object whose `fields` a log pipeline can index
//! without parsing a line. (actix-web's `Logger` wrote one preformatted
//! string through the `log` crate, bridged into `tracing` per line: the
//! fields were lost.)
//!
//! The path is logged without its query: authorization codes, tokens and
//! `state` travel there and never reach the log.

use std::time::Instant;

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

use crate::web::AppState;
use crate::web::client_addr::client_ip;

/// The middleware (`middleware::from_fn`): times the rest of the chain and
/// writes the event when the response (or the error that becomes one) is
/// ready.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    // Addresses, not their text: formatted only by the log line itself.
    let peer = req.peer_addr().map(|a| a.ip());
    let client = match req.app_data::<web::Data<AppState>>() {
        Some(state) => client_ip(req.request(), &state.trusted_proxies),
        None => peer,
    };
    let proxy = peer.filter(|p| client.is_some_and(|c| c != *p));
    let method = req.method().clone();
    let path = req.path().to_owned();
    let result = next.call(req).await;
    let (status, bytes) = match &result {
        Ok(res) => (
            res.status(),
            match res.response().body().size() {
                BodySize::Sized(n) => Some(n),
                BodySize::None => Some(0),
                BodySize::Stream => None,
            },
        ),
        Err(e) => (e.as_response_error().status_code(), None),
    };
    tracing::info!(
        client = client.map(tracing::field::display),
        proxy = proxy.map(tracing::field::display),
        %method,
        path,
        status = status.as_u16(),
        bytes,
        // Milliseconds to the microsecond: `0.412`, not `0.41234999`.
        ms = (start.elapsed().as_secs_f64() * 1e6).round() / 1e3,
        "access"
    );
    result
}
