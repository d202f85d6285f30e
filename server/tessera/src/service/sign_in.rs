//! Checking a username and password, shared by the password grant, the
//! hosted login page and the console: throttled in the database (so every
//! node counts together), the same answer for an unknown user and a wrong
//! password, and the same cost for both.
//!
//! # Throttling (issue #11 item 6, docs/security-checklist.md A-15)
//!
//! Throttling must slow guessing without becoming a lever to lock people
//! out. Counters are kept per *scope* (`login` for users, `console` for
//! administrators) and the typed name is folded to lower case and hashed,
//! so the keys are bounded and hold no typed text:
//!
//! - **Pair** (account, address): at most `max_failures` failures in the
//!   window; then the pair is locked for `lock_secs`, doubling with every
//!   further lock up to `max_lock_secs`. This is the only limit an attacker
//!   at one address can trip for one account, and it stops them alone: the
//!   owner at another address is not affected.
//! - **Account**: failures from addresses the account has *not* signed in
//!   from lately count against `account_max_failures` (many addresses
//!   against one account, A-15's second run). When it is spent, only such
//!   unknown addresses are refused.
//! - **Address**: failures from one address across accounts count against
//!   `address_max_failures` (password spraying). When it is spent, only
//!   accounts that have not signed in from that address lately are refused,
//!   so people behind a shared address who signed in before keep working.
//! - **Known** pairs: a successful sign-in marks (account, address) for
//!   `known_address_secs`; from a known pair the account and address limits
//!   neither count nor refuse. The owner's usual address therefore keeps
//!   working while an attacker hammers the account from elsewhere.
//!
//! Every limit is *reserved* atomically before the password is checked
//! ([`tessera_store::throttle::reserve`]) and given back on success, so
//! concurrent attempts never run more password checks than the limit.
//! The client address comes from [`crate::web::client_addr`], which trusts
//! `X-Forwarded-For` only from configured proxies.

use crate::config::LoginConfig;
use crate::passwords;
use std::sync::OnceLock;
use tessera_protocol::secret::SecretHash;
use tessera_store::throttle::{self, Admission, Limit};
use tessera_store::users::{self, User};
use tessera_store::{DbConn, Store, StoreError};

/// Why a sign-in failed: user sign-in (the password grant, the login form)
/// and console sign-in answer with the same enum. The messages are what a
/// sign-in form shows.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown user, disabled user or wrong password: never says which.
    #[error("Incorrect username or password.")]
    BadCredentials,
    /// Too many failures for this account or address: retry after this
    /// many seconds.
    #[error("Too many failed attempts. Wait a few minutes and try again.")]
    Throttled(u64),
    /// Every password-hashing worker was busy (issue #11 item 17): retry shortly.
    #[error("The server is busy. Try again in a few seconds.")]
    Busy,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something else failed (randomness).
    #[error("{0}")]
    Internal(String),
}

/// The throttling limits (config `[login]`).
#[derive(Debug, Clone)]
pub struct ThrottleSettings {
    /// Failures per (account, address) pair before the pair locks.
    pub pair: Limit,
    /// Failures per account from addresses it has not signed in from.
    pub account: Limit,
    /// Failures per address for accounts that have not signed in from it.
    pub address: Limit,
    /// The first lock of a pair, seconds; each further lock doubles.
    pub lock_secs: i64,
    /// The longest lock, seconds.
    pub max_lock_secs: i64,
    /// How long a successful sign-in makes its (account, address) known.
    pub known_address_secs: i64,
}

impl From<&LoginConfig> for ThrottleSettings {
    fn from(c: &LoginConfig) -> ThrottleSettings {
        let limit = |max| Limit { max, window_secs: c.window_secs };
        ThrottleSettings {
            pair: limit(c.max_failures),
            account: limit(c.account_max_failures),
            address: limit(c.address_max_failures),
            lock_secs: c.lock_secs,
            max_lock_secs: c.max_lock_secs,
            known_address_secs: c.known_address_secs,
        }
    }
}

