//! The authorization endpoint's use case (RFC 6749 §4.1.1, OIDC Core
//! §3.1.2): validate the request, find the browser's session or ask the user
//! to sign in, and answer the client with a code at its registered redirect
//! URI. Third-party clients ask the user's consent, recorded per user,
//! client and API; the consent form's answer resumes the same request here
//! ([`AuthorizeService::consent`]), so authorization and consent share one
//! service. Clients an admin enabled the implicit grant for get their
//! tokens here too (RFC 6749 §4.2).

use super::issuer::{IdTokenRequest, Issuer, USERINFO_API_ID};
use super::par::ParSettings;
use super::request_object::RequestObjects;
use crate::clock::{self, SharedClock};
use crate::service::store_failure;
use std::sync::Arc;
use tessera_protocol::backchannel;
use tessera_protocol::grant::authorization_code::request::{self, Refusal, Request, ResponseKind, ResponseMode};
use tessera_protocol::grant::authorization_code::response::{Delivery, deliver};
use tessera_protocol::grant::authorization_code::{pushed, request_object};
use tessera_protocol::grant::plan_for_api;
use tessera_protocol::grant::user_plan;
use tessera_protocol::model::GrantType;
use tessera_protocol::oidc::{self, OIDC_SCOPES, scope_description};
use tessera_protocol::params::Params;
use tessera_protocol::pkce;
use tessera_protocol::secret::{PlainSecret, SecretHash};
use tessera_protocol::{ErrorCode, OAuthError, ScopeSet, UserSource};
use tessera_store::clients::Client;
use tessera_store::grants::{self, AuthorizationCode, Session};
use tessera_store::users::User;
use tessera_store::{Store, apis, clients, users};

/// How long a pushed request stays usable once the browser brought it here
/// (RFC 9126 §4 allows reloads): time to sign in and consent, after the short
/// `[par] lifetime_secs` that only bridges the redirect.
pub const PUSHED_HOLD_SECS: i64 = 600;

/// How an authorization request's parameters reached the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arrived {
    /// In the query or form, as they are.
    Query,
    /// In a request object the client signed (RFC 9101).
    Signed,
    /// Pushed first (RFC 9126), signed or not.
    Pushed,
}

/// What the browser gets.
#[derive(Debug)]
pub enum Outcome {
    /// Go to this URL (the client's redirect URI with a code or an error).
    Redirect(String),
    /// Show the login form; `query` is the authorization request to resume.
    Login {
        /// The authorization request, to resume after sign-in.
        query: String,
        /// The client's display name.
        client_name: String,
    },
    /// The session was signed in with the password alone and the request
    /// asks for a second factor (`acr_values`): ask this user for one (or
    /// its enrolment), then resume `query`.
    StepUp {
        /// The session's user.
        user_id: String,
        /// The session's hash: it gains the factor in place.
        session_hash: String,
        /// The authorization request, to resume after the second factor.
        query: String,
        /// The client's display name.
        client_name: String,
    },
    /// Show an error page (the redirect URI cannot be trusted).
    Page(String),
    /// Ask the signed-in user to approve the client's access.
    Consent {
        /// The authorization request to resume.
        query: String,
        /// The client's display name.
        client_name: String,
        /// The display name of the API the access is for.
        api_name: String,
        /// The API's identifier (the tokens' audience).
        api_identifier: String,
        /// The scopes asked for, each with what it allows when that is
        /// known: the API's description of it (set on the console's API
        /// page), else the built-in one of an OpenID Connect scope.
        scopes: Vec<(String, Option<String>)>,
        /// For a client that registered itself (RFC 7591), whose name no
        /// administrator chose: the host its redirect URI goes to.
        registered_host: Option<String>,
    },
    /// POST these fields to `action` from an auto-submitting page (form_post).
    FormPost {
        /// The client's redirect URI.
        action: String,
        /// The response parameters.
        fields: Vec<(String, String)>,
    },
}

/// The API a consent is recorded for, and how the consent page names it.
struct ConsentApi {
    /// The API's internal id (`userinfo` for OpenID Connect requests without an audience).
    id: String,
    /// Display name.
    name: String,
    /// Identifier (audience).
    identifier: String,
}

impl From<Delivery> for Outcome {
    fn from(d: Delivery) -> Outcome {
        match d {
            Delivery::Redirect(url) => Outcome::Redirect(url),
            Delivery::FormPost { action, fields } => Outcome::FormPost { action, fields },
        }
    }
}

