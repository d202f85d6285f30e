//! Request objects (RFC 9101): the authorization request signed by the
//! client. The signature is checked with the client's registered keys,
//! the same ones (inline, or fetched from its `jwks_uri` through
//! `remote_jwks`) that verify its `private_key_jwt` assertions
//! (`client_assertion::verify_signature`), and the claims by
//! `tessera_protocol::grant::authorization_code::request_object`. Both the
//! authorization endpoint (`authorize.rs`) and the PAR endpoint (`par.rs`)
//! take one.

use super::client_assertion::{KeySource, verify_signature};
use super::remote_jwks::RemoteJwks;
use crate::clock::SharedClock;
use std::sync::Arc;
use tessera_protocol::OAuthError;
use tessera_protocol::grant::authorization_code::request_object::{invalid, parameters};
use tessera_protocol::params::Params;
use tessera_store::clients::Client;

/// The claims a request object must carry (RFC 9101 §4 with §10.2's
/// advice: an `exp`, and `aud` naming this server).
const REQUIRED_CLAIMS: &[&str] = &["exp", "iss", "aud"];

/// Reads request objects for this server.
pub(crate) struct RequestObjects {
    remote: Arc<RemoteJwks>,
    issuer: String,
    clock: SharedClock,
}

impl RequestObjects {
    /// Request objects addressed to `issuer`, with remote key sets from
    /// `remote`.
    pub(crate) fn new(remote: Arc<RemoteJwks>, issuer: String, clock: SharedClock) -> RequestObjects {
        RequestObjects { remote, issuer, clock }
    }

    /// The authorization request `client`'s request object `jwt` makes
    /// (its parameters only, RFC 9101 §6.3), once its signature and claims
    /// hold; `invalid_request_object` otherwise. No connection is held: a
    /// remote key set may be fetched.
    pub(crate) fn resolve(&self, client: &Client, jwt: &str) -> Result<Params, OAuthError> {
        let source = match (&client.jwks, &client.jwks_uri) {
            (Some(jwks), _) => KeySource::Inline(jwks),
            (None, Some(uri)) => KeySource::Uri(uri),
            (None, None) => return Err(invalid("the client registered no keys")),
        };
        let claims = verify_signature(&self.remote, source, jwt, REQUIRED_CLAIMS).map_err(|e| invalid(&e))?;
        parameters(&claims, &client.id, &self.issuer, self.clock.now())
    }
}
