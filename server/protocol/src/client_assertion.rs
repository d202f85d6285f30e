//! The claims of a client assertion (`private_key_jwt`: RFC 7523 §3, OIDC
//! Core §9), after its signature was verified with one of the client's
//! registered keys: `iss` and `sub` are the client, `aud` names this server
//! (its issuer or the endpoint URL), `exp` is in the future and not far in
//! it, and `jti` identifies the assertion so that it is accepted once.

use crate::error::OAuthError;
use crate::token::LEEWAY_SECS;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// RFC 7523 §2.2: the `client_assertion_type` of a JWT assertion.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The signature algorithms a client assertion may use: asymmetric only,
/// so the server holds no secret that could sign one (discovery's
/// `token_endpoint_auth_signing_alg_values_supported`).
pub const ALGORITHMS: [&str; 7] = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"];

/// The longest lifetime an assertion may claim (`exp` this far after now at
/// most): its `jti` is remembered until it expires, so an unbounded `exp`
/// would be remembered forever.
pub const MAX_LIFETIME_SECS: i64 = 3600;

/// The longest `jti` accepted.
const MAX_JTI_LEN: usize = 256;

/// What the replay check needs of an accepted assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The assertion's id.
    pub jti: String,
    /// Remember the id until then.
    pub exp: i64,
}

/// The `sub` of a compact JWT, read without checking anything: it only
/// names the client whose keys will verify the signature.
pub fn unverified_subject(jwt: &str) -> Option<String> {
    unverified_claim(jwt, "sub")
}

/// The string claim `name` of a compact JWT, read without checking
/// anything: only to pick the keys that will verify the signature.
pub fn unverified_claim(jwt: &str, name: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let claims: Map<String, Value> = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims.get(name)?.as_str().map(str::to_owned)
}

/// The longest `jwks_uri` accepted at registration (what it serves is
/// bounded where it is fetched, in the server).
const MAX_URI_LEN: usize = 2048;

/// Checks a `jwks_uri` an administrator registers (for a client or a
/// trusted issuer): an absolute `https` URL, or `http` to a loopback host
/// (`localhost`, `127.0.0.0/8`, `::1`) so a local key server or a test can
/// serve it; no credentials, no fragment. The error says what is wrong.
pub fn check_jwks_uri(uri: &str) -> Result<url::Url, &'static str> {
    if uri.len() > MAX_URI_LEN {
        return Err("the jwks_uri is longer than 2048 characters");
    }
    let url = url::Url::parse(uri).map_err(|_| "the jwks_uri is not an absolute URL")?;
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err("the jwks_uri must not carry credentials or a fragment");
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err("the jwks_uri has no host"),
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err("the jwks_uri must use https (http only for a loopback host)"),
    }
}

/// RFC 7523 §3 on verified `claims` for `client_id` at `now`; `audiences`
/// are the values `aud` may name (the issuer and the endpoint URLs).
/// Every failure is `invalid_client` with a log-only detail.
pub fn check(
    claims: &Map<String, Value>,
    client_id: &str,
    audiences: &[String],
    now: i64,
) -> Result<Accepted, OAuthError> {
    let refuse = |why: &str| OAuthError::invalid_client().with_detail(format!("client assertion: {why}"));
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("iss") != Some(client_id) || text("sub") != Some(client_id) {
        return Err(refuse("iss and sub must be the client_id"));
    }
    timing_and_id(claims, audiences, now).map_err(refuse)
}

/// RFC 7523 §3 items 3 to 7, shared by client assertions and the JWT bearer
/// grant (`grant::jwt_bearer`): `aud` names one of `audiences`, `exp` is
/// after `now` and at most [`MAX_LIFETIME_SECS`] away, `nbf` and `iat` are
/// not in the future, and a `jti` is present. The error says which rule
/// failed; the caller picks the error code.
pub fn timing_and_id(claims: &Map<String, Value>, audiences: &[String], now: i64) -> Result<Accepted, &'static str> {
    let exp = audience_and_timing(claims, audiences, now)?;
    match claims.get("jti").and_then(Value::as_str) {
        Some(jti) if !jti.is_empty() && jti.len() <= MAX_JTI_LEN => Ok(Accepted { jti: jti.to_owned(), exp }),
        _ => Err("jti is required (at most 256 characters)"),
    }
}

