//! Proof Key for Code Exchange (RFC 7636), S256 only: `plain` exposes the
//! verifier and is refused (RFC 9700 §2.1.1).

use crate::error::OAuthError;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Which clients must send a PKCE challenge with `response_type=code`
/// (config `[tokens] pkce`). RFC 9700 §2.1.1 requires it of public clients
/// and recommends it for confidential ones; OAuth 2.1 and FAPI 2.0 require
/// it of every client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Requirement {
    /// Public clients only (the default: confidential clients written
    /// before PKCE, which rely on their secret and `nonce`, keep working).
    #[default]
    Public,
    /// Every client.
    All,
}

impl Requirement {
    /// Whether a client (`confidential` or public) must send a challenge.
    pub fn applies_to(self, confidential: bool) -> bool {
        !confidential || self == Requirement::All
    }
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`.
fn well_formed(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Checks the authorization request's challenge and method.
pub fn check_challenge(challenge: &str, method: Option<&str>) -> Result<(), OAuthError> {
    match method {
        Some("S256") => {}
        // RFC 7636 §4.3: an absent method means plain.
        None | Some("plain") => return Err(OAuthError::invalid_request("code_challenge_method must be S256")),
        Some(_) => return Err(OAuthError::invalid_request("unsupported code_challenge_method; use S256")),
    }
    // An S256 challenge is the base64url of 32 bytes: exactly 43 characters.
    if challenge.len() != 43 || !well_formed(challenge) {
        return Err(OAuthError::invalid_request("code_challenge is not a base64url SHA-256 value"));
    }
    Ok(())
}

/// RFC 7636 §4.6: `BASE64URL(SHA256(verifier)) == challenge`, in constant time.
pub fn verify(verifier: &str, challenge: &str) -> bool {
    if !well_formed(verifier) {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b_vector_verifies() {
        assert!(check_challenge(CHALLENGE, Some("S256")).is_ok());
        assert!(verify(VERIFIER, CHALLENGE));
        assert!(!verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK", CHALLENGE));
    }

    /// docs/security-checklist.md O-14 and O-18: only S256; `plain` and a missing method are refused.
    #[test]
    fn plain_and_missing_method_are_refused() {
        assert!(check_challenge(CHALLENGE, None).is_err());
        assert!(check_challenge(CHALLENGE, Some("plain")).is_err());
    }

    /// docs/security-checklist.md O-18: verifier syntax (43 to 128 unreserved characters).
    #[test]
    fn code_verifier_shorter_than_43_or_longer_than_128_chars_is_invalid() {
        assert!(!verify(&"a".repeat(42), CHALLENGE));
        assert!(!verify(&"a".repeat(129), CHALLENGE));
        assert!(!verify(&format!("{}+", &VERIFIER[..43]), CHALLENGE));
    }
}