/// The authorization endpoint and its consent form.
pub struct AuthorizeService {
    store: Store,
    clock: SharedClock,
    issuer: Arc<Issuer>,
    request_objects: Arc<RequestObjects>,
    code_lifetime_secs: i64,
    pkce: pkce::Requirement,
    par: ParSettings,
}

impl AuthorizeService {
    /// Authorization codes issued here expire after `code_lifetime_secs`
    /// (RFC 9700: short; FAPI 2: 60 s); `pkce` says which clients must send
    /// a challenge; `par` says whether requests by reference (RFC 9126) are
    /// taken; signed requests (RFC 9101) are read by `request_objects`.
    pub(crate) fn new(
        store: Store,
        clock: SharedClock,
        issuer: Arc<Issuer>,
        request_objects: Arc<RequestObjects>,
        code_lifetime_secs: i64,
        pkce: pkce::Requirement,
        par: ParSettings,
    ) -> AuthorizeService {
        AuthorizeService { store, clock, issuer, request_objects, code_lifetime_secs, pkce, par }
    }

    fn error_redirect(&self, redirect_uri: &str, mode: ResponseMode, state: Option<&str>, e: &OAuthError) -> Outcome {
        let mut pairs = vec![("error", e.code.as_str()), ("error_description", e.description.as_str())];
        if let Some(s) = state {
            pairs.push(("state", s));
        }
        // RFC 9207: the issuer on every authorization response.
        pairs.push(("iss", self.issuer.url()));
        deliver(redirect_uri, mode, &pairs).into()
    }

    /// Handles an authorization request (`query`: the GET query or POST body).
    pub fn authorize(&self, query: &str, session_cookie: Option<&str>) -> Result<Outcome, OAuthError> {
        self.authorize_with(query, session_cookie, None)
    }

    /// Handles the consent form: `allow` records consent and continues;
    /// otherwise the client gets `access_denied`.
    pub fn consent(&self, query: &str, session_cookie: Option<&str>, allow: bool) -> Result<Outcome, OAuthError> {
        self.authorize_with(query, session_cookie, Some(allow))
    }

    fn authorize_with(
        &self,
        query: &str,
        session_cookie: Option<&str>,
        decision: Option<bool>,
    ) -> Result<Outcome, OAuthError> {
        let params = match Params::parse(query.as_bytes()) {
            Ok(p) => p,
            Err(e) => return Ok(Outcome::Page(format!("The request is malformed: {}.", e.description))),
        };
        match (pushed::reference(&params), params.get("request")) {
            (None, None) => self.decide(&params, query, session_cookie, decision, Arrived::Query),
            (None, Some(jwt)) => match self.request_object(&params, jwt) {
                Ok(signed) => self.decide(&signed, query, session_cookie, decision, Arrived::Signed),
                Err(e) => Ok(Outcome::Page(format!("The request cannot be used: {} ({}).", e.description, e.code))),
            },
            (Some(reference), None) => self.pushed(reference, query, session_cookie, decision),
            (Some(_), Some(_)) => Ok(Outcome::Page("The request cannot carry both request and request_uri.".into())),
        }
    }

    /// RFC 9101 §5 and §6: the authorization request a request object by
    /// value makes, for the enabled client the query names. A refusal is
    /// shown on a page: the redirect URI inside an unverified request
    /// cannot be trusted.
    fn request_object(&self, params: &Params, jwt: &str) -> Result<Params, OAuthError> {
        let unknown = || OAuthError::invalid_request("a request object needs the client_id of a known application");
        let id = params.get("client_id").ok_or_else(unknown)?;
        let mut conn = self.store.conn().map_err(store_failure)?;
        let client =
            clients::find(&mut conn, id).map_err(store_failure)?.filter(|c| !c.disabled).ok_or_else(unknown)?;
        drop(conn);
        let signed = self.request_objects.resolve(&client, jwt);
        if let Err(e) = &signed {
            tracing::info!(client_id = %client.id, detail = e.detail.as_deref().unwrap_or(""), "request object refused");
        }
        signed
    }

