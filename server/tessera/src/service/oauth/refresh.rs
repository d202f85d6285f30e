//! Refresh-token storage for the token service: families, rotation and
//! family revocation (RFC 6749 §6, RFC 9700 §4.14.2). Tokens are stored by
//! hash; a new family ends `absolute_secs` after the grant that started it,
//! each token `idle_secs` after it was issued (never later than its family).
//!
//! Each refresh token row also names the access token issued with it, so
//! revoking a family revokes those access tokens too (issue #15 item 1).
//! The same holds for a replayed authorization code (RFC 6749 §4.1.2): the
//! redemption records its access token on the code's row and the replay
//! marks the row, and whichever comes second revokes
//! ([`RefreshTokens::code_replayed`], [`RefreshTokens::code_redeemed`]), so
//! a replay racing the first redemption on another node revokes too.

use super::access_token::{issued_access, issued_jkt};
use super::revoked::RevokedTokens;
use crate::clock::{self, SharedClock};
use crate::service::store_failure;
use std::sync::Arc;
use tessera_protocol::model::GrantType;
use tessera_protocol::secret::PlainSecret;
use tessera_protocol::token::TokenResponse;
use tessera_protocol::{ApiId, ErrorCode, OAuthError};
use tessera_store::clients::Client;
use tessera_store::grants::{self, RefreshToken};
use tessera_store::revocations;
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

/// The sign-in behind a family whose first grant gave an ID token: each
/// refresh gives one too, with the same `auth_time` and `sid` (OpenID
/// Connect Core §12.2).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SignIn<'a> {
    /// When the user authenticated.
    pub auth_time: i64,
    /// The browser session's `sid`, when the grant came from one.
    pub sid: Option<&'a str>,
    /// How the user authenticated (RFC 8176 values), when recorded.
    pub amr: Option<&'a str>,
}

/// Where a new refresh token comes from; its family and absolute end follow
/// from it.
pub(crate) enum Issued<'a> {
    /// A new family with this id, started by this grant type, and the
    /// sign-in of its ID token (if it gave one); it ends `absolute_secs`
    /// from now.
    NewFamily(&'a str, GrantType, Option<SignIn<'a>>),
    /// The rotation of this token (same family and end), marked used in the
    /// same transaction.
    Rotation(&'a RefreshToken),
}

/// Stores, rotates and revokes refresh tokens, and the access tokens
/// issued with them.
pub(crate) struct RefreshTokens {
    store: Store,
    clock: SharedClock,
    lifetimes: RefreshLifetimes,
    revoked: Arc<RevokedTokens>,
}

impl RefreshTokens {
    /// Refresh tokens in `store` living `lifetimes`; revocations this node
    /// writes are told to `revoked`.
    pub(crate) fn new(
        store: Store,
        clock: SharedClock,
        lifetimes: RefreshLifetimes,
        revoked: Arc<RevokedTokens>,
    ) -> RefreshTokens {
        RefreshTokens { store, clock, lifetimes, revoked }
    }

