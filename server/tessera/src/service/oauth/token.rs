//! The token endpoint's use case (RFC 6749 §3.2): parse, authenticate the
//! client, run the grant's decision, run the plugin pipeline, sign.
//!
//! Runs on a blocking thread. Every failure is an `OAuthError`; storage and
//! key failures go through `store_failure`/`key_failure`.

use crate::service::{key_failure, store_failure};
use crate::clock;
use crate::keys::{KeyRing, Signer};
use serde_json::{Map, Value};
use std::sync::Arc;
use tessera_protocol::claims::PluginClaims;
use tessera_protocol::client_auth::{self, AuthMethod};
use tessera_protocol::grant::{TokenPlan, client_credentials};
use tessera_protocol::model::{SigningAlg, grant_types};
use tessera_protocol::oidc::{IdTokenInput, UserClaimsSource, id_token_claims, user_claims};
use tessera_protocol::params::Params;
use tessera_protocol::secret::SecretHash;
use tessera_protocol::token::{ACCESS_TOKEN_TYP, TokenResponse, access_token_claims};
use tessera_protocol::{ErrorCode, OAuthError};
use tessera_store::clients::{self, Client};
use tessera_store::throttle::{self, Admission};
use tessera_store::users::{self, User};
use tessera_store::{Store, apis};

/// How the user in a token came to be there (mirrors the WIT `user-source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)] // Impersonated arrives with token exchange (RFC 8693)
pub enum UserSource {
    /// The resource owner authenticated.
    SignedIn,
    /// The client's service-account user.
    ServiceAccount,
    /// The subject of a token exchange.
    Impersonated,
}

/// What the plugin pipeline sees about a token about to be signed.
pub struct HookInput<'a> {
    /// The grant's decision; `scopes` are the granted scopes so far.
    pub plan: &'a TokenPlan,
    /// The client.
    pub client: &'a Client,
    /// The user, if any, and where it came from.
    pub user: Option<(&'a User, UserSource)>,
    /// Access-token claims Tessera computed.
    pub access_claims: &'a Map<String, Value>,
    /// ID-token claims, when an ID token is issued.
    pub id_claims: Option<&'a Map<String, Value>>,
}

/// What the pipeline changes.
#[derive(Debug, Default)]
pub struct HookOutput {
    /// Claims for the access token.
    pub access: PluginClaims,
    /// Claims for the ID token.
    pub id: PluginClaims,
    /// Scopes removed from the grant.
    pub drop_scopes: Vec<String>,
}

/// The plugin pipeline as the token service needs it: every grant calls it
/// just before signing, so no grant can bypass the bindings.
pub trait TokenHooks: Send + Sync {
    /// Runs the bindings for this token; a denial or a failing `deny` binding is the error.
    fn before_sign(&self, input: HookInput<'_>) -> Result<HookOutput, OAuthError>;
}

/// Asks `issue` for an ID token (OpenID Connect).
pub(crate) struct IdTokenRequest<'a> {
    /// The authorization request's nonce.
    pub nonce: Option<&'a str>,
    /// When the user authenticated.
    pub auth_time: i64,
}

/// Lifetimes and limits of the user grants.
#[derive(Debug, Clone)]
pub struct UserGrantSettings {
    /// A refresh-token family ends this long after the first sign-in.
    pub refresh_absolute_secs: i64,
    /// A refresh token unused this long ends.
    pub refresh_idle_secs: i64,
    /// Sign-in and client-secret throttling (see `service::sign_in`).
    pub throttle: crate::service::sign_in::ThrottleSettings,
    /// Lifetime of access tokens for userinfo (no API requested).
    pub userinfo_token_lifetime_secs: i64,
    /// The audience of those tokens: the userinfo endpoint's URL (the HTTP
    /// layer knows the path; the service is told).
    pub userinfo_audience: String,
    /// Authorization codes expire this fast (RFC 9700: short; FAPI 2: 60 s).
    pub code_lifetime_secs: i64,
    /// Browser sessions end this long after sign-in.
    pub session_lifetime_secs: i64,
}

/// The id under which tokens for the userinfo endpoint (no API requested)
/// are recorded.
pub const USERINFO_API_ID: &str = "userinfo";

impl TokenService {
    /// The built-in "API" of OpenID Connect requests without an audience:
    /// the userinfo endpoint, accepting exactly the OIDC scopes.
    pub fn userinfo_api(&self) -> tessera_protocol::model::ApiProfile {
        tessera_protocol::model::ApiProfile {
            id: tessera_protocol::ApiId::new(USERINFO_API_ID),
            audience: tessera_protocol::Audience::new(self.settings.userinfo_audience.clone()),
            alg: SigningAlg::RS256,
            token_lifetime_secs: self.settings.userinfo_token_lifetime_secs,
            scopes: tessera_protocol::ScopeSet::from_tokens(tessera_protocol::oidc::OIDC_SCOPES.iter().copied()),
        }
    }
}

