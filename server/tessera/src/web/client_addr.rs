//! The client's address, in one place for every caller that needs it
//! (sign-in and client-secret throttling, the access log). The rule (which proxies are
//! believed, how `X-Forwarded-For` is read) is `crate::proxies`.

use actix_web::HttpRequest;
use std::net::IpAddr;

pub use crate::proxies::TrustedProxies;

/// The client address of `req` as text, for throttling keys; `None` when
/// the connection has no IP peer.
pub fn client_addr(req: &HttpRequest, trusted: &TrustedProxies) -> Option<String> {
    client_ip(req, trusted).map(|ip| ip.to_string())
}

/// The client address of `req`; `None` when the connection has no IP peer.
pub fn client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let headers = req.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok());
    Some(trusted.resolve(peer, headers))
}
