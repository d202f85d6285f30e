//! The user grants at the token endpoint that need no browser: the password
//! grant (RFC 6749 §4.3, off unless enabled per client) and the refresh token
//! grant with rotation and family revocation (RFC 6749 §6, RFC 9700
//! §4.14.2). Both give plugins the signed-in user.

use crate::service::sign_in::{SignInError, sign_in};
use crate::service::store_failure;
use super::token::{IdTokenRequest, TokenService, USERINFO_API_ID, UserSource};
use crate::clock;
use tessera_protocol::grant::{authorization_code, password, refresh_token, user_plan};
use tessera_protocol::model::ApiProfile;
use tessera_protocol::model::grant_types;
use tessera_protocol::params::Params;
use tessera_protocol::secret::{PlainSecret, SecretHash};
use tessera_protocol::token::TokenResponse;
use tessera_protocol::{ApiId, ErrorCode, OAuthError, ScopeSet, UserId};
use tessera_store::clients::Client;
use tessera_store::grants::{self, RefreshToken};
use tessera_store::users::{self, User};
use tessera_store::{DbConn, apis};

/// An API's profile and its sealed HS256 secret, if it has one.
type ApiWithSecret = (ApiProfile, Option<Vec<u8>>);

/// Where a new refresh token comes from; its family and absolute end follow
/// from it.
enum Issued<'a> {
    /// A new family with this id, started by this grant type; it ends
    /// `refresh_absolute_secs` from now.
    NewFamily(&'a str, &'static str),
    /// The rotation of this token (same family and end), marked used in the
    /// same transaction.
    Rotation(&'a RefreshToken),
}

impl TokenService {
    /// RFC 6749 §4.3.
    pub(crate) fn password(
        &self,
        client: &Client,
        params: &Params,
        peer: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let profile = client.profile();
        password::check_client(&profile)?;
        let req = password::parse(params)?;
        let user = match sign_in(&self.store, &self.settings.throttle, &req.username, req.password.expose(), peer) {
            Ok(u) => u,
            Err(SignInError::BadCredentials) => return Err(password::bad_credentials()),
            Err(SignInError::Throttled(secs)) => return Err(password::throttled(secs)),
            // Issue #11 item 17: retryable, 503 with Retry-After.
            Err(SignInError::Busy) => return Err(OAuthError::unavailable("every password-hashing worker is busy")),
            Err(SignInError::Internal(e)) => return Err(e),
        };
        let mut conn = self.store.conn().map_err(store_failure)?;
        let api = apis::find_by_identifier(&mut conn, req.audience.as_str()).map_err(store_failure)?;
        let plan =
            password::decide(&req, &profile, api.as_ref().map(|a| a.profile()).as_ref(), &UserId::new(&user.id))?;
        drop(conn);
        let signer = self.signer_for(&plan, api.as_ref().and_then(|a| a.hs256_secret_enc.as_deref()))?;
        let api_id = plan.api_id.clone();
        let mut resp = self.issue(plan, client, Some((&user, UserSource::SignedIn)), &signer, None)?;
        if profile.allows_grant(grant_types::REFRESH_TOKEN) {
            let family = clock::uuid();
            let issued = Issued::NewFamily(&family, grant_types::PASSWORD);
            let token = self.store_refresh(client, &user, &api_id, resp.scope.as_deref(), issued)?;
            resp.refresh_token = Some(token);
        }
        Ok(resp)
    }

