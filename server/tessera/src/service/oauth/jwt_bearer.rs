//! The JWT bearer grant (RFC 7523 §2.1), which `TokenService` hands off
//! to: the assertion's issuer must be one the client trusts
//! (`Client::jwt_bearer_issuers`), its signature verifies with that
//! issuer's keys (inline or from its `jwks_uri`, `client_assertion`), its
//! claims pass `tessera_protocol::grant::jwt_bearer::check`, its `sub`
//! names an enabled user (by id or login name, as the issuer is
//! configured), and its `jti` is accepted once (`tessera_store::assertions`).
//! The token runs the plugin pipeline with this grant type and the mapped
//! user as a signed-in user: the trusted issuer vouched for the sign-in.

use super::client_assertion::{ASSERTION_CLAIMS, KeySource, verify_signature};
use super::issuer::Issuer;
use super::remote_jwks::RemoteJwks;
use crate::clock::SharedClock;
use crate::service::store_failure;
use std::sync::Arc;
use tessera_protocol::client_assertion::unverified_claim;
use tessera_protocol::grant::jwt_bearer::{self, SubjectMapping, invalid_assertion};
use tessera_protocol::params::Params;
use tessera_protocol::token::TokenResponse;
use tessera_protocol::{Jkt, OAuthError, UserId, UserSource};
use tessera_store::clients::Client;
use tessera_store::{Store, apis, assertions, users};

/// The grant's service, built by `OAuthServices::new`.
pub struct JwtBearerGrant {
    store: Store,
    clock: SharedClock,
    issuer: Arc<Issuer>,
    remote_jwks: Arc<RemoteJwks>,
    audiences: Vec<String>,
}

impl JwtBearerGrant {
    /// Assertions must name one of `audiences` (the issuer and the token
    /// endpoint URL, RFC 7523 §3 item 3); remote keys come from `remote_jwks`.
    pub fn new(
        store: Store,
        clock: SharedClock,
        issuer: Arc<Issuer>,
        remote_jwks: Arc<RemoteJwks>,
        audiences: Vec<String>,
    ) -> JwtBearerGrant {
        JwtBearerGrant { store, clock, issuer, remote_jwks, audiences }
    }

    /// RFC 7523 §2.1 for the authenticated `client`.
    pub(super) fn redeem(
        &self,
        client: &Client,
        params: &Params,
        jkt: Option<&Jkt>,
    ) -> Result<TokenResponse, OAuthError> {
        let profile = client.profile();
        jwt_bearer::check_client(&profile)?;
        let req = jwt_bearer::parse(params)?;
        let iss = unverified_claim(&req.assertion, "iss").ok_or_else(|| invalid_assertion("no readable iss"))?;
        let trusted = client
            .jwt_bearer_issuers
            .iter()
            .find(|t| t.issuer == iss)
            .ok_or_else(|| invalid_assertion("the client does not trust this issuer"))?;
        let source = match (&trusted.jwks, &trusted.jwks_uri) {
            (Some(jwks), _) => KeySource::Inline(jwks),
            (None, Some(uri)) => KeySource::Uri(uri),
            (None, None) => return Err(invalid_assertion("the trusted issuer has no keys")),
        };
        // Keys first, with no connection held (a remote set may be fetched).
        let claims = verify_signature(&self.remote_jwks, source, &req.assertion, ASSERTION_CLAIMS)
            .map_err(|e| invalid_assertion(&e))?;
        let now = self.clock.now();
        let asserted = jwt_bearer::check(&claims, trusted, &self.audiences, now)?;
        let mut conn = self.store.conn().map_err(store_failure)?;
        let user = match trusted.subject {
            SubjectMapping::UserId => users::find(&mut conn, &asserted.subject),
            SubjectMapping::Username => users::find_by_username(&mut conn, &asserted.subject),
        }
        .map_err(store_failure)?
        .filter(|u| !u.disabled)
        .ok_or_else(|| invalid_assertion("sub names no enabled user"))?;
        let api = apis::find_by_identifier(&mut conn, req.audience.as_str()).map_err(store_failure)?;
        let plan =
            jwt_bearer::decide(&req, &profile, api.as_ref().map(|a| a.profile()).as_ref(), &UserId::new(&user.id))?;
        let key = jwt_bearer::replay_key(&trusted.issuer, &asserted.id.jti);
        if !assertions::record(&mut conn, &client.id, &key, asserted.id.exp).map_err(store_failure)? {
            return Err(invalid_assertion("jti already used"));
        }
        drop(conn);
        let signer = self.issuer.signer_for(&plan, api.as_ref().and_then(|a| a.hs256_secret_enc.as_deref()))?;
        self.issuer.issue_bound(plan, client, Some((&user, UserSource::SignedIn)), &signer, None, jkt)
    }
}
