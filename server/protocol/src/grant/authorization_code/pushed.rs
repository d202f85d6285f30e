//! Pushed authorization requests (RFC 9126): the client POSTs the
//! authorization request's parameters to the PAR endpoint, authenticated as
//! at the token endpoint, and sends the browser to the authorization
//! endpoint with only `client_id` and the `request_uri` it got back, so the
//! parameters never travel through the browser and cannot be changed there.
//!
//! The pushed request is validated exactly as the authorization endpoint
//! validates one ([`request::validate`]), but every refusal is answered to
//! the client directly (RFC 9126 §2.3), never redirected. What is stored is
//! the request's parameters without client credentials; the authorization
//! endpoint validates them again when the browser arrives.

use crate::error::{ErrorCode, OAuthError};
use crate::grant::authorization_code::request::{self, Refusal};
use crate::ids::Jkt;
use crate::model::ClientProfile;
use crate::params::Params;
use crate::pkce;
use crate::secret::PlainSecret;
use serde::Serialize;

/// RFC 9126 §2.2: the URN prefix of the `request_uri` values Tessera issues.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Parameters that authenticate the client and must never be stored with
/// the request.
const CREDENTIALS: &[&str] = &["client_secret", "client_assertion", "client_assertion_type"];

/// RFC 9126 §2.2: the PAR endpoint's 201 answer.
#[derive(Debug, Clone, Serialize)]
pub struct Response {
    /// The reference the browser carries to the authorization endpoint.
    pub request_uri: String,
    /// Seconds until the reference expires if unused.
    pub expires_in: i64,
}

/// A new `request_uri` from 32 random bytes: the URN prefix and 256 bits in
/// base64url. Returned as a secret because whoever holds it can start the
/// client's authorization request, so it is stored only as its hash.
pub fn request_uri(random: [u8; 32]) -> PlainSecret {
    PlainSecret::received(&format!("{REQUEST_URI_PREFIX}{}", PlainSecret::from_random(random).expose()))
}

/// Validates a pushed authorization request from the authenticated
/// `client` (with its registered `redirect_uris`) and returns the
/// parameters to store, `application/x-www-form-urlencoded`, without client
/// credentials and with the authenticated client's id.
///
/// RFC 9126 §2.1: `request_uri` is refused in a pushed request, and a
/// `client_id` naming another client than the authenticated one is
/// `invalid_request`. A request object (RFC 9101 `request`) is read
/// before, by the caller ([`super::request_object`]), and `params` are
/// then its parameters; one still here is refused rather than ignored.
///
/// RFC 9449 §10.1: `proof_jkt` is the key of the DPoP proof the push came
/// with (already verified). The request is then bound to it as if it had
/// sent that key's `dpop_jkt`; a `dpop_jkt` naming another key is refused.
pub fn push(
    params: &Params,
    client: &ClientProfile,
    redirect_uris: &[String],
    proof_jkt: Option<&Jkt>,
    pkce: pkce::Requirement,
) -> Result<String, OAuthError> {
    if params.get("request_uri").is_some() {
        return Err(OAuthError::invalid_request("request_uri cannot be pushed"));
    }
    if params.get("request").is_some() {
        return Err(OAuthError::invalid_request("the request object was not read"));
    }
    match params.get("client_id") {
        Some(id) if id != client.id.as_str() => {
            return Err(OAuthError::invalid_request("client_id is not the authenticated client"));
        }
        _ => {}
    }
    let mut stored = Params::parse(params.encode_without(CREDENTIALS).as_bytes())?;
    stored.insert("client_id", client.id.as_str());
    if let Some(jkt) = proof_jkt {
        // §10.1: "MUST reject the request if the JWK Thumbprint in dpop_jkt
        // does not match the public key in the DPoP header". No error code
        // is named; the request contradicts itself, so invalid_request
        // (RFC 9126 §2.3, RFC 6749 §4.1.2.1).
        match stored.get("dpop_jkt") {
            Some(named) if named != jkt.as_str() => {
                return Err(OAuthError::invalid_request("dpop_jkt is not the thumbprint of the DPoP proof's key"));
            }
            Some(_) => {}
            None => stored.insert("dpop_jkt", jkt.as_str()),
        }
    }
    match request::validate(&stored, Some((client, redirect_uris)), pkce) {
        Ok(_) => Ok(stored.encode_without(&[])),
        Err(Refusal::Page(m)) => Err(OAuthError::invalid_request(m)),
        Err(Refusal::Redirect { error, .. }) => Err(error),
    }
}

/// What an authorization request names when it refers to a pushed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The `request_uri`, as the client sent it.
    pub request_uri: String,
    /// The `client_id` that must have pushed it.
    pub client_id: String,
}

/// The pushed request an authorization request refers to: `None` if it
/// carries no `request_uri`. RFC 9126 §4: `client_id` is then required, and
/// every other parameter is ignored (only the pushed ones count).
pub fn reference(params: &Params) -> Option<Result<Reference, OAuthError>> {
    let request_uri = params.get("request_uri")?;
    Some(match params.get("client_id") {
        Some(client_id) => Ok(Reference { request_uri: request_uri.to_owned(), client_id: client_id.to_owned() }),
        None => Err(OAuthError::invalid_request("a request_uri needs the client_id that pushed it")),
    })
}

/// RFC 9126 §4 with RFC 9101 §6.2's code: the reference is unknown, expired,
/// already used, or was pushed by another client. The description does not
/// say which, so a guessed reference learns nothing.
pub fn unusable() -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidRequestUri,
        "the request_uri is unknown, expired, already used or pushed by another client",
    )
}

