//! JWT-Secured Authorization Requests (RFC 9101; OpenID Connect Core §6.1):
//! the client signs its authorization request as a JWT and sends it as the
//! `request` parameter, to the authorization endpoint or pushed (RFC 9126),
//! so nobody on the way can read or change what it asks for.
//!
//! Once the signature is verified with one of the client's registered keys
//! (in the server: the same keys, inline or by `jwks_uri`, as its
//! `private_key_jwt` assertions), [`parameters`] checks the claims and
//! returns the authorization request they make. RFC 9101 §6.3: only the
//! request object's parameters count; those beside it in the query are
//! ignored (`client_id` apart, which must agree). The result goes through
//! the authorization endpoint's validation like any request.

use crate::client_assertion::audience_and_timing;
use crate::error::{ErrorCode, OAuthError};
use crate::params::Params;
use serde_json::{Map, Value};

/// The signature algorithms a request object may use: asymmetric only, as
/// for client assertions (discovery's
/// `request_object_signing_alg_values_supported`).
pub const ALGORITHMS: [&str; 7] = crate::client_assertion::ALGORITHMS;

/// Claims that describe the JWT itself, not the authorization request.
const JWT_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "nbf", "iat", "jti"];

/// RFC 9101 §6.2 `invalid_request_object`, with `why` for the log.
pub fn invalid(why: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequestObject, "the request object is invalid")
        .with_detail(format!("request object: {why}"))
}

/// RFC 9101 §10.5: the client is registered with
/// `require_signed_request_object`, and this request was not signed.
pub fn required() -> OAuthError {
    OAuthError::invalid_request("this client must sign its authorization requests (RFC 9101 request objects)")
}

/// The authorization request a verified request object makes, for
/// `client_id` (the query's) at `now`: `iss` is the client, `aud` names this
/// server (`issuer`), `exp` is in the future (at most an hour), `nbf` and
/// `iat` are not; a `client_id` claim agrees with the query's; it carries no
/// `request` or `request_uri` of its own. String claims become parameters
/// as they are, numbers (`max_age`) in decimal; anything else is refused.
pub fn parameters(claims: &Map<String, Value>, client_id: &str, issuer: &str, now: i64) -> Result<Params, OAuthError> {
    if claims.get("iss").and_then(Value::as_str) != Some(client_id) {
        return Err(invalid("iss must be the client_id"));
    }
    audience_and_timing(claims, &[issuer.to_owned()], now).map_err(invalid)?;
    match claims.get("client_id") {
        None => {}
        Some(Value::String(id)) if id == client_id => {}
        Some(_) => return Err(invalid("client_id differs from the query's")),
    }
    if claims.contains_key("request") || claims.contains_key("request_uri") {
        return Err(invalid("a request object cannot hold request or request_uri"));
    }
    let mut params = Params::from_pairs([("client_id", client_id)]);
    for (name, value) in claims.iter().filter(|(n, _)| !JWT_CLAIMS.contains(&n.as_str()) && *n != "client_id") {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(invalid(&format!("{name} must be a string or a number"))),
        };
        params.insert(name, &text);
    }
    Ok(params)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_000_000;
    const ISSUER: &str = "https://id.example";

    fn claims(extra: Value) -> Map<String, Value> {
        let mut c = json!({"iss": "c1", "aud": ISSUER, "exp": NOW + 60, "response_type": "code",
            "redirect_uri": "https://app.example/cb", "scope": "openid", "max_age": 300});
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        c.as_object().unwrap().clone()
    }

    #[test]
    fn the_claims_are_the_request_and_the_jwt_claims_are_not() {
        let p = parameters(&claims(json!({"client_id": "c1", "iat": NOW})), "c1", ISSUER, NOW).unwrap();
        assert_eq!(p.get("client_id"), Some("c1"));
        assert_eq!(p.get("response_type"), Some("code"));
        assert_eq!(p.get("max_age"), Some("300"), "numbers in decimal");
        for jwt in JWT_CLAIMS {
            assert_eq!(p.get(jwt), None, "{jwt}");
        }
    }

    #[test]
    fn each_rule_refuses_with_invalid_request_object() {
        for (what, c, client) in [
            ("another iss", claims(json!({"iss": "c2"})), "c1"),
            ("another aud", claims(json!({"aud": "https://other.example"})), "c1"),
            ("expired", claims(json!({"exp": NOW - 120})), "c1"),
            ("too long", claims(json!({"exp": NOW + 7200})), "c1"),
            (
                "no exp",
                {
                    let mut c = claims(json!({}));
                    c.remove("exp");
                    c
                },
                "c1",
            ),
            ("not yet", claims(json!({"nbf": NOW + 600})), "c1"),
            ("client_id differs", claims(json!({"client_id": "c2"})), "c1"),
            ("nested request", claims(json!({"request": "e30.e30."})), "c1"),
            ("nested request_uri", claims(json!({"request_uri": "urn:x"})), "c1"),
            ("an object", claims(json!({"claims": {"id_token": {}}})), "c1"),
            ("for another client", claims(json!({})), "c2"),
        ] {
            let e = parameters(&c, client, ISSUER, NOW).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidRequestObject, "{what}");
        }
    }
}
