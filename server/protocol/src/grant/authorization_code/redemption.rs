//! Redeeming an authorization code at the token endpoint (RFC 6749 §4.1.3)
//! with PKCE (RFC 7636): the code is single use and bound to its client,
//! redirect URI, challenge and, if the request named one, DPoP key (RFC 9449
//! §10).

use crate::error::{ErrorCode, OAuthError};
use crate::ids::Jkt;
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
    /// The DPoP key thumbprint of the request's `dpop_jkt` (RFC 9449 §10),
    /// if any.
    pub dpop_jkt: Option<Jkt>,
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

/// RFC 6749 §4.1.3 checks for a code redemption by `client`; `proof_jkt`
/// is the key of the token request's verified DPoP proof, if it had one.
pub fn check_redemption(
    stored: &StoredCode,
    client_id: &str,
    params: &Params,
    proof_jkt: Option<&Jkt>,
    now: i64,
) -> Result<(), CodeRefusal> {
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
    // RFC 9449 §10: a code requested with dpop_jkt is redeemed only with a
    // proof of that key; "if they do not match, it MUST reject the request".
    // The RFC names no error code for it, so this is RFC 6749 §5.2's
    // invalid_grant like every other binding of the code (the proof itself
    // was valid: invalid_dpop_proof would send the client after its proof).
    // Like a wrong PKCE verifier it neither burns the code nor, on a used
    // code, revokes: whoever lacks the key cannot spend or revoke it.
    if let Some(bound) = &stored.dpop_jkt
        && proof_jkt != Some(bound)
    {
        return Err(grant(if proof_jkt.is_some() {
            "the code is bound to another DPoP key"
        } else {
            "the code is bound to a DPoP key: send a DPoP proof of that key"
        }));
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
            dpop_jkt: None,
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
        assert!(check_redemption(&stored(), "c", &ok, None, 10).is_ok());
        assert!(check_redemption(&stored(), "other", &ok, None, 10).is_err());
        assert!(check_redemption(&stored(), "c", &ok, None, 100).is_err(), "expired");
        let wrong = Params::from_pairs([("redirect_uri", CB), ("code_verifier", "x".repeat(43).leak())]);
        assert!(!check_redemption(&stored(), "c", &wrong, None, 10).unwrap_err().revoke_issued);
        let mut used = stored();
        used.used = true;
        assert!(check_redemption(&used, "c", &ok, None, 10).unwrap_err().revoke_issued, "valid replay revokes");
        assert!(!check_redemption(&used, "c", &wrong, None, 10).unwrap_err().revoke_issued, "invalid replay does not");
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
        assert!(check_redemption(&s, "c", &p, None, 10).is_err());
    }

    /// RFC 9449 §10: a code bound with dpop_jkt needs a proof of that key;
    /// without one, or with another key, it is refused, not burnt, and a
    /// replay with the wrong key revokes nothing.
    #[test]
    fn a_dpop_bound_code_needs_a_proof_of_its_key() {
        let ok = Params::from_pairs([
            ("redirect_uri", CB),
            ("code_verifier", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        ]);
        let key = Jkt::new("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        let other = Jkt::new("l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs");
        let mut bound = stored();
        bound.dpop_jkt = Some(key.clone());
        assert!(check_redemption(&bound, "c", &ok, Some(&key), 10).is_ok());
        let none = check_redemption(&bound, "c", &ok, None, 10).unwrap_err();
        assert_eq!(none.error.code, ErrorCode::InvalidGrant);
        let wrong = check_redemption(&bound, "c", &ok, Some(&other), 10).unwrap_err();
        assert_eq!(wrong.error.code, ErrorCode::InvalidGrant);
        assert!(!wrong.revoke_issued);
        bound.used = true;
        assert!(!check_redemption(&bound, "c", &ok, Some(&other), 10).unwrap_err().revoke_issued);
        assert!(check_redemption(&bound, "c", &ok, Some(&key), 10).unwrap_err().revoke_issued);
        assert!(check_redemption(&stored(), "c", &ok, Some(&other), 10).is_ok(), "an unbound code takes any key");
    }
}
