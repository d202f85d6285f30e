//! JWT access tokens (RFC 9068) and the token response (RFC 6749 §5.1).

use crate::claims::PluginClaims;
use crate::grant::TokenPlan;
use crate::model::{ApiProfile, SigningAlg};
use crate::scope::ScopeSet;
use serde::Serialize;
use serde_json::{Map, Value, json};

/// The JOSE `typ` of an access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The claim set of an access token, built once from a plan, before the
/// plugins run (they see it); [`apply_plugin_output`] then finishes it.
///
/// RFC 9068 §2.2 requires iss, exp, aud, sub, client_id, iat and jti; `scope`
/// is included when scopes were granted (§2.2.3).
pub fn access_token_claims(issuer: &str, plan: &TokenPlan, now: i64, jti: &str) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(issuer));
    claims.insert("sub".into(), json!(plan.subject));
    claims.insert("aud".into(), json!(plan.audience.as_str()));
    claims.insert("exp".into(), json!(now + plan.lifetime_secs));
    claims.insert("iat".into(), json!(now));
    claims.insert("nbf".into(), json!(now));
    claims.insert("jti".into(), json!(jti));
    claims.insert("client_id".into(), json!(plan.client_id.as_str()));
    set_scope(&mut claims, &plan.scopes);
    claims
}

/// Applies what the plugin pipeline decided to claims built by
/// [`access_token_claims`]: its filtered claims (never a reserved name, so
/// nothing computed above is replaced) and the scopes left after its drops.
pub fn apply_plugin_output(claims: &mut Map<String, Value>, scopes: &ScopeSet, extra: &PluginClaims) {
    extra.apply_to(claims);
    set_scope(claims, scopes);
}

fn set_scope(claims: &mut Map<String, Value>, scopes: &ScopeSet) {
    if scopes.is_empty() {
        claims.remove("scope");
    } else {
        claims.insert("scope".into(), json!(scopes.to_string()));
    }
}

/// Clock skew tolerated on `iat`, `nbf` and `exp` of our own tokens, in seconds.
pub const LEEWAY_SECS: i64 = 30;

/// Why a JWT whose signature verified with one of our keys is still not one
/// of our access tokens. Only logged: the caller answers "inactive" or
/// `invalid_token` whatever the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotOurs {
    /// `iss` is not this issuer.
    #[error("iss is not this issuer")]
    Issuer,
    /// `aud` is missing, not a single string, or names no API.
    #[error("aud names no API")]
    Audience,
    /// The verifying key may not sign for the API `aud` names: it is a
    /// shared secret, or the API verifies with one (HS256).
    #[error("the key is not entitled to this audience")]
    KeyNotEntitled,
    /// `exp`, `iat`, `sub`, `client_id` or `jti` is missing or malformed.
    #[error("a required claim is missing or malformed")]
    MissingClaim,
    /// `exp - iat` exceeds the API's token lifetime (or is negative).
    #[error("lifetime longer than the API's")]
    Lifetime,
    /// `iat` or `nbf` is in the future, or `exp` has passed.
    #[error("not valid at this time")]
    Time,
}

