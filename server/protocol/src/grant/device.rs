//! The device authorization grant (RFC 8628): the device authorization
//! request (§3.1) and response (§3.2), the user code (§6.1), and the rules
//! of polling the token endpoint (§3.4, §3.5) as a state machine over the
//! stored request.
//!
//! No I/O: the caller passes random bytes, the time and the stored state,
//! and stores what the functions decide (a poll's time and the new
//! interval, the single use of an approved device code).

use crate::error::{ErrorCode, OAuthError};
use crate::grant::client_credentials;
use crate::ids::Audience;
use crate::model::{ApiProfile, ClientProfile, GrantType};
use crate::oidc::OIDC_SCOPES;
use crate::params::Params;
use crate::scope::ScopeSet;
use serde::Serialize;

/// How long a device code and its user code live (RFC 8628 §3.2
/// `expires_in`): long enough to find a phone and sign in, short enough
/// that a guessed user code is worth little (§5.1).
pub const EXPIRES_IN_SECS: i64 = 600;

/// The polling interval a new request starts with (RFC 8628 §3.2: "If no
/// value is provided, clients MUST use 5 as the default").
pub const INTERVAL_SECS: i64 = 5;

/// What `slow_down` adds to the interval (RFC 8628 §3.5: "MUST be
/// increased by 5 seconds").
pub const SLOW_DOWN_SECS: i64 = 5;

/// The user code's characters (RFC 8628 §6.1): consonants only, so no word
/// can be spelled and no character looks like another (no vowels, no digits).
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// Characters in a user code: 20^8 (about 2^34.6) codes, enough with the
/// rate limit on wrong codes and the short lifetime (§5.1).
pub const USER_CODE_LEN: usize = 8;

/// A user code in its canonical form: [`USER_CODE_LEN`] characters of
/// [`USER_CODE_ALPHABET`], no separator. Shown as `XXXX-XXXX`
/// ([`UserCode::display`]); stored as its hash.
#[derive(Clone, PartialEq, Eq)]
pub struct UserCode(String);

impl UserCode {
    /// Draws a code from 16 random bytes of the caller's CSPRNG: each
    /// character from two bytes modulo 20 (the bias, 16 in 65 536, is
    /// negligible).
    pub fn from_random(bytes: [u8; 16]) -> UserCode {
        let code = bytes
            .chunks_exact(2)
            .map(|pair| {
                let n = usize::from(u16::from_be_bytes([pair[0], pair[1]])) % USER_CODE_ALPHABET.len();
                char::from(USER_CODE_ALPHABET[n])
            })
            .collect();
        UserCode(code)
    }

    /// Reads what a user typed (RFC 8628 §6.1: "case-insensitive", and
    /// separators ignored): upper-cased, dashes and spaces dropped. `None`
    /// when it cannot be a user code at all.
    pub fn normalize(typed: &str) -> Option<UserCode> {
        let code: String =
            typed.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect();
        let valid = code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
        valid.then_some(UserCode(code))
    }

    /// The canonical form, which is what is hashed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form shown to the user and sent to the device: `XXXX-XXXX`.
    pub fn display(&self) -> String {
        let (a, b) = self.0.split_at(USER_CODE_LEN / 2);
        format!("{a}-{b}")
    }
}

impl std::fmt::Debug for UserCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserCode(..)")
    }
}

/// A device authorization request (RFC 8628 §3.1), after client
/// authentication.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The requested scopes; `None` when the parameter was omitted.
    pub scope: Option<ScopeSet>,
    /// The requested API (`audience` or `resource`); `None` for an OpenID
    /// Connect request for the userinfo endpoint only.
    pub audience: Option<Audience>,
}

/// Parses the request's parameters.
pub fn parse(params: &Params) -> Result<Request, OAuthError> {
    let scope = params.get("scope").map(ScopeSet::parse).transpose()?;
    let audience = if params.get("audience").is_some() || params.get("resource").is_some() {
        Some(client_credentials::target(params)?)
    } else {
        None
    };
    Ok(Request { scope, audience })
}

/// RFC 8628 §3.1 and §5.6: only clients an admin allowed the device grant
/// may start it (`unauthorized_client` otherwise); public clients may.
pub fn check_client(client: &ClientProfile) -> Result<(), OAuthError> {
    if client.allows_grant(GrantType::DeviceCode) {
        Ok(())
    } else {
        Err(OAuthError::new(ErrorCode::UnauthorizedClient, "the device grant is not allowed for this client"))
    }
}

