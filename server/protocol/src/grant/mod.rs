//! Grants, one module per grant type (RFC 6749 §4, RFC 8628, RFC 8693, RFC 7523 §2.1).

pub mod authorization_code;
pub mod client_credentials;
pub mod device;
pub mod jwt_bearer;
pub mod password;
pub mod refresh_token;
pub mod token_exchange;

use crate::error::{ErrorCode, OAuthError};
use crate::ids::{ApiId, Audience, ClientId};
use crate::model::{ApiProfile, ClientProfile, GrantType, SigningAlg};
use crate::scope::ScopeSet;

/// What a grant decided to issue, before plugins run and before signing.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenPlan {
    /// The grant that issues it.
    pub grant_type: GrantType,
    /// `sub`: the client id for machine tokens, the user id for user tokens.
    pub subject: String,
    /// The client the token is issued to.
    pub client_id: ClientId,
    /// The API the token is for.
    pub api_id: ApiId,
    /// `aud`.
    pub audience: Audience,
    /// Scopes requested (after defaults).
    pub requested_scopes: ScopeSet,
    /// Scopes granted; plugins may narrow them.
    pub scopes: ScopeSet,
    /// Signing algorithm of the API.
    pub alg: SigningAlg,
    /// Lifetime in seconds.
    pub lifetime_secs: i64,
}

/// The audience of Tessera's own management API (`/api/v1`). Its tokens
/// go only to clients that list it, and the scopes they use, explicitly: a
/// client left open to any API and any scope (the default) gets none.
pub const MANAGEMENT_AUDIENCE: &str = "urn:tessera:management-api";

/// The part every grant with an audience shares: the API must exist and be
/// allowed to the client, and the scopes must be defined by the API and
/// allowed to the client. An omitted scope means every allowed scope.
pub fn plan_for_api(
    grant_type: GrantType,
    subject: String,
    requested: Option<&ScopeSet>,
    audience: &Audience,
    client: &ClientProfile,
    api: Option<&ApiProfile>,
) -> Result<TokenPlan, OAuthError> {
    let Some(api) = api else {
        return Err(OAuthError::new(ErrorCode::InvalidTarget, format!("unknown audience {audience}")));
    };
    // "Any API" and "any scope" never reach the management API: a client
    // must name its audience and scopes itself (issue #14 item 2).
    let explicit_only = api.audience.as_str() == MANAGEMENT_AUDIENCE;
    let allowed = match &client.allowed_audiences {
        Some(allowed) => allowed.contains(&api.audience),
        None => !explicit_only,
    };
    if !allowed {
        return Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            format!("client may not request audience {}", api.audience),
        ));
    }
    let grantable = match &client.allowed_scopes {
        Some(allowed) => api.scopes.intersection(allowed),
        None if explicit_only => ScopeSet::default(),
        None => api.scopes.clone(),
    };
    let requested = requested.cloned().unwrap_or_else(|| grantable.clone());
    let refused = requested.difference(&grantable);
    if !refused.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            format!("scope not allowed for this client and audience: {refused}"),
        ));
    }
    Ok(TokenPlan {
        grant_type,
        subject,
        client_id: client.id.clone(),
        api_id: api.id.clone(),
        audience: api.audience.clone(),
        requested_scopes: requested.clone(),
        scopes: requested,
        alg: api.alg,
        lifetime_secs: api.token_lifetime_secs,
    })
}

/// The plan of a user grant whose scopes were already decided (code,
/// implicit, refresh): the user is the subject, the API sets audience,
/// algorithm and lifetime.
pub fn user_plan(
    grant_type: GrantType,
    user_id: &str,
    client_id: &str,
    api: &ApiProfile,
    scopes: ScopeSet,
) -> TokenPlan {
    TokenPlan {
        grant_type,
        subject: user_id.to_owned(),
        client_id: ClientId::new(client_id),
        api_id: api.id.clone(),
        audience: api.audience.clone(),
        requested_scopes: scopes.clone(),
        scopes,
        alg: api.alg,
        lifetime_secs: api.token_lifetime_secs,
    }
}
