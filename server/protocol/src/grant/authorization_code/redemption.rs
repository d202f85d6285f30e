//! Redeeming an authorization code at the token endpoint (RFC 6749 §4.1.3)
//! with PKCE (RFC 7636): the code is single use and bound to its client,
//! redirect URI and challenge.

use crate::error::{ErrorCode, OAuthError};
use crate::params::Params;
use crate::pkce;

/// What the token request must match about a stored code.
#[derive(Debug, Clone)]
pub struct StoredCode {
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI it was sent to.
    pub redirect_uri: String,
    /// The PKCE challenge, if any.
    pub code_challenge: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
    /// Already redeemed.
    pub used: bool,
}

/// Why a code is refused, and whether tokens issued from it must be revoked.
#[derive(Debug)]
pub struct CodeRefusal {
    /// The error (`invalid_grant`, or `invalid_request` for a malformed request).
    pub error: OAuthError,
    /// RFC 6749 §4.1.2 / RFC 9700 §4.5: a valid replay of a used code.
    pub revoke_issued: bool,
}

/// RFC 6749 §4.1.3 checks for a code redemption by `client`.
pub fn check_redemption(stored: &StoredCode, client_id: &str, params: &Params, now: i64) -> Result<(), CodeRefusal> {
    let grant = |why: &str| CodeRefusal {
        error: OAuthError::new(ErrorCode::InvalidGrant, "the authorization code is invalid, expired or already used")
            .with_detail(why),
        revoke_issued: false,
    };
    if stored.client_id != client_id {
        return Err(grant("issued to another client"));
    }
    // RFC 6749 §4.1.3: "ensure that the redirect_uri parameter is present if
    // [it] was included in the initial authorization request ... and their
    // values are identical". We always record it, so we always require it.
    if params.get("redirect_uri") != Some(stored.redirect_uri.as_str()) {
        return Err(grant("redirect_uri does not match"));
    }
    match (&stored.code_challenge, params.get("code_verifier")) {
        (Some(ch), Some(v)) if pkce::verify(v, ch) => {}
        (Some(_), _) => return Err(grant("PKCE verification failed")),
        // RFC 9700 §4.8.2: a verifier without a challenge is a downgrade attempt.
        (None, Some(_)) => return Err(grant("code_verifier sent but no code_challenge was")),
        (None, None) => {}
    }
    if stored.used {
        // Only a replay that passes every other check revokes (OAuth 2.1:
        // an invalid replay must not become a denial-of-service lever).
        let mut r = grant("code reuse");
        r.revoke_issued = true;
        return Err(r);
    }
    if now >= stored.expires_at {
        return Err(grant("expired"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CB: &str = "https://app.example/cb";
    const CH: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn stored() -> StoredCode {
        StoredCode {
            client_id: "c".into(),
            redirect_uri: CB.into(),
            code_challenge: Some(CH.into()),
            expires_at: 100,
            used: false,
        }
    }

    /// docs/security-checklist.md O-16 (verifier enforced), O-19 (a valid replay revokes),
    /// O-20 (an invalid replay does not), O-22 (codes expire), O-23 (bound to
    /// the client).
    #[test]
    fn redemption_checks_client_redirect_pkce_and_expiry() {
        let ok = Params::from_pairs([
            ("redirect_uri", CB),
            ("code_verifier", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        ]);
        assert!(check_redemption(&stored(), "c", &ok, 10).is_ok());
        assert!(check_redemption(&stored(), "other", &ok, 10).is_err());
        assert!(check_redemption(&stored(), "c", &ok, 100).is_err(), "expired");
        let wrong = Params::from_pairs([("redirect_uri", CB), ("code_verifier", "x".repeat(43).leak())]);
        assert!(!check_redemption(&stored(), "c", &wrong, 10).unwrap_err().revoke_issued);
        let mut used = stored();
        used.used = true;
        assert!(check_redemption(&used, "c", &ok, 10).unwrap_err().revoke_issued, "valid replay revokes");
        assert!(!check_redemption(&used, "c", &wrong, 10).unwrap_err().revoke_issued, "invalid replay does not");
    }

    /// docs/security-checklist.md O-17: a verifier for a code issued without a challenge is a downgrade.
    #[test]
    fn verifier_without_challenge_is_a_downgrade() {
        let mut s = stored();
        s.code_challenge = None;
        let p = Params::from_pairs([
            ("redirect_uri", CB),
            ("code_verifier", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        ]);
        assert!(check_redemption(&s, "c", &p, 10).is_err());
    }
}