/// The scopes a device request is granted if the user approves: the OpenID
/// Connect scopes asked for, plus the API's scopes (all the client may have
/// when `scope` is omitted) when an API is named (`api` is what the
/// audience names, `None` if unknown). API scopes without an audience are
/// `invalid_scope`, as at the authorization endpoint.
pub fn decide(req: &Request, client: &ClientProfile, api: Option<&ApiProfile>) -> Result<ScopeSet, OAuthError> {
    check_client(client)?;
    let requested = req.scope.clone().unwrap_or_default();
    let oidc = ScopeSet::from_tokens(requested.iter().filter(|s| OIDC_SCOPES.contains(s)));
    let api_part = requested.difference(&oidc);
    match &req.audience {
        Some(aud) => {
            let asked = req.scope.as_ref().map(|_| &api_part);
            let plan = super::plan_for_api(GrantType::DeviceCode, String::new(), asked, aud, client, api)?;
            Ok(ScopeSet::from_tokens(oidc.iter().chain(plan.scopes.iter())))
        }
        None if !api_part.is_empty() => {
            Err(OAuthError::new(ErrorCode::InvalidScope, format!("scope {api_part} needs an audience (or resource)")))
        }
        None => Ok(oidc),
    }
}

/// The device authorization response (RFC 8628 §3.2).
#[derive(Debug, Clone, Serialize)]
pub struct Response {
    /// The device verification code, for polling.
    pub device_code: String,
    /// The code the user types, `XXXX-XXXX`.
    pub user_code: String,
    /// Where the user goes.
    pub verification_uri: String,
    /// The same with the user code in it, for a QR code or a link (§3.3.1).
    pub verification_uri_complete: String,
    /// Seconds until both codes expire.
    pub expires_in: i64,
    /// Seconds the client waits between polls.
    pub interval: i64,
}

impl Response {
    /// The response for `device_code` and `user_code`, the user going to
    /// `verification_uri` (the hosted page; the complete form carries the
    /// code as `user_code`).
    pub fn new(device_code: &str, user_code: &UserCode, verification_uri: &str) -> Response {
        let display = user_code.display();
        let complete = url::form_urlencoded::Serializer::new(String::new()).append_pair("user_code", &display).finish();
        Response {
            device_code: device_code.to_owned(),
            user_code: display,
            verification_uri: verification_uri.to_owned(),
            verification_uri_complete: format!("{verification_uri}?{complete}"),
            expires_in: EXPIRES_IN_SECS,
            interval: INTERVAL_SECS,
        }
    }
}

/// Where the user's decision on a device request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Nobody approved or denied yet.
    Pending,
    /// A user approved: the next poll gets tokens for that user.
    Approved,
    /// A user denied: every poll gets `access_denied`.
    Denied,
}

crate::named_enum!(Status, "device status", {
    Pending => "pending",
    Approved => "approved",
    Denied => "denied",
});

/// A stored device request, as the polling rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The client that started it.
    pub client_id: String,
    /// The user's decision.
    pub status: Status,
    /// Unix seconds.
    pub expires_at: i64,
    /// The interval the client must keep, seconds.
    pub interval_secs: i64,
    /// The previous poll, Unix seconds.
    pub last_polled_at: Option<i64>,
    /// True once tokens were issued for it.
    pub used: bool,
}

/// What one poll (RFC 8628 §3.4) decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// Approved and unused: redeem it (single use) and issue tokens.
    Issue,
    /// Still pending: store the poll (`polled_at`, and `interval_secs`,
    /// raised after `slow_down`) and answer `error`.
    Wait {
        /// `authorization_pending` or `slow_down`.
        error: OAuthError,
        /// When this poll happened.
        polled_at: i64,
        /// The interval from now on.
        interval_secs: i64,
    },
    /// Answer this error; nothing to store.
    Refuse(OAuthError),
}

/// The error every poll with a device code that is unknown, used or
/// another client's gets.
pub fn invalid_device_code() -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, "the device code is invalid, already used or issued to another client")
}

