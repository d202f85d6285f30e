//! The refresh token grant (RFC 6749 §6) with rotation (RFC 9700 §4.14.2).
//!
//! Each use returns a new refresh token and retires the old one; presenting a
//! retired token is treated as theft, and the caller revokes the family.

use crate::error::{ErrorCode, OAuthError};
use crate::model::{ApiProfile, ClientProfile, GrantType};
use crate::oidc::OIDC_SCOPES;
use crate::scope::ScopeSet;

/// What the protocol needs to know about a stored refresh token.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The client it was issued to.
    pub client_id: String,
    /// The scopes of the grant.
    pub scopes: ScopeSet,
    /// The family's absolute end (Unix seconds).
    pub absolute_expires_at: i64,
    /// The idle end (Unix seconds).
    pub idle_expires_at: i64,
    /// Already rotated.
    pub used: bool,
    /// Revoked (family revoked, logout, password change).
    pub revoked: bool,
}

/// Why a refresh is refused, and whether the family must be revoked.
#[derive(Debug)]
pub struct Refusal {
    /// The OAuth error.
    pub error: OAuthError,
    /// True when a retired token was replayed: revoke every token of the family.
    pub revoke_family: bool,
}

impl From<OAuthError> for Refusal {
    fn from(error: OAuthError) -> Self {
        Refusal { error, revoke_family: false }
    }
}

fn invalid_grant(why: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, "the refresh token is invalid, expired or revoked").with_detail(why)
}

/// Decides a refresh: the scopes of the new tokens, or a refusal.
pub fn decide(
    stored: &Stored,
    client: &ClientProfile,
    requested: Option<&ScopeSet>,
    now: i64,
) -> Result<ScopeSet, Refusal> {
    // RFC 6749 §10.4: bound to the client it was issued to.
    if stored.client_id != client.id.as_str() {
        return Err(invalid_grant("issued to another client").into());
    }
    // Issue #11 item 5: an admin who takes the grant away ends every family.
    if !client.allows_grant(GrantType::RefreshToken) {
        return Err(Refusal {
            error: invalid_grant("the refresh_token grant is no longer enabled for this client"),
            revoke_family: true,
        });
    }
    if stored.revoked {
        return Err(invalid_grant("revoked").into());
    }
    if stored.used {
        return Err(Refusal { error: invalid_grant("reuse of a rotated refresh token"), revoke_family: true });
    }
    if now >= stored.absolute_expires_at || now >= stored.idle_expires_at {
        return Err(invalid_grant("expired").into());
    }
    match requested {
        None => Ok(stored.scopes.clone()),
        // RFC 6749 §6: "MUST NOT include any scope not originally granted".
        Some(r) if r.is_subset(&stored.scopes) => Ok(r.clone()),
        Some(r) => Err(OAuthError::new(
            ErrorCode::InvalidScope,
            format!("scope exceeds the original grant: {}", r.difference(&stored.scopes)),
        )
        .into()),
    }
}

