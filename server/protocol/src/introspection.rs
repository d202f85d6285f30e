//! Token introspection (RFC 7662) and revocation (RFC 7009): the request
//! parameters and the response shape. Looking tokens up is the caller's job.

use crate::error::OAuthError;
use crate::params::Params;
use serde::Serialize;
use serde_json::{Map, Value};

/// `token_type_hint` values (RFC 7009 §2.1, RFC 7662 §2.1). An unknown hint
/// is ignored, as both RFCs allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    /// `access_token`.
    AccessToken,
    /// `refresh_token`.
    RefreshToken,
    /// No hint, or one we do not know.
    None,
}

/// Parses `token` and `token_type_hint`.
pub fn parse(params: &Params) -> Result<(String, Hint), OAuthError> {
    let token = params.require("token")?.to_owned();
    let hint = match params.get("token_type_hint") {
        Some("access_token") => Hint::AccessToken,
        Some("refresh_token") => Hint::RefreshToken,
        _ => Hint::None,
    };
    Ok((token, hint))
}

/// The introspection response (RFC 7662 §2.2). An inactive token reveals
/// nothing but `active: false`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Introspection {
    /// Whether the token is currently active.
    pub active: bool,
    /// Claims of an active token (scope, client_id, sub, aud, iss, exp, iat,
    /// token_type, ...), flattened into the object.
    #[serde(flatten)]
    pub claims: Map<String, Value>,
}

impl Introspection {
    /// `{"active": false}`.
    pub fn inactive() -> Introspection {
        Introspection { active: false, claims: Map::new() }
    }

    /// An active token with these members.
    pub fn active(claims: Map<String, Value>) -> Introspection {
        Introspection { active: true, claims }
    }
}