/// RFC 8628 §3.5: the answer to a poll by `client_id` at `now`. A used code
/// or another client's is `invalid_grant`; an expired one `expired_token`;
/// a denied one `access_denied`; an approved one is issued. While pending,
/// a poll sooner than `interval_secs` after the previous one is
/// `slow_down` and raises the interval by [`SLOW_DOWN_SECS`] for good,
/// otherwise `authorization_pending`.
pub fn poll(stored: &Stored, client_id: &str, now: i64) -> Poll {
    if stored.client_id != client_id {
        return Poll::Refuse(invalid_device_code().with_detail("device code of another client"));
    }
    if stored.used {
        return Poll::Refuse(invalid_device_code().with_detail("device code already redeemed"));
    }
    if now >= stored.expires_at {
        return Poll::Refuse(OAuthError::new(ErrorCode::ExpiredToken, "the device code has expired"));
    }
    match stored.status {
        Status::Denied => Poll::Refuse(OAuthError::new(ErrorCode::AccessDenied, "the user denied the request")),
        Status::Approved => Poll::Issue,
        Status::Pending => {
            let too_fast = stored.last_polled_at.is_some_and(|at| now - at < stored.interval_secs);
            if too_fast {
                let interval_secs = stored.interval_secs + SLOW_DOWN_SECS;
                let error = OAuthError::new(
                    ErrorCode::SlowDown,
                    format!("polling too fast: wait {interval_secs} seconds between requests"),
                );
                Poll::Wait { error, polled_at: now, interval_secs }
            } else {
                let error =
                    OAuthError::new(ErrorCode::AuthorizationPending, "the user has not yet approved the request");
                Poll::Wait { error, polled_at: now, interval_secs: stored.interval_secs }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ids::{ApiId, ClientId};
    use crate::model::SigningAlg;

    #[test]
    fn user_codes_use_only_the_consonant_alphabet_and_show_as_two_groups() {
        for seed in 0..=255u8 {
            let bytes: [u8; 16] = std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8 * 17));
            let code = UserCode::from_random(bytes);
            assert_eq!(code.as_str().len(), USER_CODE_LEN);
            assert!(code.as_str().bytes().all(|b| USER_CODE_ALPHABET.contains(&b)), "{}", code.as_str());
            let shown = code.display();
            assert_eq!(shown.len(), USER_CODE_LEN + 1);
            assert_eq!(&shown[4..5], "-");
            assert_eq!(UserCode::normalize(&shown), Some(code));
        }
        assert!(!USER_CODE_ALPHABET.iter().any(|b| b"AEIOUY0123456789".contains(b)));
    }

    #[test]
    fn different_random_bytes_give_different_codes() {
        let a = UserCode::from_random([0; 16]);
        let b = UserCode::from_random([1; 16]);
        assert_ne!(a, b);
        assert_eq!(a.as_str(), "BBBBBBBB");
    }

    #[test]
    fn typed_codes_are_case_insensitive_and_the_dash_is_optional() {
        let want = UserCode::normalize("WDJB-MJHT").unwrap();
        for typed in ["wdjb-mjht", "WDJBMJHT", " wdjb mjht ", "WdJb-MjHt"] {
            assert_eq!(UserCode::normalize(typed).as_ref(), Some(&want), "{typed}");
        }
        assert_eq!(want.as_str(), "WDJBMJHT");
    }

    #[test]
    fn codes_with_other_characters_or_lengths_are_not_codes() {
        for typed in ["", "WDJB-MJH", "WDJB-MJHTB", "WDJA-MJHT", "WDJB-MJH1", "WDJB_MJHT", "ŴDJB-MJHT"] {
            assert_eq!(UserCode::normalize(typed), None, "{typed}");
        }
        assert_eq!(format!("{:?}", UserCode::normalize("WDJBMJHT").unwrap()), "UserCode(..)");
    }

    #[test]
    fn response_carries_the_code_in_the_complete_uri() {
        let code = UserCode::normalize("WDJBMJHT").unwrap();
        let r = Response::new("dc", &code, "https://id.example/device");
        assert_eq!(r.user_code, "WDJB-MJHT");
        assert_eq!(r.verification_uri_complete, "https://id.example/device?user_code=WDJB-MJHT");
        assert_eq!((r.expires_in, r.interval), (EXPIRES_IN_SECS, INTERVAL_SECS));
    }

    fn stored() -> Stored {
        Stored {
            client_id: "tv".into(),
            status: Status::Pending,
            expires_at: 1_000 + EXPIRES_IN_SECS,
            interval_secs: INTERVAL_SECS,
            last_polled_at: None,
            used: false,
        }
    }

    fn code(p: &Poll) -> ErrorCode {
        match p {
            Poll::Issue => panic!("issued"),
            Poll::Wait { error, .. } | Poll::Refuse(error) => error.code,
        }
    }

    #[test]
    fn pending_polls_at_the_interval_are_authorization_pending() {
        let mut s = stored();
        let p = poll(&s, "tv", 1_000);
        assert!(matches!(p, Poll::Wait { polled_at: 1_000, interval_secs: 5, .. }), "{p:?}");
        assert_eq!(code(&p), ErrorCode::AuthorizationPending);
        s.last_polled_at = Some(1_000);
        assert_eq!(code(&poll(&s, "tv", 1_005)), ErrorCode::AuthorizationPending);
    }

    #[test]
    fn polling_faster_than_the_interval_is_slow_down_and_adds_five_seconds() {
        let mut s = stored();
        s.last_polled_at = Some(1_000);
        let p = poll(&s, "tv", 1_004);
        assert_eq!(code(&p), ErrorCode::SlowDown);
        let Poll::Wait { interval_secs, polled_at, .. } = p else { panic!("not a wait") };
        assert_eq!((interval_secs, polled_at), (10, 1_004));
        s.interval_secs = interval_secs;
        s.last_polled_at = Some(polled_at);
        // The raised interval holds from now on: 9 s is too fast, 10 s is fine.
        assert_eq!(code(&poll(&s, "tv", 1_013)), ErrorCode::SlowDown);
        assert_eq!(code(&poll(&s, "tv", 1_014)), ErrorCode::AuthorizationPending);
    }

    #[test]
    fn expired_codes_are_expired_token_whatever_the_user_did() {
        for status in Status::ALL {
            let s = Stored { status, ..stored() };
            assert_eq!(code(&poll(&s, "tv", s.expires_at)), ErrorCode::ExpiredToken, "{status}");
        }
    }

    #[test]
    fn denied_is_access_denied_and_approved_is_issued_once() {
        let denied = Stored { status: Status::Denied, ..stored() };
        assert_eq!(code(&poll(&denied, "tv", 1_001)), ErrorCode::AccessDenied);
        let approved = Stored { status: Status::Approved, last_polled_at: Some(1_000), ..stored() };
        // An approved request answers at once, even to a poll that comes too soon.
        assert_eq!(poll(&approved, "tv", 1_001), Poll::Issue);
        let used = Stored { used: true, ..approved };
        assert_eq!(code(&poll(&used, "tv", 1_010)), ErrorCode::InvalidGrant);
    }

    #[test]
    fn another_clients_device_code_is_invalid_grant() {
        let approved = Stored { status: Status::Approved, ..stored() };
        assert_eq!(code(&poll(&approved, "other", 1_001)), ErrorCode::InvalidGrant);
    }

    fn client(grants: Vec<GrantType>) -> ClientProfile {
        ClientProfile {
            id: ClientId::new("tv"),
            name: "TV".into(),
            confidential: false,
            grant_types: grants,
            allowed_scopes: None,
            allowed_audiences: None,
        }
    }

    fn api() -> ApiProfile {
        ApiProfile {
            id: ApiId::new("a1"),
            audience: Audience::new("https://api.example"),
            alg: SigningAlg::RS256,
            token_lifetime_secs: 300,
            scopes: ScopeSet::parse("read write").unwrap(),
        }
    }

    #[test]
    fn scopes_split_into_openid_and_the_apis_own() {
        let c = client(vec![GrantType::DeviceCode]);
        let params = Params::from_pairs([("scope", "openid read"), ("audience", "https://api.example")]);
        let req = parse(&params).unwrap();
        assert_eq!(decide(&req, &c, Some(&api())).unwrap().to_string(), "openid read");
        let all = parse(&Params::from_pairs([("audience", "https://api.example")])).unwrap();
        assert_eq!(decide(&all, &c, Some(&api())).unwrap().to_string(), "read write");
        let oidc = parse(&Params::from_pairs([("scope", "openid profile")])).unwrap();
        assert_eq!(decide(&oidc, &c, None).unwrap().to_string(), "openid profile");
        let stray = parse(&Params::from_pairs([("scope", "openid read")])).unwrap();
        assert_eq!(decide(&stray, &c, None).unwrap_err().code, ErrorCode::InvalidScope);
        let unknown = parse(&Params::from_pairs([("scope", "admin"), ("audience", "https://api.example")])).unwrap();
        assert_eq!(decide(&unknown, &c, Some(&api())).unwrap_err().code, ErrorCode::InvalidScope);
    }

    #[test]
    fn clients_without_the_device_grant_are_unauthorized() {
        let c = client(vec![GrantType::AuthorizationCode]);
        let req = parse(&Params::from_pairs([("scope", "openid")])).unwrap();
        assert_eq!(decide(&req, &c, None).unwrap_err().code, ErrorCode::UnauthorizedClient);
    }
}
