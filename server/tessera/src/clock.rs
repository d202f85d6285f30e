//! The one place that reads the wall clock and the system CSPRNG.
//!
//! Everything else receives `now` and random bytes as arguments, so expiry and
//! generation are testable without sleeping or mocking (clippy.toml forbids
//! the underlying calls elsewhere).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
#[allow(clippy::disallowed_methods)]
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The CSPRNG failed: nothing secret can be generated safely.
#[derive(Debug, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RngError;

/// `N` bytes from the system CSPRNG (aws-lc-rs).
pub fn random<const N: usize>() -> Result<[u8; N], RngError> {
    let mut buf = [0u8; N];
    aws_lc_rs::rand::fill(&mut buf).map_err(|_| RngError)?;
    Ok(buf)
}

/// A random identifier of `len` characters from `[A-Za-z0-9]` (client ids).
pub fn random_id(len: usize) -> Result<String, RngError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random::<64>()? {
            // Rejection sampling keeps the distribution uniform: 248 = 4 * 62.
            if b < 248 && out.len() < len {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    Ok(out)
}

/// A UUID v7 string: time-ordered ids for rows.
#[allow(clippy::disallowed_methods)]
pub fn uuid() -> String {
    uuid::Uuid::now_v7().to_string()
}
