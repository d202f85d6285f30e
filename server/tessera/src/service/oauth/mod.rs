//! The OAuth 2.0 / OpenID Connect endpoints' use cases.

pub mod access_token;
pub mod authorize;
pub mod introspection;
pub mod token;
pub mod user_grants;
pub mod userinfo;
