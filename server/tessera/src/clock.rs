//! The one place that reads the wall clock and the system CSPRNG.
//!
//! Services hold a [`SharedClock`] and pass `now` down as an argument, so
//! expiry and timeouts are testable with a [`SetClock`] instead of sleeping
//! (clippy.toml forbids the underlying calls elsewhere). Only process-level
//! code with no service around it (startup, background threads) reads
//! [`now`] directly.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, from the system clock.
#[allow(clippy::disallowed_methods)]
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// A source of "now", in seconds since the Unix epoch.
pub trait Clock: Send + Sync + Debug {
    /// The current time.
    fn now(&self) -> i64;
}

/// The clock every service holds.
pub type SharedClock = Arc<dyn Clock>;

/// The system clock: what the server runs on.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        now()
    }
}

impl SystemClock {
    /// The system clock, shared.
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

/// A clock that stands still until told otherwise: tests set it and move it
/// forward to cross an expiry without waiting for it.
#[derive(Debug)]
pub struct SetClock(AtomicI64);

impl SetClock {
    /// A clock showing `now`.
    pub fn at(now: i64) -> Arc<SetClock> {
        Arc::new(SetClock(AtomicI64::new(now)))
    }

    /// Moves the clock to `now`.
    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }

    /// Moves the clock forward by `secs`.
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for SetClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_clock_moves_only_when_told() {
        let clock = SetClock::at(1_000);
        let shared: SharedClock = clock.clone();
        assert_eq!(shared.now(), 1_000);
        clock.advance(61);
        assert_eq!(shared.now(), 1_061);
        clock.set(5);
        assert_eq!(shared.now(), 5);
    }

    #[test]
    fn the_system_clock_is_after_2024() {
        assert!(SystemClock.now() > 1_700_000_000);
    }
}
