//! DPoP proofs (RFC 9449): the rules a proof JWT must follow before a token
//! is bound to its key, checked without I/O.
//!
//! The caller verifies the signature with the key this module reads from
//! the header ([`parse_header`]), then hands the verified claims to
//! [`check_claims`] with what the request was ([`Expected`]). What is left
//! to the caller needs state: the `jti` replay check (§11.1, remembered
//! until [`Accepted::remember_until`]) and the server nonce (§8).
//!
//! Every refusal is `invalid_dpop_proof` (§5) with a description that says
//! which rule failed; the token endpoint answers it with 400, a protected
//! resource with 401 and a `DPoP` challenge (§7.1).

use crate::error::{ErrorCode, OAuthError};
use crate::ids::Jkt;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// §4.2: the `typ` header of a proof.
pub const PROOF_TYP: &str = "dpop+jwt";

/// The HTTP authentication scheme and `token_type` of a bound access token
/// (§5, §7.1).
pub const TOKEN_TYPE: &str = "DPoP";

/// The request header carrying the proof (§4.1).
pub const HEADER: &str = "DPoP";

/// The response header carrying a server nonce (§8.1).
pub const NONCE_HEADER: &str = "DPoP-Nonce";

/// The proof algorithms accepted (`dpop_signing_alg_values_supported`,
/// §5.1): asymmetric only (§4.2: "MUST NOT be none or an identifier for a
/// symmetric algorithm").
pub const ALGORITHMS: [&str; 5] = ["ES256", "ES384", "EdDSA", "PS256", "RS256"];

/// How far in the future a proof's `iat` may be (the client's clock runs
/// ahead of ours).
pub const FUTURE_LEEWAY_SECS: i64 = 5;

/// The longest `jti` accepted: it is stored until the proof is too old.
const MAX_JTI_LEN: usize = 256;

/// The longest proof accepted, so a hostile header cannot make us hash
/// megabytes.
const MAX_PROOF_LEN: usize = 8192;

/// JWK members that only a private key has (RFC 7518 §6.2.2, §6.3.2,
/// §6.4.1; RFC 8037 §2): §4.2 requires that the header's `jwk` "MUST NOT
/// contain a private key".
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The refusal of a proof: `invalid_dpop_proof` with `why` shown to the
/// client (it names a rule, never a secret).
pub fn invalid(why: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidDpopProof, format!("DPoP proof: {why}"))
}

/// §4.3 item 1: "there is not more than one DPoP HTTP request header
/// field". `values` are the request's `DPoP` header values; none is
/// `Ok(None)`.
pub fn single_header<'a>(values: &[&'a str]) -> Result<Option<&'a str>, OAuthError> {
    match values {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(invalid("more than one DPoP header")),
    }
}

/// The parts of a proof's header the signature check needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ProofHeader {
    /// `alg`, one of [`ALGORITHMS`].
    pub alg: String,
    /// The public key (`jwk`), without private members.
    pub jwk: Map<String, Value>,
    /// Its RFC 7638 thumbprint.
    pub jkt: Jkt,
}

/// §4.3 items 2 to 5 on the header of `proof`, before its signature is
/// checked: a JWS in compact form, `typ` `dpop+jwt`, a supported
/// asymmetric `alg`, and a public `jwk`.
pub fn parse_header(proof: &str) -> Result<ProofHeader, OAuthError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(invalid("too long"));
    }
    let mut parts = proof.split('.');
    let (Some(header), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(invalid("not a JWT in compact serialization"));
    };
    let header: Map<String, Value> = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| invalid("the header is not base64url JSON"))?;
    if header.get("typ").and_then(Value::as_str) != Some(PROOF_TYP) {
        return Err(invalid("typ must be dpop+jwt"));
    }
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or_default();
    if !ALGORITHMS.contains(&alg) {
        return Err(invalid("alg must be one of dpop_signing_alg_values_supported"));
    }
    let Some(Value::Object(jwk)) = header.get("jwk") else {
        return Err(invalid("the header has no jwk"));
    };
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(invalid("the jwk must be a public key (it has a private member)"));
    }
    let jkt = thumbprint(jwk)?;
    Ok(ProofHeader { alg: alg.to_owned(), jwk: jwk.clone(), jkt })
}