/// A hash to verify against when the account does not exist, so a wrong
/// name costs what a wrong password does. Made on first need; a failure
/// (every worker busy) is not remembered, so the next call tries again.
fn dummy_hash() -> Result<&'static str, passwords::Busy> {
    static H: OnceLock<String> = OnceLock::new();
    if let Some(h) = H.get() {
        return Ok(h);
    }
    match passwords::hash("tessera-timing-equalizer") {
        Ok(h) => Ok(H.get_or_init(|| h)),
        Err(passwords::HashError::Busy(b)) => Err(b),
        Err(e) => {
            tracing::error!(error = %e, "cannot make the timing-equalizer hash");
            Err(passwords::Busy)
        }
    }
}

/// Checks `password` against `hash`, or against a dummy hash when there is
/// no account (or it cannot sign in), so both cases take the same time.
pub fn verify_equalized(password: &str, hash: Option<&str>) -> Result<bool, passwords::Busy> {
    match hash {
        Some(h) => passwords::verify(password, h),
        None => passwords::verify(password, dummy_hash()?).map(|_| false),
    }
}

/// One sign-in attempt's throttling: the pair, account and address keys of
/// one scope, and the reservations made on them. See the module header.
pub struct Attempt<'a> {
    scope: &'static str,
    settings: &'a ThrottleSettings,
    now: i64,
    pair: String,
    account: String,
    address: String,
    known: String,
    reserved: Vec<String>,
    locked_until: Option<i64>,
}

impl<'a> Attempt<'a> {
    /// The keys for `name` (any typed text) from `addr` under `scope`.
    pub fn new(
        scope: &'static str,
        settings: &'a ThrottleSettings,
        name: &str,
        addr: Option<&str>,
        now: i64,
    ) -> Attempt<'a> {
        let account = SecretHash::of(&name.to_lowercase()).as_str().to_owned();
        let addr = addr.unwrap_or("unknown");
        Attempt {
            scope,
            settings,
            now,
            pair: format!("{scope}:pair:{account}|{addr}"),
            known: format!("{scope}:known:{account}|{addr}"),
            account: format!("{scope}:account:{account}"),
            address: format!("{scope}:address:{addr}"),
            reserved: Vec::new(),
            locked_until: None,
        }
    }

    /// Reserves the attempt on every limit that applies, before the password
    /// is checked. `Ok(Err(secs))`: refused, retry after `secs` (nothing
    /// stays reserved).
    pub fn begin(&mut self, conn: &mut DbConn) -> Result<Result<(), u64>, StoreError> {
        let s = self.settings;
        let known = throttle::marked_since(conn, &self.known, self.now - s.known_address_secs)?;
        let mut limits = vec![(self.pair.clone(), s.pair)];
        if !known {
            limits.push((self.account.clone(), s.account));
            limits.push((self.address.clone(), s.address));
        }
        for (key, limit) in limits {
            match throttle::reserve(conn, &key, self.now, limit)? {
                Admission::Admitted => self.reserved.push(key),
                Admission::Refused { until } => {
                    tracing::warn!(key = %key, until, "sign-in throttled");
                    self.abandon(conn)?;
                    return Ok(Err((until - self.now).max(1) as u64));
                }
            }
        }
        Ok(Ok(()))
    }

    /// Gives back the reservations (the password was never checked).
    pub fn abandon(&mut self, conn: &mut DbConn) -> Result<(), StoreError> {
        for k in self.reserved.drain(..) {
            throttle::release(conn, &k)?;
        }
        Ok(())
    }

    /// The password was wrong: the reservations stay counted, and a pair
    /// that used up its failures is locked.
    pub fn failed(&mut self, conn: &mut DbConn) -> Result<(), StoreError> {
        let s = self.settings;
        if let Some(until) = throttle::lock_if_spent(conn, &self.pair, self.now, s.pair, s.lock_secs, s.max_lock_secs)?
        {
            tracing::warn!(key = %self.pair, until, "sign-in pair locked");
            self.locked_until = Some(until);
        }
        self.reserved.clear();
        Ok(())
    }

    /// When [`Attempt::failed`] locked the pair, until when.
    pub fn locked_until(&self) -> Option<i64> {
        self.locked_until
    }

    /// The password was right: the pair forgets its failures and strikes,
    /// the other reservations are given back, and the pair becomes known.
    pub fn succeeded(&mut self, conn: &mut DbConn) -> Result<(), StoreError> {
        throttle::clear(conn, &self.pair)?;
        for k in self.reserved.drain(..).filter(|k| *k != self.pair) {
            throttle::release(conn, &k)?;
        }
        throttle::mark(conn, &self.known, self.now)
    }
}

