//! The token endpoint's use case (RFC 6749 §3.2): parse, authenticate the
//! client, run the grant's decision, issue (plugin pipeline, signer).
//!
//! The grants: client credentials (RFC 6749 §4.4), the password grant
//! (§4.3, off unless enabled per client), the authorization code's
//! redemption (§4.1.3), the refresh token with rotation and family
//! revocation (§6, RFC 9700 §4.14.2), the device grant's polls (RFC 8628
//! §3.4, in `device.rs`), token exchange (RFC 8693, off
//! unless enabled per client and allowed by its exchange policy) and the
//! JWT bearer grant (RFC 7523 §2.1, in `jwt_bearer.rs`). The pure rules of each live in
//! `tessera_protocol::grant`; this file loads what they need and stores
//! what they decide.
//!
//! Every grant binds what it issues to the key of the request's DPoP
//! proof, if it carries one (RFC 9449 §5, checked in `dpop.rs`): the access
//! token gets `cnf.jkt`, a public client's refresh token remembers the key,
//! and refreshing a bound refresh token needs a proof of the same key.
//!
//! Runs on a blocking thread. Every failure is an `OAuthError`; storage and
//! key failures go through `store_failure`/`key_failure`.

use super::access_token::own_access_token;
use super::client_auth::ClientAuthenticator;
use super::device::DeviceService;
use super::dpop::DpopProofs;
use super::issuer::{IdTokenRequest, Issuer, USERINFO_API_ID};
use super::jwt_bearer::JwtBearerGrant;
use super::refresh::{Issued, RefreshTokens, SignIn};
use super::revoked::RevokedTokens;
use crate::clock::{self, SharedClock};
use crate::service::metrics;
use crate::service::sign_in::{SignInError, ThrottleSettings, sign_in_where};
use crate::service::snapshot::Snapshots;
use crate::service::user_second_factor::{self as factor, NextStep};
use crate::service::{key_failure, store_failure};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Instant;
use tessera_protocol::client_auth::PresentedCredentials;
use tessera_protocol::grant::authorization_code::redemption;
use tessera_protocol::grant::token_exchange::{self, PresentedToken, TokenType};
use tessera_protocol::grant::{client_credentials, password, refresh_token, user_plan};
use tessera_protocol::model::{ApiProfile, GrantType};
use tessera_protocol::params::Params;
use tessera_protocol::secret::SecretHash;
use tessera_protocol::token::TokenResponse;
use tessera_protocol::{ErrorCode, Jkt, OAuthError, ScopeSet, UserId, UserSource, dpop};
use tessera_store::clients::Client;
use tessera_store::grants;
use tessera_store::users::{self, User};
use tessera_store::{DbConn, Store, apis};

/// An API's profile and its sealed HS256 secret, if it has one.
type ApiWithSecret = (ApiProfile, Option<Vec<u8>>);

/// What [`TokenService::token_request_from_snapshot`] made of a request.
#[derive(Debug)]
pub enum FromSnapshot {
    /// Decided, counted and timed.
    Answered(Result<TokenResponse, OAuthError>),
    /// Servable from the snapshot, but a plugin is bound: answer it with
    /// [`TokenService::answer_with_plugins`] on a thread that may call it.
    CallsPlugins(Box<SnapshotRequest>),
    /// Needs [`TokenService::token_request`].
    Declined,
}

/// A client_credentials request parsed on the HTTP worker, handed to the
/// CPU pool as it is rather than parsed again there.
#[derive(Debug)]
pub struct SnapshotRequest {
    params: Params,
    presented: PresentedCredentials,
}

/// The token endpoint. Built by `OAuthServices::new` (the parent module)
/// from the shared parts, so its fields are visible there: `throttle`
/// limits the password grant's sign-ins, and client_credentials reads only
/// `snapshots`.
pub struct TokenService {
    pub(super) store: Store,
    pub(super) clock: SharedClock,
    pub(super) issuer: Arc<Issuer>,
    pub(super) clients: Arc<ClientAuthenticator>,
    pub(super) refresh: RefreshTokens,
    pub(super) throttle: ThrottleSettings,
    pub(super) revoked: Arc<RevokedTokens>,
    pub(super) snapshots: Arc<Snapshots>,
    pub(super) device: Arc<DeviceService>,
    pub(super) jwt_bearer: JwtBearerGrant,
    pub(super) dpop: Arc<DpopProofs>,
    /// `[login] require_second_factor`: no user may use the password grant.
    pub(super) second_factor_required: bool,
}