/// Issue #11 item 1 (docs/security-checklist.md J-7, J-10, O-39): the rules a JWT must meet,
/// beyond its signature, for Tessera to accept it as one of its own access
/// tokens (RFC 9068 §4), at introspection, userinfo and revocation alike.
///
/// `key_alg` is the algorithm of the key that verified the signature; `api`
/// is the API whose identifier equals the token's `aud` (the caller looks it
/// up; `None` if there is none). The token must carry this issuer's `iss`; a
/// single-string `aud` naming an API the key is entitled to; `sub`,
/// `client_id` and `jti`; and `iat` and `exp` with `exp - iat` no longer
/// than the API's lifetime and `iat` not in the future, so no key can
/// stretch a token past its API's rules.
///
/// Entitlement: Tessera's own asymmetric keys (held by no one else) may sign
/// for any API that is not HS256; an admin may switch an API between RS256,
/// ES256 and EdDSA, and tokens already issued stay valid. HS256 never
/// qualifies, whatever the audience: an HS256 API shares its secret, so its
/// holder can sign any token, and Tessera cannot tell one it issued from a
/// forgery. Those tokens are for the API to verify with the secret itself;
/// Tessera does not vouch for them.
pub fn check_access_token(
    claims: &Map<String, Value>,
    issuer: &str,
    key_alg: SigningAlg,
    api: Option<&ApiProfile>,
    now: i64,
) -> Result<(), NotOurs> {
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(NotOurs::Issuer);
    }
    let aud = claims.get("aud").and_then(Value::as_str).ok_or(NotOurs::Audience)?;
    let api = api.filter(|a| a.audience.as_str() == aud).ok_or(NotOurs::Audience)?;
    if key_alg == SigningAlg::HS256 || api.alg == SigningAlg::HS256 {
        return Err(NotOurs::KeyNotEntitled);
    }
    for name in ["sub", "client_id", "jti"] {
        if claims.get(name).and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(NotOurs::MissingClaim);
        }
    }
    let int = |name: &str| claims.get(name).and_then(Value::as_i64);
    let (Some(iat), Some(exp)) = (int("iat"), int("exp")) else { return Err(NotOurs::MissingClaim) };
    if claims.contains_key("nbf") && int("nbf").is_none() {
        return Err(NotOurs::MissingClaim);
    }
    if exp < iat || exp.saturating_sub(iat) > api.token_lifetime_secs {
        return Err(NotOurs::Lifetime);
    }
    let not_before = int("nbf").unwrap_or(iat).max(iat);
    if not_before > now.saturating_add(LEEWAY_SECS) || exp <= now.saturating_sub(LEEWAY_SECS) {
        return Err(NotOurs::Time);
    }
    Ok(())
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
    /// The type of the issued token, REQUIRED in a token exchange response
    /// (RFC 8693 §2.2.1) and absent from the others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ApiId, Audience, ClientId};
    use crate::model::{GrantType, SigningAlg};
    use crate::scope::ScopeSet;

    #[test]
    fn claims_follow_rfc9068_and_plugins_cannot_override() {
        let plan = TokenPlan {
            grant_type: GrantType::ClientCredentials,
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
        let mut c = access_token_claims("https://as", &plan, 1000, "j");
        apply_plugin_output(&mut c, &plan.scopes, &PluginClaims::filter(m).unwrap());
        assert_eq!(c["exp"], json!(1060));
        assert_eq!(c["aud"], json!("https://api"));
        assert_eq!(c["scope"], json!("read"));
        assert_eq!(c["x"], json!(1));
        for k in ["iss", "sub", "client_id", "iat", "jti"] {
            assert!(c.contains_key(k), "{k}");
        }
    }

    fn api(alg: SigningAlg) -> ApiProfile {
        ApiProfile {
            id: ApiId::new("b"),
            audience: Audience::new("https://b"),
            alg,
            token_lifetime_secs: 300,
            scopes: ScopeSet::parse("read").unwrap(),
        }
    }

    fn good() -> Map<String, Value> {
        let Value::Object(m) = json!({
            "iss": "https://as", "aud": "https://b", "sub": "u1", "client_id": "c1", "jti": "j",
            "iat": 1000, "nbf": 1000, "exp": 1300,
        }) else {
            unreachable!()
        };
        m
    }

    /// docs/security-checklist.md J-9: `nbf` is checked on its own (with
    /// `iat` in the past), within [`LEEWAY_SECS`] of clock skew, and a
    /// malformed one is refused rather than ignored.
    #[test]
    fn nbf_alone_is_checked_with_the_leeway() {
        let rs = api(SigningAlg::RS256);
        let nbf = |v: Value| {
            let mut c = good();
            c.insert("nbf".into(), v);
            check_access_token(&c, "https://as", SigningAlg::RS256, Some(&rs), 1100)
        };
        assert_eq!(nbf(json!(1100 + LEEWAY_SECS + 1)), Err(NotOurs::Time), "not yet valid, iat in the past");
        assert_eq!(nbf(json!(1100 + LEEWAY_SECS)), Ok(()), "within the clock-skew leeway");
        assert_eq!(nbf(json!(900)), Ok(()), "an nbf before iat changes nothing");
        assert_eq!(nbf(json!("1000")), Err(NotOurs::MissingClaim), "a string nbf is malformed");
        let mut expired = good();
        expired.insert("exp".into(), json!(1100 - LEEWAY_SECS));
        assert_eq!(
            check_access_token(&expired, "https://as", SigningAlg::RS256, Some(&rs), 1100),
            Err(NotOurs::Time),
            "exp at the leeway's edge has passed"
        );
        expired.insert("exp".into(), json!(1100 - LEEWAY_SECS + 1));
        assert_eq!(check_access_token(&expired, "https://as", SigningAlg::RS256, Some(&rs), 1100), Ok(()));
    }

    /// Issue #11 item 1 (docs/security-checklist.md J-8, J-10, J-11, J-13, O-39): a
    /// signature is not enough; issuer, audience, the key's entitlement, the
    /// required claims and the API's lifetime must all hold.
    #[test]
    fn a_verified_signature_still_needs_our_issuer_audience_entitled_key_and_lifetime() {
        let rs = api(SigningAlg::RS256);
        assert_eq!(check_access_token(&good(), "https://as", SigningAlg::RS256, Some(&rs), 1100), Ok(()));
        let with = |k: &str, v: Value| {
            let mut c = good();
            c.insert(k.into(), v);
            check_access_token(&c, "https://as", SigningAlg::RS256, Some(&rs), 1100)
        };
        assert_eq!(with("iss", json!("https://evil")), Err(NotOurs::Issuer));
        assert_eq!(with("aud", json!("https://a")), Err(NotOurs::Audience), "aud must be the API looked up");
        assert_eq!(with("aud", json!(["https://b"])), Err(NotOurs::Audience), "a single string");
        assert_eq!(with("exp", json!(1000 + 365 * 86_400)), Err(NotOurs::Lifetime), "one-year token");
        assert_eq!(with("iat", json!(5000)), Err(NotOurs::Lifetime), "exp before iat is no escape either");
        let mut future = good();
        future.insert("iat".into(), json!(90_000));
        future.insert("nbf".into(), json!(90_000));
        future.insert("exp".into(), json!(90_100));
        assert_eq!(
            check_access_token(&future, "https://as", SigningAlg::RS256, Some(&rs), 1100),
            Err(NotOurs::Time),
            "iat in the future would stretch the lifetime"
        );
        for k in ["sub", "client_id", "jti", "iat", "exp"] {
            let mut c = good();
            c.remove(k);
            assert_eq!(
                check_access_token(&c, "https://as", SigningAlg::RS256, Some(&rs), 1100),
                Err(NotOurs::MissingClaim),
                "{k}"
            );
        }
        assert_eq!(check_access_token(&good(), "https://as", SigningAlg::RS256, None, 1100), Err(NotOurs::Audience));
        assert_eq!(
            check_access_token(&good(), "https://as", SigningAlg::ES256, Some(&rs), 1100),
            Ok(()),
            "our keys sign for any asymmetric API (its algorithm may have changed since)"
        );
        let hs = api(SigningAlg::HS256);
        for key in [SigningAlg::HS256, SigningAlg::RS256] {
            assert_eq!(
                check_access_token(&good(), "https://as", key, Some(&hs), 1100),
                Err(NotOurs::KeyNotEntitled),
                "{key}: an HS256 API's tokens are never vouched for here"
            );
        }
        assert_eq!(
            check_access_token(&good(), "https://as", SigningAlg::HS256, Some(&rs), 1100),
            Err(NotOurs::KeyNotEntitled),
            "a shared secret never signs for another API"
        );
        assert_eq!(check_access_token(&good(), "https://as", SigningAlg::RS256, Some(&rs), 1400), Err(NotOurs::Time));
    }
}
