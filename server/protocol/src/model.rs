//! The protocol's view of clients and APIs: exactly what grant logic needs to
//! decide, loaded by the caller from storage.

use crate::ids::{ApiId, Audience, ClientId};
use crate::scope::ScopeSet;
use std::fmt;
use std::str::FromStr;

/// A name read from storage, configuration or a form that is none of the
/// values its enum knows. The store turns it into `StoreError::Corrupt`, the
/// console and CLI into a field error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}; known: {known}")]
pub struct UnknownName {
    /// What was being named ("grant type", "failure policy", ...).
    pub what: &'static str,
    /// The name as given.
    pub value: String,
    /// The names that would have been accepted, comma-separated.
    pub known: String,
}

impl UnknownName {
    /// The error for `value`, listing `known` (each value's wire name).
    pub fn new<'a>(what: &'static str, value: &str, known: impl IntoIterator<Item = &'a str>) -> Self {
        Self { what, value: value.to_owned(), known: known.into_iter().collect::<Vec<_>>().join(", ") }
    }
}

/// Grant types Tessera knows (RFC 6749, RFC 8628, RFC 8693, RFC 7523). Every decision
/// that depends on the grant is an exhaustive `match` on this enum, so a new
/// grant type is a compile error wherever it must be handled; [`Self::as_str`]
/// is the one table of wire names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantType {
    /// RFC 6749 §4.1.
    AuthorizationCode,
    /// RFC 6749 §4.4.
    ClientCredentials,
    /// RFC 6749 §4.2 (issued from the authorization endpoint).
    Implicit,
    /// RFC 6749 §4.3.
    Password,
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 8628 §3.4.
    DeviceCode,
    /// RFC 7523 §2.1: a JWT from an issuer the client trusts.
    JwtBearer,
    /// RFC 8693 §2.1.
    TokenExchange,
}

crate::named_enum!(GrantType, "grant type", {
    AuthorizationCode => "authorization_code",
    ClientCredentials => "client_credentials",
    Implicit => "implicit",
    Password => "password",
    RefreshToken => "refresh_token",
    DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
    JwtBearer => "urn:ietf:params:oauth:grant-type:jwt-bearer",
    TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
});

impl GrantType {
    /// True if the token endpoint implements this grant today.
    pub fn at_token_endpoint(self) -> bool {
        match self {
            Self::AuthorizationCode
            | Self::ClientCredentials
            | Self::Password
            | Self::RefreshToken
            | Self::DeviceCode
            | Self::TokenExchange
            | Self::JwtBearer => true,
            Self::Implicit => false,
        }
    }

    /// True if discovery lists it: the token endpoint's grants, and implicit
    /// (issued by the authorization endpoint to clients that enable it).
    pub fn advertised(self) -> bool {
        match self {
            Self::Implicit => true,
            Self::AuthorizationCode
            | Self::ClientCredentials
            | Self::Password
            | Self::RefreshToken
            | Self::DeviceCode
            | Self::TokenExchange
            | Self::JwtBearer => self.at_token_endpoint(),
        }
    }

    /// The grant types discovery lists, in wire-name order.
    pub fn all_advertised() -> Vec<GrantType> {
        Self::ALL.into_iter().filter(|g| g.advertised()).collect()
    }

    /// The wire names of the grant types discovery lists, for forms that
    /// offer them.
    pub fn advertised_names() -> Vec<&'static str> {
        Self::all_advertised().into_iter().map(Self::as_str).collect()
    }

    /// The wire names of every grant type, for error messages.
    pub fn names() -> impl Iterator<Item = &'static str> {
        Self::ALL.into_iter().map(Self::as_str)
    }
}

/// A client as the protocol needs it.
#[derive(Debug, Clone)]
pub struct ClientProfile {
    /// The client_id.
    pub id: ClientId,
    /// Display name.
    pub name: String,
    /// Confidential clients authenticate; public ones cannot keep a secret.
    pub confidential: bool,
    /// Grant types an admin allowed for this client.
    pub grant_types: Vec<GrantType>,
    /// Scopes this client may request; `None` means any scope the API defines.
    pub allowed_scopes: Option<ScopeSet>,
    /// Audiences this client may request; `None` means any API.
    pub allowed_audiences: Option<Vec<Audience>>,
}

impl ClientProfile {
    /// True if an admin allowed `grant_type` for this client.
    pub fn allows_grant(&self, grant_type: GrantType) -> bool {
        self.grant_types.contains(&grant_type)
    }
}

/// JWS algorithms Tessera signs access tokens with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (the default, what every library verifies).
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
    /// HMAC-SHA256 with a per-API secret, for APIs that verify with a shared secret.
    HS256,
}

impl SigningAlg {
    /// The asymmetric algorithms, published in the JWKS.
    pub const ASYMMETRIC: [SigningAlg; 3] = [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA];

    /// The JWA name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
            Self::HS256 => "HS256",
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An algorithm name Tessera does not sign with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported algorithm {0:?}: use RS256, ES256, EdDSA or HS256")]
pub struct UnsupportedAlg(pub String);

impl FromStr for SigningAlg {
    type Err = UnsupportedAlg;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "RS256" => Ok(Self::RS256),
            "ES256" => Ok(Self::ES256),
            "EdDSA" => Ok(Self::EdDSA),
            "HS256" => Ok(Self::HS256),
            other => Err(UnsupportedAlg(other.to_owned())),
        }
    }
}

/// An API (resource server) as the protocol needs it.
#[derive(Debug, Clone)]
pub struct ApiProfile {
    /// Internal id.
    pub id: ApiId,
    /// The identifier: the token's `aud`.
    pub audience: Audience,
    /// Signing algorithm for its access tokens.
    pub alg: SigningAlg,
    /// Access-token lifetime in seconds.
    pub token_lifetime_secs: i64,
    /// Scopes the API defines.
    pub scopes: ScopeSet,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn grant_types_parse_from_their_wire_names_only() {
        for g in GrantType::ALL {
            assert_eq!(g.as_str().parse::<GrantType>(), Ok(g));
            assert_eq!(serde_json::to_string(&g).unwrap(), format!("\"{g}\""));
            assert_eq!(serde_json::from_str::<GrantType>(&format!("\"{g}\"")).unwrap(), g);
        }
        let e = "Password".parse::<GrantType>().unwrap_err();
        assert_eq!(e.value, "Password");
        assert!(e.to_string().starts_with("unknown grant type \"Password\"; known: authorization_code, "));
        assert!(serde_json::from_str::<Vec<GrantType>>(r#"["password","jwt-bearer"]"#).is_err());
    }

    #[test]
    fn discovery_lists_the_implemented_grants_in_wire_name_order() {
        let names: Vec<&str> = GrantType::all_advertised().into_iter().map(GrantType::as_str).collect();
        assert_eq!(
            names,
            [
                "authorization_code",
                "client_credentials",
                "implicit",
                "password",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:device_code",
                "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "urn:ietf:params:oauth:grant-type:token-exchange"
            ]
        );
        let token: Vec<GrantType> = GrantType::ALL.into_iter().filter(|g| g.at_token_endpoint()).collect();
        assert!(!token.contains(&GrantType::Implicit) && token.contains(&GrantType::DeviceCode));
        assert_eq!(token.len(), 7);
    }

    #[test]
    fn algorithms_name_what_is_known() {
        assert_eq!("ES256".parse::<SigningAlg>(), Ok(SigningAlg::ES256));
        assert_eq!("none".parse::<SigningAlg>(), Err(UnsupportedAlg("none".into())));
    }
}