    /// RFC 9126 §4: an authorization request by reference. The pushed
    /// parameters are the request (the browser's others are ignored); the
    /// browser's query, which names only the reference, is what the sign-in
    /// and consent forms resume. The reference is opened within its
    /// lifetime, then held [`PUSHED_HOLD_SECS`] for the sign-in, and used
    /// once: by the response that answers the client at its redirect URI.
    /// A reference that cannot be used is shown on a page, as its redirect
    /// URI is unknown.
    fn pushed(
        &self,
        reference: Result<pushed::Reference, OAuthError>,
        query: &str,
        session_cookie: Option<&str>,
        decision: Option<bool>,
    ) -> Result<Outcome, OAuthError> {
        let refused =
            |e: OAuthError| Ok(Outcome::Page(format!("The request cannot be used: {} ({}).", e.description, e.code)));
        let reference = match reference {
            Ok(r) if self.par.enabled => r,
            Ok(_) => return refused(pushed::unusable().with_detail("PAR is turned off")),
            Err(e) => return refused(e),
        };
        let hash = SecretHash::of(&reference.request_uri);
        let now = self.clock.now();
        let mut conn = self.store.conn().map_err(store_failure)?;
        let found =
            tessera_store::pushed::open(&mut conn, hash.as_str(), &reference.client_id, now, now + PUSHED_HOLD_SECS)
                .map_err(store_failure)?;
        drop(conn);
        let Some(found) = found else { return refused(pushed::unusable()) };
        let params = Params::parse(found.params.as_bytes())
            .map_err(|e| OAuthError::server_error(format!("stored pushed request: {}", e.description)))?;
        let outcome = self.decide(&params, query, session_cookie, decision, Arrived::Pushed)?;
        if matches!(outcome, Outcome::Redirect(_) | Outcome::FormPost { .. }) {
            let mut conn = self.store.conn().map_err(store_failure)?;
            if !tessera_store::pushed::consume(&mut conn, hash.as_str(), self.clock.now()).map_err(store_failure)? {
                return refused(pushed::unusable());
            }
        }
        Ok(outcome)
    }

