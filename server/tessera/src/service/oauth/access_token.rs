//! Accepting our own JWT access tokens (RFC 9068 §4): the one check that
//! introspection, userinfo and revocation share (issue #11 item 1).
//!
//! A token is ours only if a published key of this issuer verifies its
//! signature (`typ: at+jwt`, the key's own algorithm) and it then passes
//! `tessera_protocol::token::check_access_token`: our `iss`, an `aud` naming
//! an API that signs with that key's algorithm, and a lifetime no longer than
//! that API's. HS256 tokens are never accepted here: see that function.

use super::issuer::{Issuer, USERINFO_API_ID};
use crate::service::{key_failure, store_failure};
use serde_json::{Map, Value};
use tessera_protocol::OAuthError;
use tessera_protocol::model::ApiProfile;
use tessera_protocol::token::check_access_token;
use tessera_store::{Store, apis};

/// An access token that passed every rule.
#[derive(Debug)]
pub struct OwnAccessToken {
    /// Its claims.
    pub claims: Map<String, Value>,
    /// The API its `aud` names (the userinfo pseudo-API for OIDC-only tokens).
    pub api: ApiProfile,
}

impl OwnAccessToken {
    /// The `client_id` claim (always present: `check_access_token` requires it).
    pub fn client_id(&self) -> &str {
        self.claims.get("client_id").and_then(Value::as_str).unwrap_or_default()
    }

    /// True for tokens of the userinfo pseudo-API (no API requested).
    pub fn is_userinfo(&self) -> bool {
        self.api.id.as_str() == USERINFO_API_ID
    }
}

/// Our access tokens are JWTs; refresh tokens are not.
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

/// The token, if `issuer` issued it as an access token and it is valid at
/// `now`; `None` for anything else (forged, foreign, expired, HS256). Only
/// storage and key failures are errors.
pub(crate) fn own_access_token(
    issuer: &Issuer,
    store: &Store,
    token: &str,
    now: i64,
) -> Result<Option<OwnAccessToken>, OAuthError> {
    let Some((alg, claims)) = issuer.keys().verify_access_token(token, issuer.url()).map_err(key_failure)? else {
        return Ok(None);
    };
    let userinfo = issuer.userinfo_api();
    let api = match claims.get("aud").and_then(Value::as_str) {
        Some(aud) if aud == userinfo.audience.as_str() => Some(userinfo),
        Some(aud) => {
            let mut conn = store.conn().map_err(store_failure)?;
            apis::find_by_identifier(&mut conn, aud).map_err(store_failure)?.map(|a| a.profile())
        }
        None => None,
    };
    match check_access_token(&claims, issuer.url(), alg, api.as_ref(), now) {
        Ok(()) => Ok(api.map(|api| OwnAccessToken { claims, api })),
        Err(why) => {
            tracing::warn!(reason = %why, "a validly signed JWT was refused as an access token");
            Ok(None)
        }
    }
}
