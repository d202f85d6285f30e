//! The OAuth 2.0 / OpenID Connect endpoints' use cases, one service per
//! endpoint, each in its own file:
//!
//! | endpoint | service | file |
//! |---|---|---|
//! | token (RFC 6749 §3.2) | [`TokenService`] | `token.rs` (+ `refresh.rs`; the JWT bearer grant in `jwt_bearer.rs`) |
//! | authorization and consent (RFC 6749 §4.1.1) | [`AuthorizeService`] | `authorize.rs` |
//! | device authorization, its user page and polls (RFC 8628) | [`DeviceService`] | `device.rs` |
//! | pushed authorization requests (RFC 9126) | [`ParService`] | `par.rs` (resolved in `authorize.rs`) |
//! | hosted login form | [`LoginService`] | `login.rs` |
//! | end session (RP-Initiated Logout; Back-Channel Logout tokens) | [`LogoutService`] | `logout.rs` (+ `backchannel.rs`, the queue that posts them) |
//! | introspection (RFC 7662) | [`IntrospectionService`] | `introspection.rs` |
//! | revocation (RFC 7009) | [`RevocationService`] | `revocation.rs` |
//! | userinfo (OIDC Core §5.3) | [`UserinfoService`] | `userinfo.rs` |
//! | DPoP proofs at the token endpoint and userinfo (RFC 9449) | [`DpopProofs`] | `dpop.rs` |
//! | management API bearer tokens | [`ManagementAuth`] | `management.rs` |
//!
//! They share the [`Issuer`] (claims, plugin pipeline, signer; `issuer.rs`),
//! client authentication (`client_auth.rs`, with `client_assertion.rs` for
//! `private_key_jwt`), the per-node cache of key sets registered by URL
//! (`remote_jwks.rs`, also used by the JWT bearer grant) and the check that a JWT is one
//! of our access tokens (`access_token.rs`), which consults this node's
//! copy of the revoked access tokens (`revoked.rs`). Pure rules live in
//! `tessera_protocol`; a service loads what a rule needs, calls it, and
//! stores what it decided. Every service reads the time from its
//! [`SharedClock`], never from the system clock, so tests drive expiry with a
//! `clock::SetClock`. A new endpoint gets a file and a field in
//! [`OAuthServices`]; a new grant gets a rule module in
//! `tessera_protocol::grant` and an arm in [`TokenService::token_request`].

pub mod access_token;
pub mod authorize;
pub mod backchannel;
pub mod client_assertion;
pub mod client_auth;
pub mod device;
pub mod dpop;
pub mod introspection;
pub mod issuer;
pub mod jwt_bearer;
pub mod login;
pub mod logout;
pub mod management;
pub mod par;
pub mod refresh;
pub mod remote_jwks;
pub mod request_object;
pub mod revocation;
pub mod revoked;
pub mod token;
pub mod userinfo;

pub use authorize::AuthorizeService;
pub use device::DeviceService;
pub use dpop::{DpopProofs, DpopSettings};
pub use introspection::IntrospectionService;
pub use issuer::{Issuer, TokenHooks, UserinfoApiSettings};
pub use login::{LoginService, SecondFactorSettings};
pub use logout::LogoutService;
pub use management::ManagementAuth;
pub use par::{ParService, ParSettings};
pub use refresh::RefreshLifetimes;
pub use remote_jwks::RemoteJwksSettings;
pub use revocation::RevocationService;
pub use revoked::RevokedTokens;
pub use token::{FromSnapshot, SnapshotRequest, TokenService};
pub use userinfo::UserinfoService;

use crate::clock::SharedClock;
use crate::keys::KeyRing;
use crate::service::sign_in::ThrottleSettings;
use crate::service::snapshot::Snapshots;
use client_auth::ClientAuthenticator;
use refresh::RefreshTokens;
use std::sync::Arc;
use std::time::Duration;
use tessera_store::Store;

/// How long a client's `backchannel_logout_uri` has to answer a Logout
/// Token (connect and whole exchange), as Keycloak's default.
const BACKCHANNEL_TIMEOUT: Duration = Duration::from_secs(5);

/// What the OAuth services are configured with (config `[tokens]` and `[login]`).
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// The issuer URL (`iss`), without trailing slash.
    pub issuer: String,
    /// The userinfo pseudo-API (OIDC requests naming no audience).
    pub userinfo: UserinfoApiSettings,
    /// Refresh-token lifetimes.
    pub refresh: RefreshLifetimes,
    /// Authorization codes expire this fast (RFC 9700: short; FAPI 2: 60 s).
    pub code_lifetime_secs: i64,
    /// Which clients must send a PKCE challenge (`[tokens] pkce`), at the
    /// authorization and PAR endpoints alike.
    pub pkce: tessera_protocol::pkce::Requirement,
    /// Browser sessions end this long after sign-in.
    pub session_lifetime_secs: i64,
    /// Sign-in and client-secret throttling (see `service::sign_in`); also
    /// limits wrong device user codes per address.
    pub throttle: ThrottleSettings,
    /// The device grant's user page (RFC 8628 `verification_uri`): the HTTP
    /// layer knows the path, the services are told.
    pub device_verification_uri: String,
    /// Pushed authorization requests (`[par]`).
    pub par: ParSettings,
    /// What a client assertion's `aud` may name (RFC 7523 §3: the issuer
    /// or the URL of the endpoint it authenticates at).
    pub assertion_audiences: Vec<String>,
    /// What a JWT bearer grant assertion's `aud` may name (RFC 7523 §3: the
    /// issuer or the token endpoint URL).
    pub bearer_audiences: Vec<String>,
    /// Keys fetched from a `jwks_uri` (`[remote_jwks]`).
    pub remote_jwks: RemoteJwksSettings,
    /// DPoP proofs (`[dpop]`, RFC 9449).
    pub dpop: DpopSettings,
    /// End users' second factor at sign-in (`[login]`).
    pub second_factor: SecondFactorSettings,
}

