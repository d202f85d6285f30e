//! The one OAuth error type (RFC 6749 §5.2, §4.1.2.1; RFC 6750 §3.1; RFC 8707 §2).
//!
//! Every protocol failure is an [`OAuthError`]: a closed [`ErrorCode`], a
//! description safe to show the client, and a detail that goes to logs only.
//! The HTTP status belongs to the code, so no handler picks one by hand.

use std::fmt;

/// The registered OAuth error codes Tessera emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// RFC 6749 §5.2: "The request is missing a required parameter, includes an
    /// unsupported parameter value (other than grant type), repeats a parameter,
    /// includes multiple credentials, utilizes more than one mechanism for
    /// authenticating the client, or is otherwise malformed."
    InvalidRequest,
    /// RFC 6749 §5.2: "Client authentication failed (e.g., unknown client, no
    /// client authentication included, or unsupported authentication method)."
    InvalidClient,
    /// RFC 6749 §5.2: "The provided authorization grant ... or refresh token is
    /// invalid, expired, revoked, does not match the redirection URI used in the
    /// authorization request, or was issued to another client."
    InvalidGrant,
    /// RFC 6749 §5.2: "The authenticated client is not authorized to use this
    /// authorization grant type."
    UnauthorizedClient,
    /// RFC 6749 §5.2: "The authorization grant type is not supported by the
    /// authorization server."
    UnsupportedGrantType,
    /// RFC 6749 §5.2: "The requested scope is invalid, unknown, malformed, or
    /// exceeds the scope granted by the resource owner."
    InvalidScope,
    /// RFC 8707 §2: "The requested resource is invalid, missing, unknown, or
    /// malformed."
    InvalidTarget,
    /// RFC 6749 §4.1.2.1: "The resource owner or authorization server denied the
    /// request."
    AccessDenied,
    /// RFC 6749 §4.1.2.1: "The authorization server encountered an unexpected
    /// condition that prevented it from fulfilling the request."
    ServerError,
    /// RFC 6749 §4.1.2.1: "The authorization server is currently unable to
    /// handle the request due to a temporary overloading or maintenance."
    TemporarilyUnavailable,
    /// RFC 6750 §3.1: "The access token provided is expired, revoked, malformed,
    /// or invalid for other reasons."
    InvalidToken,
    /// RFC 7009 §2.2.1: "The authorization server does not support the
    /// revocation of the presented token type."
    UnsupportedTokenType,
    /// RFC 6749 §4.1.2.1: "The authorization server does not support obtaining
    /// an authorization code using this method."
    UnsupportedResponseType,
    /// OIDC Core §3.1.2.6: "The Authorization Server requires End-User
    /// authentication." (sent for `prompt=none` without a session)
    LoginRequired,
    /// OIDC Core §3.1.2.6: "The Authorization Server requires End-User consent."
    ConsentRequired,
    /// RFC 8628 §3.5: "The authorization request is still pending as the end
    /// user hasn't yet completed the user-interaction steps."
    AuthorizationPending,
    /// RFC 8628 §3.5: "A variant of \"authorization_pending\", the
    /// authorization request is still pending and polling should continue,
    /// but the interval MUST be increased by 5 seconds for this and all
    /// subsequent requests."
    SlowDown,
    /// RFC 8628 §3.5: "The \"device_code\" has expired, and the device
    /// authorization session has concluded."
    ExpiredToken,
    /// RFC 9101 §6.2, used by RFC 9126 §4: "The request_uri in the
    /// authorization request returns an error or contains invalid data."
    InvalidRequestUri,
    /// RFC 9449 §5: the DPoP proof "is invalid" (also §7.1 at a protected
    /// resource, there with 401).
    InvalidDpopProof,
    /// RFC 9449 §8: "the authorization server requires nonce values in DPoP
    /// proofs"; the response carries a fresh one in `DPoP-Nonce`.
    UseDpopNonce,
    /// RFC 7591 §3.2.2: "The value of one or more redirection URIs is
    /// invalid."
    InvalidRedirectUri,
    /// RFC 7591 §3.2.2: "The value of one of the client metadata fields is
    /// invalid and the server has rejected this request."
    InvalidClientMetadata,
    /// RFC 9101 §6.2: "The request parameter contains an invalid Request
    /// Object."
    InvalidRequestObject,
}

