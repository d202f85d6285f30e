//! Authorization server metadata (RFC 8414 §2) and OpenID Provider metadata
//! (OpenID Connect Discovery 1.0 §3). One document serves both well-known
//! paths; it lists only what is implemented, so clients never try a feature
//! that is not there.

use crate::model::GrantType;
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
    /// RP-Initiated Logout.
    pub end_session: Option<String>,
    /// RFC 8628 §4: the device authorization endpoint, listed only with the
    /// device grant it serves.
    pub device_authorization: Option<String>,
    /// RFC 9126 §5: the pushed authorization request endpoint, `None`
    /// while PAR is turned off.
    pub pushed_authorization_request: Option<String>,
    /// RFC 7591 §3 (RFC 8414 §2 `registration_endpoint`), `None` while
    /// registration is turned off.
    pub registration: Option<String>,
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
    /// RFC 8414: the algorithms of `private_key_jwt` assertions there.
    pub introspection_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// RFC 8414 / RFC 7009.
    pub revocation_endpoint: String,
    /// RFC 8414.
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    /// RFC 8414: the algorithms of `private_key_jwt` assertions there.
    pub revocation_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// OIDC Discovery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    /// OIDC RP-Initiated Logout §2.1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<String>,
    /// OIDC Back-Channel Logout §2.1: Logout Tokens are posted to clients
    /// that register a `backchannel_logout_uri`; listed with the end-session
    /// endpoint, whose sign-outs send them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_supported: Option<bool>,
    /// OIDC Back-Channel Logout §2.1: Logout Tokens and ID tokens from a
    /// browser session carry its `sid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_session_supported: Option<bool>,
    /// OpenID Connect Front-Channel Logout §3: the end-session endpoint
    /// loads the `frontchannel_logout_uri` of each client of the session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frontchannel_logout_supported: Option<bool>,
    /// Front-Channel Logout §3: those pages get `iss` and `sid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frontchannel_logout_session_supported: Option<bool>,
    /// RFC 8628 §4.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<String>,
    /// RFC 9126 §5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed_authorization_request_endpoint: Option<String>,
    /// RFC 8414 §2 and OpenID Connect Discovery §3: where clients register
    /// themselves (RFC 7591).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// RFC 9126 §5: false, listed with the endpoint: PAR is optional
    /// server-wide and required only by the clients registered so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_pushed_authorization_requests: Option<bool>,
    /// OpenID Connect Discovery §3 and RFC 9101 §10.5: the authorization
    /// and PAR endpoints take a signed `request` (absent until user grants
    /// exist).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_parameter_supported: Option<bool>,
    /// OpenID Connect Discovery §3: false, stated because its default is
    /// true. A `request_uri` is only ever a pushed request's reference
    /// (RFC 9126); Tessera fetches no request object from a client's URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_uri_parameter_supported: Option<bool>,
    /// RFC 9101 §10.5: how a request object may be signed (asymmetric only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub request_object_signing_alg_values_supported: Vec<String>,
    /// RFC 8414: scopes that are in use (every scope an API defines).
    pub scopes_supported: Vec<String>,
    /// RFC 8414: REQUIRED. Empty while only the token endpoint exists.
    pub response_types_supported: Vec<String>,
    /// RFC 8414.
    pub grant_types_supported: Vec<String>,
    /// RFC 8414.
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// RFC 8414: the algorithms of `private_key_jwt` assertions.
    pub token_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// RFC 9449 §5.1: the algorithms a DPoP proof may use; listed because
    /// every token request may carry a proof.
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// OIDC Discovery: REQUIRED.
    pub subject_types_supported: Vec<String>,
    /// OIDC Discovery: REQUIRED; RS256 must be included.
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// Algorithms of access tokens (RFC 9068 is silent; Keycloak and Hydra publish it).
    pub access_token_signing_alg_values_supported: Vec<String>,
    /// RFC 9207 mix-up defence.
    pub authorization_response_iss_parameter_supported: bool,
    /// RFC 8414 / RFC 7636: S256 only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub code_challenge_methods_supported: Vec<String>,
    /// RFC 8414.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub response_modes_supported: Vec<String>,
    /// OIDC Discovery: the claims userinfo and ID tokens can carry.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub claims_supported: Vec<String>,
    /// OIDC Discovery: the `acr` values the server can satisfy (the PAPE
    /// multi-factor policy: a second factor).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub acr_values_supported: Vec<String>,
}

