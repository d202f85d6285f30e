//! The client credentials grant (RFC 6749 §4.4) with an audience.
//!
//! The target API comes from `audience` (the Auth0-style parameter many
//! libraries send) or `resource` (RFC 8707 §2); the scopes must be defined by
//! that API and allowed to the client. Only confidential clients may use this
//! grant (RFC 6749 §4.4: "MUST only be used by confidential clients").

use super::TokenPlan;
use crate::error::{ErrorCode, OAuthError};
use crate::ids::Audience;
use crate::model::{ApiProfile, ClientProfile, GrantType};
use crate::params::Params;
use crate::scope::ScopeSet;

/// A parsed client credentials request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The requested scopes; `None` when the parameter was omitted.
    pub scope: Option<ScopeSet>,
    /// The requested API.
    pub audience: Audience,
}

/// Parses the grant's parameters (client authentication is separate).
pub fn parse(params: &Params) -> Result<Request, OAuthError> {
    let scope = params.get("scope").map(ScopeSet::parse).transpose()?;
    let audience = target(params)?;
    Ok(Request { scope, audience })
}

/// The requested API from `audience` or `resource`. Both may be sent if they agree.
pub fn target(params: &Params) -> Result<Audience, OAuthError> {
    let resource = params.get("resource");
    if let Some(r) = resource {
        // RFC 8707 §2: "MUST be an absolute URI ... MUST NOT include a fragment".
        match url::Url::parse(r) {
            Ok(u) if u.fragment().is_none() => {}
            _ => {
                return Err(OAuthError::new(
                    ErrorCode::InvalidTarget,
                    "resource must be an absolute URI without a fragment",
                ));
            }
        }
    }
    match (params.get("audience"), resource) {
        (Some(a), Some(r)) if a != r => Err(OAuthError::invalid_request("audience and resource name different APIs")),
        (Some(a), _) => Ok(Audience::new(a)),
        (None, Some(r)) => Ok(Audience::new(r)),
        (None, None) => Err(OAuthError::invalid_request("missing parameter: audience (or resource)")),
    }
}

/// Decides the token for an authenticated `client` asking for `api`
/// (`None` when no API has the requested identifier).
pub fn decide(req: &Request, client: &ClientProfile, api: Option<&ApiProfile>) -> Result<TokenPlan, OAuthError> {
    if !client.confidential {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "public clients cannot use client_credentials"));
    }
    if !client.allows_grant(GrantType::ClientCredentials) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "client_credentials is not allowed for this client",
        ));
    }
    super::plan_for_api(
        GrantType::ClientCredentials,
        client.id.to_string(),
        req.scope.as_ref(),
        &req.audience,
        client,
        api,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ApiId, ClientId};
    use crate::model::SigningAlg;

    fn client() -> ClientProfile {
        ClientProfile {
            id: ClientId::new("c1"),
            name: "c".into(),
            confidential: true,
            grant_types: vec![GrantType::ClientCredentials],
            allowed_scopes: None,
            allowed_audiences: None,
        }
    }

    fn api() -> ApiProfile {
        ApiProfile {
            id: ApiId::new("a1"),
            audience: Audience::new("https://api.example"),
            alg: SigningAlg::RS256,
            token_lifetime_secs: 600,
            scopes: ScopeSet::parse("read write").unwrap(),
        }
    }

    fn req(scope: Option<&str>) -> Request {
        Request { scope: scope.map(|s| ScopeSet::parse(s).unwrap()), audience: Audience::new("https://api.example") }
    }

    #[test]
    fn omitted_scope_grants_every_allowed_scope() {
        let plan = decide(&req(None), &client(), Some(&api())).unwrap();
        assert_eq!(plan.scopes.to_string(), "read write");
        assert_eq!(plan.subject, "c1");
    }

    #[test]
    fn scope_not_defined_by_api_is_invalid_scope() {
        assert_eq!(decide(&req(Some("admin")), &client(), Some(&api())).unwrap_err().code, ErrorCode::InvalidScope);
    }

    #[test]
    fn scope_outside_client_allowance_is_invalid_scope() {
        let mut c = client();
        c.allowed_scopes = Some(ScopeSet::parse("read").unwrap());
        assert_eq!(decide(&req(Some("write")), &c, Some(&api())).unwrap_err().code, ErrorCode::InvalidScope);
        assert_eq!(decide(&req(None), &c, Some(&api())).unwrap().scopes.to_string(), "read");
    }

    #[test]
    fn public_client_is_unauthorized_client() {
        let mut c = client();
        c.confidential = false;
        assert_eq!(decide(&req(None), &c, Some(&api())).unwrap_err().code, ErrorCode::UnauthorizedClient);
    }

    #[test]
    fn grant_not_allowed_is_unauthorized_client() {
        let mut c = client();
        c.grant_types = vec![GrantType::AuthorizationCode];
        assert_eq!(decide(&req(None), &c, Some(&api())).unwrap_err().code, ErrorCode::UnauthorizedClient);
    }

    /// Issue #14 item 2: a client open to any API and any scope gets no
    /// management token; one that names the audience gets only the scopes
    /// it names.
    #[test]
    fn the_management_api_needs_its_audience_and_scopes_named() {
        let mut mgmt = api();
        mgmt.audience = Audience::new(super::super::MANAGEMENT_AUDIENCE);
        let req = Request { scope: None, audience: mgmt.audience.clone() };
        assert_eq!(decide(&req, &client(), Some(&mgmt)).unwrap_err().code, ErrorCode::InvalidTarget);
        let mut named = client();
        named.allowed_audiences = Some(vec![mgmt.audience.clone()]);
        let asked = Request { scope: Some(ScopeSet::parse("read").unwrap()), audience: mgmt.audience.clone() };
        assert_eq!(decide(&asked, &named, Some(&mgmt)).unwrap_err().code, ErrorCode::InvalidScope);
        assert!(decide(&req, &named, Some(&mgmt)).unwrap().scopes.is_empty());
        named.allowed_scopes = Some(ScopeSet::parse("read").unwrap());
        assert_eq!(decide(&req, &named, Some(&mgmt)).unwrap().scopes.to_string(), "read");
    }

    #[test]
    fn unknown_audience_is_invalid_target() {
        assert_eq!(decide(&req(None), &client(), None).unwrap_err().code, ErrorCode::InvalidTarget);
    }

    #[test]
    fn resource_must_be_absolute_and_agree_with_audience() {
        let p = Params::from_pairs([("resource", "not a uri")]);
        assert_eq!(parse(&p).unwrap_err().code, ErrorCode::InvalidTarget);
        let p = Params::from_pairs([("resource", "https://a"), ("audience", "https://b")]);
        assert_eq!(parse(&p).unwrap_err().code, ErrorCode::InvalidRequest);
        let p = Params::from_pairs([("resource", "https://a")]);
        assert_eq!(parse(&p).unwrap().audience.as_str(), "https://a");
        assert_eq!(parse(&Params::default()).unwrap_err().code, ErrorCode::InvalidRequest);
    }
}
