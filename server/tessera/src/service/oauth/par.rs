//! The pushed authorization request endpoint's use case (RFC 9126 §2): the
//! client authenticates as at the token endpoint (public clients by
//! `client_id`), its authorization request is validated by the rules of the
//! authorization endpoint (`tessera_protocol::grant::authorization_code::pushed`),
//! and stored under the hash of a fresh `request_uri` for
//! `[par] lifetime_secs`. The authorization endpoint resolves the
//! reference (`authorize.rs`), and the row lives in `tessera_store::pushed`.
//! A DPoP proof sent with the push (RFC 9449 §10.1, checked in `dpop.rs`)
//! binds the request's authorization code to its key, as `dpop_jkt` does.
//! A request object (RFC 9101, `request_object.rs`) may carry the pushed
//! request, signed.

use super::client_auth::ClientAuthenticator;
use super::dpop::DpopProofs;
use super::request_object::RequestObjects;
use crate::clock::{self, SharedClock};
use crate::service::store_failure;
use std::sync::Arc;
use tessera_protocol::OAuthError;
use tessera_protocol::grant::authorization_code::pushed::{self, Response};
use tessera_protocol::grant::authorization_code::request_object;
use tessera_protocol::params::Params;
use tessera_protocol::pkce;
use tessera_store::Store;
use tessera_store::pushed::PushedRequest;

/// Whether PAR is served and how long a pushed request waits for the
/// browser (config `[par]`).
#[derive(Debug, Clone, Copy)]
pub struct ParSettings {
    /// Off: the endpoint is not served, discovery does not list it and the
    /// authorization endpoint refuses `request_uri`.
    pub enabled: bool,
    /// `expires_in` of a new `request_uri`.
    pub lifetime_secs: i64,
}

/// The pushed authorization request endpoint.
pub struct ParService {
    store: Store,
    clock: SharedClock,
    clients: Arc<ClientAuthenticator>,
    dpop: Arc<DpopProofs>,
    request_objects: Arc<RequestObjects>,
    settings: ParSettings,
    pkce: pkce::Requirement,
}

impl ParService {
    /// The endpoint over `store`, authenticating clients with `clients`,
    /// checking DPoP proofs with `dpop`, reading signed requests with
    /// `request_objects` and requiring PKCE as `pkce` says (the
    /// authorization endpoint's rule).
    pub(crate) fn new(
        store: Store,
        clock: SharedClock,
        clients: Arc<ClientAuthenticator>,
        dpop: Arc<DpopProofs>,
        request_objects: Arc<RequestObjects>,
        settings: ParSettings,
        pkce: pkce::Requirement,
    ) -> ParService {
        ParService { store, clock, clients, dpop, request_objects, settings, pkce }
    }

    /// True when PAR is turned on (`[par] enabled`).
    pub fn enabled(&self) -> bool {
        self.settings.enabled
    }

    /// RFC 9126 §2.1: stores a pushed authorization request and returns its
    /// `request_uri`. Refusals are answered to the client (§2.3). A
    /// `dpop_proof` (the request's one `DPoP` header) binds the request's
    /// code to its key (RFC 9449 §10.1).
    pub fn push(
        &self,
        authorization: Option<&str>,
        body: &[u8],
        peer: Option<&str>,
        dpop_proof: Option<&str>,
    ) -> Result<Response, OAuthError> {
        let params = Params::parse(body)?;
        let client = self.clients.authenticate(authorization, &params, peer)?;
        let jkt = self.dpop.par_request(dpop_proof)?;
        // RFC 9101 §6.3 through RFC 9126 §3: a signed request is the pushed
        // request, its parameters alone.
        let params = match params.get("request") {
            Some(jwt) => self.request_objects.resolve(&client, jwt)?,
            None if client.require_signed_request_object => return Err(request_object::required()),
            None => params,
        };
        let stored = pushed::push(&params, &client.profile(), &client.redirect_uris, jkt.as_ref(), self.pkce)?;
        let random = clock::random::<32>().map_err(|e| OAuthError::server_error(e.to_string()))?;
        let request_uri = pushed::request_uri(random);
        let now = self.clock.now();
        let row = PushedRequest {
            request_uri_hash: request_uri.hash().as_str().to_owned(),
            client_id: client.id,
            params: stored,
            created_at: now,
            expires_at: now + self.settings.lifetime_secs,
            opened_at: None,
            used_at: None,
        };
        let mut conn = self.store.conn().map_err(store_failure)?;
        tessera_store::pushed::insert(&mut conn, &row).map_err(store_failure)?;
        Ok(Response { request_uri: request_uri.expose().to_owned(), expires_in: self.settings.lifetime_secs })
    }
}
