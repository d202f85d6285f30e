//! The issuer every OAuth service shares: builds a token's claims, runs the
//! plugin pipeline on them just before signing, and signs (RFC 9068 access
//! tokens, OIDC Core §2 ID tokens). A grant decides a [`TokenPlan`]; nothing
//! signs a token without passing through [`Issuer::issue`], so no grant can
//! bypass the plugin bindings.

use crate::clock::{self, SharedClock};
use crate::keys::{KeyRing, Signer};
use crate::service::key_failure;
use serde_json::{Map, Value};
use std::sync::Arc;
use tessera_protocol::claims::PluginClaims;
use tessera_protocol::grant::{TokenPlan, token_exchange};
use tessera_protocol::model::{ApiProfile, SigningAlg};
use tessera_protocol::oidc::{IdTokenInput, OIDC_SCOPES, UserClaimsSource, id_token_claims, user_claims};
use tessera_protocol::token::{ACCESS_TOKEN_TYP, TokenResponse, access_token_claims, apply_plugin_output};
use tessera_protocol::{ApiId, Audience, Jkt, OAuthError, ScopeSet, UserSource, dpop};
use tessera_store::clients::Client;
use tessera_store::users::User;

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

/// The plugin pipeline as the issuer needs it: every grant calls it just
/// before signing, so no grant can bypass the bindings.
pub trait TokenHooks: Send + Sync {
    /// Runs the bindings for this token; a denial or a failing `deny` binding is the error.
    fn before_sign(&self, input: HookInput<'_>) -> Result<HookOutput, OAuthError>;
}

/// Asks [`Issuer::issue`] for an ID token (OpenID Connect).
pub(crate) struct IdTokenRequest<'a> {
    /// The authorization request's nonce.
    pub nonce: Option<&'a str>,
    /// When the user authenticated.
    pub auth_time: i64,
    /// The browser session's `sid` (Back-Channel Logout), when the token
    /// comes from one.
    pub sid: Option<&'a str>,
    /// How the user authenticated (RFC 8176 values, space-separated), when
    /// recorded: the `amr` claim.
    pub amr: Option<&'a str>,
}

/// The id under which tokens for the userinfo endpoint (no API requested)
/// are recorded.
pub const USERINFO_API_ID: &str = "userinfo";

/// The built-in "API" of OpenID Connect requests that name no audience: the
/// userinfo endpoint.
#[derive(Debug, Clone)]
pub struct UserinfoApiSettings {
    /// The audience of its tokens: the userinfo endpoint's URL (the HTTP
    /// layer knows the path; the services are told).
    pub audience: String,
    /// Lifetime of its access tokens.
    pub token_lifetime_secs: i64,
}

/// The ID token's fixed part for `plan`, when one is asked for (`id`) and a
/// user is present: what [`claims_before_plugins`] builds the ID-token
/// claims from, and what is set again after the plugins ran.
pub(crate) fn id_token_input<'a>(
    issuer: &'a str,
    plan: &TokenPlan,
    client: &'a Client,
    user: Option<&'a User>,
    id: Option<&IdTokenRequest<'a>>,
    now: i64,
) -> Option<IdTokenInput<'a>> {
    match (id, user) {
        (Some(req), Some(u)) => Some(IdTokenInput {
            issuer,
            sub: &u.id,
            client_id: &client.id,
            now,
            lifetime_secs: plan.lifetime_secs,
            auth_time: req.auth_time,
            nonce: req.nonce,
            access_token: None,
            sid: req.sid,
            amr: req.amr,
        }),
        _ => None,
    }
}

/// The access-token and ID-token claims the plugins see for `plan`, before
/// any plugin ran. [`Issuer::issue`] builds them here, and so does the
/// console's test panel (`service::plugin_trial::sample_context`), so a plugin
/// sees in the panel what it sees in production (`sub`, `aud`, `scope`,
/// `client_id`, the user's claims), only the times and `jti` differing.
pub(crate) fn claims_before_plugins(
    issuer: &str,
    plan: &TokenPlan,
    user: Option<&User>,
    id_input: Option<&IdTokenInput<'_>>,
    now: i64,
    jti: &str,
) -> (Map<String, Value>, Option<Map<String, Value>>) {
    let access_claims = access_token_claims(issuer, plan, now, jti);
    let id_claims = match (id_input, user) {
        (Some(input), Some(u)) => {
            let source = UserClaimsSource { username: &u.username, email: u.email.as_deref(), profile: &u.profile };
            let scopes = plan.scopes.to_vec();
            Some(id_token_claims(input, user_claims(scopes.iter().map(String::as_str), &source)))
        }
        _ => None,
    };
    (access_claims, id_claims)
}

/// Claims, plugin pipeline and signer, shared by every OAuth service.
pub struct Issuer {
    keys: Arc<KeyRing>,
    issuer: String,
    hooks: Arc<dyn TokenHooks>,
    clock: SharedClock,
    userinfo: UserinfoApiSettings,
}

