//! Grants, one module per grant type (RFC 6749 §4).

pub mod client_credentials;

use crate::ids::{ApiId, Audience, ClientId};
use crate::model::SigningAlg;
use crate::scope::ScopeSet;

/// What a grant decided to issue, before plugins run and before signing.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenPlan {
    /// The grant type, as on the wire.
    pub grant_type: &'static str,
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
