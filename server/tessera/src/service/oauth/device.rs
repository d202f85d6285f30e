//! The device authorization grant's use cases (RFC 8628): the device
//! authorization endpoint (§3.1, §3.2), the user's page in the hosted login
//! (§3.3: enter the code, sign in, approve or deny), and the device's polls
//! at the token endpoint (§3.4, §3.5), which `TokenService` hands to
//! [`DeviceService::redeem`].
//!
//! The rules (user-code format, scopes, the polling state machine) are in
//! `tessera_protocol::grant::device`; the rows in `tessera_store::device`.
//! Both codes are stored as hashes. Wrong user codes count against a
//! throttle per client address (`[login] max_failures` in the window, then
//! a doubling lock), the mechanism the sign-in form uses, so the 34 bits of
//! a user code cannot be searched online (§5.1).

use super::client_auth::ClientAuthenticator;
use super::issuer::{IdTokenRequest, Issuer};
use super::refresh::{Issued, RefreshTokens, SignIn};
use crate::clock::{self, SharedClock};
use crate::service::sign_in::ThrottleSettings;
use crate::service::store_failure;
use std::sync::Arc;
use tessera_protocol::grant::device::{self, Poll, Status, UserCode};
use tessera_protocol::grant::user_plan;
use tessera_protocol::model::GrantType;
use tessera_protocol::oidc::scope_description;
use tessera_protocol::params::Params;
use tessera_protocol::secret::{PlainSecret, SecretHash};
use tessera_protocol::token::TokenResponse;
use tessera_protocol::{ErrorCode, OAuthError, ScopeSet, UserSource};
use tessera_store::clients::Client;
use tessera_store::device::DeviceRequest;
use tessera_store::grants::Session;
use tessera_store::throttle::{self, Admission};
use tessera_store::users::User;
use tessera_store::{DbConn, Store, StoreError, apis, clients, grants, users};

/// Attempts at drawing a user code no live request has.
const USER_CODE_ATTEMPTS: usize = 4;

/// What the user's page shows next.
#[derive(Debug)]
pub enum DevicePage {
    /// The code is not one a user can approve now (unknown, expired,
    /// decided, or mistyped): ask again with a message.
    WrongCode,
    /// Too many wrong codes from this address (429): retry after this many
    /// seconds.
    Throttled(u64),
    /// Nobody is signed in: show the login form, then come back.
    Login {
        /// The client's id (so a failed sign-in can name the client again).
        client_id: String,
        /// The client's display name.
        client_name: String,
    },
    /// Ask the signed-in user to approve or deny.
    Confirm(Confirmation),
    /// The user decided; the device gets its answer at its next poll.
    Done {
        /// True if approved.
        approved: bool,
        /// The client's display name.
        client_name: String,
    },
}

/// What the confirmation page names (RFC 8628 §5.4: the user must see what
/// they authorize).
#[derive(Debug)]
pub struct Confirmation {
    /// The user code as shown on the device, `XXXX-XXXX`.
    pub user_code: String,
    /// The client's display name.
    pub client_name: String,
    /// The API's display name.
    pub api_name: String,
    /// The API's identifier (the tokens' audience).
    pub api_identifier: String,
    /// The scopes, each with what it allows when known.
    pub scopes: Vec<(String, Option<&'static str>)>,
    /// The user who would approve.
    pub username: String,
}

/// A pending request found by its user code, with the user deciding.
struct Found {
    code: UserCode,
    request: DeviceRequest,
    client: Client,
    user: Option<(User, Session)>,
}

/// The device endpoint, the user's page and the device's polls.
pub struct DeviceService {
    store: Store,
    clock: SharedClock,
    issuer: Arc<Issuer>,
    clients: Arc<ClientAuthenticator>,
    refresh: RefreshTokens,
    throttle: ThrottleSettings,
    verification_uri: String,
}

impl DeviceService {
    /// The grant over `store`; users go to `verification_uri` (the hosted
    /// page's URL), and wrong user codes are throttled with `throttle`'s
    /// pair limits.
    pub(crate) fn new(
        store: Store,
        clock: SharedClock,
        issuer: Arc<Issuer>,
        clients: Arc<ClientAuthenticator>,
        refresh: RefreshTokens,
        throttle: ThrottleSettings,
        verification_uri: String,
    ) -> DeviceService {
        DeviceService { store, clock, issuer, clients, refresh, throttle, verification_uri }
    }

