//! Server-generated secrets: client secrets, refresh tokens, codes.
//!
//! A secret is 256 bits from the caller's CSPRNG, shown once in base64url,
//! stored only as its SHA-256 (a fast hash is right here: the input has full
//! entropy, so there is nothing to brute-force), and compared in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// A freshly generated secret in its only plaintext form. Redacted in `Debug`,
/// zeroized on drop (through `SecretString`).
pub struct PlainSecret(SecretString);

impl PlainSecret {
    /// Encodes 32 random bytes from the caller's CSPRNG.
    pub fn from_random(bytes: [u8; 32]) -> Self {
        Self(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Wraps a secret received from a client.
    pub fn received(s: &str) -> Self {
        Self(SecretString::from(s.to_owned()))
    }

    /// The plaintext, for showing once to the admin or the client.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The hash to store and look up by.
    pub fn hash(&self) -> SecretHash {
        SecretHash::of(self.expose())
    }
}

impl fmt::Debug for PlainSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainSecret(<redacted>)")
    }
}

/// The stored form of a secret: lowercase hex SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash(String);

impl SecretHash {
    /// Hashes a plaintext secret.
    pub fn of(plain: &str) -> Self {
        Self(hex_lower(&Sha256::digest(plain.as_bytes())))
    }

    /// Wraps a hash read from storage.
    pub fn from_stored(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The hex text, for storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison with another hash.
    pub fn matches(&self, other: &SecretHash) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/security-checklist.md A-11: generated secrets carry 256 bits and never print.
    #[test]
    fn secret_has_at_least_256_bits_and_debug_is_redacted() {
        let s = PlainSecret::from_random([7u8; 32]);
        assert_eq!(s.expose().len(), 43);
        assert_eq!(format!("{s:?}"), "PlainSecret(<redacted>)");
    }

    /// docs/security-checklist.md: secrets are stored as hashes, compared
    /// in constant time.
    #[test]
    fn hash_matches_only_same_secret() {
        let s = PlainSecret::from_random([1u8; 32]);
        assert!(s.hash().matches(&PlainSecret::received(s.expose()).hash()));
        assert!(!s.hash().matches(&PlainSecret::received("other").hash()));
    }
}
