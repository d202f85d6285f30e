//! Authorization server metadata (RFC 8414 §2) and OpenID Provider metadata
//! (OpenID Connect Discovery 1.0 §3). One document serves both well-known
//! paths; it lists only what is implemented, so clients never try a feature
//! that is not there.

use serde::Serialize;

/// The endpoint URLs, built by the caller from the issuer and the route table.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// The token endpoint.
    pub token: String,
    /// The JWKS.
    pub jwks: String,
    /// RFC 7662 introspection.
    pub introspection: String,
    /// RFC 7009 revocation.
    pub revocation: String,
    /// The authorization endpoint, once user grants exist.
    pub authorization: Option<String>,
    /// The userinfo endpoint, once OIDC exists.
    pub userinfo: Option<String>,
}

/// The metadata document.
#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    /// RFC 8414: the issuer identifier; equals the prefix of the metadata URL.
    pub issuer: String,
    /// RFC 8414. Required by OIDC Discovery; absent until user grants exist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// RFC 8414.
    pub token_endpoint: String,
    /// RFC 8414.
    pub jwks_uri: String,
    /// RFC 8414 / RFC 7662.
    pub introspection_endpoint: String,
    /// RFC 8414.
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    /// RFC 8414 / RFC 7009.
    pub revocation_endpoint: String,
    /// RFC 8414.
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    /// OIDC Discovery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    /// RFC 8414: scopes that are in use (every scope an API defines).
    pub scopes_supported: Vec<String>,
    /// RFC 8414: REQUIRED. Empty while only the token endpoint exists.
    pub response_types_supported: Vec<String>,
    /// RFC 8414.
    pub grant_types_supported: Vec<String>,
    /// RFC 8414.
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// OIDC Discovery: REQUIRED.
    pub subject_types_supported: Vec<String>,
    /// OIDC Discovery: REQUIRED; RS256 must be included.
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// Algorithms of access tokens (RFC 9068 is silent; Keycloak and Hydra publish it).
    pub access_token_signing_alg_values_supported: Vec<String>,
    /// RFC 9207 mix-up defence.
    pub authorization_response_iss_parameter_supported: bool,
}

/// Builds the document.
pub fn metadata(issuer: &str, endpoints: &Endpoints, scopes: Vec<String>, grant_types: &[&str]) -> Metadata {
    Metadata {
        issuer: issuer.to_owned(),
        authorization_endpoint: endpoints.authorization.clone(),
        token_endpoint: endpoints.token.clone(),
        jwks_uri: endpoints.jwks.clone(),
        introspection_endpoint: endpoints.introspection.clone(),
        introspection_endpoint_auth_methods_supported: vec!["client_secret_basic".into(), "client_secret_post".into()],
        revocation_endpoint: endpoints.revocation.clone(),
        revocation_endpoint_auth_methods_supported: vec![
            "client_secret_basic".into(),
            "client_secret_post".into(),
            "none".into(),
        ],
        userinfo_endpoint: endpoints.userinfo.clone(),
        scopes_supported: scopes,
        response_types_supported: if endpoints.authorization.is_some() { vec!["code".into()] } else { vec![] },
        grant_types_supported: grant_types.iter().map(|g| (*g).to_owned()).collect(),
        token_endpoint_auth_methods_supported: vec!["client_secret_basic".into(), "client_secret_post".into()],
        subject_types_supported: vec!["public".into()],
        id_token_signing_alg_values_supported: vec!["RS256".into(), "ES256".into(), "EdDSA".into()],
        access_token_signing_alg_values_supported: vec!["RS256".into(), "ES256".into(), "EdDSA".into(), "HS256".into()],
        authorization_response_iss_parameter_supported: endpoints.authorization.is_some(),
    }
}
