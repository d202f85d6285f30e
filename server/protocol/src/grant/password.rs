//! The resource owner password credentials grant (RFC 6749 §4.3).
//!
//! RFC 9700 §2.4 says it MUST NOT be used, and OAuth 2.1 drops it; Tessera
//! keeps it off unless an admin adds `password` to a client's grant types,
//! because it is the documented way for a CI job to get a token for a test
//! user without a browser. Sign-in failures are throttled by the caller.

use super::TokenPlan;
use crate::error::{ErrorCode, OAuthError};
use crate::ids::{Audience, UserId};
use crate::model::{ApiProfile, ClientProfile, GrantType};
use crate::params::Params;
use crate::scope::ScopeSet;
use crate::secret::PlainSecret;

/// A parsed password request.
#[derive(Debug)]
pub struct Request {
    /// The username.
    pub username: String,
    /// The password, redacted in Debug and zeroized on drop.
    pub password: PlainSecret,
    /// Requested scopes; `None` when omitted.
    pub scope: Option<ScopeSet>,
    /// The API.
    pub audience: Audience,
}

/// Parses the grant's parameters.
pub fn parse(params: &Params) -> Result<Request, OAuthError> {
    Ok(Request {
        username: params.require("username")?.to_owned(),
        password: PlainSecret::received(params.require("password")?),
        scope: params.get("scope").map(ScopeSet::parse).transpose()?,
        audience: super::client_credentials::target(params)?,
    })
}

/// Checks that the client may use this grant at all; done before the
/// password is looked at, so a disabled grant reveals nothing.
pub fn check_client(client: &ClientProfile) -> Result<(), OAuthError> {
    if client.allows_grant(GrantType::Password) {
        Ok(())
    } else {
        Err(OAuthError::new(ErrorCode::UnauthorizedClient, "the password grant is not enabled for this client"))
    }
}

/// The token for an authenticated `user` (the caller verified the password).
pub fn decide(
    req: &Request,
    client: &ClientProfile,
    api: Option<&ApiProfile>,
    user: &UserId,
) -> Result<TokenPlan, OAuthError> {
    check_client(client)?;
    super::plan_for_api(GrantType::Password, user.to_string(), req.scope.as_ref(), &req.audience, client, api)
}

/// The one error for a wrong username or password: it does not say which.
pub fn bad_credentials() -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, "invalid username or password")
}

/// Too many failed attempts for this account or address: 429 with
/// `Retry-After` (the code stays `invalid_grant`).
pub fn throttled(retry_after_secs: u64) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, "too many failed sign-in attempts, try again later")
        .throttled(retry_after_secs)
}
