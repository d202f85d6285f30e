//! OpenID Connect Back-Channel Logout 1.0: when a browser session ends, the
//! OP posts a signed Logout Token to each client that signed in through it,
//! so the client ends its own session server-side, without the browser.
//!
//! Here: the session id (`sid`) clients see, the rule for a client's
//! `backchannel_logout_uri`, and the Logout Token's claims. Signing and the
//! HTTP POST are the server's (`service/oauth/backchannel.rs`).

use crate::secret::SecretHash;
use serde_json::{Map, Value, json};

/// §2.4: the `typ` header of a Logout Token (RFC 8725 §3.11 explicit typing).
pub const LOGOUT_TOKEN_TYP: &str = "logout+jwt";

/// §2.4: the one member of the `events` claim.
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Longest `backchannel_logout_uri` accepted, as for redirect URIs.
const MAX_URI_LEN: usize = 2048;

/// The `sid` of the session whose cookie hashes to `session_hash`: a hash
/// of the hash, so it names the session in ID tokens and Logout Tokens
/// without being the key the server finds the session by, and never the
/// cookie.
pub fn session_id(session_hash: &str) -> String {
    SecretHash::of(&format!("sid:{session_hash}")).as_str()[..32].to_owned()
}

/// §2.2: a `backchannel_logout_uri` is an absolute `https` URL (`http` for
/// a confidential client, which the specification allows, e.g. inside a
/// private network), with no fragment and no credentials in it.
pub fn check_logout_uri(uri: &str, confidential: bool) -> Result<url::Url, &'static str> {
    if uri.len() > MAX_URI_LEN {
        return Err("the backchannel_logout_uri is longer than 2048 characters");
    }
    let url = url::Url::parse(uri).map_err(|_| "the backchannel_logout_uri is not an absolute URL")?;
    if url.fragment().is_some() {
        return Err("the backchannel_logout_uri must not have a fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the backchannel_logout_uri must not carry credentials");
    }
    if url.host().is_none() {
        return Err("the backchannel_logout_uri has no host");
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if confidential => Ok(url),
        "http" => Err("a public client's backchannel_logout_uri must use https"),
        _ => Err("the backchannel_logout_uri must use https (or http for a confidential client)"),
    }
}

/// OpenID Connect Front-Channel Logout §2: a `frontchannel_logout_uri` is
/// an absolute `http(s)` URL without a fragment or credentials, whose
/// scheme, host and port are those of one of the client's
/// `redirect_uris` (so it can only name a page of the client itself).
pub fn check_frontchannel_uri(uri: &str, redirect_uris: &[String]) -> Result<url::Url, &'static str> {
    if uri.len() > MAX_URI_LEN {
        return Err("the frontchannel_logout_uri is longer than 2048 characters");
    }
    let url = url::Url::parse(uri).map_err(|_| "the frontchannel_logout_uri is not an absolute URL")?;
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err("the frontchannel_logout_uri must not have a fragment or credentials");
    }
    if !matches!(url.scheme(), "https" | "http") {
        return Err("the frontchannel_logout_uri must be an http or https URL");
    }
    let origin = url.origin();
    if !redirect_uris.iter().filter_map(|r| url::Url::parse(r).ok()).any(|r| r.origin() == origin) {
        return Err("the frontchannel_logout_uri must have the scheme, host and port of a redirect URI");
    }
    Ok(url)
}

/// Front-Channel Logout §2-§4: the page the browser loads for one client
/// when session `sid` ends, its registered URL with `iss` and `sid` added
/// (always sent, so `frontchannel_logout_session_required` holds for every
/// client), and the page's origin for the CSP's `frame-src`.
pub fn frontchannel_page(uri: &str, issuer: &str, sid: &str) -> Option<(String, String)> {
    let mut url = url::Url::parse(uri).ok()?;
    url.query_pairs_mut().append_pair("iss", issuer).append_pair("sid", sid);
    let origin = url.origin().ascii_serialization();
    Some((url.into(), origin))
}

/// §2.4: the Logout Token's claims for `client_id`, about user `sub` and
/// session `sid`. No `nonce` (§2.4 forbids it, so a Logout Token can never
/// pass for an ID token); `exp` two minutes on, as §2.4 recommends a short
/// lifetime.
pub fn logout_token_claims(
    issuer: &str,
    client_id: &str,
    sub: &str,
    sid: &str,
    now: i64,
    jti: &str,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("iss".into(), json!(issuer));
    m.insert("aud".into(), json!(client_id));
    m.insert("iat".into(), json!(now));
    m.insert("exp".into(), json!(now + 120));
    m.insert("jti".into(), json!(jti));
    m.insert("sub".into(), json!(sub));
    m.insert("sid".into(), json!(sid));
    m.insert("events".into(), json!({ EVENT: {} }));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_stable_and_say_nothing_of_the_session_key() {
        let hash = SecretHash::of("cookie value");
        let sid = session_id(hash.as_str());
        assert_eq!(sid, session_id(hash.as_str()));
        assert_eq!(sid.len(), 32);
        assert!(!hash.as_str().contains(&sid) && !sid.contains("cookie"));
        assert_ne!(sid, session_id(SecretHash::of("another cookie").as_str()));
    }

    #[test]
    fn logout_uris_follow_section_2_2() {
        assert!(check_logout_uri("https://rp.example/logout?x=1", false).is_ok());
        assert!(check_logout_uri("http://rp.internal:8080/logout", true).is_ok());
        assert_eq!(
            check_logout_uri("http://rp.internal/logout", false).unwrap_err(),
            "a public client's backchannel_logout_uri must use https"
        );
        for bad in ["https://rp.example/logout#frag", "https://u:p@rp.example/", "ftp://rp.example/", "/logout", ""] {
            assert!(check_logout_uri(bad, true).is_err(), "{bad}");
        }
        assert!(check_logout_uri(&format!("https://rp.example/{}", "a".repeat(2048)), true).is_err());
    }

    #[test]
    fn a_logout_token_names_the_session_and_the_event_and_has_no_nonce() {
        let c = logout_token_claims("https://op.example", "app", "u1", "s1", 100, "j1");
        assert_eq!(c["aud"], "app");
        assert_eq!(c["sub"], "u1");
        assert_eq!(c["sid"], "s1");
        assert_eq!(c["events"], json!({ EVENT: {} }));
        assert_eq!(c["exp"].as_i64(), Some(220));
        assert!(c.get("nonce").is_none());
    }

    /// Front-Channel Logout §2: only a page of the client itself, and the
    /// page loaded carries `iss` and `sid`.
    #[test]
    fn a_frontchannel_logout_page_is_the_clients_own_and_names_the_session() {
        let redirects = ["https://app.example/cb".to_owned(), "http://localhost:8400/cb".to_owned()];
        assert!(check_frontchannel_uri("https://app.example/logout?x=1", &redirects).is_ok());
        assert!(check_frontchannel_uri("http://localhost:8400/bye", &redirects).is_ok());
        for bad in [
            "https://evil.example/logout",
            "https://app.example:8443/logout",
            "http://app.example/logout",
            "https://app.example/logout#frag",
            "javascript:alert(1)",
            "/relative",
        ] {
            assert!(check_frontchannel_uri(bad, &redirects).is_err(), "{bad}");
        }
        let (page, origin) = frontchannel_page("https://app.example/logout?x=1", "https://id.example", "s1").unwrap();
        assert_eq!(page, "https://app.example/logout?x=1&iss=https%3A%2F%2Fid.example&sid=s1");
        assert_eq!(origin, "https://app.example");
    }
}
