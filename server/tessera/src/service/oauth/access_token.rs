//! Accepting our own JWT access tokens (RFC 9068 §4): the one check that
//! introspection, userinfo and revocation share (issue #11 item 1).
//!
//! A token is ours only if a published key of this issuer verifies its
//! signature (`typ: at+jwt`, the key's own algorithm) and it then passes
//! `tessera_protocol::token::check_access_token`: our `iss`, an `aud` naming
//! an API that signs with that key's algorithm, and a lifetime no longer than
//! that API's. HS256 tokens are never accepted here: see that function.
//! Nor is a revoked token (issue #15 item 1): its `jti`, its client or its
//! user revoked, as this node's copy of the revocations knows
//! (`revoked.rs`).

use super::issuer::{Issuer, USERINFO_API_ID};
use super::revoked::RevokedTokens;
use crate::keys::KeyError;
use crate::service::snapshot::Snapshot;
use crate::service::{key_failure, store_failure};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use tessera_protocol::model::ApiProfile;
use tessera_protocol::token::check_access_token;
use tessera_protocol::{Jkt, OAuthError, dpop};
use tessera_store::grants::IssuedAccess;
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

/// The token, if `issuer` issued it as an access token, it is valid at
/// `now` and not revoked; `None` for anything else (forged, foreign,
/// expired, HS256, revoked). Only storage and key failures are errors.
pub(crate) fn own_access_token(
    issuer: &Issuer,
    store: &Store,
    revoked: &RevokedTokens,
    token: &str,
    now: i64,
) -> Result<Option<OwnAccessToken>, OAuthError> {
    let lookups = Lookups {
        key_failure,
        api: |aud: &str| {
            let mut conn = store.conn().map_err(store_failure)?;
            Ok(apis::find_by_identifier(&mut conn, aud).map_err(store_failure)?.map(|a| a.profile()))
        },
        revoked: |claims: &Map<String, Value>| revoked.is_revoked(claims).map_err(store_failure),
    };
    judge(issuer, token, now, lookups)
}

/// [`own_access_token`] for a caller that must not block (an HTTP worker,
/// issue #13 item 5): the API from `snapshot`, the revocations from this
/// node's copy. `None` where `own_access_token` would touch the database
/// (the copy due for a refresh) or the keys would be re-read; the caller
/// then asks `own_access_token` on a blocking thread.
pub(crate) fn own_access_token_from_memory(
    issuer: &Issuer,
    snapshot: &Snapshot,
    revoked: &RevokedTokens,
    token: &str,
    now: i64,
) -> Option<Option<OwnAccessToken>> {
    if !issuer.keys().fresh() {
        return None;
    }
    let lookups = Lookups {
        key_failure: |_| NotInMemory,
        api: |aud: &str| Ok(snapshot.api_by_identifier(aud).map(|a| a.profile())),
        revoked: |claims: &Map<String, Value>| revoked.is_revoked_from_memory(claims).ok_or(NotInMemory),
    };
    judge(issuer, token, now, lookups).ok()
}

/// The answer needs what is not in memory.
struct NotInMemory;

/// Where [`judge`] finds what it does not know: the API an `aud` names,
/// and whether claims are revoked; `E` is why it could not tell.
struct Lookups<K, A, R> {
    key_failure: K,
    api: A,
    revoked: R,
}

/// The rules of [`own_access_token`], over `lookups`.
fn judge<E, K, A, R>(
    issuer: &Issuer,
    token: &str,
    now: i64,
    lookups: Lookups<K, A, R>,
) -> Result<Option<OwnAccessToken>, E>
where
    K: FnOnce(KeyError) -> E,
    A: FnOnce(&str) -> Result<Option<ApiProfile>, E>,
    R: FnOnce(&Map<String, Value>) -> Result<bool, E>,
{
    let Some((alg, claims)) = issuer.keys().verify_access_token(token, issuer.url()).map_err(lookups.key_failure)?
    else {
        return Ok(None);
    };
    let userinfo = issuer.userinfo_api();
    let api = match claims.get("aud").and_then(Value::as_str) {
        Some(aud) if aud == userinfo.audience.as_str() => Some(userinfo),
        Some(aud) => (lookups.api)(aud)?,
        None => None,
    };
    match check_access_token(&claims, issuer.url(), alg, api.as_ref(), now) {
        Ok(()) if (lookups.revoked)(&claims)? => {
            tracing::info!("a revoked access token was presented");
            Ok(None)
        }
        Ok(()) => Ok(api.map(|api| OwnAccessToken { claims, api })),
        Err(why) => {
            tracing::warn!(reason = %why, "a validly signed JWT was refused as an access token");
            Ok(None)
        }
    }
}

/// The `jti` and `exp` of an access token this node has just signed (so the
/// grant that issued it can revoke it later); the payload is read without a
/// second verification, as the token never left this process.
pub(crate) fn issued_access(access_token: &str) -> Result<IssuedAccess, OAuthError> {
    let claims = issued_claims(access_token)?;
    match (claims.get("jti").and_then(Value::as_str), claims.get("exp").and_then(Value::as_i64)) {
        (Some(jti), Some(exp)) => Ok(IssuedAccess { jti: jti.to_owned(), expires_at: exp }),
        _ => Err(OAuthError::server_error("an access token just issued has no jti or exp")),
    }
}

/// The DPoP key an access token this node has just signed is bound to
/// (`cnf.jkt`, RFC 9449 §6.1), read like [`issued_access`].
pub(crate) fn issued_jkt(access_token: &str) -> Result<Option<Jkt>, OAuthError> {
    Ok(dpop::bound_jkt(&issued_claims(access_token)?))
}

/// The payload of an access token this node has just signed.
fn issued_claims(access_token: &str) -> Result<Map<String, Value>, OAuthError> {
    let payload = access_token.split('.').nth(1).unwrap_or_default();
    let claims: Option<Map<String, Value>> =
        URL_SAFE_NO_PAD.decode(payload).ok().and_then(|b| serde_json::from_slice(&b).ok());
    claims.ok_or_else(|| OAuthError::server_error("an access token just issued has no readable payload"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn issued_access_reads_jti_and_exp_from_the_payload() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"jti":"abc","exp":1700,"sub":"u"}"#);
        let token = format!("e30.{payload}.sig");
        assert_eq!(issued_access(&token).unwrap(), IssuedAccess { jti: "abc".into(), expires_at: 1700 });
        let no_jti = format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(br#"{"exp":1700}"#));
        assert!(issued_access(&no_jti).is_err());
        assert!(issued_access("not a jwt").is_err());
    }

    #[test]
    fn issued_jkt_reads_the_dpop_binding() {
        let bound = format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(br#"{"jti":"a","cnf":{"jkt":"K"}}"#));
        assert_eq!(issued_jkt(&bound).unwrap(), Some(Jkt::new("K")));
        let plain = format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(br#"{"jti":"a"}"#));
        assert_eq!(issued_jkt(&plain).unwrap(), None);
    }
}