    /// Stores a new refresh token; for a rotation, marks the old token used
    /// in the same transaction (false: someone used it first).
    fn store_refresh(
        &self,
        client: &Client,
        user: &User,
        api_id: &ApiId,
        scope: Option<&str>,
        issued: Issued<'_>,
    ) -> Result<String, OAuthError> {
        let now = clock::now();
        let (family, absolute_expires_at, rotated, grant_type) = match issued {
            Issued::NewFamily(family, g) => {
                (family, now + self.settings.refresh_absolute_secs, None, Some(g.to_owned()))
            }
            Issued::Rotation(old) => {
                (old.family_id.as_str(), old.absolute_expires_at, Some(old), old.grant_type.clone())
            }
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
            idle_expires_at: (now + self.settings.refresh_idle_secs).min(absolute_expires_at),
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

    fn revoke_family(&self, family: &str, why: &str) {
        match self.store.conn().and_then(|mut c| grants::revoke_family(&mut c, family, clock::now())) {
            Ok(n) => tracing::warn!(family, revoked = n, reason = why, "refresh token family revoked"),
            Err(e) => tracing::error!(family, error = %e, "could not revoke a refresh token family"),
        }
    }

    /// RFC 6749 §6 with rotation: the old token is retired only when the new
    /// tokens are issued; a retired token presented again revokes the family.
    pub(crate) fn refresh(&self, client: &Client, params: &Params) -> Result<TokenResponse, OAuthError> {
        let presented = params.require("refresh_token")?;
        let requested = params.get("scope").map(ScopeSet::parse).transpose()?;
        let now = clock::now();
        let mut conn = self.store.conn().map_err(store_failure)?;
        let invalid = || OAuthError::new(ErrorCode::InvalidGrant, "the refresh token is invalid, expired or revoked");
        let Some(stored) =
            grants::find_by_hash(&mut conn, SecretHash::of(presented).as_str()).map_err(store_failure)?
        else {
            return Err(invalid().with_detail("unknown refresh token"));
        };
        let view = refresh_token::Stored {
            client_id: stored.client_id.clone(),
            scopes: ScopeSet::parse(&stored.scopes)?,
            absolute_expires_at: stored.absolute_expires_at,
            idle_expires_at: stored.idle_expires_at,
            used: stored.used_at.is_some(),
            revoked: stored.revoked_at.is_some(),
        };
        let scopes = match refresh_token::decide(&view, &client.profile(), requested.as_ref(), now) {
            Ok(s) => s,
            Err(refusal) => {
                if refusal.revoke_family {
                    self.revoke_family(&stored.family_id, "reuse of a rotated refresh token");
                }
                return Err(refusal.error);
            }
        };
        let user = users::find(&mut conn, &stored.user_id).map_err(store_failure)?.filter(|u| !u.disabled);
        let api = self.api_by_id(&mut conn, &stored.api_id)?;
        drop(conn);
        let (Some(user), Some((api, hs256))) = (user, api) else {
            self.revoke_family(&stored.family_id, "user disabled or deleted, or API deleted");
            return Err(invalid());
        };
        // Issue #11 item 5: today's rules, not those of the day of sign-in.
        if let Err(e) = refresh_token::still_allowed(
            &view.scopes,
            stored.grant_type.as_deref(),
            &client.profile(),
            &api,
            USERINFO_API_ID,
        ) {
            self.revoke_family(&stored.family_id, "the client or API no longer allows this grant");
            return Err(invalid().with_detail(e.description));
        }
        let plan = user_plan(grant_types::REFRESH_TOKEN, &user.id, &client.id, &api, scopes);
        let signer = self.signer_for(&plan, hs256.as_deref())?;
        let api_id = plan.api_id.clone();
        let mut resp = self.issue(plan, client, Some((&user, UserSource::SignedIn)), &signer, None)?;
        let token = self.store_refresh(client, &user, &api_id, resp.scope.as_deref(), Issued::Rotation(&stored))?;
        resp.refresh_token = Some(token);
        Ok(resp)
    }

    /// An API by internal id, with its sealed HS256 secret; the userinfo
    /// pseudo-API for OIDC requests without an audience.
    fn api_by_id(&self, conn: &mut DbConn, id: &str) -> Result<Option<ApiWithSecret>, OAuthError> {
        if id == USERINFO_API_ID {
            return Ok(Some((self.userinfo_api(), None)));
        }
        Ok(apis::find(conn, id).map_err(store_failure)?.map(|a| (a.profile(), a.hs256_secret_enc)))
    }

    /// RFC 6749 §4.1.3: redeems a code (single use, bound to the client, the
    /// redirect URI and the PKCE challenge). A valid replay revokes the refresh
    /// tokens issued from the code (RFC 9700 §4.5).
    pub(crate) fn authorization_code(&self, client: &Client, params: &Params) -> Result<TokenResponse, OAuthError> {
        let code = params.require("code")?;
        let now = clock::now();
        let hash = SecretHash::of(code);
        let mut conn = self.store.conn().map_err(store_failure)?;
        let invalid =
            || OAuthError::new(ErrorCode::InvalidGrant, "the authorization code is invalid, expired or already used");
        let Some(stored) = grants::code(&mut conn, hash.as_str()).map_err(store_failure)? else {
            return Err(invalid().with_detail("unknown code"));
        };
        let view = authorization_code::StoredCode {
            client_id: stored.client_id.clone(),
            redirect_uri: stored.redirect_uri.clone(),
            code_challenge: stored.code_challenge.clone(),
            expires_at: stored.expires_at,
            used: stored.used_at.is_some(),
        };
        if let Err(refusal) = authorization_code::check_redemption(&view, &client.id, params, now) {
            if refusal.revoke_issued {
                self.revoke_family(&stored.family_id, "authorization code reuse");
            }
            return Err(refusal.error);
        }
        if !grants::redeem_code(&mut conn, hash.as_str(), now).map_err(store_failure)? {
            self.revoke_family(&stored.family_id, "concurrent authorization code reuse");
            return Err(invalid().with_detail("code redeemed concurrently"));
        }
        let user = users::find(&mut conn, &stored.user_id).map_err(store_failure)?.filter(|u| !u.disabled);
        let api = match &stored.audience {
            Some(aud) => apis::find_by_identifier(&mut conn, aud)
                .map_err(store_failure)?
                .map(|a| (a.profile(), a.hs256_secret_enc)),
            None => Some((self.userinfo_api(), None)),
        };
        drop(conn);
        let (Some(user), Some((api, hs256))) = (user, api) else {
            return Err(invalid().with_detail("user or API no longer available"));
        };
        let scopes = ScopeSet::parse(&stored.scopes)?;
        let openid = scopes.contains("openid");
        let offline = scopes.contains("offline_access");
        let plan = user_plan(grant_types::AUTHORIZATION_CODE, &user.id, &client.id, &api, scopes);
        let signer = self.signer_for(&plan, hs256.as_deref())?;
        let api_id = plan.api_id.clone();
        let id = openid.then_some(IdTokenRequest { nonce: stored.nonce.as_deref(), auth_time: stored.auth_time });
        let mut resp = self.issue(plan, client, Some((&user, UserSource::SignedIn)), &signer, id)?;
        if offline && client.profile().allows_grant(grant_types::REFRESH_TOKEN) {
            let issued = Issued::NewFamily(&stored.family_id, grant_types::AUTHORIZATION_CODE);
            let token = self.store_refresh(client, &user, &api_id, resp.scope.as_deref(), issued)?;
            resp.refresh_token = Some(token);
        }
        Ok(resp)
    }
}