    /// Stores a new refresh token beside the access token of `resp`; a new
    /// family takes the access token's scope, a rotation the scope of the
    /// token it replaces (RFC 6749 §6). For a rotation, marks the old token
    /// used in the same transaction (false: someone used it first).
    ///
    /// RFC 9449 §5: a public client's new family is bound to the DPoP key
    /// its access token is bound to (if any), and a rotation keeps its
    /// family's binding; a confidential client's refresh tokens are never
    /// bound (its client authentication already constrains them).
    pub(crate) fn store(
        &self,
        client: &Client,
        user: &User,
        api_id: &ApiId,
        resp: &TokenResponse,
        issued: Issued<'_>,
    ) -> Result<String, OAuthError> {
        let scope = resp.scope.as_deref();
        let access = issued_access(&resp.access_token)?;
        let now = self.clock.now();
        let (family, absolute_expires_at, rotated, grant_type, auth_time, sid, amr) = match issued {
            Issued::NewFamily(family, g, sign_in) => (
                family,
                now + self.lifetimes.absolute_secs,
                None,
                Some(g),
                sign_in.map(|s| s.auth_time),
                sign_in.and_then(|s| s.sid.map(str::to_owned)),
                sign_in.and_then(|s| s.amr.map(str::to_owned)),
            ),
            Issued::Rotation(old) => (
                old.family_id.as_str(),
                old.absolute_expires_at,
                Some(old),
                old.grant_type,
                old.auth_time,
                old.sid.clone(),
                old.amr.clone(),
            ),
        };
        // RFC 6749 §6: a rotated token keeps the scope of the token it
        // replaces, even when this refresh asked for less (the narrower
        // scope is the access token's alone).
        let scopes = match rotated {
            Some(old) => old.scopes.clone(),
            None => scope.unwrap_or_default().to_owned(),
        };
        let dpop_jkt = match rotated {
            Some(old) => old.dpop_jkt.clone(),
            None if client.confidential => None,
            None => issued_jkt(&resp.access_token)?.map(|k| k.as_str().to_owned()),
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
            scopes,
            created_at: now,
            absolute_expires_at,
            idle_expires_at: (now + self.lifetimes.idle_secs).min(absolute_expires_at),
            used_at: None,
            revoked_at: None,
            grant_type,
            access: Some(access),
            dpop_jkt,
            auth_time,
            sid,
            amr,
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

    /// Revokes every token of `family` and the access tokens issued with
    /// them, logging `why`; a failure is logged (the request is refused
    /// anyway).
    pub(crate) fn revoke_family(&self, family: &str, why: &str) {
        let now = self.clock.now();
        match self.store.tx(|c| grants::revoke_family(c, family, now)) {
            Ok(n) => tracing::warn!(family, revoked = n, reason = why, "refresh token family revoked"),
            Err(e) => tracing::error!(family, error = %e, "could not revoke a refresh token family"),
        }
        self.revoked.changed();
    }

    /// A used code was presented again by its own client (RFC 6749 §4.1.2):
    /// revokes the access token and the refresh-token family issued from
    /// it. If the redemption has not recorded its access token yet, it will
    /// see the replay in [`RefreshTokens::code_redeemed`] and revoke its own.
    pub(crate) fn code_replayed(&self, code_hash: &str, family: &str, why: &str) {
        let now = self.clock.now();
        let marked = self.store.tx(|c| {
            let access = grants::mark_code_replayed(c, code_hash, now)?;
            if let Some(a) = access.as_ref().filter(|a| a.expires_at > now) {
                revocations::revoke_token(c, &a.jti, a.expires_at, now)?;
            }
            Ok(access.is_some())
        });
        match marked {
            Ok(known) => tracing::warn!(reason = why, access_token_revoked = known, "authorization code replayed"),
            Err(e) => tracing::error!(error = %e, "could not record the replay of an authorization code"),
        }
        self.revoke_family(family, why);
    }

    /// Records the access token of `resp`, just issued from a code (and
    /// stored with its refresh token, if any). If a replay of the code was
    /// seen meanwhile, revokes what was issued and refuses: the tokens
    /// never leave.
    pub(crate) fn code_redeemed(&self, code_hash: &str, family: &str, resp: &TokenResponse) -> Result<(), OAuthError> {
        let access = issued_access(&resp.access_token)?;
        let now = self.clock.now();
        let replayed = self
            .store
            .tx(|c| {
                let replayed = grants::record_code_tokens(c, code_hash, &access)?;
                if replayed {
                    revocations::revoke_token(c, &access.jti, access.expires_at, now)?;
                }
                Ok(replayed)
            })
            .map_err(store_failure)?;
        if !replayed {
            return Ok(());
        }
        self.revoke_family(family, "authorization code replayed while it was redeemed");
        Err(OAuthError::new(ErrorCode::InvalidGrant, "the authorization code is invalid, expired or already used")
            .with_detail("replayed during its redemption"))
    }
}
