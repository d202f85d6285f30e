//! Refresh-token storage for the token service: families, rotation and
//! family revocation (RFC 6749 §6, RFC 9700 §4.14.2). Tokens are stored by
//! hash; a new family ends `absolute_secs` after the grant that started it,
//! each token `idle_secs` after it was issued (never later than its family).

use crate::clock::{self, SharedClock};
use crate::service::store_failure;
use tessera_protocol::model::GrantType;
use tessera_protocol::secret::PlainSecret;
use tessera_protocol::{ApiId, ErrorCode, OAuthError};
use tessera_store::clients::Client;
use tessera_store::grants::{self, RefreshToken};
use tessera_store::users::User;
use tessera_store::{DbConn, Store};

/// How long refresh tokens live (config `[tokens]`).
#[derive(Debug, Clone)]
pub struct RefreshLifetimes {
    /// A refresh-token family ends this long after the first sign-in.
    pub absolute_secs: i64,
    /// A refresh token unused this long ends.
    pub idle_secs: i64,
}

/// Where a new refresh token comes from; its family and absolute end follow
/// from it.
pub(crate) enum Issued<'a> {
    /// A new family with this id, started by this grant type; it ends
    /// `absolute_secs` from now.
    NewFamily(&'a str, GrantType),
    /// The rotation of this token (same family and end), marked used in the
    /// same transaction.
    Rotation(&'a RefreshToken),
}

/// Stores, rotates and revokes refresh tokens.
pub(crate) struct RefreshTokens {
    store: Store,
    clock: SharedClock,
    lifetimes: RefreshLifetimes,
}

impl RefreshTokens {
    /// Refresh tokens in `store` living `lifetimes`.
    pub(crate) fn new(store: Store, clock: SharedClock, lifetimes: RefreshLifetimes) -> RefreshTokens {
        RefreshTokens { store, clock, lifetimes }
    }

    /// Stores a new refresh token; for a rotation, marks the old token used
    /// in the same transaction (false: someone used it first).
    pub(crate) fn store(
        &self,
        client: &Client,
        user: &User,
        api_id: &ApiId,
        scope: Option<&str>,
        issued: Issued<'_>,
    ) -> Result<String, OAuthError> {
        let now = self.clock.now();
        let (family, absolute_expires_at, rotated, grant_type) = match issued {
            Issued::NewFamily(family, g) => (family, now + self.lifetimes.absolute_secs, None, Some(g)),
            Issued::Rotation(old) => (old.family_id.as_str(), old.absolute_expires_at, Some(old), old.grant_type),
        };
        let plain =
            PlainSecret::from_random(clock::random::<32>().map_err(|e| OAuthError::server_error(e.to_string()))?);
        let row = RefreshToken {
            id: clock::uuid(),
            family_id: family.to_owned(),
            token_hash: plain.hash().as_str().to_owned(),
            client_id: client.id.clone(),
            user_id: user.id.clone(),
            api_id: api_id.to_string(),
            scopes: scope.unwrap_or_default().to_owned(),
            created_at: now,
            absolute_expires_at,
            idle_expires_at: (now + self.lifetimes.idle_secs).min(absolute_expires_at),
            used_at: None,
            revoked_at: None,
            grant_type,
        };
        let won = self
            .store
            .tx(|conn: &mut DbConn| {
                if let Some(old) = rotated
                    && !grants::mark_used(conn, &old.id, now)?
                {
                    return Ok(false);
                }
                grants::insert(conn, &row)?;
                Ok(true)
            })
            .map_err(store_failure)?;
        if won {
            Ok(plain.expose().to_owned())
        } else {
            self.revoke_family(family, "concurrent reuse of a refresh token");
            Err(OAuthError::new(ErrorCode::InvalidGrant, "the refresh token is invalid, expired or revoked"))
        }
    }

    /// Revokes every token of `family`, logging `why`; a failure is logged
    /// (the request is refused anyway).
    pub(crate) fn revoke_family(&self, family: &str, why: &str) {
        match self.store.conn().and_then(|mut c| grants::revoke_family(&mut c, family, self.clock.now())) {
            Ok(n) => tracing::warn!(family, revoked = n, reason = why, "refresh token family revoked"),
            Err(e) => tracing::error!(family, error = %e, "could not revoke a refresh token family"),
        }
    }
}