/// Builds the document. The OIDC scopes are listed with the APIs' scopes
/// when the authorization endpoint exists.
pub fn metadata(issuer: &str, endpoints: &Endpoints, mut scopes: Vec<String>, grant_types: &[GrantType]) -> Metadata {
    if endpoints.authorization.is_some() {
        let mut all: Vec<String> = crate::oidc::OIDC_SCOPES.iter().map(|s| (*s).to_owned()).collect();
        all.extend(scopes.into_iter().filter(|s| !crate::oidc::OIDC_SCOPES.contains(&s.as_str())));
        scopes = all;
    }
    Metadata {
        issuer: issuer.to_owned(),
        authorization_endpoint: endpoints.authorization.clone(),
        token_endpoint: endpoints.token.clone(),
        jwks_uri: endpoints.jwks.clone(),
        introspection_endpoint: endpoints.introspection.clone(),
        // Introspection and revocation authenticate clients as the token
        // endpoint does (one `ClientAuthenticator`), assertions included.
        introspection_endpoint_auth_methods_supported: vec![
            "client_secret_basic".into(),
            "client_secret_post".into(),
            "private_key_jwt".into(),
        ],
        introspection_endpoint_auth_signing_alg_values_supported: assertion_algorithms(),
        revocation_endpoint: endpoints.revocation.clone(),
        revocation_endpoint_auth_methods_supported: vec![
            "client_secret_basic".into(),
            "client_secret_post".into(),
            "private_key_jwt".into(),
            "none".into(),
        ],
        revocation_endpoint_auth_signing_alg_values_supported: assertion_algorithms(),
        userinfo_endpoint: endpoints.userinfo.clone(),
        end_session_endpoint: endpoints.end_session.clone(),
        backchannel_logout_supported: endpoints.end_session.as_ref().map(|_| true),
        backchannel_logout_session_supported: endpoints.end_session.as_ref().map(|_| true),
        frontchannel_logout_supported: endpoints.end_session.as_ref().map(|_| true),
        frontchannel_logout_session_supported: endpoints.end_session.as_ref().map(|_| true),
        device_authorization_endpoint: endpoints
            .device_authorization
            .clone()
            .filter(|_| grant_types.contains(&GrantType::DeviceCode)),
        pushed_authorization_request_endpoint: endpoints.pushed_authorization_request.clone(),
        registration_endpoint: endpoints.registration.clone(),
        require_pushed_authorization_requests: endpoints.pushed_authorization_request.as_ref().map(|_| false),
        request_parameter_supported: endpoints.authorization.as_ref().map(|_| true),
        request_uri_parameter_supported: endpoints.authorization.as_ref().map(|_| false),
        request_object_signing_alg_values_supported: if endpoints.authorization.is_some() {
            crate::grant::authorization_code::request_object::ALGORITHMS.iter().map(|a| (*a).to_owned()).collect()
        } else {
            vec![]
        },
        scopes_supported: scopes,
        // The implicit types work only for clients an admin enabled them for.
        response_types_supported: if endpoints.authorization.is_some() {
            vec!["code".into(), "token".into(), "id_token token".into()]
        } else {
            vec![]
        },
        grant_types_supported: grant_types.iter().map(|g| g.as_str().to_owned()).collect(),
        token_endpoint_auth_methods_supported: vec![
            "client_secret_basic".into(),
            "client_secret_post".into(),
            "private_key_jwt".into(),
        ],
        token_endpoint_auth_signing_alg_values_supported: assertion_algorithms(),
        dpop_signing_alg_values_supported: crate::dpop::ALGORITHMS.iter().map(|a| (*a).to_owned()).collect(),
        subject_types_supported: vec!["public".into()],
        // ID tokens are signed with RS256, the algorithm every RP supports (J-17).
        id_token_signing_alg_values_supported: vec!["RS256".into()],
        access_token_signing_alg_values_supported: vec!["RS256".into(), "ES256".into(), "EdDSA".into(), "HS256".into()],
        authorization_response_iss_parameter_supported: endpoints.authorization.is_some(),
        code_challenge_methods_supported: if endpoints.authorization.is_some() { vec!["S256".into()] } else { vec![] },
        response_modes_supported: if endpoints.authorization.is_some() {
            vec!["query".into(), "fragment".into(), "form_post".into()]
        } else {
            vec![]
        },
        claims_supported: if endpoints.userinfo.is_some() {
            [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "azp",
                "at_hash",
                "sid",
                "amr",
                "acr",
                "preferred_username",
            ]
            .iter()
            .chain(crate::oidc::PROFILE_CLAIMS)
            .chain(&["email", "email_verified"])
            .map(|c| (*c).to_owned())
            .collect()
        } else {
            vec![]
        },
        acr_values_supported: if endpoints.authorization.is_some() {
            vec![crate::oidc::ACR_MFA.to_owned()]
        } else {
            vec![]
        },
    }
}

