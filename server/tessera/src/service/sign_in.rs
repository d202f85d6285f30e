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
use tessera_store::{Store, throttle};

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

/// A hash to verify against when the user does not exist, so a wrong
/// username costs what a wrong password does.
fn dummy_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| passwords::hash("tessera-timing-equalizer").unwrap_or_default())
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
    let now = clock::now();
    let window = settings.login_window_secs;
    let keys: Vec<String> =
        std::iter::once(format!("user:{}", username.to_lowercase())).chain(peer.map(|p| format!("ip:{p}"))).collect();
    let mut conn = store.conn().map_err(internal)?;
    for k in &keys {
        if throttle::failures(&mut conn, k, now, window).map_err(internal)? >= settings.max_login_failures {
            tracing::warn!(key = %k, "sign-in throttled");
            return Err(SignInError::Throttled);
        }
    }
    let user = users::find_by_username(&mut conn, username).map_err(internal)?;
    let verified = match &user {
        Some(u) if !u.disabled => u.password_hash.as_deref().is_some_and(|h| passwords::verify(password, h)),
        _ => {
            let _ = passwords::verify(password, dummy_hash());
            false
        }
    };
    match user {
        Some(u) if verified => {
            throttle::clear(&mut conn, &keys[0]).map_err(internal)?;
            Ok(u)
        }
        _ => {
            for k in &keys {
                throttle::record_failure(&mut conn, k, now, window).map_err(internal)?;
            }
            Err(SignInError::BadCredentials)
        }
    }
}