    /// RFC 8628 §3.1: a device authorization request. The client
    /// authenticates as at the token endpoint (public clients by `client_id`).
    pub fn start(
        &self,
        authorization: Option<&str>,
        body: &[u8],
        peer: Option<&str>,
    ) -> Result<device::Response, OAuthError> {
        let params = Params::parse(body)?;
        let client = self.clients.authenticate(authorization, &params, peer)?;
        let req = device::parse(&params)?;
        let mut conn = self.store.conn().map_err(store_failure)?;
        let api = match &req.audience {
            Some(aud) => apis::find_by_identifier(&mut conn, aud.as_str()).map_err(store_failure)?,
            None => None,
        };
        let scopes = device::decide(&req, &client.profile(), api.as_ref().map(|a| a.profile()).as_ref())?;
        let now = self.clock.now();
        let random = |e: clock::RngError| OAuthError::server_error(e.to_string());
        let device_code = PlainSecret::from_random(clock::random::<32>().map_err(random)?);
        for _ in 0..USER_CODE_ATTEMPTS {
            let user_code = UserCode::from_random(clock::random::<16>().map_err(random)?);
            let row = DeviceRequest {
                device_code_hash: device_code.hash().as_str().to_owned(),
                user_code_hash: SecretHash::of(user_code.as_str()).as_str().to_owned(),
                client_id: client.id.clone(),
                scopes: scopes.to_string(),
                audience: req.audience.as_ref().map(|a| a.to_string()),
                created_at: now,
                expires_at: now + device::EXPIRES_IN_SECS,
                interval_secs: device::INTERVAL_SECS,
                last_polled_at: None,
                status: Status::Pending,
                user_id: None,
                auth_time: None,
                used_at: None,
                amr: None,
            };
            match tessera_store::device::insert(&mut conn, &row) {
                Ok(()) => return Ok(device::Response::new(device_code.expose(), &user_code, &self.verification_uri)),
                // A live request has this user code already: draw again.
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(store_failure(e)),
            }
        }
        Err(OAuthError::server_error("no free user code after several draws"))
    }

    /// The user's page for a typed code: sign in first, then confirm.
    pub fn page(
        &self,
        typed: &str,
        session_cookie: Option<&str>,
        peer: Option<&str>,
    ) -> Result<DevicePage, OAuthError> {
        let found = match self.find(typed, session_cookie, peer)? {
            Ok(f) => f,
            Err(page) => return Ok(page),
        };
        let Some((user, _)) = found.user else {
            return Ok(DevicePage::Login { client_id: found.client.id, client_name: found.client.name });
        };
        let mut conn = self.store.conn().map_err(store_failure)?;
        let (api_name, api_identifier) = match &found.request.audience {
            Some(aud) => match apis::find_by_identifier(&mut conn, aud).map_err(store_failure)? {
                Some(api) => (api.name, api.identifier),
                None => return Ok(DevicePage::WrongCode),
            },
            None => ("Your profile (OpenID Connect)".to_owned(), self.issuer.userinfo_api().audience.to_string()),
        };
        let scopes = ScopeSet::parse(&found.request.scopes)?;
        Ok(DevicePage::Confirm(Confirmation {
            user_code: found.code.display(),
            client_name: found.client.name,
            api_name,
            api_identifier,
            scopes: scopes.iter().map(|s| (s.to_owned(), scope_description(s))).collect(),
            username: user.username,
        }))
    }

    /// The signed-in user's answer on the confirmation page (the caller
    /// checked CSRF): approve or deny the pending request.
    pub fn decide(
        &self,
        typed: &str,
        session_cookie: Option<&str>,
        approve: bool,
        peer: Option<&str>,
    ) -> Result<DevicePage, OAuthError> {
        let found = match self.find(typed, session_cookie, peer)? {
            Ok(f) => f,
            Err(page) => return Ok(page),
        };
        let Some((user, session)) = found.user else {
            return Ok(DevicePage::Login { client_id: found.client.id, client_name: found.client.name });
        };
        let decision = if approve { Status::Approved } else { Status::Denied };
        let hash = SecretHash::of(found.code.as_str());
        let mut conn = self.store.conn().map_err(store_failure)?;
        let now = self.clock.now();
        if !tessera_store::device::decide(
            &mut conn,
            hash.as_str(),
            decision,
            &user.id,
            (session.auth_time, &session.amr),
            now,
        )
        .map_err(store_failure)?
        {
            return Ok(DevicePage::WrongCode);
        }
        tracing::info!(client = %found.client.id, user = %user.id, decision = %decision, "device request decided");
        Ok(DevicePage::Done { approved: approve, client_name: found.client.name })
    }

    /// The pending request `typed` names, its client and the signed-in
    /// user (with the session's `auth_time`), or the page to show instead.
    /// A code that finds nothing counts against the address's throttle.
    fn find(
        &self,
        typed: &str,
        session_cookie: Option<&str>,
        peer: Option<&str>,
    ) -> Result<Result<Found, DevicePage>, OAuthError> {
        let now = self.clock.now();
        let key = format!("device:user_code|{}", peer.unwrap_or("unknown"));
        let limit = self.throttle.pair;
        let mut conn = self.store.conn().map_err(store_failure)?;
        if let Admission::Refused { until } = throttle::check(&mut conn, &key, now, limit).map_err(store_failure)? {
            return Ok(Err(DevicePage::Throttled((until - now).max(1) as u64)));
        }
        let request = match UserCode::normalize(typed) {
            Some(code) => {
                tessera_store::device::pending_by_user_code(&mut conn, SecretHash::of(code.as_str()).as_str(), now)
                    .map_err(store_failure)?
                    .map(|r| (code, r))
            }
            None => None,
        };
        let client = match &request {
            Some((_, r)) => clients::find(&mut conn, &r.client_id).map_err(store_failure)?.filter(|c| !c.disabled),
            None => None,
        };
        let (Some((code, request)), Some(client)) = (request, client) else {
            return self.wrong_code(&mut conn, &key, now).map(Err);
        };
        let session = match session_cookie {
            Some(c) => grants::session(&mut conn, SecretHash::of(c).as_str(), now).map_err(store_failure)?,
            None => None,
        };
        let user = match session {
            Some(s) => {
                users::find(&mut conn, &s.user_id).map_err(store_failure)?.filter(|u| !u.disabled).map(|u| (u, s))
            }
            None => None,
        };
        Ok(Ok(Found { code, request, client, user }))
    }

