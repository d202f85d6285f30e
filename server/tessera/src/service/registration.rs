//! Dynamic Client Registration (RFC 7591) and its management protocol
//! (RFC 7592), as the console's client functions see it: a registration
//! is a `service::admin` client creation (same validation, same audit
//! event, same change counter) with a registration access token stored
//! beside it (`tessera_store::registrations`, SHA-256 only).
//!
//! Who may register is `registration.mode` (`config.rs`): `token` needs an
//! initial access token, which is a management API token with
//! `write:clients` (so one mechanism, already audited and revocable,
//! decides who administers clients); `open` lets anyone register a client
//! for the grants a user approves (`registration::OPEN_GRANT_TYPES`). A
//! registered client is always third-party (its users see the consent
//! page) and gets no audience restriction, service account, token
//! exchange or trusted issuers: only an administrator gives those, and an
//! update through RFC 7592 keeps them as they are.

use crate::clock::{self, SharedClock};
use crate::config::RegistrationMode;
use crate::service::admin::{self, AdminError, NewClient};
use crate::service::oauth::management::{BearerError, ManagementAuth, ManagementScope};
use crate::service::store_failure;
use crate::service::views::ClientView;
use serde_json::{Value, json};
use std::sync::Arc;
use tessera_protocol::registration::{ClientInformation, ClientMetadata, invalid_metadata, invalid_redirect_uri};
use tessera_protocol::secret::{PlainSecret, SecretHash};
use tessera_protocol::{ErrorCode, OAuthError};
use tessera_store::Store;
use tessera_store::registrations::{self, Registration};

/// Why a registration request was refused.
#[derive(Debug)]
pub enum Refusal {
    /// Registration is off: the endpoint is not there (404).
    Off,
    /// The initial or registration access token is missing, invalid or
    /// lacks the scope (RFC 6750 §3.1; RFC 7592 §2: 401 for an unknown
    /// client too, so a token cannot probe for client ids).
    Bearer(BearerError),
    /// The request itself (RFC 7591 §3.2.2).
    OAuth(OAuthError),
}

impl From<OAuthError> for Refusal {
    fn from(e: OAuthError) -> Self {
        Refusal::OAuth(e)
    }
}

/// The registration and client configuration endpoints.
pub struct RegistrationService {
    store: Store,
    clock: SharedClock,
    management: Arc<ManagementAuth>,
    mode: RegistrationMode,
    /// The registration endpoint's URL; a client's configuration endpoint
    /// is below it.
    endpoint: String,
}

impl RegistrationService {
    /// Registrations at `endpoint` into `store`, as `mode` allows;
    /// initial access tokens are checked by `management`.
    pub fn new(
        store: Store,
        clock: SharedClock,
        management: Arc<ManagementAuth>,
        mode: RegistrationMode,
        endpoint: String,
    ) -> RegistrationService {
        RegistrationService { store, clock, management, mode, endpoint }
    }

    /// Whether the endpoints are served (and listed in discovery).
    pub fn enabled(&self) -> bool {
        self.mode != RegistrationMode::Off
    }

    /// The client configuration endpoint of `client_id` (RFC 7592 §1).
    fn client_uri(&self, client_id: &str) -> String {
        format!("{}/{client_id}", self.endpoint)
    }

    /// RFC 7591 §3: registers a client from `body` (JSON metadata) and
    /// returns the client information response, secret and registration
    /// access token included (the only time either is shown).
    pub fn register(&self, bearer: Option<&str>, body: &[u8]) -> Result<Value, Refusal> {
        let actor = match (self.mode, bearer) {
            (RegistrationMode::Off, _) => return Err(Refusal::Off),
            (RegistrationMode::Open, None) => None,
            (_, token) => Some(
                self.management.authorize(token, ManagementScope::WriteClients).map_err(Refusal::Bearer)?.audit_name(),
            ),
        };
        let metadata = ClientMetadata::parse(body)?;
        if actor.is_none() {
            metadata.check_open()?;
        }
        let now = self.clock.now();
        let token =
            PlainSecret::from_random(clock::random::<32>().map_err(|e| OAuthError::server_error(e.to_string()))?);
        let registered = metadata.registered();
        let actor = actor.unwrap_or_else(|| "registration".to_owned());
        let (client, secret) = admin::create_client_with(&self.store, &actor, now, new_client(&metadata), |conn, c| {
            registrations::insert(
                conn,
                &Registration {
                    client_id: c.id.clone(),
                    token_hash: token.hash().as_str().to_owned(),
                    registered: registered.clone(),
                    created_at: now,
                    updated_at: now,
                },
            )
        })
        .map_err(refused)?;
        tracing::info!(client_id = %client.id, open = actor == "registration", "client registered");
        let view = ClientView::from(client);
        Ok(self.information(&view, &registered, secret.as_ref().map(PlainSecret::expose), token.expose()))
    }