/// RFC 9126 §6: the client is registered to send its authorization
/// requests only by PAR, and this one came through the browser.
pub fn required() -> OAuthError {
    OAuthError::invalid_request("this client must push its authorization requests (RFC 9126)")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ids::ClientId;
    use crate::model::GrantType;

    const CB: &str = "https://app.example/cb";
    const CH: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn client(confidential: bool) -> ClientProfile {
        ClientProfile {
            id: ClientId::new("c"),
            name: "c".into(),
            confidential,
            grant_types: vec![GrantType::AuthorizationCode],
            allowed_scopes: None,
            allowed_audiences: None,
        }
    }

    fn pushed(pairs: &[(&str, &str)], c: &ClientProfile) -> Result<String, OAuthError> {
        push(&Params::from_pairs(pairs.iter().copied()), c, &[CB.to_owned()], None, pkce::Requirement::Public)
    }

    /// RFC 9449 §10.1: a proof at the PAR endpoint binds the request to its
    /// key; a dpop_jkt of another key is refused, the same one is kept.
    #[test]
    fn a_dpop_proof_binds_the_pushed_request_to_its_key() {
        const KEY: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
        const OTHER: &str = "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs";
        let c = client(true);
        let reg = [CB.to_owned()];
        let key = Jkt::new(KEY);
        let base = [("response_type", "code"), ("redirect_uri", CB)];
        let stored = push(&Params::from_pairs(base), &c, &reg, Some(&key), pkce::Requirement::Public).unwrap();
        let validated =
            request::validate(&Params::parse(stored.as_bytes()).unwrap(), Some((&c, &reg)), pkce::Requirement::Public)
                .unwrap();
        assert_eq!(validated.dpop_jkt, Some(key.clone()));
        let same = Params::from_pairs([base[0], base[1], ("dpop_jkt", KEY)]);
        assert!(push(&same, &c, &reg, Some(&key), pkce::Requirement::Public).is_ok());
        let other = Params::from_pairs([base[0], base[1], ("dpop_jkt", OTHER)]);
        assert_eq!(
            push(&other, &c, &reg, Some(&key), pkce::Requirement::Public).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        let stored = push(&other, &c, &reg, None, pkce::Requirement::Public).unwrap();
        let validated =
            request::validate(&Params::parse(stored.as_bytes()).unwrap(), Some((&c, &reg)), pkce::Requirement::Public)
                .unwrap();
        assert_eq!(validated.dpop_jkt, Some(Jkt::new(OTHER)), "dpop_jkt alone binds too");
        let malformed = Params::from_pairs([base[0], base[1], ("dpop_jkt", "x")]);
        assert_eq!(
            push(&malformed, &c, &reg, None, pkce::Requirement::Public).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn a_valid_request_is_stored_without_credentials_and_with_the_client() {
        let stored = pushed(
            &[
                ("response_type", "code"),
                ("redirect_uri", CB),
                ("client_secret", "s3cr3t"),
                ("code_challenge", CH),
                ("code_challenge_method", "S256"),
                ("state", "st"),
            ],
            &client(true),
        )
        .unwrap();
        let p = Params::parse(stored.as_bytes()).unwrap();
        assert_eq!(p.get("client_id"), Some("c"));
        assert_eq!(p.get("state"), Some("st"));
        assert_eq!(p.get("client_secret"), None, "credentials are never stored");
        assert!(request::validate(&p, Some((&client(true), &[CB.to_owned()])), pkce::Requirement::Public).is_ok());
    }

    /// RFC 9126 §2.3: refusals are answered to the client, never redirected;
    /// the authorization endpoint's rules apply.
    #[test]
    fn the_authorization_endpoint_rules_apply_and_refusals_are_errors() {
        let c = client(false);
        let e = pushed(&[("response_type", "code"), ("redirect_uri", CB)], &c).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest, "a public client needs PKCE");
        let e = pushed(&[("response_type", "code"), ("redirect_uri", "https://evil.example/cb")], &client(true))
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest, "an unregistered redirect URI");
        let e = pushed(&[("response_type", "token"), ("redirect_uri", CB)], &client(true)).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnauthorizedClient);
    }

    /// RFC 9126 §2.1: no request_uri inside a pushed request; no client_id of
    /// another client.
    #[test]
    fn request_uri_and_another_client_id_are_refused() {
        let c = client(true);
        let base = [("response_type", "code"), ("redirect_uri", CB)];
        let e = pushed(&[base[0], base[1], ("request_uri", "urn:x")], &c).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        let e = pushed(&[base[0], base[1], ("client_id", "other")], &c).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(pushed(&[base[0], base[1], ("client_id", "c")], &c).is_ok());
    }

    #[test]
    fn request_uris_are_urns_with_256_random_bits() {
        let a = request_uri([1; 32]);
        let b = request_uri([2; 32]);
        assert!(a.expose().starts_with(REQUEST_URI_PREFIX));
        assert_eq!(a.expose().len(), REQUEST_URI_PREFIX.len() + 43);
        assert_ne!(a.expose(), b.expose());
    }

    /// RFC 9126 §4: a reference needs its client_id.
    #[test]
    fn a_reference_needs_the_client_id() {
        assert!(reference(&Params::from_pairs([("client_id", "c")])).is_none());
        let e = reference(&Params::from_pairs([("request_uri", "urn:x")])).unwrap().unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        let r = reference(&Params::from_pairs([("request_uri", "urn:x"), ("client_id", "c")])).unwrap().unwrap();
        assert_eq!(r, Reference { request_uri: "urn:x".into(), client_id: "c".into() });
        assert_eq!(unusable().code.as_str(), "invalid_request_uri");
    }
}