/// The JWK SHA-256 thumbprint (RFC 7638 §3): the required members of the
/// key type in lexicographic order, as JSON without whitespace, hashed,
/// base64url. Only RSA, EC and OKP keys have one here (no symmetric keys).
pub fn thumbprint(jwk: &Map<String, Value>) -> Result<Jkt, OAuthError> {
    let members: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("OKP") => &["crv", "kty", "x"],
        Some("RSA") => &["e", "kty", "n"],
        _ => return Err(invalid("the jwk's kty must be EC, OKP or RSA")),
    };
    let mut canonical = Map::new();
    for m in members {
        match jwk.get(*m) {
            Some(Value::String(v)) => canonical.insert((*m).to_owned(), Value::String(v.clone())),
            _ => return Err(invalid("the jwk lacks a required member")),
        };
    }
    // serde_json's Map is ordered by key (no `preserve_order` feature), and
    // to_string writes no whitespace: exactly RFC 7638's serialization.
    let json = Value::Object(canonical).to_string();
    Ok(Jkt::new(URL_SAFE_NO_PAD.encode(Sha256::digest(json.as_bytes()))))
}

/// §10: the `dpop_jkt` authorization request parameter, a JWK SHA-256
/// thumbprint (RFC 7638) as [`thumbprint`] makes it: 32 bytes in base64url
/// without padding. Anything else is `invalid_request` (RFC 6749 §4.1.2.1:
/// a malformed parameter); a well-formed value binds the code to that key.
pub fn parse_dpop_jkt(value: &str) -> Result<Jkt, OAuthError> {
    let bad = || OAuthError::invalid_request("dpop_jkt must be a JWK SHA-256 thumbprint (43 characters of base64url)");
    match URL_SAFE_NO_PAD.decode(value) {
        Ok(bytes) if bytes.len() == 32 && value.len() == 43 => Ok(Jkt::new(value)),
        _ => Err(bad()),
    }
}

/// The `ath` claim for `access_token` (§4.2): base64url of its SHA-256.
pub fn ath(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// What the request a proof came with was.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The request's method (`htm`).
    pub htm: &'a str,
    /// The endpoint's URL as this server publishes it (`htu`).
    pub htu: &'a str,
    /// Now, in Unix seconds.
    pub now: i64,
    /// The oldest `iat` accepted is this many seconds ago.
    pub max_age_secs: i64,
    /// At a protected resource: the access token presented with the proof,
    /// whose hash `ath` must be (§4.3 item 11).
    pub access_token: Option<&'a str>,
}

/// A proof that passed [`check_claims`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The key's thumbprint: what a token is bound to.
    pub jkt: Jkt,
    /// The proof's id; it must be used once (§11.1).
    pub jti: String,
    /// The proof's `nonce`, for the caller to check when it requires one.
    pub nonce: Option<String>,
    /// Remember `jti` until then: afterwards the proof is too old anyway.
    pub remember_until: i64,
}

