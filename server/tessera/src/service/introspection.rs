//! Token introspection (RFC 7662) and revocation (RFC 7009).
//!
//! Access tokens are JWTs: introspection verifies them like a resource server
//! would; they cannot be revoked (they are short-lived), which revocation
//! answers with `unsupported_token_type`. Refresh tokens are looked up by
//! hash; revoking one revokes its whole family. A client only learns about
//! refresh tokens issued to itself.

use super::store_failure;
use super::token::TokenService;
use crate::clock;
use crate::keys;
use crate::service::admin::hs256_purpose;
use serde_json::{Map, Value, json};
use tessera_protocol::introspection::{self, Introspection};
use tessera_protocol::params::Params;
use tessera_protocol::secret::SecretHash;
use tessera_protocol::{ErrorCode, OAuthError};
use tessera_store::{apis, grants};

fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

impl TokenService {
    /// RFC 7662 §2: only authenticated confidential clients may introspect.
    pub fn introspect(
        &self,
        authorization: Option<&str>,
        body: &[u8],
        addr: Option<&str>,
    ) -> Result<Introspection, OAuthError> {
        let params = Params::parse(body)?;
        let client = self.authenticate(authorization, &params, addr)?;
        if !client.confidential {
            return Err(OAuthError::invalid_client().with_detail("public clients cannot introspect"));
        }
        let (token, _hint) = introspection::parse(&params)?;
        if looks_like_jwt(&token) {
            let claims = self.verify_jwt(&token)?;
            return Ok(match claims {
                Some(mut c) => {
                    c.insert("token_type".into(), json!("Bearer"));
                    Introspection::active(c)
                }
                None => Introspection::inactive(),
            });
        }
        let mut conn = self.store.conn().map_err(store_failure)?;
        let Some(rt) = grants::find_by_hash(&mut conn, SecretHash::of(&token).as_str()).map_err(store_failure)? else {
            return Ok(Introspection::inactive());
        };
        let now = clock::now();
        let exp = rt.absolute_expires_at.min(rt.idle_expires_at);
        if rt.client_id != client.id || rt.used_at.is_some() || rt.revoked_at.is_some() || now >= exp {
            return Ok(Introspection::inactive());
        }
        let aud = apis::find(&mut conn, &rt.api_id).map_err(store_failure)?.map(|a| a.identifier);
        let mut c = Map::new();
        c.insert("scope".into(), json!(rt.scopes));
        c.insert("client_id".into(), json!(rt.client_id));
        c.insert("sub".into(), json!(rt.user_id));
        c.insert("iss".into(), json!(self.issuer));
        c.insert("iat".into(), json!(rt.created_at));
        c.insert("exp".into(), json!(exp));
        c.insert("token_type".into(), json!("refresh_token"));
        if let Some(aud) = aud {
            c.insert("aud".into(), json!(aud));
        }
        Ok(Introspection::active(c))
    }

    /// Verifies one of our JWT access tokens; HS256 ones with their API's secret.
    fn verify_jwt(&self, token: &str) -> Result<Option<Map<String, Value>>, OAuthError> {
        let kid = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid).unwrap_or_default();
        if let Some(api_id) = kid.strip_prefix("hs256-") {
            let mut conn = self.store.conn().map_err(store_failure)?;
            let Some(sealed) = apis::find(&mut conn, api_id).map_err(store_failure)?.and_then(|a| a.hs256_secret_enc)
            else {
                return Ok(None);
            };
            let secret = self
                .keys
                .master()
                .open(&hs256_purpose(api_id), &sealed)
                .map_err(|e| OAuthError::server_error(e.to_string()))?;
            return Ok(keys::verify_hs256(token, &secret, &self.issuer));
        }
        self.keys.verify_access_token(token, &self.issuer).map_err(super::key_failure)
    }

    /// RFC 7009 §2: revokes a refresh token (and its family). Unknown tokens
    /// and tokens of other clients get the same 200, so nothing leaks.
    pub fn revoke(&self, authorization: Option<&str>, body: &[u8], addr: Option<&str>) -> Result<(), OAuthError> {
        let params = Params::parse(body)?;
        let client = self.authenticate(authorization, &params, addr)?;
        let (token, _hint) = introspection::parse(&params)?;
        if looks_like_jwt(&token) {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedTokenType,
                "access tokens are self-contained JWTs and expire on their own; revoke the refresh token",
            ));
        }
        let mut conn = self.store.conn().map_err(store_failure)?;
        if let Some(rt) = grants::find_by_hash(&mut conn, SecretHash::of(&token).as_str()).map_err(store_failure)?
            && rt.client_id == client.id
        {
            let n = grants::revoke_family(&mut conn, &rt.family_id, clock::now()).map_err(store_failure)?;
            tracing::info!(client = %client.id, revoked = n, "refresh token family revoked by the client");
        }
        Ok(())
    }
}
