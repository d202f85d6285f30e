//! `private_key_jwt` client authentication (RFC 7523 §2.2, OIDC Core §9):
//! the assertion's signature is checked with a key of the client's
//! registered JWK Set (inline, or fetched from its `jwks_uri` through
//! `remote_jwks`; asymmetric algorithms only), its claims by
//! `tessera_protocol::client_assertion`, and its `jti` is recorded so the
//! assertion is accepted once (`tessera_store::assertions`).

use super::remote_jwks::RemoteJwks;
use crate::service::store_failure;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::sync::Arc;
use tessera_protocol::OAuthError;
use tessera_protocol::client_assertion;
use tessera_store::Store;
use tessera_store::clients::Client;

/// Parses a JWK Set an administrator registers: public keys only (RSA, EC
/// or OKP: the algorithms of `client_assertion::ALGORITHMS`). The error says what is wrong.
pub fn parse_public_jwks(jwks: &Value) -> Result<JwkSet, String> {
    let set: JwkSet = serde_json::from_value(jwks.clone()).map_err(|e| format!("not a JWK Set: {e}"))?;
    if set.keys.is_empty() {
        return Err("the JWK Set has no keys".into());
    }
    let has_private = jwks["keys"].as_array().is_some_and(|keys| keys.iter().any(|k| k.get("d").is_some()));
    if has_private {
        return Err("register public keys only (a key has a private member d)".into());
    }
    for k in &set.keys {
        if DecodingKey::from_jwk(k).is_err()
            || matches!(k.algorithm, jsonwebtoken::jwk::AlgorithmParameters::OctetKey(_))
        {
            return Err("every key must be an RSA, EC or OKP public key".into());
        }
    }
    Ok(set)
}

/// Where a signer's public keys come from: registered inline, or published
/// at a URL (fetched and cached by `remote_jwks`).
#[derive(Debug, Clone, Copy)]
pub enum KeySource<'a> {
    /// A JWK Set stored with the client or trusted issuer.
    Inline(&'a Value),
    /// A `jwks_uri`.
    Uri(&'a str),
}

/// The claims a client assertion and a JWT bearer grant's assertion must
/// carry (RFC 7523 §3).
pub const ASSERTION_CLAIMS: &[&str] = &["exp", "iss", "sub", "aud"];

/// Verifies the signature of the compact JWT `assertion` with a key from
/// `source` (asymmetric algorithms only; the header's `kid` picks the key,
/// and an unknown `kid` refetches a remote set) and returns its claims,
/// checked only for the presence of `required`. No lock or connection is
/// held while a remote set is fetched. The error says why, for the log.
pub fn verify_signature(
    remote: &RemoteJwks,
    source: KeySource<'_>,
    assertion: &str,
    required: &[&str],
) -> Result<Map<String, Value>, String> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| "malformed JWT".to_owned())?;
    let allowed = client_assertion::ALGORITHMS.iter().filter_map(|name| name.parse::<Algorithm>().ok());
    if !allowed.into_iter().any(|a| a == header.alg) {
        return Err("unsupported algorithm".into());
    }
    let set = match source {
        KeySource::Inline(jwks) => Arc::new(parse_public_jwks(jwks)?),
        KeySource::Uri(uri) => remote.keys(uri, header.kid.as_deref()).map_err(|e| format!("jwks_uri: {e}"))?,
    };
    let mut v = Validation::new(header.alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.set_required_spec_claims(required);
    let candidates = set.keys.iter().filter(|k| header.kid.is_none() || k.common.key_id == header.kid);
    Ok(candidates
        .filter_map(|k| DecodingKey::from_jwk(k).ok())
        .find_map(|key| jsonwebtoken::decode::<Map<String, Value>>(assertion, &key, &v).ok())
        .ok_or_else(|| "no registered key verifies the signature".to_owned())?
        .claims)
}

/// Verifies `client`'s assertion at `now`: signature (keys inline or from
/// its `jwks_uri`), claims (`aud` one of `audiences`), then records its
/// `jti`, taking a connection only for that; a replay is `invalid_client`.
pub fn verify(
    store: &Store,
    remote: &RemoteJwks,
    client: &Client,
    assertion: &str,
    audiences: &[String],
    now: i64,
) -> Result<(), OAuthError> {
    let refuse = |why: &str| OAuthError::invalid_client().with_detail(format!("client assertion: {why}"));
    let source = match (&client.jwks, &client.jwks_uri) {
        (Some(jwks), _) => KeySource::Inline(jwks),
        (None, Some(uri)) => KeySource::Uri(uri),
        (None, None) => return Err(refuse("the client registered no JWKS")),
    };
    let claims = verify_signature(remote, source, assertion, ASSERTION_CLAIMS).map_err(|e| refuse(&e))?;
    let accepted = client_assertion::check(&claims, &client.id, audiences, now)?;
    let mut conn = store.conn().map_err(store_failure)?;
    if !tessera_store::assertions::record(&mut conn, &client.id, &accepted.jti, accepted.exp).map_err(store_failure)? {
        return Err(refuse("jti already used"));
    }
    Ok(())
}