/// One service per OAuth/OIDC endpoint, built together so they share one
/// issuer, one client authenticator and one clock.
#[derive(Clone)]
pub struct OAuthServices {
    /// The token endpoint.
    pub token: Arc<TokenService>,
    /// The authorization endpoint and its consent form.
    pub authorize: Arc<AuthorizeService>,
    /// The device authorization endpoint and its user page (RFC 8628).
    pub device: Arc<DeviceService>,
    /// The pushed authorization request endpoint (RFC 9126).
    pub par: Arc<ParService>,
    /// The login form.
    pub login: Arc<LoginService>,
    /// The end-session endpoint.
    pub logout: Arc<LogoutService>,
    /// The introspection endpoint.
    pub introspection: Arc<IntrospectionService>,
    /// The revocation endpoint.
    pub revocation: Arc<RevocationService>,
    /// The userinfo endpoint.
    pub userinfo: Arc<UserinfoService>,
    /// This node's copy of the revoked access tokens; whoever writes a
    /// revocation on this node (the console) tells it through `changed`.
    pub revoked: Arc<RevokedTokens>,
    /// Bearer tokens of the management API (`management.rs`).
    pub management: Arc<ManagementAuth>,
    /// DPoP proofs and server nonces (the HTTP layer adds `DPoP-Nonce`).
    pub dpop: Arc<DpopProofs>,
}

impl OAuthServices {
    /// Wires every endpoint's service over `store` and `keys`, running
    /// `hooks` (the plugin pipeline) before every signature; client
    /// authentication and client_credentials read `snapshots`.
    pub fn new(
        store: Store,
        keys: Arc<KeyRing>,
        hooks: Arc<dyn TokenHooks>,
        clock: SharedClock,
        settings: OAuthSettings,
        snapshots: Arc<Snapshots>,
    ) -> OAuthServices {
        let OAuthSettings {
            issuer,
            userinfo,
            refresh,
            code_lifetime_secs,
            pkce,
            session_lifetime_secs,
            throttle,
            device_verification_uri,
            par,
            assertion_audiences,
            bearer_audiences,
            remote_jwks,
            dpop,
            second_factor,
        } = settings;
        let remote_jwks = Arc::new(remote_jwks::RemoteJwks::new(remote_jwks, clock.clone()));
        let request_objects =
            Arc::new(request_object::RequestObjects::new(remote_jwks.clone(), issuer.clone(), clock.clone()));
        let dpop = Arc::new(DpopProofs::new(store.clone(), clock.clone(), keys.clone(), dpop));
        let issuer = Arc::new(Issuer::new(keys, issuer, hooks, clock.clone(), userinfo));
        let clients = Arc::new(ClientAuthenticator::new(
            store.clone(),
            clock.clone(),
            throttle.clone(),
            snapshots.clone(),
            assertion_audiences,
            remote_jwks.clone(),
        ));
        let revoked = Arc::new(RevokedTokens::new(store.clone(), clock.clone()));
        let device = Arc::new(DeviceService::new(
            store.clone(),
            clock.clone(),
            issuer.clone(),
            clients.clone(),
            RefreshTokens::new(store.clone(), clock.clone(), refresh.clone(), revoked.clone()),
            throttle.clone(),
            device_verification_uri,
        ));
        let refresh = RefreshTokens::new(store.clone(), clock.clone(), refresh, revoked.clone());
        OAuthServices {
            token: Arc::new(TokenService {
                store: store.clone(),
                clock: clock.clone(),
                issuer: issuer.clone(),
                clients: clients.clone(),
                refresh,
                throttle: throttle.clone(),
                revoked: revoked.clone(),
                snapshots: snapshots.clone(),
                device: device.clone(),
                jwt_bearer: jwt_bearer::JwtBearerGrant::new(
                    store.clone(),
                    clock.clone(),
                    issuer.clone(),
                    remote_jwks,
                    bearer_audiences,
                ),
                dpop: dpop.clone(),
                second_factor_required: second_factor.required,
            }),
            device,
            par: Arc::new(ParService::new(
                store.clone(),
                clock.clone(),
                clients.clone(),
                dpop.clone(),
                request_objects.clone(),
                par,
                pkce,
            )),
            authorize: Arc::new(AuthorizeService::new(
                store.clone(),
                clock.clone(),
                issuer.clone(),
                request_objects,
                code_lifetime_secs,
                pkce,
                par,
            )),
            login: Arc::new(LoginService::new(
                store.clone(),
                clock.clone(),
                throttle,
                session_lifetime_secs,
                second_factor,
            )),
            logout: Arc::new(LogoutService::new(
                store.clone(),
                clock.clone(),
                issuer.clone(),
                Arc::new(backchannel::BackchannelSender::start(BACKCHANNEL_TIMEOUT)),
            )),
            introspection: Arc::new(IntrospectionService::new(
                store.clone(),
                clock.clone(),
                issuer.clone(),
                clients.clone(),
                revoked.clone(),
                snapshots,
            )),
            revocation: Arc::new(RevocationService::new(
                store.clone(),
                clock.clone(),
                issuer.clone(),
                clients,
                revoked.clone(),
            )),
            management: Arc::new(ManagementAuth::new(store.clone(), clock.clone(), issuer.clone(), revoked.clone())),
            userinfo: Arc::new(UserinfoService::new(store, clock, issuer, revoked.clone(), dpop.clone())),
            revoked,
            dpop,
        }
    }
}