    /// The authorization request `params` (`query` resumes it after the
    /// sign-in or consent page; `arrived`: how its parameters came).
    fn decide(
        &self,
        params: &Params,
        query: &str,
        session_cookie: Option<&str>,
        decision: Option<bool>,
        arrived: Arrived,
    ) -> Result<Outcome, OAuthError> {
        let mut conn = self.store.conn().map_err(store_failure)?;
        // A disabled client is treated as unknown: an error page, no redirect.
        let client = match params.get("client_id") {
            Some(id) => clients::find(&mut conn, id).map_err(store_failure)?.filter(|c| !c.disabled),
            None => None,
        };
        let profile = client.as_ref().map(|c| (c.profile(), c.redirect_uris.clone()));
        let req = match request::validate(params, profile.as_ref().map(|(p, r)| (p, r.as_slice())), self.pkce) {
            Ok(r) => r,
            Err(Refusal::Page(m)) => return Ok(Outcome::Page(m)),
            Err(Refusal::Redirect { redirect_uri, state, mode, error }) => {
                return Ok(self.error_redirect(&redirect_uri, mode, state.as_deref(), &error));
            }
        };
        let (Some(client), Some((profile, _))) = (client, profile) else {
            return Ok(Outcome::Page("The application is not known.".into()));
        };
        let redirect_error =
            |e: &OAuthError| self.error_redirect(&req.redirect_uri, req.response_mode, req.state.as_deref(), e);
        if client.require_pushed_authorization_requests && arrived != Arrived::Pushed {
            return Ok(redirect_error(&pushed::required()));
        }
        // RFC 9101 §10.5: a pushed request was checked for a signature when
        // it was pushed (`par.rs`).
        if client.require_signed_request_object && arrived == Arrived::Query {
            return Ok(redirect_error(&request_object::required()));
        }
        // OIDC scopes need no API; anything else belongs to the requested API.
        let oidc = ScopeSet::from_tokens(req.scope.iter().filter(|s| OIDC_SCOPES.contains(s)));
        let api_part = req.scope.difference(&oidc);
        let (scopes, consent_api) = match &req.audience {
            Some(aud) => {
                let api = apis::find_by_identifier(&mut conn, aud.as_str()).map_err(store_failure)?;
                match plan_for_api(
                    GrantType::AuthorizationCode,
                    String::new(),
                    Some(&api_part),
                    aud,
                    &profile,
                    api.as_ref().map(|a| a.profile()).as_ref(),
                ) {
                    Ok(plan) => (
                        ScopeSet::from_tokens(oidc.iter().chain(plan.scopes.iter())),
                        api.map(|a| ConsentApi { id: a.id, name: a.name, identifier: a.identifier }),
                    ),
                    Err(e) => return Ok(redirect_error(&e)),
                }
            }
            None if !api_part.is_empty() => {
                let e = OAuthError::new(
                    ErrorCode::InvalidScope,
                    format!("scope {api_part} needs an audience (or resource)"),
                );
                return Ok(redirect_error(&e));
            }
            None => (oidc, None),
        };
        let consent_api = consent_api.unwrap_or_else(|| ConsentApi {
            id: USERINFO_API_ID.to_owned(),
            name: "Your profile (OpenID Connect)".to_owned(),
            identifier: self.issuer.userinfo_api().audience.to_string(),
        });
        let now = self.clock.now();
        let session = match session_cookie {
            Some(c) => grants::session(&mut conn, SecretHash::of(c).as_str(), now).map_err(store_failure)?,
            None => None,
        };
        let user = match &session {
            Some(s) => users::find(&mut conn, &s.user_id).map_err(store_failure)?.filter(|u| !u.disabled),
            None => None,
        };
        let fresh = |s: &Session| req.max_age.is_none_or(|m| now - s.auth_time <= m);
        let (session, user) = match (session, user) {
            (Some(s), Some(u)) if !req.prompt_login && fresh(&s) => (s, u),
            _ if req.prompt_none => {
                return Ok(redirect_error(&OAuthError::new(ErrorCode::LoginRequired, "the user is not signed in")));
            }
            _ => return Ok(Outcome::Login { query: query.to_owned(), client_name: client.name }),
        };
        // OIDC Core §3.1.2.1 `acr_values`: the multi-factor policy asked for
        // and a session signed in with the password alone: step up.
        if req.require_mfa && !oidc::amr_is_mfa(&session.amr) {
            if req.prompt_none {
                return Ok(redirect_error(&OAuthError::new(
                    ErrorCode::LoginRequired,
                    "the request asks for a second factor, which the session has not given",
                )));
            }
            return Ok(Outcome::StepUp {
                user_id: user.id,
                session_hash: session.id_hash,
                query: query.to_owned(),
                client_name: client.name,
            });
        }
        // Issue #11 item 4: consent is per user, client and API; what the user
        // allowed for one API never covers another's scopes of the same name.
        if !client.first_party {
            let granted = grants::consent(&mut conn, &user.id, &client.id, &consent_api.id).map_err(store_failure)?;
            let covered = granted.and_then(|g| ScopeSet::parse(&g).ok()).is_some_and(|g| scopes.is_subset(&g));
            match decision {
                Some(false) => {
                    return Ok(redirect_error(&OAuthError::new(
                        ErrorCode::AccessDenied,
                        "the user denied the request",
                    )));
                }
                Some(true) => {
                    grants::record_consent(&mut conn, &user.id, &client.id, &consent_api.id, &scopes.to_string(), now)
                        .map_err(store_failure)?
                }
                None if covered && !req.prompt_consent => {}
                None if req.prompt_none => {
                    return Ok(redirect_error(&OAuthError::new(
                        ErrorCode::ConsentRequired,
                        "the user has not consented",
                    )));
                }
                None => {
                    let described = if consent_api.id == USERINFO_API_ID {
                        Default::default()
                    } else {
                        apis::scope_descriptions(&mut conn, &consent_api.id).map_err(store_failure)?
                    };
                    let describe =
                        |s: &str| described.get(s).cloned().or_else(|| scope_description(s).map(str::to_owned));
                    // A client that registered itself (RFC 7591) named
                    // itself: the page says so, and where the answer goes.
                    let registered = tessera_store::registrations::find(&mut conn, &client.id)
                        .map_err(store_failure)?
                        .and_then(|_| url::Url::parse(&req.redirect_uri).ok())
                        .map(|u| u.host_str().map_or_else(|| u.scheme().to_owned(), str::to_owned));
                    return Ok(Outcome::Consent {
                        query: query.to_owned(),
                        client_name: client.name.clone(),
                        api_name: consent_api.name,
                        api_identifier: consent_api.identifier,
                        scopes: scopes.iter().map(|s| (s.to_owned(), describe(s))).collect(),
                        registered_host: registered,
                    });
                }
            }
        }
        // Back-Channel Logout: this session now has a client to tell when it ends.
        grants::record_session_client(&mut conn, &session.id_hash, &client.id, now).map_err(store_failure)?;
        let sid = backchannel::session_id(&session.id_hash);
        if req.response != ResponseKind::Code {
            drop(conn);
            return self.implicit(&req, &client, &user, scopes, &session, &sid);
        }
        let code =
            PlainSecret::from_random(clock::random::<32>().map_err(|e| OAuthError::server_error(e.to_string()))?);
        let row = AuthorizationCode {
            code_hash: code.hash().as_str().to_owned(),
            client_id: client.id.clone(),
            user_id: user.id.clone(),
            redirect_uri: req.redirect_uri.clone(),
            scopes: scopes.to_string(),
            audience: req.audience.as_ref().map(|a| a.to_string()),
            nonce: req.nonce.clone(),
            code_challenge: req.code_challenge.clone(),
            auth_time: session.auth_time,
            created_at: now,
            expires_at: now + self.code_lifetime_secs,
            used_at: None,
            family_id: clock::uuid(),
            access_jti: None,
            access_expires_at: None,
            replayed_at: None,
            dpop_jkt: req.dpop_jkt.as_ref().map(|j| j.as_str().to_owned()),
            sid: Some(sid),
            amr: Some(session.amr.clone()),
        };
        grants::insert_code(&mut conn, &row).map_err(store_failure)?;
        Ok(self.code_redirect(&req, code.expose()))
    }

