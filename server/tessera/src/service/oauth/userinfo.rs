//! The UserInfo endpoint's use case (OIDC Core §5.3): a valid access token
//! with the `openid` scope gets the user's claims for its scopes. A revoked
//! token (issue #15 item 1) is refused like an invalid one.
//!
//! DPoP (RFC 9449 §7): a token bound to a key (`cnf.jkt`) is accepted only
//! as `Authorization: DPoP <token>` with a proof of that key whose `ath` is
//! the token's hash (`dpop.rs`); presented as a bearer token it is refused,
//! so a stolen bound token is useless without the key.

use super::access_token::own_access_token;
use super::dpop::DpopProofs;
use super::issuer::Issuer;
use super::revoked::RevokedTokens;
use crate::clock::SharedClock;
use crate::service::store_failure;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use tessera_protocol::oidc::{UserClaimsSource, user_claims};
use tessera_protocol::{OAuthError, dpop};
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
    /// RFC 9449 §7.1: a bound token presented as a bearer token, or an
    /// unbound or invalid one under the `DPoP` scheme: 401 `invalid_token`
    /// with a `DPoP` challenge; the description says which.
    DpopInvalidToken(&'static str),
    /// RFC 9449 §7.1: the proof is missing, invalid, replayed, or of
    /// another key than the token's: 401 `invalid_dpop_proof` with a
    /// `DPoP` challenge; the description says which rule failed.
    InvalidDpopProof(String),
    /// Storage or keys failed.
    Internal(OAuthError),
}

/// The description of an invalid token under the `DPoP` scheme.
const INVALID: &str = "the access token is invalid, expired or revoked";

/// How the access token came with the request.
#[derive(Debug, Clone)]
pub enum Presented<'a> {
    /// `Authorization: Bearer`, or the form body (RFC 6750 §2).
    Bearer(&'a str),
    /// `Authorization: DPoP` (RFC 9449 §7.1) with the request's `DPoP`
    /// header values and its method.
    Dpop {
        /// The access token.
        token: &'a str,
        /// Every `DPoP` header of the request (one is required).
        proofs: Vec<&'a str>,
        /// `GET` or `POST` (the proof's `htm`).
        method: &'a str,
    },
}

/// The userinfo endpoint.
pub struct UserinfoService {
    store: Store,
    clock: SharedClock,
    issuer: Arc<Issuer>,
    revoked: Arc<RevokedTokens>,
    dpop: Arc<DpopProofs>,
}

impl UserinfoService {
    /// Tokens are checked against `issuer` and `revoked`, DPoP proofs by `dpop`.
    pub(crate) fn new(
        store: Store,
        clock: SharedClock,
        issuer: Arc<Issuer>,
        revoked: Arc<RevokedTokens>,
        dpop: Arc<DpopProofs>,
    ) -> UserinfoService {
        UserinfoService { store, clock, issuer, revoked, dpop }
    }

    /// The claims for the `presented` token.
    pub fn userinfo(&self, presented: Option<Presented<'_>>) -> Result<Map<String, Value>, UserinfoError> {
        let presented = presented.ok_or(UserinfoError::Missing)?;
        let (token, is_dpop) = match &presented {
            Presented::Bearer(t) => (*t, false),
            Presented::Dpop { token, .. } => (*token, true),
        };
        // Issue #11 item 1: the same rules as introspection (our issuer, an
        // API the key may sign for, that API's lifetime; never HS256; not
        // revoked).
        let claims = own_access_token(&self.issuer, &self.store, &self.revoked, token, self.clock.now())
            .map_err(UserinfoError::Internal)?
            .ok_or(if is_dpop { UserinfoError::DpopInvalidToken(INVALID) } else { UserinfoError::InvalidToken })?
            .claims;
        self.check_binding(&presented, &claims)?;
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

    /// RFC 9449 §7.1: a bound token only with a proof of its key, an
    /// unbound one only as a bearer token.
    fn check_binding(&self, presented: &Presented<'_>, claims: &Map<String, Value>) -> Result<(), UserinfoError> {
        let bound = dpop::bound_jkt(claims);
        match (presented, bound) {
            (Presented::Bearer(_), None) => Ok(()),
            (Presented::Bearer(_), Some(_)) => {
                tracing::info!("a DPoP-bound access token was presented as a bearer token");
                Err(UserinfoError::DpopInvalidToken("a DPoP-bound access token needs the DPoP scheme and a proof"))
            }
            (Presented::Dpop { .. }, None) => {
                Err(UserinfoError::DpopInvalidToken("the access token is not DPoP-bound: use the Bearer scheme"))
            }
            (Presented::Dpop { token, proofs, method }, Some(jkt)) => {
                let refused = |e: OAuthError| match e.code {
                    tessera_protocol::ErrorCode::InvalidDpopProof => UserinfoError::InvalidDpopProof(e.description),
                    _ => UserinfoError::Internal(e),
                };
                let proof = dpop::single_header(proofs)
                    .map_err(refused)?
                    .ok_or_else(|| UserinfoError::InvalidDpopProof("DPoP proof: missing".into()))?;
                let url = &self.dpop.settings().userinfo_url;
                let proved = self.dpop.at_resource(proof, method, url, token).map_err(refused)?;
                if proved != jkt {
                    return Err(UserinfoError::InvalidDpopProof(
                        "DPoP proof: the key is not the one the token is bound to".into(),
                    ));
                }
                Ok(())
            }
        }
    }
}