impl Issuer {
    /// An issuer signing as `issuer` with `keys`, running `hooks` before every signature.
    pub fn new(
        keys: Arc<KeyRing>,
        issuer: String,
        hooks: Arc<dyn TokenHooks>,
        clock: SharedClock,
        userinfo: UserinfoApiSettings,
    ) -> Issuer {
        Issuer { keys, issuer, hooks, clock, userinfo }
    }

    /// The issuer URL (`iss`), without trailing slash.
    pub fn url(&self) -> &str {
        &self.issuer
    }

    /// The signing keys (verification goes through them too).
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// The built-in "API" of OpenID Connect requests without an audience:
    /// the userinfo endpoint, accepting exactly the OIDC scopes.
    pub fn userinfo_api(&self) -> ApiProfile {
        ApiProfile {
            id: ApiId::new(USERINFO_API_ID),
            audience: Audience::new(self.userinfo.audience.clone()),
            alg: SigningAlg::RS256,
            token_lifetime_secs: self.userinfo.token_lifetime_secs,
            scopes: ScopeSet::from_tokens(OIDC_SCOPES.iter().copied()),
        }
    }

    /// Runs the pipeline on `plan`, signs the access token and, when `id`
    /// is given and a user is present, the ID token (OIDC Core §2).
    pub(crate) fn issue(
        &self,
        plan: TokenPlan,
        client: &Client,
        user: Option<(&User, UserSource)>,
        signer: &Signer,
        id: Option<IdTokenRequest<'_>>,
    ) -> Result<TokenResponse, OAuthError> {
        self.issue_bound(plan, client, user, signer, id, None)
    }

    /// [`Issuer::issue`], with the access token bound to the DPoP key `jkt`
    /// when one is given (RFC 9449 §6: `cnf.jkt`, `token_type` `DPoP`).
    /// The plugins see `cnf` among the access-token claims; it is reserved
    /// (`protocol::claims`), so none can remove or change the binding.
    pub(crate) fn issue_bound(
        &self,
        plan: TokenPlan,
        client: &Client,
        user: Option<(&User, UserSource)>,
        signer: &Signer,
        id: Option<IdTokenRequest<'_>>,
        jkt: Option<&Jkt>,
    ) -> Result<TokenResponse, OAuthError> {
        self.issue_with_act(plan, client, user, signer, id, None, jkt)
    }

    /// Issues the access token of a token exchange (RFC 8693 §2.2.1) for
    /// `user`, impersonated: `act` (§4.1) is in the claims the plugins see,
    /// since the WIT context has no field for the actor. It is a reserved
    /// claim (`protocol::claims`), so no plugin can change who acts. Bound
    /// to `jkt` when the request carried a DPoP proof.
    pub(crate) fn issue_exchanged(
        &self,
        plan: TokenPlan,
        client: &Client,
        user: &User,
        signer: &Signer,
        act: Option<Value>,
        jkt: Option<&Jkt>,
    ) -> Result<TokenResponse, OAuthError> {
        let mut resp =
            self.issue_with_act(plan, client, Some((user, UserSource::Impersonated)), signer, None, act, jkt)?;
        resp.issued_token_type = Some(token_exchange::ACCESS_TOKEN_TYPE);
        Ok(resp)
    }

    #[allow(clippy::too_many_arguments)] // one private function behind three public entries
    fn issue_with_act(
        &self,
        mut plan: TokenPlan,
        client: &Client,
        user: Option<(&User, UserSource)>,
        signer: &Signer,
        id: Option<IdTokenRequest<'_>>,
        act: Option<Value>,
        jkt: Option<&Jkt>,
    ) -> Result<TokenResponse, OAuthError> {
        let now = self.clock.now();
        let jti = clock::random_id(22).map_err(|e| OAuthError::server_error(e.to_string()))?;
        let user_row = user.map(|(u, _)| u);
        let id_input = id_token_input(&self.issuer, &plan, client, user_row, id.as_ref(), now);
        let (mut access_claims, base_id) =
            claims_before_plugins(&self.issuer, &plan, user_row, id_input.as_ref(), now, &jti);
        if let Some(act) = act {
            access_claims.insert("act".into(), act);
        }
        if let Some(jkt) = jkt {
            access_claims.insert("cnf".into(), dpop::cnf(jkt));
        }
        let out = self.hooks.before_sign(HookInput {
            plan: &plan,
            client,
            user,
            access_claims: &access_claims,
            id_claims: base_id.as_ref(),
        })?;
        plan.scopes.remove_all(out.drop_scopes.iter().map(String::as_str));
        apply_plugin_output(&mut access_claims, &plan.scopes, &out.access);
        let access_token = signer.sign(ACCESS_TOKEN_TYP, &access_claims).map_err(key_failure)?;
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
            token_type: if jkt.is_some() { dpop::TOKEN_TYPE } else { "Bearer" },
            expires_in: plan.lifetime_secs,
            scope: (!plan.scopes.is_empty()).then(|| plan.scopes.to_string()),
            refresh_token: None,
            id_token,
            issued_token_type: None,
        })
    }

    /// The signer for `plan`: the API's own HS256 secret (sealed at rest
    /// under the master key), or the issuer's current key for the algorithm.
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
