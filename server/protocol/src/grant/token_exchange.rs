//! Token exchange (RFC 8693): a confidential client trades a token Tessera
//! issued about a user (the subject token) for an access token to another
//! API, acting for that user.
//!
//! With an `actor_token` the result is delegation (§1.1): the new token's
//! `act` claim (§4.1) names the actor, and nests the subject token's own
//! `act` so a call chain stays visible (the least recent actor is the most
//! deeply nested). Without one it is impersonation, which a client may do
//! only if its policy says so. What a client may obtain by exchange is its
//! own policy ([`Policy`]): the audiences and scopes, default none.
//!
//! This module decides; the caller verifies the tokens' signatures, loads
//! the user, the API and the policy, and issues.

use super::TokenPlan;
use crate::error::{ErrorCode, OAuthError};
use crate::ids::Audience;
use crate::model::{ApiProfile, ClientProfile, GrantType};
use crate::params::Params;
use crate::scope::ScopeSet;
use crate::secret::PlainSecret;
use crate::token::LEEWAY_SECS;
use serde_json::{Map, Value, json};

/// The token type identifier of an OAuth access token (RFC 8693 §3).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The token type identifier of an OpenID Connect ID token (RFC 8693 §3).
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";

/// The kinds of token Tessera accepts as subject or actor: the ones it
/// issues itself and can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    /// A Tessera access token (RFC 9068 JWT).
    AccessToken,
    /// A Tessera ID token (OIDC Core §2).
    IdToken,
}

impl TokenType {
    /// Parses a token type identifier; any other is `invalid_request`
    /// (§2.2.2: a token "unacceptable based on policy").
    fn parse(param: &str, value: &str) -> Result<TokenType, OAuthError> {
        match value {
            ACCESS_TOKEN_TYPE => Ok(TokenType::AccessToken),
            ID_TOKEN_TYPE => Ok(TokenType::IdToken),
            other => Err(OAuthError::invalid_request(format!("{param} {other} is not supported"))),
        }
    }
}

/// A token presented in the request, with its declared type.
#[derive(Debug)]
pub struct PresentedToken {
    /// The token, redacted in Debug.
    pub token: PlainSecret,
    /// What the client says it is.
    pub token_type: TokenType,
}

/// A parsed token exchange request (§2.1).
#[derive(Debug)]
pub struct Request {
    /// `subject_token` and `subject_token_type` (both REQUIRED).
    pub subject: PresentedToken,
    /// `actor_token` and `actor_token_type`, for delegation.
    pub actor: Option<PresentedToken>,
    /// The API, from `audience` or `resource`.
    pub audience: Audience,
    /// Requested scopes; `None` when omitted.
    pub scope: Option<ScopeSet>,
}

/// Parses the grant's parameters (client authentication is separate).
pub fn parse(params: &Params) -> Result<Request, OAuthError> {
    let subject = PresentedToken {
        token: PlainSecret::received(params.require("subject_token")?),
        token_type: TokenType::parse("subject_token_type", params.require("subject_token_type")?)?,
    };
    // §2.1: actor_token_type "is REQUIRED when the actor_token parameter is
    // present in the request but MUST NOT be included otherwise".
    let actor = match (params.get("actor_token"), params.get("actor_token_type")) {
        (Some(token), Some(t)) => Some(PresentedToken {
            token: PlainSecret::received(token),
            token_type: TokenType::parse("actor_token_type", t)?,
        }),
        (Some(_), None) => return Err(OAuthError::invalid_request("actor_token_type is required with actor_token")),
        (None, Some(_)) => return Err(OAuthError::invalid_request("actor_token_type without actor_token")),
        (None, None) => None,
    };
    // Tessera issues access tokens only; `jwt` would name the same thing
    // less precisely, so only the precise identifier is accepted.
    if let Some(requested) = params.get("requested_token_type")
        && requested != ACCESS_TOKEN_TYPE
    {
        return Err(OAuthError::invalid_request(format!("requested_token_type {requested} is not supported")));
    }
    Ok(Request {
        subject,
        actor,
        audience: super::client_credentials::target(params)?,
        scope: params.get("scope").map(ScopeSet::parse).transpose()?,
    })
}

/// What a client may obtain by exchange, set by an admin. The default
/// allows nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    /// APIs (identifiers) it may obtain tokens for.
    pub audiences: Vec<Audience>,
    /// Scopes it may obtain (also limited by the API and the client's own allowance).
    pub scopes: ScopeSet,
    /// True if it may exchange without an actor token (impersonation).
    pub impersonation: bool,
}

