//! Token revocation (RFC 7009).
//!
//! Access tokens (JWTs) are revoked by `jti` until they would have expired
//! (issue #15 item 1): a row in `tessera_store::revocations` that every node
//! checks from memory (`revoked.rs`). Refresh tokens are looked up by hash;
//! revoking one revokes its whole family, with the access tokens issued from
//! it. RFC 7009 §2.2: an invalid, unknown or already revoked token is
//! answered with 200 like a revoked one, and so is a token of another client
//! (§2.1 binds a token to its client), which is left as it was, so a client
//! learns nothing about tokens that are not its own.

use super::access_token::{looks_like_jwt, own_access_token};
use super::client_auth::ClientAuthenticator;
use super::issuer::Issuer;
use super::revoked::RevokedTokens;
use crate::clock::SharedClock;
use crate::service::store_failure;
use std::sync::Arc;
use tessera_protocol::OAuthError;
use tessera_protocol::introspection;
use tessera_protocol::params::Params;
use tessera_protocol::secret::SecretHash;
use tessera_store::{Store, grants, revocations};

/// The revocation endpoint.
pub struct RevocationService {
    store: Store,
    clock: SharedClock,
    issuer: Arc<Issuer>,
    clients: Arc<ClientAuthenticator>,
    revoked: Arc<RevokedTokens>,
}

impl RevocationService {
    /// Callers authenticate with `clients`; JWTs are checked against `issuer`
    /// and, once revoked, told to `revoked`.
    pub(crate) fn new(
        store: Store,
        clock: SharedClock,
        issuer: Arc<Issuer>,
        clients: Arc<ClientAuthenticator>,
        revoked: Arc<RevokedTokens>,
    ) -> RevocationService {
        RevocationService { store, clock, issuer, clients, revoked }
    }

    /// RFC 7009 §2: revokes an access token of the calling client, or a
    /// refresh token of the calling client with its family. Everything else
    /// (unknown, forged, foreign, expired, already revoked, another client's)
    /// gets the same 200 and changes nothing.
    pub fn revoke(&self, authorization: Option<&str>, body: &[u8], addr: Option<&str>) -> Result<(), OAuthError> {
        let params = Params::parse(body)?;
        let client = self.clients.authenticate(authorization, &params, addr)?;
        let (token, _hint) = introspection::parse(&params)?;
        let now = self.clock.now();
        if looks_like_jwt(&token) {
            let Some(own) = own_access_token(&self.issuer, &self.store, &self.revoked, &token, now)? else {
                return Ok(());
            };
            if own.client_id() != client.id {
                tracing::info!(client = %client.id, "revocation of another client's access token ignored");
                return Ok(());
            }
            let jti = own.claims.get("jti").and_then(serde_json::Value::as_str).unwrap_or_default();
            let exp = own.claims.get("exp").and_then(serde_json::Value::as_i64).unwrap_or(now);
            let mut conn = self.store.conn().map_err(store_failure)?;
            revocations::revoke_token(&mut conn, jti, exp, now).map_err(store_failure)?;
            self.revoked.changed();
            tracing::info!(client = %client.id, "access token revoked by the client");
            return Ok(());
        }
        let mut conn = self.store.conn().map_err(store_failure)?;
        if let Some(rt) = grants::find_by_hash(&mut conn, SecretHash::of(&token).as_str()).map_err(store_failure)?
            && rt.client_id == client.id
        {
            drop(conn);
            let n = self.store.tx(|c| grants::revoke_family(c, &rt.family_id, now)).map_err(store_failure)?;
            self.revoked.changed();
            tracing::info!(client = %client.id, revoked = n, "refresh token family revoked by the client");
        }
        Ok(())
    }
}
