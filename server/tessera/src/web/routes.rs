//! Every route path, declared once: the router, discovery and the tests use
//! these constants, never string copies.

/// RFC 6749 §3.2 token endpoint.
pub const TOKEN: &str = "/oauth/token";
/// RFC 7517 JWK Set.
pub const JWKS: &str = "/.well-known/jwks.json";
/// OpenID Connect Discovery 1.0 §4.
pub const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
/// RFC 8414 §3.
pub const OAUTH_AUTHORIZATION_SERVER: &str = "/.well-known/oauth-authorization-server";
/// Liveness: the process answers.
pub const HEALTHZ: &str = "/healthz";
/// Readiness: the database answers.
pub const READYZ: &str = "/readyz";
/// RFC 7662 token introspection.
pub const INTROSPECT: &str = "/oauth/introspect";
/// RFC 7009 token revocation.
pub const REVOKE: &str = "/oauth/revoke";
/// RFC 6749 §3.1 authorization endpoint.
pub const AUTHORIZE: &str = "/oauth/authorize";
/// The hosted login form's target.
pub const LOGIN: &str = "/login";
/// OIDC Core §5.3 userinfo endpoint.
pub const USERINFO: &str = "/oauth/userinfo";
/// Embedded static assets.
pub const STATIC: &str = "/static";
/// OpenID Connect RP-Initiated Logout end_session_endpoint.
pub const END_SESSION: &str = "/oauth/logout";
/// The consent form's target.
pub const CONSENT: &str = "/consent";