/// Checks that the client may use this grant at all; done before any token
/// is looked at, so a client without the grant learns nothing about them.
/// Only confidential clients: the token is issued on the strength of the
/// client's authentication.
pub fn check_client(client: &ClientProfile) -> Result<(), OAuthError> {
    if !client.allows_grant(GrantType::TokenExchange) {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "token exchange is not enabled for this client"));
    }
    if !client.confidential {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "public clients cannot use token exchange"));
    }
    Ok(())
}

/// The one error for a subject or actor token that is not valid: §2.2.2
/// says "If ... either the subject_token or actor_token are invalid for any
/// reason, or are unacceptable based on policy ... the value of the error
/// parameter MUST be the invalid_request error code". The description does
/// not say why; the detail (logs only) does.
pub fn invalid_token(which: &str, why: &str) -> OAuthError {
    OAuthError::invalid_request(format!("the {which} is invalid, expired or not acceptable"))
        .with_detail(format!("{which}: {why}"))
}

/// The rules an ID token whose signature and issuer were verified must
/// still meet to stand for its user here: a `sub`, and `exp` not passed at
/// `now` (with the protocol's leeway), `iat` not in the future.
pub fn check_id_token(claims: &Map<String, Value>, now: i64) -> Result<(), &'static str> {
    if claims.get("sub").and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err("no sub");
    }
    let Some(exp) = claims.get("exp").and_then(Value::as_i64) else { return Err("no exp") };
    if exp <= now.saturating_sub(LEEWAY_SECS) {
        return Err("expired");
    }
    if claims.get("iat").and_then(Value::as_i64).is_some_and(|iat| iat > now.saturating_add(LEEWAY_SECS)) {
        return Err("issued in the future");
    }
    Ok(())
}

/// A subject token the caller verified: its user, and its claims.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    /// The user the subject token is about (its `sub`, found enabled).
    pub user_id: String,
    /// Its claims (`exp`, and `act` when it was itself delegated).
    pub claims: Map<String, Value>,
}

/// What the grant decided: the plan, and the `act` claim of the new token.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    /// The token to issue; its subject is the subject token's user.
    pub plan: TokenPlan,
    /// The `act` claim (§4.1), if any.
    pub act: Option<Value>,
}

