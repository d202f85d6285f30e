//! The JWT bearer grant (RFC 7523 §2.1): a client trades a JWT that an
//! issuer it trusts signed about a user for an access token for that user.
//!
//! Which issuers a client trusts is configured per client
//! ([`TrustedIssuer`]): the issuer's `iss` value, its public keys (inline
//! or a `jwks_uri`) and how its `sub` names a Tessera user. The assertion's
//! signature is verified by the caller with the issuer's keys; [`check`]
//! applies RFC 7523 §3 to the claims. Every refusal of the assertion is
//! `invalid_grant` (§3.1).

use super::TokenPlan;
use crate::client_assertion::{Accepted, timing_and_id};
use crate::error::{ErrorCode, OAuthError};
use crate::ids::{Audience, UserId};
use crate::model::{ApiProfile, ClientProfile, GrantType};
use crate::params::Params;
use crate::scope::ScopeSet;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// How a trusted issuer's `sub` names a Tessera user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectMapping {
    /// `sub` is the Tessera user id (as `tessera user show` prints it).
    UserId,
    /// `sub` is the user's login name (`username`).
    Username,
}

/// An issuer whose assertions a client may trade for tokens. Exactly one
/// of `jwks` and `jwks_uri` holds its public keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuer {
    /// The `iss` value its assertions carry, compared exactly.
    pub issuer: String,
    /// Its public keys, a JWK Set object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    /// Where its public keys are published (HTTPS; plain HTTP for loopback
    /// hosts only, see `client_assertion::check_jwks_uri`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// How its `sub` names a user.
    pub subject: SubjectMapping,
}

/// A parsed JWT bearer request.
#[derive(Debug)]
pub struct Request {
    /// The signed JWT (`assertion`).
    pub assertion: String,
    /// Requested scopes; `None` when omitted.
    pub scope: Option<ScopeSet>,
    /// The API.
    pub audience: Audience,
}

/// RFC 7523 §2.1: `assertion` carries exactly one JWT; `scope` and the
/// API (`audience` or `resource`) as for the other grants.
pub fn parse(params: &Params) -> Result<Request, OAuthError> {
    Ok(Request {
        assertion: params.require("assertion")?.to_owned(),
        scope: params.get("scope").map(ScopeSet::parse).transpose()?,
        audience: super::client_credentials::target(params)?,
    })
}

/// Checks that the client may use this grant at all, before the assertion
/// is looked at.
pub fn check_client(client: &ClientProfile) -> Result<(), OAuthError> {
    if client.allows_grant(GrantType::JwtBearer) {
        Ok(())
    } else {
        Err(OAuthError::new(ErrorCode::UnauthorizedClient, "the jwt-bearer grant is not enabled for this client"))
    }
}

/// The one error for a refused assertion (RFC 7523 §3.1); `why` goes to
/// the log only.
pub fn invalid_assertion(why: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, "the assertion is invalid").with_detail(format!("jwt-bearer: {why}"))
}

/// What the grant needs of an accepted assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asserted {
    /// The `sub`, to be mapped to a user by the issuer's [`SubjectMapping`].
    pub subject: String,
    /// The id and expiry for the single-use check.
    pub id: Accepted,
}

/// RFC 7523 §3 on the verified `claims` of an assertion from `issuer`:
/// `iss` is the issuer, `sub` is present, `aud` names this server (one of
/// `audiences`: the issuer and the token endpoint), `exp`, `nbf`, `iat` and
/// `jti` as for client assertions.
pub fn check(
    claims: &Map<String, Value>,
    issuer: &TrustedIssuer,
    audiences: &[String],
    now: i64,
) -> Result<Asserted, OAuthError> {
    if claims.get("iss").and_then(Value::as_str) != Some(issuer.issuer.as_str()) {
        return Err(invalid_assertion("iss is not the trusted issuer"));
    }
    let subject = match claims.get("sub").and_then(Value::as_str) {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => return Err(invalid_assertion("no sub")),
    };
    let id = timing_and_id(claims, audiences, now).map_err(invalid_assertion)?;
    Ok(Asserted { subject, id })
}

/// The key under which an accepted assertion's `jti` is remembered: unique
/// per issuer (RFC 7523 §3 item 7), and apart from the client's own
/// assertions' ids.
pub fn replay_key(issuer: &str, jti: &str) -> String {
    format!("jwt-bearer|{issuer}|{jti}")
}

/// The token for the mapped `user`, for the requested API and scopes.
pub fn decide(
    req: &Request,
    client: &ClientProfile,
    api: Option<&ApiProfile>,
    user: &UserId,
) -> Result<TokenPlan, OAuthError> {
    check_client(client)?;
    super::plan_for_api(GrantType::JwtBearer, user.to_string(), req.scope.as_ref(), &req.audience, client, api)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::token::LEEWAY_SECS;
    use serde_json::json;

    const NOW: i64 = 1_000_000;

    fn issuer() -> TrustedIssuer {
        TrustedIssuer {
            issuer: "https://idp.example".into(),
            jwks: Some(json!({"keys": []})),
            jwks_uri: None,
            subject: SubjectMapping::Username,
        }
    }

    fn claims(extra: Value) -> Map<String, Value> {
        let mut c = json!({"iss": "https://idp.example", "sub": "alice", "aud": "https://id.example",
            "exp": NOW + 60, "iat": NOW, "jti": "a1"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c.as_object().unwrap().clone()
    }

    fn run(c: Map<String, Value>) -> Result<Asserted, OAuthError> {
        check(&c, &issuer(), &["https://id.example".to_owned(), "https://id.example/oauth/token".to_owned()], NOW)
    }

    #[test]
    fn a_good_assertion_names_its_subject_and_id() {
        let a = run(claims(json!({}))).unwrap();
        assert_eq!(a.subject, "alice");
        assert_eq!(a.id, Accepted { jti: "a1".into(), exp: NOW + 60 });
    }

    /// RFC 7523 §3 and §3.1: every rule refuses with invalid_grant.
    #[test]
    fn each_rule_refuses_with_invalid_grant() {
        for bad in [
            json!({"iss": "https://other.example"}),
            json!({"sub": ""}),
            json!({"sub": 5}),
            json!({"aud": "https://elsewhere.example"}),
            json!({"exp": NOW - LEEWAY_SECS}),
            json!({"exp": NOW + crate::client_assertion::MAX_LIFETIME_SECS + 1}),
            json!({"iat": NOW + LEEWAY_SECS + 1}),
            json!({"nbf": NOW + LEEWAY_SECS + 1}),
            json!({"jti": ""}),
        ] {
            let e = run(claims(bad.clone())).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidGrant, "{bad}");
        }
    }

    #[test]
    fn trusted_issuers_are_read_with_their_subject_mapping_and_nothing_else() {
        let t: TrustedIssuer = serde_json::from_value(
            json!({"issuer": "https://idp.example", "jwks_uri": "https://idp.example/jwks", "subject": "user_id"}),
        )
        .unwrap();
        assert_eq!((t.subject, t.jwks.is_none()), (SubjectMapping::UserId, true));
        let unknown = json!({"issuer": "i", "subject": "username", "keys": []});
        assert!(serde_json::from_value::<TrustedIssuer>(unknown).is_err());
        assert!(serde_json::from_value::<TrustedIssuer>(json!({"issuer": "i", "subject": "email"})).is_err());
    }

    #[test]
    fn replay_keys_are_per_issuer() {
        assert_ne!(replay_key("a", "1"), replay_key("b", "1"));
    }
}
