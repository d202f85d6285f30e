//! Token revocation (RFC 7009).
//!
//! Access tokens cannot be revoked (they are short-lived), which revocation
//! answers with `unsupported_token_type`. Refresh tokens are looked up by
//! hash; revoking one revokes its whole family.

use super::access_token::{looks_like_jwt, own_access_token};
use super::client_auth::ClientAuthenticator;
use super::issuer::Issuer;
use crate::clock::SharedClock;
use crate::service::store_failure;
use std::sync::Arc;
use tessera_protocol::introspection;
use tessera_protocol::params::Params;
use tessera_protocol::secret::SecretHash;
use tessera_protocol::{ErrorCode, OAuthError};
use tessera_store::{Store, grants};

/// The revocation endpoint.
pub struct RevocationService {
    store: Store,
    clock: SharedClock,
    issuer: Arc<Issuer>,
    clients: Arc<ClientAuthenticator>,
}

impl RevocationService {
    /// Callers authenticate with `clients`; JWTs are checked against `issuer`.
    pub(crate) fn new(
        store: Store,
        clock: SharedClock,
        issuer: Arc<Issuer>,
        clients: Arc<ClientAuthenticator>,
    ) -> RevocationService {
        RevocationService { store, clock, issuer, clients }
    }

    /// RFC 7009 §2: revokes a refresh token (and its family). Unknown tokens
    /// and tokens of other clients get the same 200, so nothing leaks. Only a
    /// JWT that is one of our access tokens gets `unsupported_token_type`; a
    /// forged or foreign one is an invalid token, which RFC 7009 §2.2 answers
    /// with 200.
    pub fn revoke(&self, authorization: Option<&str>, body: &[u8], addr: Option<&str>) -> Result<(), OAuthError> {
        let params = Params::parse(body)?;
        let client = self.clients.authenticate(authorization, &params, addr)?;
        let (token, _hint) = introspection::parse(&params)?;
        if looks_like_jwt(&token) {
            return match own_access_token(&self.issuer, &self.store, &token, self.clock.now())? {
                Some(_) => Err(OAuthError::new(
                    ErrorCode::UnsupportedTokenType,
                    "access tokens are self-contained JWTs and expire on their own; revoke the refresh token",
                )),
                None => Ok(()),
            };
        }
        let mut conn = self.store.conn().map_err(store_failure)?;
        if let Some(rt) = grants::find_by_hash(&mut conn, SecretHash::of(&token).as_str()).map_err(store_failure)?
            && rt.client_id == client.id
        {
            let n = grants::revoke_family(&mut conn, &rt.family_id, self.clock.now()).map_err(store_failure)?;
            tracing::info!(client = %client.id, revoked = n, "refresh token family revoked by the client");
        }
        Ok(())
    }
}