/// Decides the exchange for an authenticated `client` with `policy`, once
/// the caller verified the subject token and the actor token, if any (its
/// claims: `actor`). `api` is the API the requested audience names, if one
/// does.
///
/// The new token never outlives the subject token: its lifetime is the
/// API's, cut to what is left of the subject's at `now`, so exchanging
/// again and again cannot keep a user's access alive without the user.
pub fn decide(
    req: &Request,
    client: &ClientProfile,
    policy: &Policy,
    api: Option<&ApiProfile>,
    subject: &Subject,
    actor: Option<&Map<String, Value>>,
    now: i64,
) -> Result<Exchange, OAuthError> {
    check_client(client)?;
    if actor.is_none() && !policy.impersonation {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not impersonate: send an actor_token",
        ));
    }
    // §2.2.2: "If the authorization server is unwilling or unable to issue
    // a token for any target service ... invalid_target SHOULD be used".
    if !policy.audiences.contains(&req.audience) {
        return Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            format!("client may not obtain audience {} by exchange", req.audience),
        ));
    }
    let mut limited = client.clone();
    limited.allowed_scopes = Some(match &client.allowed_scopes {
        Some(allowed) => allowed.intersection(&policy.scopes),
        None => policy.scopes.clone(),
    });
    let mut plan = super::plan_for_api(
        GrantType::TokenExchange,
        subject.user_id.clone(),
        req.scope.as_ref(),
        &req.audience,
        &limited,
        api,
    )?;
    let left = subject.claims.get("exp").and_then(Value::as_i64).map_or(0, |exp| exp.saturating_sub(now));
    if left <= 0 {
        return Err(invalid_token("subject_token", "no lifetime left"));
    }
    plan.lifetime_secs = plan.lifetime_secs.min(left);
    // §4.1: the outermost `act` is the current actor, nested ones are prior
    // actors. The subject token's own `act` is the chain so far: it is kept
    // under the new actor, and kept as it was when nobody new acts.
    let prior = subject.claims.get("act").cloned();
    let act = match actor {
        Some(a) => {
            let sub = a.get("sub").and_then(Value::as_str).filter(|s| !s.is_empty());
            let sub = sub.ok_or_else(|| invalid_token("actor_token", "no sub"))?;
            let mut act = Map::new();
            act.insert("sub".into(), json!(sub));
            if let Some(p) = prior {
                act.insert("act".into(), p);
            }
            Some(Value::Object(act))
        }
        None => prior,
    };
    Ok(Exchange { plan, act })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ids::{ApiId, ClientId};
    use crate::model::SigningAlg;

    fn client() -> ClientProfile {
        ClientProfile {
            id: ClientId::new("svc"),
            name: "svc".into(),
            confidential: true,
            grant_types: vec![GrantType::TokenExchange],
            allowed_scopes: None,
            allowed_audiences: None,
        }
    }

    fn api() -> ApiProfile {
        ApiProfile {
            id: ApiId::new("a1"),
            audience: Audience::new("https://b.example"),
            alg: SigningAlg::RS256,
            token_lifetime_secs: 300,
            scopes: ScopeSet::parse("read write admin").unwrap(),
        }
    }

    fn policy(impersonation: bool) -> Policy {
        Policy {
            audiences: vec![Audience::new("https://b.example")],
            scopes: ScopeSet::parse("read write").unwrap(),
            impersonation,
        }
    }

    fn params<'a>(extra: &[(&'a str, &'a str)]) -> Params {
        let mut pairs = vec![
            ("subject_token", "s.t.x"),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("audience", "https://b.example"),
        ];
        pairs.extend_from_slice(extra);
        Params::from_pairs(pairs)
    }

    const NOW: i64 = 10_000;

    /// Alice's subject token, valid for ten more minutes.
    fn alice() -> Subject {
        Subject { user_id: "u1".into(), claims: obj(json!({"sub": "u1", "exp": NOW + 600})) }
    }

    fn obj(v: Value) -> Map<String, Value> {
        let Value::Object(m) = v else { unreachable!() };
        m
    }

    #[test]
    fn parse_requires_the_subject_token_and_a_known_type() {
        let r = parse(&params(&[])).unwrap();
        assert_eq!(r.subject.token_type, TokenType::AccessToken);
        assert!(r.actor.is_none() && r.scope.is_none());
        assert_eq!(r.audience.as_str(), "https://b.example");
        let p = Params::from_pairs([("subject_token_type", ACCESS_TOKEN_TYPE), ("audience", "https://b")]);
        assert_eq!(parse(&p).unwrap_err().code, ErrorCode::InvalidRequest);
        let p =
            Params::from_pairs([("subject_token", "t"), ("subject_token_type", "urn:x"), ("audience", "https://b")]);
        assert_eq!(parse(&p).unwrap_err().code, ErrorCode::InvalidRequest);
        let p = Params::from_pairs([("subject_token", "t"), ("subject_token_type", ID_TOKEN_TYPE)]);
        assert_eq!(parse(&p).unwrap_err().code, ErrorCode::InvalidRequest, "no audience");
    }

    #[test]
    fn actor_token_and_its_type_come_together() {
        let r = parse(&params(&[("actor_token", "a.b.c"), ("actor_token_type", ID_TOKEN_TYPE)])).unwrap();
        assert_eq!(r.actor.unwrap().token_type, TokenType::IdToken);
        assert_eq!(parse(&params(&[("actor_token", "a.b.c")])).unwrap_err().code, ErrorCode::InvalidRequest);
        assert_eq!(
            parse(&params(&[("actor_token_type", ACCESS_TOKEN_TYPE)])).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn only_access_tokens_can_be_requested() {
        assert!(parse(&params(&[("requested_token_type", ACCESS_TOKEN_TYPE)])).is_ok());
        let e = parse(&params(&[("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token")]));
        assert_eq!(e.unwrap_err().code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn client_needs_the_grant_and_must_be_confidential() {
        let req = parse(&params(&[])).unwrap();
        let mut c = client();
        c.grant_types = vec![GrantType::ClientCredentials];
        let e = decide(&req, &c, &policy(true), Some(&api()), &alice(), None, NOW).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnauthorizedClient);
        let mut c = client();
        c.confidential = false;
        let e = decide(&req, &c, &policy(true), Some(&api()), &alice(), None, NOW).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnauthorizedClient);
    }

    #[test]
    fn impersonation_needs_the_policy_and_has_no_act() {
        let req = parse(&params(&[])).unwrap();
        let e = decide(&req, &client(), &policy(false), Some(&api()), &alice(), None, NOW).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnauthorizedClient);
        let x = decide(&req, &client(), &policy(true), Some(&api()), &alice(), None, NOW).unwrap();
        assert_eq!(x.plan.subject, "u1");
        assert_eq!(x.plan.grant_type, GrantType::TokenExchange);
        assert_eq!(x.plan.scopes.to_string(), "read write", "the policy's scopes, not the API's admin");
        assert_eq!(x.act, None);
    }

    #[test]
    fn the_default_policy_allows_nothing() {
        let req = parse(&params(&[])).unwrap();
        let actor = obj(json!({"sub": "svc"}));
        let e = decide(&req, &client(), &Policy::default(), Some(&api()), &alice(), Some(&actor), NOW);
        assert_eq!(e.unwrap_err().code, ErrorCode::InvalidTarget);
    }

    #[test]
    fn audience_or_scope_outside_policy_is_refused() {
        let actor = obj(json!({"sub": "svc"}));
        let other =
            [("subject_token", "t"), ("subject_token_type", ACCESS_TOKEN_TYPE), ("audience", "https://c.example")];
        let req = parse(&Params::from_pairs(other)).unwrap();
        let e = decide(&req, &client(), &policy(false), Some(&api()), &alice(), Some(&actor), NOW);
        assert_eq!(e.unwrap_err().code, ErrorCode::InvalidTarget);
        let req = parse(&params(&[("scope", "admin")])).unwrap();
        let e = decide(&req, &client(), &policy(false), Some(&api()), &alice(), Some(&actor), NOW);
        assert_eq!(e.unwrap_err().code, ErrorCode::InvalidScope);
        let mut c = client();
        c.allowed_scopes = Some(ScopeSet::parse("read").unwrap());
        let req = parse(&params(&[])).unwrap();
        let x = decide(&req, &c, &policy(false), Some(&api()), &alice(), Some(&actor), NOW).unwrap();
        assert_eq!(x.plan.scopes.to_string(), "read", "the client's own allowance still applies");
        let e = decide(&req, &client(), &policy(false), None, &alice(), Some(&actor), NOW);
        assert_eq!(e.unwrap_err().code, ErrorCode::InvalidTarget, "an audience no API has");
    }

    #[test]
    fn delegation_names_the_actor_and_nests_the_chain_so_far() {
        let req = parse(&params(&[("actor_token", "a"), ("actor_token_type", ACCESS_TOKEN_TYPE)])).unwrap();
        let actor = obj(json!({"sub": "svc-b", "act": {"sub": "ignored"}}));
        let x = decide(&req, &client(), &policy(false), Some(&api()), &alice(), Some(&actor), NOW).unwrap();
        assert_eq!(x.act, Some(json!({"sub": "svc-b"})));
        let subject = Subject {
            user_id: "u1".into(),
            claims: obj(json!({"sub": "u1", "exp": NOW + 600, "act": {"sub": "svc-a", "act": {"sub": "web"}}})),
        };
        let x = decide(&req, &client(), &policy(false), Some(&api()), &subject, Some(&actor), NOW).unwrap();
        assert_eq!(x.act, Some(json!({"sub": "svc-b", "act": {"sub": "svc-a", "act": {"sub": "web"}}})));
        let x = decide(&req, &client(), &policy(true), Some(&api()), &subject, None, NOW).unwrap();
        assert_eq!(x.act, Some(json!({"sub": "svc-a", "act": {"sub": "web"}})), "impersonation keeps the chain");
        let e = decide(&req, &client(), &policy(false), Some(&api()), &subject, Some(&Map::new()), NOW);
        assert_eq!(e.unwrap_err().code, ErrorCode::InvalidRequest, "an actor without sub");
    }

    #[test]
    fn the_new_token_never_outlives_the_subject_token() {
        let req = parse(&params(&[])).unwrap();
        let x = decide(&req, &client(), &policy(true), Some(&api()), &alice(), None, NOW).unwrap();
        assert_eq!(x.plan.lifetime_secs, 300, "the API's lifetime when the subject has longer");
        let x = decide(&req, &client(), &policy(true), Some(&api()), &alice(), None, NOW + 500).unwrap();
        assert_eq!(x.plan.lifetime_secs, 100, "what is left of the subject's");
        let e = decide(&req, &client(), &policy(true), Some(&api()), &alice(), None, NOW + 600).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest, "nothing left");
    }

    #[test]
    fn an_id_token_must_name_its_user_and_not_have_expired() {
        let ok = obj(json!({"sub": "u1", "iat": 1000, "exp": 1300}));
        assert_eq!(check_id_token(&ok, 1100), Ok(()));
        assert_eq!(check_id_token(&ok, 1300 + LEEWAY_SECS), Err("expired"));
        assert!(check_id_token(&obj(json!({"iat": 1000, "exp": 1300})), 1100).is_err());
        assert!(check_id_token(&obj(json!({"sub": "u1", "iat": 1000})), 1100).is_err());
        assert!(check_id_token(&obj(json!({"sub": "u1", "iat": 5000, "exp": 5300})), 1100).is_err());
        assert_eq!(invalid_token("subject_token", "expired").code, ErrorCode::InvalidRequest);
    }
}
