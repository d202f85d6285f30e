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

use super::access_token::{OwnAccessToken, looks_like_jwt, own_access_token, own_access_token_from_memory};
use super::client_auth::ClientAuthenticator;
use super::issuer::Issuer;
use super::revoked::RevokedTokens;
use crate::clock::SharedClock;
use crate::service::snapshot::Snapshots;
use crate::service::store_failure;
use serde_json::{Map, json};
use std::sync::Arc;
use tessera_protocol::introspection::{self, Introspection};
use tessera_protocol::params::Params;
use tessera_protocol::secret::SecretHash;
use tessera_protocol::{OAuthError, client_auth, dpop};
use tessera_store::clients::Client;
use tessera_store::{Store, apis, grants};

/// The introspection endpoint.
pub struct IntrospectionService {
    store: Store,
    clock: SharedClock,
    issuer: Arc<Issuer>,
    clients: Arc<ClientAuthenticator>,
    revoked: Arc<RevokedTokens>,
    snapshots: Arc<Snapshots>,
}

impl IntrospectionService {
    /// Callers authenticate with `clients`; tokens are checked against
    /// `issuer`; APIs and their resource servers come from `snapshots` on
    /// the worker's path.
    pub(crate) fn new(
        store: Store,
        clock: SharedClock,
        issuer: Arc<Issuer>,
        clients: Arc<ClientAuthenticator>,
        revoked: Arc<RevokedTokens>,
        snapshots: Arc<Snapshots>,
    ) -> IntrospectionService {
        IntrospectionService { store, clock, issuer, clients, revoked, snapshots }
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
        let token = requested_token(&client, &params)?;
        if looks_like_jwt(&token) {
            let Some(own) = own_access_token(&self.issuer, &self.store, &self.revoked, &token, self.clock.now())?
            else {
                return Ok(Introspection::inactive());
            };
            let resource_server = |api_id: &str| {
                let mut conn = self.store.conn().map_err(store_failure)?;
                apis::is_resource_server(&mut conn, api_id, &client.id).map_err(store_failure)
            };
            return Ok(if may_introspect(&client.id, &own, resource_server)? { active(own) } else { refused(&client) });
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

    /// [`Self::introspect`] for a caller that must not block (an HTTP
    /// worker, issue #13 item 5): an access token introspected from memory
    /// (client and resource servers from the snapshot, the revocations from
    /// this node's copy), with the same answers. `None` where `introspect`
    /// would touch the database: a refresh token, a wrong secret (its
    /// failure is counted), a client assertion, the revocation copy or the
    /// keys due for a re-read. The caller then calls `introspect` on a
    /// blocking thread, which decides the request from the start.
    pub fn introspect_without_blocking(
        &self,
        authorization: Option<&str>,
        body: &[u8],
        addr: Option<&str>,
    ) -> Option<Result<Introspection, OAuthError>> {
        let params = Params::parse(body).ok()?;
        let presented = client_auth::extract(authorization, &params).ok()?;
        let client = match self.clients.authenticate_without_blocking(&presented, addr)? {
            Ok(client) => client,
            Err(e) => return Some(Err(e)),
        };
        let token = match requested_token(&client, &params) {
            Ok(token) if looks_like_jwt(&token) => token,
            Ok(_) => return None,
            Err(e) => return Some(Err(e)),
        };
        let snapshot = self.snapshots.current();
        let own = own_access_token_from_memory(&self.issuer, &snapshot, &self.revoked, &token, self.clock.now())?;
        let Some(own) = own else { return Some(Ok(Introspection::inactive())) };
        let resource_server = |api_id: &str| Ok(snapshot.is_resource_server(api_id, &client.id));
        Some(Ok(if may_introspect(&client.id, &own, resource_server).ok()? { active(own) } else { refused(&client) }))
    }
}

/// RFC 7662 §2: only a confidential client may introspect, and it names
/// the token.
fn requested_token(client: &Client, params: &Params) -> Result<String, OAuthError> {
    if !client.confidential {
        return Err(OAuthError::invalid_client().with_detail("public clients cannot introspect"));
    }
    Ok(introspection::parse(params)?.0)
}

/// RFC 7662 §4: the token's own client, or a client registered as a
/// resource server of the token's API (the userinfo pseudo-API has none),
/// as `resource_server` tells for the token's API.
fn may_introspect(
    caller: &str,
    token: &OwnAccessToken,
    resource_server: impl FnOnce(&str) -> Result<bool, OAuthError>,
) -> Result<bool, OAuthError> {
    if token.client_id() == caller {
        return Ok(true);
    }
    if token.is_userinfo() {
        return Ok(false);
    }
    resource_server(token.api.id.as_str())
}

/// The answer for a token the caller may see: its claims, and its type.
fn active(own: OwnAccessToken) -> Introspection {
    let mut c = own.claims;
    // RFC 9449 §6.2: a bound token's `cnf` (already among its claims) and
    // its type.
    let token_type = if dpop::bound_jkt(&c).is_some() { dpop::TOKEN_TYPE } else { "Bearer" };
    c.insert("token_type".into(), json!(token_type));
    Introspection::active(c)
}

/// The answer for a caller that may not see the token: inactive, as for
/// an unknown one.
fn refused(caller: &Client) -> Introspection {
    tracing::info!(client = %caller.id, "introspection by a client that is neither the token's nor its API's");
    Introspection::inactive()
}