    /// RFC 7592 §2.1: the client's information, for the holder of its
    /// registration access token (echoed back: only its hash is stored).
    pub fn read(&self, client_id: &str, bearer: Option<&str>) -> Result<Value, Refusal> {
        let (view, registration, token) = self.authorized(client_id, bearer)?;
        Ok(self.information(&view, &registration.registered, None, token))
    }

    /// RFC 7592 §2.2: replaces the client's metadata with `body`'s; what
    /// only an administrator sets (audiences, service account, token
    /// exchange, trusted issuers, metadata for plugins, disabled) stays.
    pub fn update(&self, client_id: &str, bearer: Option<&str>, body: &[u8]) -> Result<Value, Refusal> {
        let (view, registration, token) = self.authorized(client_id, bearer)?;
        let metadata = ClientMetadata::parse_update(body, client_id)?;
        if metadata.public() == view.confidential {
            return Err(
                invalid_metadata("token_endpoint_auth_method cannot change between none and a secret or key").into()
            );
        }
        let mut edit = new_client(&metadata);
        edit.audiences = view.allowed_audiences.clone();
        edit.metadata = view.metadata.clone();
        edit.first_party = view.first_party;
        edit.disabled = view.disabled;
        edit.exchange = None;
        edit.jwt_bearer_issuers = None;
        edit.service_account = self.service_account(&view)?;
        let now = self.clock.now();
        // As the client itself: `service::roles` then refuses scopes of the
        // management API it does not already hold.
        let actor = format!("client:{client_id}");
        let client = admin::update_client(&self.store, &actor, now, client_id, edit).map_err(refused)?;
        let registered = metadata.registered();
        let kept = Registration { registered: registered.clone(), updated_at: now, ..registration };
        self.store.tx(|c| registrations::update(c, &kept)).map_err(store_failure)?;
        Ok(self.information(&ClientView::from(client), &registered, None, token))
    }

    /// RFC 7592 §2.3: deletes the client (its secrets, grants and
    /// registration go with it, as when an administrator deletes it).
    pub fn delete(&self, client_id: &str, bearer: Option<&str>) -> Result<(), Refusal> {
        self.authorized(client_id, bearer)?;
        let actor = format!("client:{client_id}");
        admin::delete_client(&self.store, &actor, self.clock.now(), client_id).map_err(refused)?;
        Ok(())
    }