impl TokenService {
    /// Handles one token request: the `Authorization` header, the form body
    /// and the `DPoP` header (RFC 9449 §4.1; the caller refuses a request
    /// with several). `peer` is the client address (`web::client_addr`),
    /// used to throttle sign-in and client-secret failures. Counted and
    /// timed by grant type and outcome (`service::metrics`).
    pub fn token_request(
        &self,
        authorization: Option<&str>,
        body: &[u8],
        peer: Option<&str>,
        dpop_proof: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let started = Instant::now();
        let mut grant_label = "missing";
        let result = self.answer(authorization, body, peer, dpop_proof, &mut grant_label);
        metrics::token_request(grant_label, metrics::token_outcome(&result), started.elapsed());
        result
    }

    /// Issue #13 item 5: answers a client_credentials request from the
    /// snapshot on the calling thread, an HTTP worker, when it needs no
    /// blocking work: the client, its secret hashes, the API and the
    /// service account come from the snapshot, no plugin is bound for the
    /// client, and the keys are loaded. Signing is CPU work the worker's
    /// core would do anyway (15 to 25 µs for ES256 and EdDSA, about 200 µs
    /// for RS256 on the benchmark machine), while a hand-off to another
    /// thread and back cost more than an EC signature. A request for a
    /// client with a plugin bound is [`FromSnapshot::CallsPlugins`], as a
    /// plugin call may wait or run to its deadline, which a worker must
    /// not: the caller hands it to [`Self::answer_with_plugins`] on the CPU
    /// pool (`crate::cpu_pool`). [`FromSnapshot::Declined`] when the
    /// request needs more (another grant, a client assertion, a wrong
    /// secret to count, or keys due for a re-read): the caller then hands
    /// it to [`Self::token_request`] on a blocking thread, which decides it
    /// from the start. Counted and timed as [`Self::token_request`] counts
    /// them.
    pub fn token_request_from_snapshot(
        &self,
        authorization: Option<&str>,
        body: &[u8],
        peer: Option<&str>,
    ) -> FromSnapshot {
        let started = Instant::now();
        let Ok(params) = Params::parse(body) else { return FromSnapshot::Declined };
        if params.get("grant_type") != Some(GrantType::ClientCredentials.as_str()) || !self.issuer.keys().fresh() {
            return FromSnapshot::Declined;
        }
        let Ok(presented) = tessera_protocol::client_auth::extract(authorization, &params) else {
            return FromSnapshot::Declined;
        };
        let plugged = self
            .snapshots
            .current()
            .token_bindings()
            .iter()
            .any(|b| b.applies_to(GrantType::ClientCredentials, presented.client_id.as_str()));
        if plugged {
            return FromSnapshot::CallsPlugins(Box::new(SnapshotRequest { params, presented }));
        }
        self.answer_from_snapshot(&SnapshotRequest { params, presented }, peer, started)
    }

    /// [`FromSnapshot::CallsPlugins`]'s request, answered with its plugins
    /// on a thread of `crate::cpu_pool`: answered, or declined for the
    /// blocking path as [`Self::token_request_from_snapshot`] declines
    /// (the keys may have become due for a re-read meanwhile).
    pub fn answer_with_plugins(&self, request: &SnapshotRequest, peer: Option<&str>) -> FromSnapshot {
        let started = Instant::now();
        if !self.issuer.keys().fresh() {
            return FromSnapshot::Declined;
        }
        self.answer_from_snapshot(request, peer, started)
    }