/// [`timing_and_id`] without the `jti` (a request object, RFC 9101, needs
/// none): `aud` names one of `audiences`, `exp` is after `now` and at most
/// [`MAX_LIFETIME_SECS`] away, `nbf` and `iat` are not in the future.
/// Returns `exp`.
pub fn audience_and_timing(claims: &Map<String, Value>, audiences: &[String], now: i64) -> Result<i64, &'static str> {
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => audiences.contains(a),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(|a| audiences.iter().any(|x| x == a)),
        _ => false,
    };
    if !aud_ok {
        return Err("aud does not name this server");
    }
    let Some(exp) = claims.get("exp").and_then(Value::as_i64) else { return Err("no exp") };
    if exp <= now.saturating_sub(LEEWAY_SECS) {
        return Err("expired");
    }
    if exp > now.saturating_add(MAX_LIFETIME_SECS) {
        return Err("exp is too far in the future");
    }
    for name in ["nbf", "iat"] {
        match claims.get(name).map(Value::as_i64) {
            Some(Some(t)) if t > now.saturating_add(LEEWAY_SECS) => return Err("nbf or iat is in the future"),
            Some(None) => return Err("nbf or iat is not a number"),
            _ => {}
        }
    }
    Ok(exp)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use serde_json::json;

    const NOW: i64 = 1_000_000;

    fn claims(extra: Value) -> Map<String, Value> {
        let mut c =
            json!({"iss": "c1", "sub": "c1", "aud": "https://id.example/oauth/token", "exp": NOW + 60, "jti": "j1"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c.as_object().unwrap().clone()
    }

    fn run(c: Map<String, Value>) -> Result<Accepted, OAuthError> {
        let auds = ["https://id.example".to_owned(), "https://id.example/oauth/token".to_owned()];
        check(&c, "c1", &auds, NOW)
    }

    #[test]
    fn a_good_assertion_is_accepted_with_its_jti_and_exp() {
        assert_eq!(run(claims(json!({}))).unwrap(), Accepted { jti: "j1".into(), exp: NOW + 60 });
        assert!(run(claims(json!({"aud": ["x", "https://id.example"]}))).is_ok(), "the issuer in a list");
    }

    /// RFC 7523 §3: iss and sub, aud, exp, jti; every refusal is invalid_client.
    #[test]
    fn each_rule_refuses() {
        for bad in [
            json!({"iss": "c2"}),
            json!({"sub": "c2"}),
            json!({"aud": "https://elsewhere.example"}),
            json!({"aud": ["https://elsewhere.example"]}),
            json!({"exp": NOW - LEEWAY_SECS}),
            json!({"exp": NOW + MAX_LIFETIME_SECS + 1}),
            json!({"exp": "soon"}),
            json!({"nbf": NOW + LEEWAY_SECS + 1}),
            json!({"iat": NOW + LEEWAY_SECS + 1}),
            json!({"iat": "now"}),
            json!({"jti": ""}),
            json!({"jti": 7}),
            json!({"jti": "x".repeat(257)}),
        ] {
            let e = run(claims(bad.clone())).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidClient, "{bad}");
        }
    }

    #[test]
    fn jwks_uris_are_https_or_loopback_http() {
        for good in
            ["https://keys.example/jwks.json", "http://127.0.0.1:8080/jwks", "http://localhost/j", "http://[::1]/j"]
        {
            assert!(check_jwks_uri(good).is_ok(), "{good}");
        }
        for bad in [
            "http://keys.example/jwks.json",
            "http://10.0.0.1/jwks",
            "ftp://keys.example/j",
            "/jwks.json",
            "https://user:pw@keys.example/j",
            "https://keys.example/j#frag",
        ] {
            assert!(check_jwks_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_subject_is_read_unverified_and_junk_has_none() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"c1"}"#);
        assert_eq!(unverified_subject(&format!("e30.{payload}.sig")).as_deref(), Some("c1"));
        assert_eq!(unverified_subject("not a jwt"), None);
        assert_eq!(unverified_subject("a.%%%.c"), None);
    }

    #[test]
    fn extraction_takes_the_assertion_alone() {
        use crate::client_auth::{AuthMethod, extract};
        use crate::params::Params;
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"c1"}"#);
        let jwt = format!("e30.{payload}.sig");
        let p = Params::from_pairs([("client_assertion_type", JWT_BEARER), ("client_assertion", jwt.as_str())]);
        let c = extract(None, &p).unwrap();
        assert_eq!((c.client_id.as_str(), c.method), ("c1", AuthMethod::PrivateKeyJwt));
        assert_eq!(c.assertion.as_deref(), Some(jwt.as_str()));
        let other = Params::from_pairs([
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", jwt.as_str()),
            ("client_id", "c2"),
        ]);
        assert_eq!(extract(None, &other).unwrap_err().code, ErrorCode::InvalidClient);
        let two = Params::from_pairs([
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", jwt.as_str()),
            ("client_secret", "s"),
        ]);
        assert_eq!(extract(None, &two).unwrap_err().code, ErrorCode::InvalidRequest);
        let kind = Params::from_pairs([("client_assertion_type", "saml"), ("client_assertion", jwt.as_str())]);
        assert_eq!(extract(None, &kind).unwrap_err().code, ErrorCode::InvalidClient);
    }
}
