//! Token introspection (RFC 7662).
//!
//! Access tokens are JWTs: introspection accepts only what
//! `own_access_token` accepts (issue #11 item 1), so a token signed with an
//! API's HS256 secret is never reported active: whoever holds that secret
//! (the API, and anyone it leaked to) can sign any token with it, so Tessera
//! cannot tell one it issued from a forgery and does not vouch for either.
//! The API verifies those with the secret itself.
//!
//! RFC 7662 §4 (issue #11 item 7): an answer goes only to the token's own
//! client, or to a client registered as a resource server of the token's API
//! (`api_resource_servers`); anyone else learns `active: false`. Refresh
//! tokens are reported to their own client only.
//!
//! A revoked access token (issue #15 item 1: revoked at the revocation
//! endpoint, issued from a replayed code or with a revoked refresh family,
//! or of a disabled client or user) is `active: false`.

use super::access_token::{OwnAccessToken, looks_like_jwt, own_access_token};
use super::client_auth::ClientAuthenticator;
use super::issuer::Issuer;
use super::revoked::RevokedTokens;
use crate::clock::SharedClock;
use crate::service::store_failure;
use serde_json::{Map, json};
use std::sync::Arc;
use tessera_protocol::introspection::{self, Introspection};
use tessera_protocol::params::Params;
use tessera_protocol::secret::SecretHash;
use tessera_protocol::{OAuthError, dpop};
use tessera_store::{Store, apis, grants};

/// The introspection endpoint.
pub struct IntrospectionService {
    store: Store,
    clock: SharedClock,
    issuer: Arc<Issuer>,
    clients: Arc<ClientAuthenticator>,
    revoked: Arc<RevokedTokens>,
}

impl IntrospectionService {
    /// Callers authenticate with `clients`; tokens are checked against `issuer`.
    pub(crate) fn new(
        store: Store,
        clock: SharedClock,
        issuer: Arc<Issuer>,
        clients: Arc<ClientAuthenticator>,
        revoked: Arc<RevokedTokens>,
    ) -> IntrospectionService {
        IntrospectionService { store, clock, issuer, clients, revoked }
    }

    /// RFC 7662 §2: only authenticated confidential clients may introspect.
    pub fn introspect(
        &self,
        authorization: Option<&str>,
        body: &[u8],
        addr: Option<&str>,
    ) -> Result<Introspection, OAuthError> {
        let params = Params::parse(body)?;
        let client = self.clients.authenticate(authorization, &params, addr)?;
        if !client.confidential {
            return Err(OAuthError::invalid_client().with_detail("public clients cannot introspect"));
        }
        let (token, _hint) = introspection::parse(&params)?;
        if looks_like_jwt(&token) {
            let Some(own) = own_access_token(&self.issuer, &self.store, &self.revoked, &token, self.clock.now())?
            else {
                return Ok(Introspection::inactive());
            };
            if !self.may_introspect(&client.id, &own)? {
                tracing::info!(client = %client.id, "introspection by a client that is neither the token's nor its API's");
                return Ok(Introspection::inactive());
            }
            let mut c = own.claims;
            // RFC 9449 §6.2: a bound token's `cnf` (already among its
            // claims) and its type.
            let token_type = if dpop::bound_jkt(&c).is_some() { dpop::TOKEN_TYPE } else { "Bearer" };
            c.insert("token_type".into(), json!(token_type));
            return Ok(Introspection::active(c));
        }
        let mut conn = self.store.conn().map_err(store_failure)?;
        let Some(rt) = grants::find_by_hash(&mut conn, SecretHash::of(&token).as_str()).map_err(store_failure)? else {
            return Ok(Introspection::inactive());
        };
        let now = self.clock.now();
        let exp = rt.absolute_expires_at.min(rt.idle_expires_at);
        if rt.client_id != client.id || rt.used_at.is_some() || rt.revoked_at.is_some() || now >= exp {
            return Ok(Introspection::inactive());
        }
        let aud = apis::find(&mut conn, &rt.api_id).map_err(store_failure)?.map(|a| a.identifier);
        let mut c = Map::new();
        c.insert("scope".into(), json!(rt.scopes));
        c.insert("client_id".into(), json!(rt.client_id));
        c.insert("sub".into(), json!(rt.user_id));
        c.insert("iss".into(), json!(self.issuer.url()));
        c.insert("iat".into(), json!(rt.created_at));
        c.insert("exp".into(), json!(exp));
        c.insert("token_type".into(), json!("refresh_token"));
        if let Some(aud) = aud {
            c.insert("aud".into(), json!(aud));
        }
        Ok(Introspection::active(c))
    }

    /// RFC 7662 §4: the token's own client, or a client registered as a
    /// resource server of the token's API (the userinfo pseudo-API has none).
    fn may_introspect(&self, caller: &str, token: &OwnAccessToken) -> Result<bool, OAuthError> {
        if token.client_id() == caller {
            return Ok(true);
        }
        if token.is_userinfo() {
            return Ok(false);
        }
        let mut conn = self.store.conn().map_err(store_failure)?;
        apis::is_resource_server(&mut conn, token.api.id.as_str(), caller).map_err(store_failure)
    }
}