/// Checks `username` and `password` at `now`; `addr` is the client's
/// address (see [`crate::web::client_addr`]).
pub fn sign_in(
    store: &Store,
    settings: &ThrottleSettings,
    username: &str,
    password: &str,
    addr: Option<&str>,
    now: i64,
) -> Result<User, SignInError> {
    sign_in_where(store, settings, (username, password), addr, now, |_, _| Ok(true))
}

/// [`sign_in`] for the accounts `usable` accepts: any other is treated as
/// no account at all (checked against the dummy hash, counted as a
/// failure, answered `BadCredentials`), so the answer never tells whether
/// its password was right. The password grant uses it to leave out users
/// who sign in with a second factor.
pub fn sign_in_where(
    store: &Store,
    settings: &ThrottleSettings,
    (username, password): (&str, &str),
    addr: Option<&str>,
    now: i64,
    usable: impl FnOnce(&mut DbConn, &User) -> Result<bool, StoreError>,
) -> Result<User, SignInError> {
    let mut attempt = Attempt::new("login", settings, username, addr, now);
    let found = check_password(store, &mut attempt, password, |conn| {
        let user = match users::find_by_username(conn, username)?.filter(|u| !u.disabled) {
            Some(u) if usable(conn, &u)? => Some(u),
            Some(_) => {
                tracing::info!(
                    "password sign-in of an account that needs another way in: answered as a wrong password"
                );
                None
            }
            None => None,
        };
        let hash = user.as_ref().and_then(|u| u.password_hash.clone());
        Ok((user, hash))
    });
    match found {
        Ok(Some(u)) => Ok(u),
        Ok(None) => Err(SignInError::BadCredentials),
        Err(Checked::Throttled(secs)) => Err(SignInError::Throttled(secs)),
        Err(Checked::Busy) => Err(SignInError::Busy),
        Err(Checked::Store(e)) => Err(SignInError::Store(e)),
    }
}

/// Why [`check_password`] gave no answer.
#[derive(Debug)]
pub enum Checked {
    /// Storage failed.
    Store(StoreError),
    /// Refused by throttling: retry after this many seconds.
    Throttled(u64),
    /// No hashing worker was free.
    Busy,
}

/// The one shape of a throttled sign-in: reserve the attempt, look the
/// account up with `lookup` (the account and the hash to check; `None` for
/// no usable account, checked against a dummy hash at the same cost), check
/// the password on a hashing worker with no database connection held, then
/// count the outcome. `Ok(Some)`: the password was right; `Ok(None)`: wrong
/// or no account. If no check ran (busy, storage), nothing stays counted.
/// Every check is logged, without the name, as "sign-in password checked".
pub fn check_password<T>(
    store: &Store,
    attempt: &mut Attempt<'_>,
    password: &str,
    lookup: impl FnOnce(&mut DbConn) -> Result<(Option<T>, Option<String>), StoreError>,
) -> Result<Option<T>, Checked> {
    let mut conn = store.conn().map_err(Checked::Store)?;
    if let Err(secs) = attempt.begin(&mut conn).map_err(Checked::Store)? {
        crate::service::metrics::throttle_hit("sign_in");
        return Err(Checked::Throttled(secs));
    }
    let (found, hash) = match lookup(&mut conn) {
        Ok(v) => v,
        Err(e) => {
            let _ = attempt.abandon(&mut conn);
            return Err(Checked::Store(e));
        }
    };
    // A pool connection is not held through the ~20 ms to seconds of argon2.
    drop(conn);
    let verified = verify_equalized(password, hash.as_deref());
    let mut conn = store.conn().map_err(Checked::Store)?;
    let ok = match verified {
        Ok(ok) => ok && found.is_some(),
        Err(passwords::Busy) => {
            attempt.abandon(&mut conn).map_err(Checked::Store)?;
            return Err(Checked::Busy);
        }
    };
    tracing::info!(scope = attempt.scope, ok, "sign-in password checked");
    if ok {
        attempt.succeeded(&mut conn).map_err(Checked::Store)?;
        Ok(found)
    } else {
        attempt.failed(&mut conn).map_err(Checked::Store)?;
        Ok(None)
    }
}
