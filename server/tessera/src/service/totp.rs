//! TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps, one step of clock
//! skew either way, through the `totp-rs` crate), recovery codes and the
//! throttle on wrong codes: the parts the console's second factor
//! (`service::second_factor`) and the users' (`service::user_second_factor`)
//! share. Nothing here knows who the secret belongs to; the callers seal it,
//! store it and audit.
//!
//! - A secret is 160 random bits (RFC 4226 §4 recommends 160) from the
//!   server's CSPRNG.
//! - Recovery codes are 10 random codes of 16 characters, stored as
//!   SHA-256 hashes, shown once, each used once.

use super::sign_in::ThrottleSettings;
use crate::clock;
use tessera_protocol::secret::SecretHash;
use tessera_store::throttle::{self, Admission};
use tessera_store::{DbConn, StoreError};
use totp_rs::{Builder, Secret, Totp};
use zeroize::Zeroizing;

/// How many recovery codes an enrolment gives.
pub const RECOVERY_CODES: usize = 10;

/// A secret being enrolled: shown as text and as an `otpauth://` URI
/// (RFC 6238 parameters), confirmed by a first code.
#[derive(Debug)]
pub struct Enrolment {
    /// The secret in base32, as authenticator apps take it typed.
    pub secret: Zeroizing<String>,
    /// `otpauth://totp/<issuer>:<account>?secret=…&issuer=<issuer>`.
    pub uri: Zeroizing<String>,
}

/// Why a TOTP operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    /// The base32 secret the enrolment form sent back is not one.
    #[error("is not the secret this page showed; start the enrolment again")]
    BadSecret,
    /// Randomness or the TOTP parameters failed.
    #[error("{0}")]
    Internal(String),
}

fn internal(e: impl std::fmt::Display) -> TotpError {
    TotpError::Internal(e.to_string())
}

/// The RFC 6238 parameters over `secret`, labelled with `account` at
/// `issuer` (what an authenticator app shows beside the code).
fn totp(secret: &[u8], issuer: &str, account: &str) -> Result<Totp, TotpError> {
    Builder::new().with_secret(secret).with_account_name(account).with_issuer(Some(issuer)).build().map_err(internal)
}

/// A new secret for `account` at `issuer` to enrol (end users' secrets
/// are labelled with the server's host, administrators' with "Tessera").
pub fn begin_at(issuer: &str, account: &str) -> Result<Enrolment, TotpError> {
    let bytes = Zeroizing::new(clock::random::<20>().map_err(internal)?);
    enrolment(&bytes[..], issuer, account)
}

fn enrolment(secret: &[u8], issuer: &str, account: &str) -> Result<Enrolment, TotpError> {
    let t = totp(secret, issuer, account)?;
    Ok(Enrolment {
        secret: Zeroizing::new(Secret::from(secret).to_base32()),
        uri: Zeroizing::new(t.to_url().map_err(internal)?),
    })
}

/// The enrolment of a secret typed back in base32 (the form carries it
/// between showing it and confirming it), labelled with `issuer`.
pub fn resume_at(issuer: &str, secret_base32: &str, account: &str) -> Result<Enrolment, TotpError> {
    enrolment(decode_secret(secret_base32)?.as_ref(), issuer, account)
}

/// A secret typed back in base32 by the enrolment form.
pub fn decode_secret(secret_base32: &str) -> Result<Zeroizing<Vec<u8>>, TotpError> {
    let secret = Secret::try_from_base32(secret_base32.trim()).map_err(|_| TotpError::BadSecret)?;
    Ok(Zeroizing::new(secret.as_ref().to_vec()))
}

/// The time step `code` matches for `secret` at `now`, if any (the label
/// plays no part in the code).
pub fn matching_step(secret: &[u8], code: &str, now: i64) -> Result<Option<i64>, TotpError> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let t = totp(secret, "Tessera", "-")?;
    let now = u64::try_from(now).map_err(internal)?;
    Ok(t.check(&code, now).map(|counter| counter as i64))
}

/// A recovery code: 16 characters from `[A-Za-z0-9]` (95 bits), shown in
/// two groups of eight.
pub fn recovery_code() -> Result<String, TotpError> {
    let raw = clock::random_id(16).map_err(internal)?;
    Ok(format!("{}-{}", &raw[..8], &raw[8..]))
}

/// A recovery code's stored hash: typed with or without the dash.
pub fn recovery_hash(code: &str) -> String {
    let bare: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    SecretHash::of(&bare).as_str().to_owned()
}

/// The throttle every second factor shares, per administrator: a wrong
/// TOTP code, a used recovery code typed again and a failed passkey answer
/// all count against one key, so switching factors buys no extra guesses.
pub struct FactorThrottle<'a> {
    key: String,
    settings: &'a ThrottleSettings,
    now: i64,
}

impl<'a> FactorThrottle<'a> {
    /// Reserves an attempt under `key`, or refuses while the key is locked:
    /// `Ok(Err(secs))`, retry after `secs` seconds.
    pub fn admit_key(
        conn: &mut DbConn,
        settings: &'a ThrottleSettings,
        key: String,
        now: i64,
    ) -> Result<Result<FactorThrottle<'a>, u64>, StoreError> {
        if let Admission::Refused { until } = throttle::reserve(conn, &key, now, settings.pair)? {
            crate::service::metrics::throttle_hit("second_factor");
            return Ok(Err((until - now).max(1) as u64));
        }
        Ok(Ok(FactorThrottle { key, settings, now }))
    }

    /// The factor was given: the count starts again.
    pub fn passed(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        throttle::clear(conn, &self.key)
    }

    /// The factor was wrong: locks the key once the attempts are spent.
    pub fn failed(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        let s = self.settings;
        throttle::lock_if_spent(conn, &self.key, self.now, s.pair, s.lock_secs, s.max_lock_secs).map(|_| ())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: the SHA-1 test vectors (8 digits there; the
    /// same HOTP truncation gives our 6-digit codes as their last six).
    #[test]
    fn codes_follow_the_rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        let t = totp(secret, "Tessera", "root").unwrap();
        for (time, eight) in [(59u64, "94287082"), (1_111_111_109, "07081804"), (2_000_000_000, "69279037")] {
            assert_eq!(t.generate(time).to_string(), eight[2..], "T = {time}");
        }
        let step = matching_step(secret, "287 082", 59).unwrap();
        assert_eq!(step, Some(1), "spaces are ignored and the step is returned");
        assert_eq!(matching_step(secret, "287082", 59 + 90).unwrap(), None, "three steps later");
    }

    #[test]
    fn enrolments_show_the_secret_as_base32_and_as_an_otpauth_uri() {
        let e = begin_at("Tessera", "root").unwrap();
        assert_eq!(e.secret.len(), 32, "160 bits in base32");
        assert!(e.uri.starts_with("otpauth://totp/Tessera:root?"), "{}", *e.uri);
        assert!(e.uri.contains(&format!("secret={}", *e.secret)));
        assert_eq!(*resume_at("Tessera", &e.secret, "root").unwrap().uri, *e.uri);
        assert!(resume_at("Tessera", "not base32!", "root").is_err());
        let code = recovery_code().unwrap();
        assert_eq!(recovery_hash(&code), recovery_hash(&code.replace('-', "")));
    }
}