    /// Authenticates the client in memory and issues the token; counted
    /// and timed from `started`.
    fn answer_from_snapshot(&self, request: &SnapshotRequest, peer: Option<&str>, started: Instant) -> FromSnapshot {
        let Some(authenticated) = self.clients.authenticate_without_blocking(&request.presented, peer) else {
            return FromSnapshot::Declined;
        };
        let result = authenticated.and_then(|client| {
            // The caller sends requests with a DPoP header down the full
            // path; without one, a client that requires DPoP is refused
            // here as it is there.
            let jkt = self.dpop.token_request(None, &client)?;
            self.client_credentials(&client, &request.params, jkt.as_ref())
        });
        metrics::token_request(
            GrantType::ClientCredentials.as_str(),
            metrics::token_outcome(&result),
            started.elapsed(),
        );
        FromSnapshot::Answered(result)
    }

    /// A client_credentials token for the client `client_id` and the API
    /// `audience`, asked for by a signed-in administrator from the console
    /// (its "get a test token" action): the grant's rule, the service
    /// account, the plugin pipeline and the signer of a real request
    /// ([`Self::client_credentials`]), without the client's secret, which
    /// the administrator does not have. A disabled client, one that is not
    /// allowed client_credentials or the API, or one that must prove a DPoP
    /// key, is refused as the token endpoint refuses it. The caller audits it.
    pub fn test_token(&self, client_id: &str, audience: &str) -> Result<TokenResponse, OAuthError> {
        let snapshot = self.snapshots.current();
        let client = match snapshot.client(client_id) {
            Some(entry) if !entry.client.disabled => entry.client.clone(),
            Some(_) => return Err(OAuthError::invalid_client().with_detail("client disabled")),
            None => return Err(OAuthError::invalid_client().with_detail("no such client")),
        };
        drop(snapshot);
        let jkt = self.dpop.token_request(None, &client)?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", GrantType::ClientCredentials.as_str())
            .append_pair("audience", audience)
            .finish();
        self.client_credentials(&client, &Params::parse(body.as_bytes())?, jkt.as_ref())
    }

    /// [`Self::token_request`]'s work; sets `grant_label` to the grant's
    /// name once known (`unsupported` for any other value).
    fn answer(
        &self,
        authorization: Option<&str>,
        body: &[u8],
        peer: Option<&str>,
        dpop_proof: Option<&str>,
        grant_label: &mut &'static str,
    ) -> Result<TokenResponse, OAuthError> {
        let params = Params::parse(body)?;
        let name = params.require("grant_type")?;
        let unsupported =
            || OAuthError::new(ErrorCode::UnsupportedGrantType, format!("grant_type {name} is not supported"));
        let grant_type = name.parse::<GrantType>().ok().filter(|g| g.at_token_endpoint());
        *grant_label = grant_type.map_or("unsupported", GrantType::as_str);
        let grant_type = grant_type.ok_or_else(unsupported)?;
        let client = self.clients.authenticate(authorization, &params, peer)?;
        let jkt = self.dpop.token_request(dpop_proof, &client)?;
        let jkt = jkt.as_ref();
        match grant_type {
            GrantType::ClientCredentials => self.client_credentials(&client, &params, jkt),
            GrantType::Password => self.password(&client, &params, peer, jkt),
            GrantType::RefreshToken => self.refresh(&client, &params, jkt),
            GrantType::AuthorizationCode => self.authorization_code(&client, &params, jkt),
            GrantType::TokenExchange => self.token_exchange(&client, &params, jkt),
            GrantType::DeviceCode => self.device.redeem(&client, &params, jkt),
            GrantType::JwtBearer => self.jwt_bearer.redeem(&client, &params, jkt),
            GrantType::Implicit => Err(unsupported()),
        }
    }

    /// RFC 6749 §4.4.
    fn client_credentials(
        &self,
        client: &Client,
        params: &Params,
        jkt: Option<&Jkt>,
    ) -> Result<TokenResponse, OAuthError> {
        let req = client_credentials::parse(params)?;
        // Issue #13 item 2: API and service account from the snapshot, no
        // database query (`service::snapshot`).
        let snapshot = self.snapshots.current();
        let api = snapshot.api_by_identifier(req.audience.as_str());
        let plan = client_credentials::decide(&req, &client.profile(), api.map(|a| a.profile()).as_ref())?;
        let service_account = client
            .service_account_user_id
            .as_deref()
            .and_then(|id| snapshot.service_account(id))
            .filter(|u| !u.disabled);
        let signer = self.issuer.signer_for(&plan, api.and_then(|a| a.hs256_secret_enc.as_deref()))?;
        let service_account = service_account.map(|u| (u, UserSource::ServiceAccount));
        self.issuer.issue_bound(plan, client, service_account, &signer, None, jkt)
    }

