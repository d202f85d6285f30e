//! The client's address, in one place for every caller that needs it
//! (sign-in and client-secret throttling). The rule (which proxies are
//! believed, how `X-Forwarded-For` is read) is `crate::proxies`.

use actix_web::HttpRequest;

pub use crate::proxies::TrustedProxies;

/// The client address of `req` as text, for throttling keys; `None` when
/// the connection has no IP peer.
pub fn client_addr(req: &HttpRequest, trusted: &TrustedProxies) -> Option<String> {
    let peer = req.peer_addr()?.ip();
    let headers = req.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok());
    Some(trusted.resolve(peer, headers).to_string())
}
