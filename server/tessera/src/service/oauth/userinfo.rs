//! The UserInfo endpoint's use case (OIDC Core §5.3): a valid access token
//! with the `openid` scope gets the user's claims for its scopes. A revoked
//! token (issue #15 item 1) is refused like an invalid one.

use super::access_token::own_access_token;
use super::issuer::Issuer;
use super::revoked::RevokedTokens;
use crate::clock::SharedClock;
use crate::service::store_failure;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use tessera_protocol::OAuthError;
use tessera_protocol::oidc::{UserClaimsSource, user_claims};
use tessera_store::Store;
use tessera_store::users;

/// Why userinfo refused (RFC 6750 §3.1).
#[derive(Debug)]
pub enum UserinfoError {
    /// No token at all: 401 with a bare `WWW-Authenticate: Bearer`.
    Missing,
    /// Invalid, expired or foreign token: 401 `invalid_token`.
    InvalidToken,
    /// A valid token without `openid`: 403 `insufficient_scope`.
    InsufficientScope,
    /// Storage or keys failed.
    Internal(OAuthError),
}

/// The userinfo endpoint.
pub struct UserinfoService {
    store: Store,
    clock: SharedClock,
    issuer: Arc<Issuer>,
    revoked: Arc<RevokedTokens>,
}

impl UserinfoService {
    /// Bearer tokens are checked against `issuer` and `revoked`.
    pub(crate) fn new(
        store: Store,
        clock: SharedClock,
        issuer: Arc<Issuer>,
        revoked: Arc<RevokedTokens>,
    ) -> UserinfoService {
        UserinfoService { store, clock, issuer, revoked }
    }

    /// The claims for the bearer `token`.
    pub fn userinfo(&self, token: Option<&str>) -> Result<Map<String, Value>, UserinfoError> {
        let token = token.ok_or(UserinfoError::Missing)?;
        // Issue #11 item 1: the same rules as introspection (our issuer, an
        // API the key may sign for, that API's lifetime; never HS256; not
        // revoked).
        let claims = own_access_token(&self.issuer, &self.store, &self.revoked, token, self.clock.now())
            .map_err(UserinfoError::Internal)?
            .ok_or(UserinfoError::InvalidToken)?
            .claims;
        let scopes: Vec<String> =
            claims.get("scope").and_then(Value::as_str).unwrap_or("").split(' ').map(str::to_owned).collect();
        if !scopes.iter().any(|s| s == "openid") {
            return Err(UserinfoError::InsufficientScope);
        }
        let sub = claims.get("sub").and_then(Value::as_str).ok_or(UserinfoError::InvalidToken)?;
        let mut conn = self.store.conn().map_err(|e| UserinfoError::Internal(store_failure(e)))?;
        let user = users::find(&mut conn, sub)
            .map_err(|e| UserinfoError::Internal(store_failure(e)))?
            .filter(|u| !u.disabled)
            .ok_or(UserinfoError::InvalidToken)?;
        let source =
            UserClaimsSource { username: &user.username, email: user.email.as_deref(), profile: &user.profile };
        let mut out = user_claims(scopes.iter().map(String::as_str), &source);
        out.insert("sub".into(), json!(user.id));
        Ok(out)
    }
}