    /// RFC 6749 §4.3.
    fn password(
        &self,
        client: &Client,
        params: &Params,
        peer: Option<&str>,
        jkt: Option<&Jkt>,
    ) -> Result<TokenResponse, OAuthError> {
        let profile = client.profile();
        password::check_client(&profile)?;
        let req = password::parse(params)?;
        let now = self.clock.now();
        // The grant cannot ask for a second factor: a user who has one (or
        // must enrol one) is answered as for a wrong password.
        let everyone = self.second_factor_required;
        let credentials = (req.username.as_str(), req.password.expose());
        let no_factor = |conn: &mut DbConn, u: &User| Ok(factor::next_step(conn, &u.id, everyone)? == NextStep::Done);
        let user = match sign_in_where(&self.store, &self.throttle, credentials, peer, now, no_factor) {
            Ok(u) => u,
            Err(SignInError::BadCredentials) => return Err(password::bad_credentials()),
            Err(SignInError::Throttled(secs)) => return Err(password::throttled(secs)),
            // Issue #11 item 17: retryable, 503 with Retry-After.
            Err(SignInError::Busy) => return Err(OAuthError::unavailable("every password-hashing worker is busy")),
            Err(SignInError::Store(e)) => return Err(store_failure(e)),
            Err(SignInError::Internal(e)) => return Err(OAuthError::server_error(e)),
        };
        let mut conn = self.store.conn().map_err(store_failure)?;
        let api = apis::find_by_identifier(&mut conn, req.audience.as_str()).map_err(store_failure)?;
        let plan =
            password::decide(&req, &profile, api.as_ref().map(|a| a.profile()).as_ref(), &UserId::new(&user.id))?;
        drop(conn);
        let signer = self.issuer.signer_for(&plan, api.as_ref().and_then(|a| a.hs256_secret_enc.as_deref()))?;
        let api_id = plan.api_id.clone();
        let mut resp =
            self.issuer.issue_bound(plan, client, Some((&user, UserSource::SignedIn)), &signer, None, jkt)?;
        if profile.allows_grant(GrantType::RefreshToken) {
            let family = clock::uuid();
            let issued = Issued::NewFamily(&family, GrantType::Password, None);
            let token = self.refresh.store(client, &user, &api_id, &resp, issued)?;
            resp.refresh_token = Some(token);
        }
        Ok(resp)
    }

    /// RFC 8693: the subject token's user, impersonated, for the requested
    /// API, with `act` naming the actor when an actor token is given.
    fn token_exchange(&self, client: &Client, params: &Params, jkt: Option<&Jkt>) -> Result<TokenResponse, OAuthError> {
        let profile = client.profile();
        token_exchange::check_client(&profile)?;
        let req = token_exchange::parse(params)?;
        let now = self.clock.now();
        let subject = self.presented_token(&req.subject, "subject_token", now)?;
        let actor = req.actor.as_ref().map(|a| self.presented_token(a, "actor_token", now)).transpose()?;
        let sub = subject.get("sub").and_then(Value::as_str).unwrap_or_default();
        let mut conn = self.store.conn().map_err(store_failure)?;
        let user = users::find(&mut conn, sub)
            .map_err(store_failure)?
            .filter(|u| !u.disabled)
            .ok_or_else(|| token_exchange::invalid_token("subject_token", "sub is no enabled user"))?;
        let api = apis::find_by_identifier(&mut conn, req.audience.as_str()).map_err(store_failure)?;
        drop(conn);
        let subject = token_exchange::Subject { user_id: user.id.clone(), claims: subject };
        let exchange = token_exchange::decide(
            &req,
            &profile,
            &client.exchange.profile(),
            api.as_ref().map(|a| a.profile()).as_ref(),
            &subject,
            actor.as_ref(),
            now,
        )?;
        let signer =
            self.issuer.signer_for(&exchange.plan, api.as_ref().and_then(|a| a.hs256_secret_enc.as_deref()))?;
        self.issuer.issue_exchanged(exchange.plan, client, &user, &signer, exchange.act, jkt)
    }