/// §4.3 items 8 to 12 on the verified `claims` of a proof whose header was
/// `header`: `jti`, `htm`, `htu`, `iat` within the window, and `ath` when a
/// token is presented.
pub fn check_claims(
    claims: &Map<String, Value>,
    header: &ProofHeader,
    expected: &Expected<'_>,
) -> Result<Accepted, OAuthError> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let jti = text("jti").filter(|j| !j.is_empty()).ok_or_else(|| invalid("jti is missing"))?;
    if jti.len() > MAX_JTI_LEN {
        return Err(invalid("jti is too long"));
    }
    if text("htm") != Some(expected.htm) {
        return Err(invalid("htm does not match the request method"));
    }
    if !text("htu").is_some_and(|htu| htu_matches(htu, expected.htu)) {
        return Err(invalid("htu does not match the request URL"));
    }
    let iat = claims.get("iat").and_then(Value::as_i64).ok_or_else(|| invalid("iat is missing"))?;
    if iat > expected.now.saturating_add(FUTURE_LEEWAY_SECS) {
        return Err(invalid("iat is in the future"));
    }
    if iat < expected.now.saturating_sub(expected.max_age_secs) {
        return Err(invalid("iat is too old"));
    }
    match (expected.access_token, text("ath")) {
        (Some(token), Some(a)) if a == ath(token) => {}
        (Some(_), Some(_)) => return Err(invalid("ath does not match the access token")),
        (Some(_), None) => return Err(invalid("ath is missing")),
        (None, _) => {}
    }
    Ok(Accepted {
        jkt: header.jkt.clone(),
        jti: jti.to_owned(),
        nonce: text("nonce").map(str::to_owned),
        remember_until: iat.saturating_add(expected.max_age_secs).saturating_add(FUTURE_LEEWAY_SECS),
    })
}

