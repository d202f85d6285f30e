//! Client authentication at the token endpoint (RFC 6749 §2.3.1).
//!
//! Supported methods: `client_secret_basic` (HTTP Basic with the form-urlencoded
//! id and secret) and `client_secret_post` (body parameters); public clients
//! send only `client_id` (`none`); `private_key_jwt` (RFC 7523 §2.2, OIDC
//! Core §9) sends a JWT signed with a key of the client's registered JWKS,
//! checked in `client_assertion`. Using two methods at once is
//! `invalid_request`; any failure to authenticate is `invalid_client` without
//! saying whether the client exists.

use crate::error::{ErrorCode, OAuthError};
use crate::ids::ClientId;
use crate::params::Params;
use crate::secret::{PlainSecret, SecretHash};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// How the client presented itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// HTTP Basic authentication.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// Only `client_id`: a public client.
    None,
    /// A JWT assertion signed with the client's key (RFC 7523 §2.2).
    PrivateKeyJwt,
}

impl AuthMethod {
    /// The method's registered name (RFC 8414 `token_endpoint_auth_methods_supported`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }
}

/// Credentials extracted from a request, not yet checked.
#[derive(Debug)]
pub struct PresentedCredentials {
    /// The claimed client id.
    pub client_id: ClientId,
    /// The secret, absent for `none`.
    pub secret: Option<PlainSecret>,
    /// Which method was used.
    pub method: AuthMethod,
    /// The signed assertion, for `private_key_jwt` only.
    pub assertion: Option<String>,
}

/// Extracts credentials from the `Authorization` header value (if any) and the
/// body parameters.
pub fn extract(authorization: Option<&str>, params: &Params) -> Result<PresentedCredentials, OAuthError> {
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    if let Some(kind) = params.get("client_assertion_type") {
        return extract_assertion(kind, authorization, params);
    }
    if let Some(header) = authorization {
        let (scheme, value) = header.split_once(' ').unwrap_or((header, ""));
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(OAuthError::invalid_client().with_detail("unsupported authorization scheme"));
        }
        if body_secret.is_some() {
            return Err(OAuthError::invalid_request("use one client authentication method, not two"));
        }
        let (id, secret) = decode_basic(value.trim())?;
        if body_id.is_some_and(|b| b != id) {
            return Err(OAuthError::invalid_request("client_id does not match the authenticated client"));
        }
        return Ok(PresentedCredentials {
            client_id: ClientId::new(id),
            secret: Some(PlainSecret::received(&secret)),
            method: AuthMethod::ClientSecretBasic,
            assertion: None,
        });
    }
    match (body_id, body_secret) {
        (Some(id), Some(secret)) => Ok(PresentedCredentials {
            client_id: ClientId::new(id),
            secret: Some(PlainSecret::received(secret)),
            method: AuthMethod::ClientSecretPost,
            assertion: None,
        }),
        (Some(id), None) => Ok(PresentedCredentials {
            client_id: ClientId::new(id),
            secret: None,
            method: AuthMethod::None,
            assertion: None,
        }),
        (None, _) => Err(OAuthError::invalid_client().with_detail("no client authentication")),
    }
}

/// RFC 7523 §2.2: `client_assertion_type` names the JWT bearer type and
/// `client_assertion` carries one JWT; no other method may be used with it.
/// The client is the assertion's `sub` (checked against `iss` and a body
/// `client_id` once the signature is verified); reading it unverified only
/// picks the keys to verify with.
fn extract_assertion(
    kind: &str,
    authorization: Option<&str>,
    params: &Params,
) -> Result<PresentedCredentials, OAuthError> {
    if kind != crate::client_assertion::JWT_BEARER {
        return Err(OAuthError::invalid_client().with_detail("unsupported client_assertion_type"));
    }
    if authorization.is_some() || params.get("client_secret").is_some() {
        return Err(OAuthError::invalid_request("use one client authentication method, not two"));
    }
    let assertion = params.require("client_assertion")?;
    let sub = crate::client_assertion::unverified_subject(assertion)
        .ok_or_else(|| OAuthError::invalid_client().with_detail("client_assertion has no readable sub"))?;
    if params.get("client_id").is_some_and(|b| b != sub) {
        return Err(OAuthError::invalid_client().with_detail("client_id is not the assertion's sub"));
    }
    Ok(PresentedCredentials {
        client_id: ClientId::new(sub),
        secret: None,
        method: AuthMethod::PrivateKeyJwt,
        assertion: Some(assertion.to_owned()),
    })
}

/// RFC 6749 §2.3.1: the id and secret are form-urlencoded before Basic encoding.
fn decode_basic(value: &str) -> Result<(String, String), OAuthError> {
    let bad = || OAuthError::invalid_client().with_detail("malformed basic credentials");
    let raw = STANDARD.decode(value).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let decode = |s: &str| -> Result<String, OAuthError> {
        let plus_as_space = s.replace('+', " ");
        url::form_urlencoded::parse(format!("x={}", plus_as_space.replace('&', "%26").replace('=', "%3D")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .ok_or_else(bad)
    };
    let id = decode(id)?;
    if id.is_empty() {
        return Err(bad());
    }
    Ok((id, decode(secret)?))
}

/// Checks a confidential client's secret against every active stored hash in
/// constant time per hash (several secrets are active during rotation).
pub fn verify_secret(presented: &PresentedCredentials, active: &[SecretHash]) -> Result<(), OAuthError> {
    let Some(secret) = &presented.secret else {
        return Err(OAuthError::invalid_client().with_detail("confidential client sent no secret"));
    };
    let hash = secret.hash();
    // Fold over all hashes instead of stopping at the first hit, so timing does
    // not reveal which secret matched.
    let ok = active.iter().fold(false, |acc, h| acc | h.matches(&hash));
    if ok {
        Ok(())
    } else {
        Err(OAuthError::new(ErrorCode::InvalidClient, "client authentication failed").with_detail("wrong secret"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let p = Params::default();
        let c = extract(Some(&basic("my%20client", "s%3Acret")), &p).unwrap();
        assert_eq!(c.client_id.as_str(), "my client");
        assert_eq!(c.secret.unwrap().expose(), "s:cret");
        assert_eq!(c.method, AuthMethod::ClientSecretBasic);
    }

    #[test]
    fn basic_and_post_together_is_invalid_request() {
        let p = Params::from_pairs([("client_secret", "x")]);
        let e = extract(Some(&basic("a", "b")), &p).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn no_credentials_is_invalid_client() {
        assert_eq!(extract(None, &Params::default()).unwrap_err().code, ErrorCode::InvalidClient);
    }

    #[test]
    fn garbage_basic_is_invalid_client() {
        assert_eq!(extract(Some("Basic !!!"), &Params::default()).unwrap_err().code, ErrorCode::InvalidClient);
        assert_eq!(extract(Some("Bearer x"), &Params::default()).unwrap_err().code, ErrorCode::InvalidClient);
    }

    /// docs/security-checklist.md A-13 (in part): every active hash is compared, with
    /// `subtle`'s constant-time equality, without stopping at the first match.
    #[test]
    fn secret_checked_against_every_active_hash() {
        let p = Params::from_pairs([("client_id", "c"), ("client_secret", "two")]);
        let c = extract(None, &p).unwrap();
        assert_eq!(c.method, AuthMethod::ClientSecretPost);
        let hashes = [SecretHash::of("one"), SecretHash::of("two")];
        assert!(verify_secret(&c, &hashes).is_ok());
        assert!(verify_secret(&c, &hashes[..1]).is_err());
    }
}
