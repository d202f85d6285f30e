//! Checking a username and password, shared by the password grant and the
//! hosted login page: throttled per account and per client address in the
//! database (so every node counts together), the same answer for an unknown
//! user and a wrong password, and the same cost for both.

use super::store_failure;
use super::token::UserGrantSettings;
use crate::{clock, passwords};
use std::sync::OnceLock;
use tessera_protocol::OAuthError;
use tessera_store::users::{self, User};
use tessera_store::{DbConn, Store, StoreError, throttle};

/// Why a sign-in failed.
#[derive(Debug)]
pub enum SignInError {
    /// Unknown user, disabled user or wrong password: never says which.
    BadCredentials,
    /// Too many failures for this account or address.
    Throttled,
    /// Storage failed.
    Internal(OAuthError),
}

/// A hash to verify against when the account does not exist, so a wrong
/// name costs what a wrong password does.
fn dummy_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| passwords::hash("tessera-timing-equalizer").unwrap_or_default())
}

/// Checks `password` against `hash`, or against a dummy hash when there is
/// no account (or it cannot sign in), so both cases take the same time.
pub fn verify_equalized(password: &str, hash: Option<&str>) -> bool {
    match hash {
        Some(h) => passwords::verify(password, h),
        None => {
            let _ = passwords::verify(password, dummy_hash());
            false
        }
    }
}

/// Failed-sign-in counting for one attempt: one key for the account and one
/// for the client address, counted in the database so every node agrees.
/// Shared by user sign-in (`user:`/`ip:` keys) and the console (`admin:`/`admin-ip:`).
pub struct Throttle {
    keys: Vec<String>,
    now: i64,
    window_secs: i64,
    max_failures: i32,
}

impl Throttle {
    /// The counters for `username` under `account_prefix`, and for `peer` under `ip_prefix`.
    pub fn new(
        account_prefix: &str,
        ip_prefix: &str,
        username: &str,
        peer: Option<&str>,
        max_failures: i32,
        window_secs: i64,
    ) -> Throttle {
        let keys = std::iter::once(format!("{account_prefix}:{}", username.to_lowercase()))
            .chain(peer.map(|p| format!("{ip_prefix}:{p}")))
            .collect();
        Throttle { keys, now: clock::now(), window_secs, max_failures }
    }

    /// True if the account or the address has used up its failures.
    pub fn exceeded(&self, conn: &mut DbConn) -> Result<bool, StoreError> {
        for k in &self.keys {
            if throttle::failures(conn, k, self.now, self.window_secs)? >= self.max_failures {
                tracing::warn!(key = %k, "sign-in throttled");
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Counts one failure for the account and the address.
    pub fn fail(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        for k in &self.keys {
            throttle::record_failure(conn, k, self.now, self.window_secs)?;
        }
        Ok(())
    }

    /// A success clears the account's count (the address's stays).
    pub fn succeed(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        throttle::clear(conn, &self.keys[0])
    }
}

/// Checks `username` and `password`; `peer` is the client's TCP address.
pub fn sign_in(
    store: &Store,
    settings: &UserGrantSettings,
    username: &str,
    password: &str,
    peer: Option<&str>,
) -> Result<User, SignInError> {
    let internal = |e| SignInError::Internal(store_failure(e));
    let throttle = Throttle::new("user", "ip", username, peer, settings.max_login_failures, settings.login_window_secs);
    let mut conn = store.conn().map_err(internal)?;
    if throttle.exceeded(&mut conn).map_err(internal)? {
        return Err(SignInError::Throttled);
    }
    let user = users::find_by_username(&mut conn, username).map_err(internal)?;
    let hash = user.as_ref().filter(|u| !u.disabled).and_then(|u| u.password_hash.as_deref());
    let verified = verify_equalized(password, hash);
    match user {
        Some(u) if verified => {
            throttle.succeed(&mut conn).map_err(internal)?;
            Ok(u)
        }
        _ => {
            throttle.fail(&mut conn).map_err(internal)?;
            Err(SignInError::BadCredentials)
        }
    }
}