/// §4.3 item 9: `htu` matches the request's URL "ignoring any query and
/// fragment parts", after syntax- and scheme-based normalization (RFC 3986
/// §6.2.2, §6.2.3: case of scheme and host, default port, dot segments,
/// percent-encoding case), which parsing both as URLs performs.
pub fn htu_matches(htu: &str, expected: &str) -> bool {
    let base = |s: &str| {
        url::Url::parse(s).ok().filter(|u| u.has_host()).map(|mut u| {
            u.set_query(None);
            u.set_fragment(None);
            u
        })
    };
    match (base(htu), base(expected)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The `jkt` of a token's `cnf` claim (§6.1), if it is DPoP-bound.
pub fn bound_jkt(claims: &Map<String, Value>) -> Option<Jkt> {
    claims.get("cnf")?.get("jkt")?.as_str().map(Jkt::new)
}

/// The `cnf` claim binding a token to `jkt` (§6.1).
pub fn cnf(jkt: &Jkt) -> Value {
    serde_json::json!({ "jkt": jkt.as_str() })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const HTU: &str = "https://as.example/oauth/token";

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn ec_jwk() -> Value {
        json!({"kty": "EC", "crv": "P-256",
               "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
               "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"})
    }

    fn proof_with_header(header: Value) -> String {
        format!("{}.{}.sig", b64(&header), b64(&json!({})))
    }

    fn header() -> ProofHeader {
        parse_header(&proof_with_header(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": ec_jwk()}))).unwrap()
    }

    fn expected(now: i64) -> Expected<'static> {
        Expected { htm: "POST", htu: HTU, now, max_age_secs: 60, access_token: None }
    }

    fn claims(iat: i64) -> Map<String, Value> {
        json!({"jti": "j1", "htm": "POST", "htu": HTU, "iat": iat}).as_object().unwrap().clone()
    }

    #[test]
    fn thumbprint_is_rfc7638_section_3_1_example() {
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        let jkt = thumbprint(jwk.as_object().unwrap()).unwrap();
        assert_eq!(jkt.as_str(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn thumbprint_ignores_optional_members_and_needs_the_required_ones() {
        let mut with_extra = ec_jwk();
        with_extra["kid"] = json!("k1");
        with_extra["use"] = json!("sig");
        assert_eq!(
            thumbprint(with_extra.as_object().unwrap()).unwrap(),
            thumbprint(ec_jwk().as_object().unwrap()).unwrap()
        );
        let mut no_y = ec_jwk();
        no_y.as_object_mut().unwrap().remove("y");
        assert_eq!(thumbprint(no_y.as_object().unwrap()).unwrap_err().code, ErrorCode::InvalidDpopProof);
        let oct = json!({"kty": "oct", "k": "c2VjcmV0"});
        assert!(thumbprint(oct.as_object().unwrap()).is_err());
    }

    #[test]
    fn more_than_one_dpop_header_is_invalid() {
        assert_eq!(single_header(&[]).unwrap(), None);
        assert_eq!(single_header(&["a"]).unwrap(), Some("a"));
        assert_eq!(single_header(&["a", "b"]).unwrap_err().code, ErrorCode::InvalidDpopProof);
    }

    #[test]
    fn header_must_be_a_compact_jws_with_typ_dpop_jwt() {
        assert!(parse_header("not-a-jwt").is_err());
        assert!(parse_header("a.b.c.d").is_err());
        assert!(parse_header("!!!.e30.sig").is_err());
        let jwt_typ = proof_with_header(json!({"typ": "JWT", "alg": "ES256", "jwk": ec_jwk()}));
        assert!(parse_header(&jwt_typ).unwrap_err().description.contains("typ"));
        let no_typ = proof_with_header(json!({"alg": "ES256", "jwk": ec_jwk()}));
        assert!(parse_header(&no_typ).is_err());
        assert!(parse_header(&"a".repeat(MAX_PROOF_LEN + 1)).is_err());
    }

    #[test]
    fn alg_must_be_asymmetric_and_advertised() {
        for alg in ["none", "HS256", "ES512", ""] {
            let p = proof_with_header(json!({"typ": "dpop+jwt", "alg": alg, "jwk": ec_jwk()}));
            assert!(parse_header(&p).unwrap_err().description.contains("alg"), "{alg}");
        }
        for alg in ALGORITHMS {
            let p = proof_with_header(json!({"typ": "dpop+jwt", "alg": alg, "jwk": ec_jwk()}));
            assert_eq!(parse_header(&p).unwrap().alg, alg);
        }
    }

    #[test]
    fn jwk_must_be_present_and_public() {
        let none = proof_with_header(json!({"typ": "dpop+jwt", "alg": "ES256"}));
        assert!(parse_header(&none).unwrap_err().description.contains("jwk"));
        let not_object = proof_with_header(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": "k"}));
        assert!(parse_header(&not_object).is_err());
        for member in PRIVATE_MEMBERS {
            let mut jwk = ec_jwk();
            jwk[member] = json!("secret");
            let p = proof_with_header(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}));
            assert!(parse_header(&p).unwrap_err().description.contains("public key"), "{member}");
        }
        assert_eq!(header().jkt, thumbprint(ec_jwk().as_object().unwrap()).unwrap());
    }

    #[test]
    fn a_fresh_proof_for_this_request_is_accepted() {
        let accepted = check_claims(&claims(1000), &header(), &expected(1000)).unwrap();
        assert_eq!(accepted.jti, "j1");
        assert_eq!(accepted.jkt, header().jkt);
        assert_eq!(accepted.nonce, None);
        assert_eq!(accepted.remember_until, 1000 + 60 + FUTURE_LEEWAY_SECS);
        let mut with_nonce = claims(1000);
        with_nonce.insert("nonce".into(), json!("n"));
        assert_eq!(check_claims(&with_nonce, &header(), &expected(1000)).unwrap().nonce.as_deref(), Some("n"));
    }

    #[test]
    fn jti_is_required_and_bounded() {
        let mut c = claims(1000);
        c.remove("jti");
        assert!(check_claims(&c, &header(), &expected(1000)).unwrap_err().description.contains("jti"));
        c.insert("jti".into(), json!(""));
        assert!(check_claims(&c, &header(), &expected(1000)).is_err());
        c.insert("jti".into(), json!("x".repeat(MAX_JTI_LEN + 1)));
        assert!(check_claims(&c, &header(), &expected(1000)).is_err());
    }

    #[test]
    fn htm_must_be_the_request_method() {
        let mut c = claims(1000);
        c.insert("htm".into(), json!("GET"));
        assert!(check_claims(&c, &header(), &expected(1000)).unwrap_err().description.contains("htm"));
        c.insert("htm".into(), json!("post"));
        assert!(check_claims(&c, &header(), &expected(1000)).is_err(), "methods are case-sensitive");
    }

    #[test]
    fn htu_must_be_the_endpoint_url_ignoring_query_and_fragment() {
        let mut c = claims(1000);
        c.insert("htu".into(), json!("https://as.example/oauth/introspect"));
        assert!(check_claims(&c, &header(), &expected(1000)).unwrap_err().description.contains("htu"));
        c.remove("htu");
        assert!(check_claims(&c, &header(), &expected(1000)).is_err());
        assert!(htu_matches("https://as.example/oauth/token?x=1#f", HTU));
        assert!(htu_matches("HTTPS://AS.example:443/oauth/./token", HTU), "normalized per RFC 3986 §6.2.2-3");
        assert!(!htu_matches("http://as.example/oauth/token", HTU), "scheme matters");
        assert!(!htu_matches("https://as.example:8443/oauth/token", HTU), "port matters");
        assert!(!htu_matches("https://other.example/oauth/token", HTU));
        assert!(!htu_matches("/oauth/token", HTU), "relative URLs never match");
        assert!(!htu_matches("https://as.example/oauth/TOKEN", HTU), "path case matters");
    }

    #[test]
    fn iat_must_be_within_the_window() {
        assert!(check_claims(&claims(1000 - 60), &header(), &expected(1000)).is_ok());
        let old = check_claims(&claims(1000 - 61), &header(), &expected(1000)).unwrap_err();
        assert!(old.description.contains("too old"));
        assert!(check_claims(&claims(1000 + FUTURE_LEEWAY_SECS), &header(), &expected(1000)).is_ok());
        let future = check_claims(&claims(1000 + FUTURE_LEEWAY_SECS + 1), &header(), &expected(1000)).unwrap_err();
        assert!(future.description.contains("future"));
        let mut c = claims(1000);
        c.insert("iat".into(), json!("1000"));
        assert!(check_claims(&c, &header(), &expected(1000)).is_err(), "iat is a number");
    }

    #[test]
    fn ath_must_hash_the_presented_token() {
        let token = "eyJ.token.sig";
        let at_resource = Expected { access_token: Some(token), ..expected(1000) };
        let mut c = claims(1000);
        assert!(check_claims(&c, &header(), &at_resource).unwrap_err().description.contains("ath is missing"));
        c.insert("ath".into(), json!(ath("another")));
        assert!(check_claims(&c, &header(), &at_resource).unwrap_err().description.contains("does not match"));
        c.insert("ath".into(), json!(ath(token)));
        assert!(check_claims(&c, &header(), &at_resource).is_ok());
        // RFC 9449 §4.2 example hash length: 43 characters of base64url.
        assert_eq!(ath(token).len(), 43);
    }

    /// §10: `dpop_jkt` has the shape of a SHA-256 thumbprint.
    #[test]
    fn dpop_jkt_must_be_a_sha256_thumbprint() {
        let jkt = thumbprint(ec_jwk().as_object().unwrap()).unwrap();
        assert_eq!(parse_dpop_jkt(jkt.as_str()).unwrap(), jkt);
        assert!(parse_dpop_jkt("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs").is_ok(), "RFC 9449 §10 example");
        for bad in [
            "",
            "short",
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9X",
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs=",
            "NzbLsXh8uDCcd+6MNwXF4W/7noWXFZAfHkxZsRGC9Xs",
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs.",
        ] {
            assert_eq!(parse_dpop_jkt(bad).unwrap_err().code, ErrorCode::InvalidRequest, "{bad}");
        }
    }

    #[test]
    fn cnf_round_trips_through_claims() {
        let jkt = Jkt::new("abc");
        let mut claims = Map::new();
        assert_eq!(bound_jkt(&claims), None);
        claims.insert("cnf".into(), cnf(&jkt));
        assert_eq!(bound_jkt(&claims), Some(jkt));
    }
}
