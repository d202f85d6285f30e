//! Trusted proxies, and the client address behind them: the rule, with no
//! HTTP types (`web::client_addr` applies it to a request; `config.rs`
//! validates the setting with it).
//!
//! The TCP peer is the client unless the peer is a configured trusted proxy
//! (`trusted_proxies`, default none). Only then is `X-Forwarded-For` read,
//! from the right: each hop a trusted proxy appended is skipped, and the
//! first address not in the list is the client. A client can put anything
//! at the left of the header, so nothing left of the first untrusted hop is
//! ever believed (RFC 7239 §8.3 on the same problem with `Forwarded`).

use std::net::IpAddr;
use std::str::FromStr;

/// Proxies whose `X-Forwarded-For` is believed: addresses and CIDR ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

/// A `trusted_proxies` entry that is neither an address nor a CIDR range.
#[derive(Debug, thiserror::Error)]
#[error("trusted_proxies: {0:?} is not an IP address or a CIDR range such as 10.0.0.0/8")]
pub struct BadProxy(String);

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

impl TrustedProxies {
    /// Parses entries such as `10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`.
    pub fn parse(entries: &[String]) -> Result<TrustedProxies, BadProxy> {
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let bad = || BadProxy(e.clone());
            let (ip, bits) = match e.trim().split_once('/') {
                Some((ip, bits)) => (IpAddr::from_str(ip).map_err(|_| bad())?, bits.parse::<u8>().map_err(|_| bad())?),
                None => {
                    let ip = IpAddr::from_str(e.trim()).map_err(|_| bad())?;
                    (ip, if ip.is_ipv4() { 32 } else { 128 })
                }
            };
            let ip = canonical(ip);
            let max = if ip.is_ipv4() { 32 } else { 128 };
            if bits > max {
                return Err(bad());
            }
            out.push((ip, bits));
        }
        Ok(TrustedProxies(out))
    }

    /// True if `ip` is one of the proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|(net, bits)| match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), *bits),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), *bits),
            _ => false,
        })
    }

    /// The client address of a request whose TCP peer is `peer` and whose
    /// `X-Forwarded-For` headers (in order) are `forwarded`.
    pub fn resolve<'a>(&self, peer: IpAddr, forwarded: impl Iterator<Item = &'a str>) -> IpAddr {
        let mut client = canonical(peer);
        if !self.contains(client) {
            return client;
        }
        let hops: Vec<&str> = forwarded.flat_map(|h| h.split(',')).map(str::trim).collect();
        for hop in hops.iter().rev() {
            match parse_hop(hop) {
                Some(ip) => {
                    client = ip;
                    if !self.contains(ip) {
                        break;
                    }
                }
                // Garbage from a trusted proxy's client: the last hop we trust is the answer.
                None => break,
            }
        }
        client
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = usize::from(bits / 8);
    let rest = bits % 8;
    if a[..full] != b[..full] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        a[full] & mask == b[full] & mask
    }
}

/// An `X-Forwarded-For` element: an address, optionally bracketed or with a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = IpAddr::from_str(hop) {
        return Some(canonical(ip));
    }
    if let Ok(sa) = std::net::SocketAddr::from_str(hop) {
        return Some(canonical(sa.ip()));
    }
    hop.strip_prefix('[').and_then(|h| h.strip_suffix(']')).and_then(|h| IpAddr::from_str(h).ok()).map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Issue #11 item 6: X-Forwarded-For is believed only from a trusted
    /// proxy, and only up to the first hop that is not one.
    #[test]
    fn forwarded_for_counts_only_behind_trusted_proxies() {
        let none = TrustedProxies::default();
        assert_eq!(none.resolve(ip("203.0.113.9"), ["1.2.3.4"].into_iter()), ip("203.0.113.9"), "default: none");
        let t = TrustedProxies::parse(&["10.0.0.0/8".into(), "::1".into()]).unwrap();
        assert_eq!(t.resolve(ip("203.0.113.9"), ["1.2.3.4"].into_iter()), ip("203.0.113.9"), "untrusted peer");
        assert_eq!(t.resolve(ip("10.1.2.3"), ["1.2.3.4"].into_iter()), ip("1.2.3.4"));
        // The client forged a left-hand entry; the proxy appended the real one.
        assert_eq!(t.resolve(ip("10.1.2.3"), ["9.9.9.9, 1.2.3.4, 10.0.0.7"].into_iter()), ip("1.2.3.4"));
        assert_eq!(t.resolve(ip("10.1.2.3"), ["9.9.9.9", "1.2.3.4:5678"].into_iter()), ip("1.2.3.4"));
        assert_eq!(t.resolve(ip("10.1.2.3"), ["nonsense"].into_iter()), ip("10.1.2.3"));
        assert_eq!(t.resolve(ip("10.1.2.3"), std::iter::empty()), ip("10.1.2.3"));
        assert_eq!(t.resolve(ip("::ffff:10.0.0.1"), ["[2001:db8::1]"].into_iter()), ip("2001:db8::1"));
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(TrustedProxies::parse(&["proxy.example".into()]).is_err());
    }
}
