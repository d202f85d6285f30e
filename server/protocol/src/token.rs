//! JWT access tokens (RFC 9068) and the token response (RFC 6749 §5.1).

use crate::claims::PluginClaims;
use crate::grant::TokenPlan;
use serde::Serialize;
use serde_json::{Map, Value, json};

/// The JOSE `typ` of an access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The claim set of an access token, built from a plan and filtered plugin claims.
///
/// RFC 9068 §2.2 requires iss, exp, aud, sub, client_id, iat and jti; `scope`
/// is included when scopes were granted (§2.2.3).
pub fn access_token_claims(
    issuer: &str,
    plan: &TokenPlan,
    now: i64,
    jti: &str,
    extra: &PluginClaims,
) -> Map<String, Value> {
    let mut claims = Map::new();
    extra.apply_to(&mut claims);
    claims.insert("iss".into(), json!(issuer));
    claims.insert("sub".into(), json!(plan.subject));
    claims.insert("aud".into(), json!(plan.audience.as_str()));
    claims.insert("exp".into(), json!(now + plan.lifetime_secs));
    claims.insert("iat".into(), json!(now));
    claims.insert("nbf".into(), json!(now));
    claims.insert("jti".into(), json!(jti));
    claims.insert("client_id".into(), json!(plan.client_id.as_str()));
    if !plan.scopes.is_empty() {
        claims.insert("scope".into(), json!(plan.scopes.to_string()));
    }
    claims
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Always `Bearer` (RFC 6750).
    pub token_type: &'static str,
    /// Lifetime in seconds.
    pub expires_in: i64,
    /// The granted scope; RFC 6749 §5.1 requires it when it differs from the
    /// request, and we always send it so clients need not guess.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// A refresh token, when one is issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// An ID token, for OpenID Connect requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ApiId, Audience, ClientId};
    use crate::model::SigningAlg;
    use crate::scope::ScopeSet;

    #[test]
    fn claims_follow_rfc9068_and_plugins_cannot_override() {
        let plan = TokenPlan {
            grant_type: "client_credentials",
            subject: "c1".into(),
            client_id: ClientId::new("c1"),
            api_id: ApiId::new("a"),
            audience: Audience::new("https://api"),
            requested_scopes: ScopeSet::parse("read").unwrap(),
            scopes: ScopeSet::parse("read").unwrap(),
            alg: SigningAlg::RS256,
            lifetime_secs: 60,
        };
        let Value::Object(m) = json!({"x": 1}) else { unreachable!() };
        let c = access_token_claims("https://as", &plan, 1000, "j", &PluginClaims::filter(m).unwrap());
        assert_eq!(c["exp"], json!(1060));
        assert_eq!(c["aud"], json!("https://api"));
        assert_eq!(c["scope"], json!("read"));
        assert_eq!(c["x"], json!(1));
        for k in ["iss", "sub", "client_id", "iat", "jti"] {
            assert!(c.contains_key(k), "{k}");
        }
    }
}