    /// The claims of a subject or actor token, if this issuer issued it and
    /// it is valid at `now`: access tokens by the rules userinfo and
    /// introspection apply, ID tokens by signature, issuer and expiry.
    fn presented_token(
        &self,
        presented: &PresentedToken,
        which: &str,
        now: i64,
    ) -> Result<Map<String, Value>, OAuthError> {
        let token = presented.token.expose();
        match presented.token_type {
            TokenType::AccessToken => own_access_token(&self.issuer, &self.store, &self.revoked, token, now)?
                .map(|t| t.claims)
                .ok_or_else(|| token_exchange::invalid_token(which, "not a valid access token of this issuer")),
            TokenType::IdToken => {
                let claims = self
                    .issuer
                    .keys()
                    .verify_id_token_hint(token, self.issuer.url())
                    .map_err(key_failure)?
                    .ok_or_else(|| token_exchange::invalid_token(which, "not an ID token of this issuer"))?;
                token_exchange::check_id_token(&claims, now)
                    .map_err(|why| token_exchange::invalid_token(which, why))?;
                Ok(claims)
            }
        }
    }

    /// RFC 6749 §6 with rotation: the old token is retired only when the new
    /// tokens are issued; a retired token presented again revokes the family.
    /// A refresh token bound to a DPoP key (RFC 9449 §5, public clients)
    /// needs a proof of that key.
    fn refresh(&self, client: &Client, params: &Params, jkt: Option<&Jkt>) -> Result<TokenResponse, OAuthError> {
        let presented = params.require("refresh_token")?;
        let requested = params.get("scope").map(ScopeSet::parse).transpose()?;
        let now = self.clock.now();
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
                    self.refresh.revoke_family(&stored.family_id, "reuse of a rotated refresh token");
                }
                return Err(refusal.error);
            }
        };
        // After the reuse check, so a rotated token replayed with any key
        // (or none) still revokes its family.
        if let Some(bound) = &stored.dpop_jkt
            && jkt.map(Jkt::as_str) != Some(bound.as_str())
        {
            return Err(dpop::invalid("the refresh token is bound to another key: prove possession of that key")
                .with_detail("refresh token DPoP binding"));
        }
        let user = users::find(&mut conn, &stored.user_id).map_err(store_failure)?.filter(|u| !u.disabled);
        let api = self.api_by_id(&mut conn, &stored.api_id)?;
        drop(conn);
        let (Some(user), Some((api, hs256))) = (user, api) else {
            self.refresh.revoke_family(&stored.family_id, "user disabled or deleted, or API deleted");
            return Err(invalid());
        };
        // Issue #11 item 5: today's rules, not those of the day of sign-in.
        if let Err(e) =
            refresh_token::still_allowed(&view.scopes, stored.grant_type, &client.profile(), &api, USERINFO_API_ID)
        {
            self.refresh.revoke_family(&stored.family_id, "the client or API no longer allows this grant");
            return Err(invalid().with_detail(e.description));
        }
        // OpenID Connect Core §12.2: a new ID token when the family's first
        // grant gave one and `openid` is still in scope, for the original
        // sign-in (its `auth_time` and `sid`) and without a nonce.
        let id = stored.auth_time.filter(|_| scopes.contains("openid")).map(|auth_time| IdTokenRequest {
            nonce: None,
            auth_time,
            sid: stored.sid.as_deref(),
            amr: stored.amr.as_deref(),
        });
        let plan = user_plan(GrantType::RefreshToken, &user.id, &client.id, &api, scopes);
        let signer = self.issuer.signer_for(&plan, hs256.as_deref())?;
        let api_id = plan.api_id.clone();
        let mut resp = self.issuer.issue_bound(plan, client, Some((&user, UserSource::SignedIn)), &signer, id, jkt)?;
        let token = self.refresh.store(client, &user, &api_id, &resp, Issued::Rotation(&stored))?;
        resp.refresh_token = Some(token);
        Ok(resp)
    }

    /// An API by internal id, with its sealed HS256 secret; the userinfo
    /// pseudo-API for OIDC requests without an audience.
    fn api_by_id(&self, conn: &mut DbConn, id: &str) -> Result<Option<ApiWithSecret>, OAuthError> {
        if id == USERINFO_API_ID {
            return Ok(Some((self.issuer.userinfo_api(), None)));
        }
        Ok(apis::find(conn, id).map_err(store_failure)?.map(|a| (a.profile(), a.hs256_secret_enc)))
    }

    /// RFC 6749 §4.1.3: redeems a code (single use, bound to the client, the
    /// redirect URI, the PKCE challenge and the `dpop_jkt` key, RFC 9449 §10). A valid replay revokes the access
    /// and refresh tokens issued from the code (RFC 6749 §4.1.2, RFC 9700
    /// §4.5), even when it races the redemption (`refresh.rs`).
    fn authorization_code(
        &self,
        client: &Client,
        params: &Params,
        jkt: Option<&Jkt>,
    ) -> Result<TokenResponse, OAuthError> {
        let code = params.require("code")?;
        let now = self.clock.now();
        let hash = SecretHash::of(code);
        let mut conn = self.store.conn().map_err(store_failure)?;
        let invalid =
            || OAuthError::new(ErrorCode::InvalidGrant, "the authorization code is invalid, expired or already used");
        let Some(stored) = grants::code(&mut conn, hash.as_str()).map_err(store_failure)? else {
            return Err(invalid().with_detail("unknown code"));
        };
        let view = redemption::StoredCode {
            client_id: stored.client_id.clone(),
            redirect_uri: stored.redirect_uri.clone(),
            code_challenge: stored.code_challenge.clone(),
            expires_at: stored.expires_at,
            used: stored.used_at.is_some(),
            dpop_jkt: stored.dpop_jkt.as_deref().map(Jkt::new),
        };
        if let Err(refusal) = redemption::check_redemption(&view, &client.id, params, jkt, now) {
            if refusal.revoke_issued {
                self.refresh.code_replayed(hash.as_str(), &stored.family_id, "authorization code reuse");
            }
            return Err(refusal.error);
        }
        if !grants::redeem_code(&mut conn, hash.as_str(), now).map_err(store_failure)? {
            self.refresh.code_replayed(hash.as_str(), &stored.family_id, "concurrent authorization code reuse");
            return Err(invalid().with_detail("code redeemed concurrently"));
        }
        let user = users::find(&mut conn, &stored.user_id).map_err(store_failure)?.filter(|u| !u.disabled);
        let api = match &stored.audience {
            Some(aud) => apis::find_by_identifier(&mut conn, aud)
                .map_err(store_failure)?
                .map(|a| (a.profile(), a.hs256_secret_enc)),
            None => Some((self.issuer.userinfo_api(), None)),
        };
        drop(conn);
        let (Some(user), Some((api, hs256))) = (user, api) else {
            return Err(invalid().with_detail("user or API no longer available"));
        };
        let scopes = ScopeSet::parse(&stored.scopes)?;
        let openid = scopes.contains("openid");
        let offline = scopes.contains("offline_access");
        let plan = user_plan(GrantType::AuthorizationCode, &user.id, &client.id, &api, scopes);
        let signer = self.issuer.signer_for(&plan, hs256.as_deref())?;
        let api_id = plan.api_id.clone();
        let id = openid.then_some(IdTokenRequest {
            nonce: stored.nonce.as_deref(),
            auth_time: stored.auth_time,
            sid: stored.sid.as_deref(),
            amr: stored.amr.as_deref(),
        });
        let sign_in = id.as_ref().map(|r| SignIn { auth_time: r.auth_time, sid: r.sid, amr: r.amr });
        let mut resp = self.issuer.issue_bound(plan, client, Some((&user, UserSource::SignedIn)), &signer, id, jkt)?;
        if offline && client.profile().allows_grant(GrantType::RefreshToken) {
            let issued = Issued::NewFamily(&stored.family_id, GrantType::AuthorizationCode, sign_in);
            let token = self.refresh.store(client, &user, &api_id, &resp, issued)?;
            resp.refresh_token = Some(token);
        }
        self.refresh.code_redeemed(hash.as_str(), &stored.family_id, &resp)?;
        Ok(resp)
    }
}