impl ErrorCode {
    /// The code as it appears in the `error` member.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidToken => "invalid_token",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidRequestObject => "invalid_request_object",
        }
    }

    /// The HTTP status of a token-endpoint response carrying this code.
    ///
    /// RFC 6749 §5.2: 400 unless stated otherwise; `invalid_client` is 401 when
    /// the client tried to authenticate (the writer adds `WWW-Authenticate`).
    /// RFC 8628 §3.5 keeps that for the device codes, so `access_denied` (a
    /// plugin's or a user's refusal) is 400 too. Internal failures are 5xx so
    /// that clients retry instead of giving up.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidClient | Self::InvalidToken => 401,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth protocol error: what the client is told, and what only logs see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The registered error code.
    pub code: ErrorCode,
    /// `error_description`: human-readable, safe to show the client.
    pub description: String,
    /// Internal detail for logs; never rendered.
    pub detail: Option<String>,
    /// Set when the request was refused by throttling: retry after this many
    /// seconds (`Retry-After`, RFC 9110 §10.2.3); the status becomes 429
    /// (RFC 6585 §4) with the code kept in the body.
    pub retry_after: Option<u64>,
    /// Set when a rate limit refused the request before any work: 429
    /// whatever the code (see [`OAuthError::rate_limited`]).
    pub rate_limited: bool,
}

impl OAuthError {
    /// An error whose description is shown to the client. Characters outside
    /// RFC 6749 §5.2's allowed set (%x20-21 / %x23-5B / %x5D-7E) are replaced.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: sanitize_description(&description.into()),
            detail: None,
            retry_after: None,
            rate_limited: false,
        }
    }

    /// Marks the error as a throttling refusal: 429 with `Retry-After`.
    pub fn throttled(mut self, retry_after_secs: u64) -> Self {
        self.retry_after = Some(retry_after_secs.max(1));
        self
    }

    /// A request refused by a rate limit, to retry after this many seconds.
    /// RFC 6749 registers no code for it; `temporarily_unavailable` (§4.1.2.1)
    /// tells a client to retry later, which is what it should do, and 429 with
    /// `Retry-After` (RFC 6585 §4) tells it when, and that its own rate is the
    /// cause rather than an outage (as Hydra and Keycloak answer).
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e =
            Self::new(ErrorCode::TemporarilyUnavailable, "too many requests, retry later").throttled(retry_after_secs);
        e.rate_limited = true;
        e
    }

    /// The HTTP status: the code's, or 429 for a throttled client error
    /// (internal errors keep their 5xx) or a rate-limited request.
    pub fn status(&self) -> u16 {
        if self.rate_limited {
            return 429;
        }
        match (self.retry_after, self.code.status()) {
            (Some(_), s) if s < 500 => 429,
            (_, s) => s,
        }
    }

    /// Attaches a log-only detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// `invalid_request` with a description.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_client`. The description never says whether the id exists.
    pub fn invalid_client() -> Self {
        Self::new(ErrorCode::InvalidClient, "client authentication failed")
    }

    /// `server_error` with a log-only detail; the client never learns why.
    pub fn server_error(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::ServerError, "the server could not complete the request").with_detail(detail)
    }

    /// `temporarily_unavailable` with a log-only detail (e.g. the database is down).
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::TemporarilyUnavailable, "the service is temporarily unavailable, retry later")
            .with_detail(detail)
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl std::error::Error for OAuthError {}

/// Replaces characters RFC 6749 §5.2 forbids in `error_description` with `?`.
pub fn sanitize_description(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e' => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_client_is_401_and_others_400() {
        assert_eq!(ErrorCode::InvalidClient.status(), 401);
        assert_eq!(ErrorCode::InvalidScope.status(), 400);
        assert_eq!(ErrorCode::UnsupportedGrantType.status(), 400);
        assert_eq!(ErrorCode::ServerError.status(), 500);
    }

    /// RFC 6749 §5.2 and RFC 8628 §3.5: a denial at the token endpoint is a
    /// 400 like every other client error there, not 403.
    #[test]
    fn access_denied_at_the_token_endpoint_is_400() {
        assert_eq!(ErrorCode::AccessDenied.status(), 400);
        assert_eq!(ErrorCode::ExpiredToken.status(), 400);
        assert_eq!(ErrorCode::AuthorizationPending.status(), 400);
    }

    /// Issue #11 items 6 and 8: a throttled refusal is 429, keeps its code.
    #[test]
    fn throttled_client_errors_are_429() {
        let e = OAuthError::invalid_client().throttled(30);
        assert_eq!((e.status(), e.code, e.retry_after), (429, ErrorCode::InvalidClient, Some(30)));
        assert_eq!(OAuthError::unavailable("x").throttled(5).status(), 503);
    }

    /// Issue #16 item 4: a rate-limited request is 429 `temporarily_unavailable`
    /// with its wait, at least a second.
    #[test]
    fn rate_limited_requests_are_429_temporarily_unavailable() {
        let e = OAuthError::rate_limited(0);
        assert_eq!((e.status(), e.code, e.retry_after), (429, ErrorCode::TemporarilyUnavailable, Some(1)));
    }

    #[test]
    fn description_with_quote_backslash_and_newline_is_sanitized() {
        let e = OAuthError::invalid_request("bad \"x\"\\\n\tz é");
        assert_eq!(e.description, "bad ?x????z ?");
    }
}