/// Issues tokens.
pub struct TokenService {
    pub(crate) store: Store,
    pub(crate) keys: Arc<KeyRing>,
    pub(crate) issuer: String,
    hooks: Arc<dyn TokenHooks>,
    pub(crate) settings: UserGrantSettings,
}

impl TokenService {
    /// A service issuing tokens as `issuer`.
    pub fn new(
        store: Store,
        keys: Arc<KeyRing>,
        issuer: String,
        hooks: Arc<dyn TokenHooks>,
        settings: UserGrantSettings,
    ) -> TokenService {
        TokenService { store, keys, issuer, hooks, settings }
    }

    /// Handles one token request: the `Authorization` header and the form body.
    /// `peer` is the client address (`web::client_addr`), used to throttle
    /// sign-in and client-secret failures.
    pub fn token_request(
        &self,
        authorization: Option<&str>,
        body: &[u8],
        peer: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let params = Params::parse(body)?;
        let grant_type = params.require("grant_type")?;
        if !grant_types::SUPPORTED.contains(&grant_type) {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant_type {grant_type} is not supported"),
            ));
        }
        let client = self.authenticate(authorization, &params, peer)?;
        match grant_type {
            grant_types::CLIENT_CREDENTIALS => self.client_credentials(&client, &params),
            grant_types::PASSWORD => self.password(&client, &params, peer),
            grant_types::REFRESH_TOKEN => self.refresh(&client, &params),
            grant_types::AUTHORIZATION_CODE => self.authorization_code(&client, &params),
            other => {
                Err(OAuthError::new(ErrorCode::UnsupportedGrantType, format!("grant_type {other} is not supported")))
            }
        }
    }

    /// RFC 6749 §2.3 and §3.2.1: authenticate confidential clients, identify
    /// public ones. `addr` is the client address (`web::client_addr`).
    ///
    /// Issue #11 item 8: wrong secrets count per (client id, address) pair
    /// with the sign-in pair limits (`[login] max_failures` in the window,
    /// then a lock that doubles each time). A locked pair is answered 429
    /// `invalid_client` with `Retry-After` without looking at the secret.
    /// Keying on the pair means nobody can lock the real client out from
    /// another address. Only a check (one read) runs on the success path.
    pub(crate) fn authenticate(
        &self,
        authorization: Option<&str>,
        params: &Params,
        addr: Option<&str>,
    ) -> Result<Client, OAuthError> {
        let presented = client_auth::extract(authorization, params)?;
        let mut conn = self.store.conn().map_err(store_failure)?;
        let now = clock::now();
        let limits = &self.settings.throttle;
        let key = (presented.secret.is_some()).then(|| {
            let id = SecretHash::of(presented.client_id.as_str());
            format!("client:pair:{}|{}", id.as_str(), addr.unwrap_or("unknown"))
        });
        if let Some(k) = &key
            && let Admission::Refused { until } =
                throttle::check(&mut conn, k, now, limits.pair).map_err(store_failure)?
        {
            return Err(OAuthError::invalid_client()
                .with_detail("too many wrong client secrets from this address")
                .throttled((until - now).max(1) as u64));
        }
        let found = clients::find(&mut conn, presented.client_id.as_str()).map_err(store_failure)?;
        let result = match found {
            // Issue #11 item 5: a disabled client authenticates as nothing
            // (after the same hashing work, so the answer takes as long).
            Some(client) if client.disabled => {
                let _ = client_auth::verify_secret(&presented, &[SecretHash::of("")]);
                Err(OAuthError::invalid_client().with_detail("client disabled"))
            }
            Some(client) if client.confidential => {
                let hashes = clients::active_secret_hashes(&mut conn, &client.id, now).map_err(store_failure)?;
                client_auth::verify_secret(&presented, &hashes).map(|()| client)
            }
            Some(client) if presented.method == AuthMethod::None => Ok(client),
            Some(_) => Err(OAuthError::invalid_client().with_detail("public client sent a secret")),
            None => {
                // Hash anyway so an unknown id costs what a known one does.
                let _ = client_auth::verify_secret(&presented, &[SecretHash::of("")]);
                Err(OAuthError::invalid_client().with_detail("unknown client"))
            }
        };
        if let (Some(k), Err(e)) = (&key, &result)
            && e.code == ErrorCode::InvalidClient
        {
            throttle::record_failure(&mut conn, k, now, limits.pair).map_err(store_failure)?;
            if let Some(until) =
                throttle::lock_if_spent(&mut conn, k, now, limits.pair, limits.lock_secs, limits.max_lock_secs)
                    .map_err(store_failure)?
            {
                tracing::warn!(key = %k, until, "client authentication locked for this address");
            }
        }
        result
    }

    /// RFC 6749 §4.4.
    fn client_credentials(&self, client: &Client, params: &Params) -> Result<TokenResponse, OAuthError> {
        let req = client_credentials::parse(params)?;
        let mut conn = self.store.conn().map_err(store_failure)?;
        let api = apis::find_by_identifier(&mut conn, req.audience.as_str()).map_err(store_failure)?;
        let plan = client_credentials::decide(&req, &client.profile(), api.as_ref().map(|a| a.profile()).as_ref())?;
        let service_account = match &client.service_account_user_id {
            Some(id) => users::find(&mut conn, id).map_err(store_failure)?.filter(|u| !u.disabled),
            None => None,
        };
        drop(conn);
        let signer = self.signer_for(&plan, api.as_ref().map(|a| a.hs256_secret_enc.as_deref()).unwrap_or(None))?;
        self.issue(plan, client, service_account.as_ref().map(|u| (u, UserSource::ServiceAccount)), &signer, None)
    }

    /// Runs the pipeline on `plan` and signs the access token.
    /// Runs the pipeline on `plan`, signs the access token and, when `id`
    /// is given and a user is present, the ID token (OIDC Core §2).
    pub(crate) fn issue(
        &self,
        mut plan: TokenPlan,
        client: &Client,
        user: Option<(&User, UserSource)>,
        signer: &Signer,
        id: Option<IdTokenRequest<'_>>,
    ) -> Result<TokenResponse, OAuthError> {
        let now = clock::now();
        let jti = clock::random_id(22).map_err(|e| OAuthError::server_error(e.to_string()))?;
        let base = access_token_claims(&self.issuer, &plan, now, &jti, &PluginClaims::default());
        let id_input = match (&id, user) {
            (Some(req), Some((u, _))) => Some(IdTokenInput {
                issuer: &self.issuer,
                sub: &u.id,
                client_id: &client.id,
                now,
                lifetime_secs: plan.lifetime_secs,
                auth_time: req.auth_time,
                nonce: req.nonce,
                access_token: None,
            }),
            _ => None,
        };
        let base_id = match (&id_input, user) {
            (Some(input), Some((u, _))) => {
                let source = UserClaimsSource { username: &u.username, email: u.email.as_deref(), profile: &u.profile };
                let scopes = plan.scopes.to_vec();
                Some(id_token_claims(input, user_claims(scopes.iter().map(String::as_str), &source)))
            }
            _ => None,
        };
        let out = self.hooks.before_sign(HookInput {
            plan: &plan,
            client,
            user,
            access_claims: &base,
            id_claims: base_id.as_ref(),
        })?;
        plan.scopes.remove_all(out.drop_scopes.iter().map(String::as_str));
        let claims = access_token_claims(&self.issuer, &plan, now, &jti, &out.access);
        let access_token = signer.sign(ACCESS_TOKEN_TYP, &claims).map_err(key_failure)?;
        let id_token = match (id_input, base_id) {
            (Some(mut input), Some(mut id_claims)) => {
                out.id.apply_to(&mut id_claims);
                input.access_token = Some(&access_token);
                // Reserved claims (iss, sub, aud, nonce, at_hash, ...) are set
                // last, so nothing a plugin returned can replace them.
                let own = id_token_claims(&input, Map::new());
                id_claims.extend(own);
                let id_signer = self.keys.signer(SigningAlg::RS256).map_err(key_failure)?;
                Some(id_signer.sign("JWT", &id_claims).map_err(key_failure)?)
            }
            _ => None,
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: plan.lifetime_secs,
            scope: (!plan.scopes.is_empty()).then(|| plan.scopes.to_string()),
            refresh_token: None,
            id_token,
        })
    }

    pub(crate) fn signer_for(
        &self,
        plan: &TokenPlan,
        hs256_secret_enc: Option<&[u8]>,
    ) -> Result<Arc<Signer>, OAuthError> {
        match plan.alg {
            SigningAlg::HS256 => {
                let sealed = hs256_secret_enc.ok_or_else(|| OAuthError::server_error("HS256 API has no secret"))?;
                let secret = self
                    .keys
                    .master()
                    .open(&crate::crypto::purpose::hs256_secret(plan.api_id.as_str()), sealed)
                    .map_err(|e| OAuthError::server_error(e.to_string()))?;
                Ok(Arc::new(Signer::hs256(format!("hs256-{}", plan.api_id), &secret)))
            }
            alg => self.keys.signer(alg).map_err(key_failure),
        }
    }
}