/// The algorithms a client assertion may be signed with, as listed for
/// each endpoint that takes one.
fn assertion_algorithms() -> Vec<String> {
    crate::client_assertion::ALGORITHMS.iter().map(|a| (*a).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints() -> Endpoints {
        let at = |p: &str| format!("https://id.example{p}");
        Endpoints {
            token: at("/token"),
            jwks: at("/jwks"),
            introspection: at("/introspect"),
            revocation: at("/revoke"),
            authorization: Some(at("/authorize")),
            userinfo: None,
            end_session: None,
            device_authorization: Some(at("/device")),
            pushed_authorization_request: Some(at("/par")),
            registration: Some(at("/register")),
        }
    }

    /// Item 7 of issue #15: every endpoint that authenticates clients takes
    /// an assertion, and says with which algorithms.
    #[test]
    fn every_client_authenticating_endpoint_lists_private_key_jwt_and_its_algorithms() {
        let m = metadata("https://id.example", &endpoints(), vec![], &[GrantType::JwtBearer]);
        for methods in [
            &m.token_endpoint_auth_methods_supported,
            &m.introspection_endpoint_auth_methods_supported,
            &m.revocation_endpoint_auth_methods_supported,
        ] {
            assert!(methods.iter().any(|x| x == "private_key_jwt"), "{methods:?}");
        }
        for algs in [
            &m.token_endpoint_auth_signing_alg_values_supported,
            &m.introspection_endpoint_auth_signing_alg_values_supported,
            &m.revocation_endpoint_auth_signing_alg_values_supported,
        ] {
            assert!(algs.iter().any(|a| a == "ES256") && !algs.iter().any(|a| a == "HS256" || a == "none"));
        }
        assert_eq!(m.grant_types_supported, ["urn:ietf:params:oauth:grant-type:jwt-bearer"]);
    }

    #[test]
    fn device_endpoint_is_listed_only_with_the_device_grant() {
        let with = metadata("https://id.example", &endpoints(), vec![], &[GrantType::DeviceCode]);
        assert_eq!(with.device_authorization_endpoint.as_deref(), Some("https://id.example/device"));
        assert_eq!(with.grant_types_supported, ["urn:ietf:params:oauth:grant-type:device_code"]);
        let without = metadata("https://id.example", &endpoints(), vec![], &[GrantType::AuthorizationCode]);
        assert_eq!(without.device_authorization_endpoint, None);
        let json = serde_json::to_value(&without).unwrap_or_default();
        assert!(json.get("device_authorization_endpoint").is_none());
    }

    /// RFC 9449 §5.1: the DPoP proof algorithms are listed, asymmetric only.
    #[test]
    fn dpop_algorithms_are_listed() {
        let doc = metadata("https://id.example", &endpoints(), vec![], &[]);
        assert_eq!(doc.dpop_signing_alg_values_supported, crate::dpop::ALGORITHMS);
        assert!(doc.dpop_signing_alg_values_supported.iter().all(|a| !a.starts_with("HS") && a != "none"));
    }

    /// RFC 9126 §5: the PAR endpoint and its requirement flag are listed
    /// exactly when PAR is on.
    #[test]
    fn par_is_listed_only_when_enabled() {
        let on = metadata("https://id.example", &endpoints(), vec![], &[GrantType::AuthorizationCode]);
        assert_eq!(on.pushed_authorization_request_endpoint.as_deref(), Some("https://id.example/par"));
        assert_eq!(on.require_pushed_authorization_requests, Some(false));
        let off = Endpoints { pushed_authorization_request: None, ..endpoints() };
        let json = serde_json::to_value(metadata("https://id.example", &off, vec![], &[])).unwrap_or_default();
        assert!(json.get("pushed_authorization_request_endpoint").is_none());
        assert!(json.get("require_pushed_authorization_requests").is_none());
    }
}