    /// Counts a wrong user code against `key`, locking it once spent.
    fn wrong_code(&self, conn: &mut DbConn, key: &str, now: i64) -> Result<DevicePage, OAuthError> {
        let t = &self.throttle;
        throttle::record_failure(conn, key, now, t.pair).map_err(store_failure)?;
        if let Some(until) =
            throttle::lock_if_spent(conn, key, now, t.pair, t.lock_secs, t.max_lock_secs).map_err(store_failure)?
        {
            tracing::warn!(key, until, "wrong device user codes: locked for this address");
            return Ok(DevicePage::Throttled((until - now).max(1) as u64));
        }
        Ok(DevicePage::WrongCode)
    }

    /// RFC 8628 §3.4: the device's poll at the token endpoint by the
    /// authenticated `client`. Once approved, the tokens are issued once,
    /// through the same issuer and plugin pipeline as every grant, for the
    /// approving user (signed in); a refresh token when the client has the
    /// refresh grant, an ID token when `openid` was granted. The access
    /// token is bound to `jkt`, the key of the poll's DPoP proof, if any
    /// (RFC 9449 §5).
    pub(crate) fn redeem(
        &self,
        client: &Client,
        params: &Params,
        jkt: Option<&tessera_protocol::Jkt>,
    ) -> Result<TokenResponse, OAuthError> {
        let profile = client.profile();
        device::check_client(&profile)?;
        let presented = params.require("device_code")?;
        let hash = SecretHash::of(presented);
        let now = self.clock.now();
        let mut conn = self.store.conn().map_err(store_failure)?;
        let Some(stored) = tessera_store::device::by_device_code(&mut conn, hash.as_str()).map_err(store_failure)?
        else {
            return Err(device::invalid_device_code().with_detail("unknown device code"));
        };
        let view = device::Stored {
            client_id: stored.client_id.clone(),
            status: stored.status,
            expires_at: stored.expires_at,
            interval_secs: stored.interval_secs,
            last_polled_at: stored.last_polled_at,
            used: stored.used_at.is_some(),
        };
        match device::poll(&view, &client.id, now) {
            Poll::Refuse(e) => return Err(e),
            Poll::Wait { error, polled_at, interval_secs } => {
                tessera_store::device::record_poll(&mut conn, hash.as_str(), polled_at, interval_secs)
                    .map_err(store_failure)?;
                return Err(error);
            }
            Poll::Issue => {}
        }
        if !tessera_store::device::redeem(&mut conn, hash.as_str(), now).map_err(store_failure)? {
            return Err(device::invalid_device_code().with_detail("device code redeemed concurrently"));
        }
        let unavailable = || OAuthError::new(ErrorCode::InvalidGrant, "the user or API is no longer available");
        let user = match &stored.user_id {
            Some(id) => users::find(&mut conn, id).map_err(store_failure)?.filter(|u| !u.disabled),
            None => None,
        };
        let api = match &stored.audience {
            Some(aud) => apis::find_by_identifier(&mut conn, aud)
                .map_err(store_failure)?
                .map(|a| (a.profile(), a.hs256_secret_enc)),
            None => Some((self.issuer.userinfo_api(), None)),
        };
        drop(conn);
        let (Some(user), Some((api, hs256))) = (user, api) else {
            return Err(unavailable());
        };
        let scopes = ScopeSet::parse(&stored.scopes)?;
        let openid = scopes.contains("openid");
        let plan = user_plan(GrantType::DeviceCode, &user.id, &client.id, &api, scopes);
        let signer = self.issuer.signer_for(&plan, hs256.as_deref())?;
        let api_id = plan.api_id.clone();
        let auth_time = stored.auth_time.unwrap_or(stored.created_at);
        let id = openid.then_some(IdTokenRequest { nonce: None, auth_time, sid: None, amr: stored.amr.as_deref() });
        let sign_in = id.as_ref().map(|r| SignIn { auth_time: r.auth_time, sid: None, amr: r.amr });
        let mut resp = self.issuer.issue_bound(plan, client, Some((&user, UserSource::SignedIn)), &signer, id, jkt)?;
        if profile.allows_grant(GrantType::RefreshToken) {
            let family = clock::uuid();
            let issued = Issued::NewFamily(&family, GrantType::DeviceCode, sign_in);
            let token = self.refresh.store(client, &user, &api_id, &resp, issued)?;
            resp.refresh_token = Some(token);
        }
        Ok(resp)
    }
}
