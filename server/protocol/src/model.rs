//! The protocol's view of clients and APIs: exactly what grant logic needs to
//! decide, loaded by the caller from storage.

use crate::ids::{ApiId, Audience, ClientId};
use crate::scope::ScopeSet;
use std::fmt;
use std::str::FromStr;

/// Grant types Tessera knows, by their wire names (RFC 6749, RFC 8628, RFC 8693).
pub mod grant_types {
    /// RFC 6749 §4.4.
    pub const CLIENT_CREDENTIALS: &str = "client_credentials";
    /// RFC 6749 §4.1.
    pub const AUTHORIZATION_CODE: &str = "authorization_code";
    /// RFC 6749 §4.2 (issued from the authorization endpoint).
    pub const IMPLICIT: &str = "implicit";
    /// RFC 6749 §4.3.
    pub const PASSWORD: &str = "password";
    /// RFC 6749 §6.
    pub const REFRESH_TOKEN: &str = "refresh_token";
    /// RFC 8628 §3.4.
    pub const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
    /// RFC 8693 §2.1.
    pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

    /// Every grant type a client or binding may name.
    pub const ALL: &[&str] =
        &[CLIENT_CREDENTIALS, AUTHORIZATION_CODE, IMPLICIT, PASSWORD, REFRESH_TOKEN, DEVICE_CODE, TOKEN_EXCHANGE];

    /// Grant types the token endpoint implements today; discovery lists these.
    pub const SUPPORTED: &[&str] = &[AUTHORIZATION_CODE, CLIENT_CREDENTIALS, PASSWORD, REFRESH_TOKEN];

    /// Grant types discovery lists: the token endpoint's, and implicit
    /// (issued by the authorization endpoint to clients that enable it).
    pub const ADVERTISED: &[&str] = &[AUTHORIZATION_CODE, CLIENT_CREDENTIALS, IMPLICIT, PASSWORD, REFRESH_TOKEN];

    /// True if `g` is a grant type Tessera knows.
    pub fn is_known(g: &str) -> bool {
        ALL.contains(&g)
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
    pub grant_types: Vec<String>,
    /// Scopes this client may request; `None` means any scope the API defines.
    pub allowed_scopes: Option<ScopeSet>,
    /// Audiences this client may request; `None` means any API.
    pub allowed_audiences: Option<Vec<Audience>>,
}

impl ClientProfile {
    /// True if an admin allowed `grant_type` for this client.
    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
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

impl FromStr for SigningAlg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "RS256" => Ok(Self::RS256),
            "ES256" => Ok(Self::ES256),
            "EdDSA" => Ok(Self::EdDSA),
            "HS256" => Ok(Self::HS256),
            other => Err(format!("unsupported algorithm {other:?}: use RS256, ES256, EdDSA or HS256")),
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
