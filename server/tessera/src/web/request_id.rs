//! A request id on every response (`X-Request-Id`) and on every log line
//! written while the request is handled, so one request can be followed
//! from the balancer's log through ours.
//!
//! The id comes from the request's `X-Request-Id` only when the TCP peer is
//! a trusted proxy (`trusted_proxies`, the rule of `crate::proxies`) and the
//! value is short and plain ([`valid`]): anyone else could otherwise write
//! into our logs or pass one id off as another request's. Otherwise a fresh
//! UUID v7 (time-ordered) is generated.
//!
//! Log lines carry it through a `request` span with a `request_id` field:
//! the text format prints it as `request{request_id=...}:`, the JSON format
//! as `"span":{"request_id":...}` (`"spans"` lists the enclosing ones too).
//! Work handed to the blocking pool goes through `crate::web::block`, and
//! to the CPU pool through `crate::web::on_cpu`; both run it inside the
//! span. With `[tracing]` configured, this span is the
//! root of the request's OpenTelemetry trace (`crate::telemetry`).

use crate::web::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use tracing::Instrument;

/// The header, in requests and responses.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest id accepted from a proxy.
const MAX_LEN: usize = 128;

/// The id of the request in flight, in the request's extensions for any
/// handler that wants to show it (an error page, for one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// True for ids we pass on: 1 to 128 characters of `[A-Za-z0-9._:-]`,
/// which covers UUIDs and the usual proxy formats and cannot break a log line.
pub fn valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The middleware (`middleware::from_fn`): picks the id, runs the rest of
/// the chain inside its span, and sets the response header.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let trusted = match (req.peer_addr(), req.app_data::<web::Data<AppState>>()) {
        (Some(peer), Some(state)) => state.trusted_proxies.contains(peer.ip()),
        _ => false,
    };
    let id = req
        .headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| trusted && valid(id))
        .map(str::to_owned)
        .unwrap_or_else(crate::clock::uuid);
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id);
    let mut res = next.call(req).instrument(span).await?;
    // Always a valid header value: checked above, or a UUID.
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HEADER, value);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::valid;

    #[test]
    fn only_short_plain_ids_are_valid() {
        assert!(valid("0190f5a2-7c1e-7b6e-9a1d-3f2b1c4d5e6f"));
        assert!(valid("1-67891233-abcdef012345678912345678"));
        assert!(!valid("Root=1-67891233"), "= is not in the set");
        assert!(!valid(""));
        assert!(!valid("a b"));
        assert!(!valid("id\nforged log line"));
        assert!(!valid(&"a".repeat(129)));
        assert!(valid(&"a".repeat(128)));
    }
}