/// Issue #11 item 5: re-applies today's rules to a family's grant on every
/// refresh: the client must still have the grant type that started the
/// family (`started_by`, when known); the API (`api`, already looked up: a
/// deleted API never gets here) must still be allowed to the client; and
/// every scope of the grant that belongs to the API must still be defined by
/// the API and allowed to the client. OpenID Connect scopes need no API and
/// stay. Tokens of the userinfo pseudo-API (`userinfo_api_id`) carry only
/// those. An error here means the family must end.
pub fn still_allowed(
    granted: &ScopeSet,
    started_by: Option<GrantType>,
    client: &ClientProfile,
    api: &ApiProfile,
    userinfo_api_id: &str,
) -> Result<(), OAuthError> {
    if let Some(g) = started_by.filter(|g| !client.allows_grant(*g)) {
        return Err(OAuthError::new(
            ErrorCode::InvalidGrant,
            format!("{g}, which started this grant, is no longer enabled for this client"),
        ));
    }
    if api.id.as_str() == userinfo_api_id {
        return Ok(());
    }
    let api_part = ScopeSet::from_tokens(granted.iter().filter(|s| !OIDC_SCOPES.contains(s)));
    super::plan_for_api(GrantType::RefreshToken, String::new(), Some(&api_part), &api.audience, client, Some(api))
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ClientId;

    fn client() -> ClientProfile {
        ClientProfile {
            id: ClientId::new("c"),
            name: "c".into(),
            confidential: true,
            grant_types: vec![GrantType::Password, GrantType::RefreshToken],
            allowed_scopes: None,
            allowed_audiences: None,
        }
    }

    fn stored() -> Stored {
        Stored {
            client_id: "c".into(),
            scopes: ScopeSet::parse("a b").unwrap(),
            absolute_expires_at: 1000,
            idle_expires_at: 500,
            used: false,
            revoked: false,
        }
    }

    /// docs/security-checklist.md O-30: a refresh keeps or narrows the scope, never widens it.
    #[test]
    fn refresh_keeps_or_narrows_scope_never_widens() {
        assert_eq!(decide(&stored(), &client(), None, 10).unwrap().to_string(), "a b");
        let narrow = ScopeSet::parse("a").unwrap();
        assert_eq!(decide(&stored(), &client(), Some(&narrow), 10).unwrap().to_string(), "a");
        let wide = ScopeSet::parse("a c").unwrap();
        assert_eq!(decide(&stored(), &client(), Some(&wide), 10).unwrap_err().error.code, ErrorCode::InvalidScope);
    }

    /// docs/security-checklist.md O-28: reuse of a rotated token revokes the family.
    #[test]
    fn reuse_of_a_rotated_token_revokes_the_family() {
        let mut s = stored();
        s.used = true;
        let r = decide(&s, &client(), None, 10).unwrap_err();
        assert!(r.revoke_family);
        assert_eq!(r.error.code, ErrorCode::InvalidGrant);
    }

    /// docs/security-checklist.md O-31: refresh tokens end after inactivity (and absolutely).
    #[test]
    fn expired_idle_or_absolute_is_invalid_grant() {
        assert_eq!(decide(&stored(), &client(), None, 500).unwrap_err().error.code, ErrorCode::InvalidGrant);
        let mut s = stored();
        s.idle_expires_at = 5000;
        assert_eq!(decide(&s, &client(), None, 1000).unwrap_err().error.code, ErrorCode::InvalidGrant);
    }

    /// Issue #11 item 5: taking the refresh_token grant away ends the family.
    #[test]
    fn a_removed_refresh_grant_ends_the_family() {
        let mut c = client();
        c.grant_types = vec![GrantType::Password];
        let r = decide(&stored(), &c, None, 10).unwrap_err();
        assert!(r.revoke_family);
        assert_eq!(r.error.code, ErrorCode::InvalidGrant);
    }

    /// Issue #11 item 5: a removed starting grant, and narrowed APIs or
    /// scopes on the client or the API, are applied to an existing grant;
    /// OIDC scopes need no API.
    #[test]
    fn a_grant_is_checked_against_todays_client_and_api() {
        use crate::ids::{ApiId, Audience};
        use crate::model::SigningAlg;
        let api = ApiProfile {
            id: ApiId::new("a1"),
            audience: Audience::new("https://a"),
            alg: SigningAlg::RS256,
            token_lifetime_secs: 60,
            scopes: ScopeSet::parse("a b").unwrap(),
        };
        let granted = ScopeSet::parse("openid a b").unwrap();
        let pw = Some(GrantType::Password);
        assert!(still_allowed(&granted, pw, &client(), &api, "userinfo").is_ok());
        assert!(still_allowed(&granted, None, &client(), &api, "userinfo").is_ok(), "origin unknown: not checked");
        assert!(still_allowed(&granted, Some(GrantType::AuthorizationCode), &client(), &api, "userinfo").is_err());
        let mut narrowed = client();
        narrowed.allowed_scopes = Some(ScopeSet::parse("a").unwrap());
        assert!(still_allowed(&granted, pw, &narrowed, &api, "userinfo").is_err(), "client lost scope b");
        let mut other_api = client();
        other_api.allowed_audiences = Some(vec![Audience::new("https://other")]);
        assert!(still_allowed(&granted, pw, &other_api, &api, "userinfo").is_err(), "client lost the API");
        let mut shrunk = api.clone();
        shrunk.scopes = ScopeSet::parse("a").unwrap();
        assert!(still_allowed(&granted, pw, &client(), &shrunk, "userinfo").is_err(), "API dropped scope b");
        let userinfo = ApiProfile { id: ApiId::new("userinfo"), ..shrunk };
        let oidc = ScopeSet::parse("openid email").unwrap();
        assert!(still_allowed(&oidc, pw, &other_api, &userinfo, "userinfo").is_ok());
    }

    /// docs/security-checklist.md O-29: a refresh token is bound to its client.
    #[test]
    fn another_clients_token_is_invalid_grant() {
        let mut s = stored();
        s.client_id = "other".into();
        let r = decide(&s, &client(), None, 10).unwrap_err();
        assert_eq!(r.error.code, ErrorCode::InvalidGrant);
        assert!(!r.revoke_family);
    }
}