    /// The client, its registration and the presented token, if `bearer`
    /// is the registration access token of `client_id` (compared as
    /// hashes, in constant time). Anything else is `invalid_token`.
    fn authorized<'t>(
        &self,
        client_id: &str,
        bearer: Option<&'t str>,
    ) -> Result<(ClientView, Registration, &'t str), Refusal> {
        if !self.enabled() {
            return Err(Refusal::Off);
        }
        let token = bearer.ok_or(Refusal::Bearer(BearerError::Missing))?;
        let invalid = || Refusal::Bearer(BearerError::InvalidToken);
        let mut conn = self.store.conn().map_err(store_failure)?;
        let registration = registrations::find(&mut conn, client_id).map_err(store_failure)?.ok_or_else(invalid)?;
        if !SecretHash::of(token).matches(&SecretHash::from_stored(registration.token_hash.clone())) {
            return Err(invalid());
        }
        let client = tessera_store::clients::find(&mut conn, client_id).map_err(store_failure)?.ok_or_else(invalid)?;
        Ok((ClientView::from(client), registration, token))
    }

    /// The username of the client's service account, which an update keeps.
    fn service_account(&self, view: &ClientView) -> Result<Option<String>, OAuthError> {
        let Some(uid) = &view.service_account_user_id else { return Ok(None) };
        let mut conn = self.store.conn().map_err(store_failure)?;
        Ok(tessera_store::users::find(&mut conn, uid).map_err(store_failure)?.map(|u| u.username))
    }

    fn information(&self, view: &ClientView, registered: &Value, secret: Option<&str>, token: &str) -> Value {
        let uri = self.client_uri(&view.id);
        ClientInformation {
            client_id: &view.id,
            client_secret: secret,
            confidential: view.confidential,
            issued_at: view.created_at,
            name: &view.name,
            grant_types: &view.grant_types,
            redirect_uris: &view.redirect_uris,
            post_logout_redirect_uris: &view.post_logout_redirect_uris,
            scopes: view.allowed_scopes.as_deref(),
            jwks: view.jwks.as_ref(),
            jwks_uri: view.jwks_uri.as_deref(),
            backchannel_logout_uri: view.backchannel_logout_uri.as_deref(),
            frontchannel_logout_uri: view.frontchannel_logout_uri.as_deref(),
            dpop_bound_access_tokens: view.dpop_bound_access_tokens,
            require_pushed_authorization_requests: view.require_pushed_authorization_requests,
            require_signed_request_object: view.require_signed_request_object,
            registered: Some(registered),
            registration_access_token: token,
            registration_client_uri: &uri,
        }
        .to_json()
    }
}

/// The client settings a registration asks for: always third-party, no
/// audience restriction and nothing only an administrator gives.
fn new_client(m: &ClientMetadata) -> NewClient {
    NewClient {
        name: m.display_name(),
        public: m.public(),
        grant_types: m.grant_types.iter().map(|g| g.as_str().to_owned()).collect(),
        redirect_uris: m.redirect_uris.clone(),
        post_logout_redirect_uris: m.post_logout_redirect_uris.clone(),
        scopes: m.scopes.clone(),
        audiences: None,
        metadata: json!({}),
        service_account: None,
        first_party: false,
        disabled: false,
        exchange: None,
        require_pushed_authorization_requests: m.require_pushed_authorization_requests,
        jwks: Some(m.jwks.clone().unwrap_or(Value::Null)),
        jwks_uri: Some(m.jwks_uri.clone().unwrap_or_default()),
        jwt_bearer_issuers: None,
        dpop_bound_access_tokens: m.dpop_bound_access_tokens,
        backchannel_logout_uri: Some(m.backchannel_logout_uri.clone().unwrap_or_default()),
        frontchannel_logout_uri: Some(m.frontchannel_logout_uri.clone().unwrap_or_default()),
        require_signed_request_object: m.require_signed_request_object,
    }
}

/// A refused client definition in RFC 7591's terms: a redirect URI's
/// field is `invalid_redirect_uri`, any other `invalid_client_metadata`.
fn refused(e: AdminError) -> Refusal {
    Refusal::OAuth(match e {
        AdminError::Invalid { field: "redirect-uri" | "post-logout-redirect-uri", message } => {
            invalid_redirect_uri(message)
        }
        AdminError::Invalid { field, message } => invalid_metadata(format!("{}: {message}", wire_name(field))),
        AdminError::Conflict(m) => invalid_metadata(m),
        AdminError::NotFound(m) => invalid_metadata(format!("{m} not found")),
        AdminError::Store(s) => store_failure(s),
        AdminError::Internal(m) => OAuthError::new(ErrorCode::ServerError, m),
    })
}

/// The RFC 7591 name of a field `service::admin` names as the CLI does.
fn wire_name(field: &str) -> &str {
    match field {
        "grant-types" => "grant_types",
        "scopes" => "scope",
        "jwks-uri" => "jwks_uri",
        "backchannel-logout-uri" => "backchannel_logout_uri",
        "frontchannel-logout-uri" => "frontchannel_logout_uri",
        "require-signed-request-object" => "require_signed_request_object",
        "name" => "client_name",
        other => other,
    }
}