    /// RFC 6749 §4.2 / OIDC Core §3.2: tokens straight from the
    /// authorization endpoint, in the fragment, for clients an admin enabled
    /// the implicit grant for. Same pipeline as every other grant.
    fn implicit(
        &self,
        req: &Request,
        client: &Client,
        user: &User,
        scopes: ScopeSet,
        session: &Session,
        sid: &str,
    ) -> Result<Outcome, OAuthError> {
        let redirect_error =
            |e: &OAuthError| self.error_redirect(&req.redirect_uri, req.response_mode, req.state.as_deref(), e);
        let mut conn = self.store.conn().map_err(store_failure)?;
        let (api, hs256) = match &req.audience {
            Some(aud) => match apis::find_by_identifier(&mut conn, aud.as_str()).map_err(store_failure)? {
                Some(a) => (a.profile(), a.hs256_secret_enc),
                None => return Ok(redirect_error(&OAuthError::new(ErrorCode::InvalidTarget, "unknown audience"))),
            },
            None => (self.issuer.userinfo_api(), None),
        };
        drop(conn);
        let openid = scopes.contains("openid");
        let plan = user_plan(GrantType::Implicit, &user.id, &client.id, &api, scopes);
        let signer = self.issuer.signer_for(&plan, hs256.as_deref())?;
        let id = (req.response == ResponseKind::IdTokenToken && openid).then_some(IdTokenRequest {
            nonce: req.nonce.as_deref(),
            auth_time: session.auth_time,
            sid: Some(sid),
            amr: Some(&session.amr),
        });
        let resp = match self.issuer.issue(plan, client, Some((user, UserSource::SignedIn)), &signer, id) {
            Ok(r) => r,
            Err(e) if matches!(e.code, ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable) => return Err(e),
            Err(e) => return Ok(redirect_error(&e)),
        };
        let expires = resp.expires_in.to_string();
        let mut pairs =
            vec![("access_token", resp.access_token.as_str()), ("token_type", "Bearer"), ("expires_in", &expires)];
        if let Some(scope) = &resp.scope {
            pairs.push(("scope", scope));
        }
        if let Some(id_token) = &resp.id_token {
            pairs.push(("id_token", id_token));
        }
        if let Some(st) = &req.state {
            pairs.push(("state", st));
        }
        pairs.push(("iss", self.issuer.url()));
        Ok(deliver(&req.redirect_uri, req.response_mode, &pairs).into())
    }

    fn code_redirect(&self, req: &Request, code: &str) -> Outcome {
        let mut pairs = vec![("code", code)];
        if let Some(s) = &req.state {
            pairs.push(("state", s.as_str()));
        }
        pairs.push(("iss", self.issuer.url()));
        deliver(&req.redirect_uri, req.response_mode, &pairs).into()
    }
}
