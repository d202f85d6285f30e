//! End users' second factor at the hosted sign-in pages (`/login` and
//! `/device/login`): TOTP (RFC 6238, the same parameters and checks as the
//! console's, `service::totp`) with single-use recovery codes. What an
//! administrator changes of it is `service::admin::user_factors`.
//!
//! - After the password, a user with a secret is asked for a code; a user
//!   without one who must have one (an administrator's "require" on the
//!   user, or `[login] require_second_factor`) enrols first. Until then the
//!   sign-in waits in `pending_sign_ins`, never in `sessions`.
//! - The secret is 160 random bits, sealed with the master key and bound to
//!   the user's id (`crypto::purpose::user_totp`); a code is accepted once
//!   (`user_factors::accept_totp_step`); recovery codes are stored hashed.
//! - Wrong codes are throttled per user (key `login:second-factor:<id>`,
//!   `[login]`'s pair limit and lock), wherever they come from, so a
//!   stolen password gives no more guesses from many addresses.
//! - A session that passed a factor records `amr` `pwd otp mfa` (RFC 8176),
//!   carried into its ID tokens; password alone is `pwd`.

use super::sign_in::ThrottleSettings;
use super::totp::{self, Enrolment, FactorThrottle, RECOVERY_CODES, TotpError};
use crate::crypto::{MasterKey, purpose};
use tessera_store::user_factors::{self, UserFactor};
use tessera_store::users::User;
use tessera_store::{DbConn, Store, StoreError};

/// `amr` of a sign-in by password alone.
pub const AMR_PASSWORD: &str = "pwd";
/// `amr` of a sign-in by password and a one-time code (RFC 8176 `otp`,
/// and `mfa` since two factors were used).
pub const AMR_SECOND_FACTOR: &str = "pwd otp mfa";

/// What a sign-in needs after a right password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Nothing: the session opens.
    Done,
    /// A code from the user's app, or a recovery code.
    Code,
    /// The user has no factor and must enrol one.
    Enrol,
}

/// Why a code was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum FactorError {
    /// Wrong, already used or expired code (never says which).
    #[error("That code is not valid. Use the current code from your app, or one of your recovery codes.")]
    Wrong,
    /// The first code of an enrolment does not match the secret shown.
    #[error("That code does not match the secret shown. Check the app's clock and try again.")]
    NotConfirmed,
    /// Too many wrong codes: retry after this many seconds.
    #[error("Too many wrong codes. Wait a few minutes and try again.")]
    Throttled(u64),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Randomness or the master key failed.
    #[error("{0}")]
    Internal(String),
}

impl From<TotpError> for FactorError {
    fn from(e: TotpError) -> FactorError {
        match e {
            TotpError::BadSecret => FactorError::NotConfirmed,
            TotpError::Internal(m) => FactorError::Internal(m),
        }
    }
}

fn internal(e: impl std::fmt::Display) -> FactorError {
    FactorError::Internal(e.to_string())
}

/// What `user_id` needs after the password; `everyone` is
/// `[login] require_second_factor`.
pub fn next_step(conn: &mut DbConn, user_id: &str, everyone: bool) -> Result<NextStep, StoreError> {
    let row = user_factors::find(conn, user_id)?;
    Ok(match row {
        Some(f) if f.enrolled() => NextStep::Code,
        Some(f) if f.required => NextStep::Enrol,
        _ if everyone => NextStep::Enrol,
        _ => NextStep::Done,
    })
}

/// A new secret for `user` to enrol, labelled with `issuer` (the server's
/// host) in the authenticator app.
pub fn begin(issuer: &str, user: &User) -> Result<Enrolment, FactorError> {
    Ok(totp::begin_at(issuer, &user.username)?)
}

/// The enrolment shown again after a wrong first code.
pub fn resume(issuer: &str, user: &User, secret_base32: &str) -> Result<Enrolment, FactorError> {
    Ok(totp::resume_at(issuer, secret_base32, &user.username)?)
}

/// Confirms an enrolment with its first code: stores the sealed secret
/// and new recovery codes (replacing earlier ones) and returns the codes,
/// shown once.
pub fn confirm(
    store: &Store,
    master: &MasterKey,
    user: &User,
    secret_base32: &str,
    code: &str,
    now: i64,
) -> Result<Vec<String>, FactorError> {
    let secret = totp::decode_secret(secret_base32)?;
    let step = totp::matching_step(&secret, code, now)?.ok_or(FactorError::NotConfirmed)?;
    let sealed = master.seal(&purpose::user_totp(&user.id), &secret).map_err(internal)?;
    let codes = (0..RECOVERY_CODES).map(|_| totp::recovery_code()).collect::<Result<Vec<_>, _>>()?;
    let hashes: Vec<String> = codes.iter().map(|c| totp::recovery_hash(c)).collect();
    store.tx(|conn| user_factors::enrol(conn, &user.id, &sealed, step, now, &hashes))?;
    tracing::info!(user = %user.id, "second factor enrolled");
    Ok(codes)
}

/// Checks a code typed after the password: a current TOTP code (once per
/// step) or an unused recovery code (used up). Throttled per user.
pub fn check(
    store: &Store,
    master: &MasterKey,
    settings: &ThrottleSettings,
    user: &User,
    code: &str,
    now: i64,
) -> Result<(), FactorError> {
    let mut conn = store.conn()?;
    let Some(UserFactor { totp_secret_enc: Some(sealed), .. }) = user_factors::find(&mut conn, &user.id)? else {
        return Err(FactorError::Wrong);
    };
    let throttle = FactorThrottle::admit_key(&mut conn, settings, format!("login:second-factor:{}", user.id), now)?
        .map_err(FactorError::Throttled)?;
    let secret = master.open(&purpose::user_totp(&user.id), &sealed).map_err(internal)?;
    let accepted = match totp::matching_step(&secret, code, now)? {
        Some(step) => user_factors::accept_totp_step(&mut conn, &user.id, step)?,
        None => {
            let used = user_factors::use_recovery_code(&mut conn, &user.id, &totp::recovery_hash(code))?;
            if used {
                let left = user_factors::recovery_codes_left(&mut conn, &user.id)?;
                tracing::info!(user = %user.id, left, "recovery code used");
            }
            used
        }
    };
    if accepted {
        throttle.passed(&mut conn)?;
        return Ok(());
    }
    throttle.failed(&mut conn)?;
    tracing::warn!(user = %user.id, "wrong second-factor code");
    Err(FactorError::Wrong)
}

/// What the console shows of a user's second factor.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FactorStatus {
    /// When the user enrolled their current secret; `None`: not enrolled.
    pub enrolled_at: Option<i64>,
    /// The user must enrol at their next sign-in (this user only; the
    /// server-wide switch is the config's).
    pub required: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
}

/// The second factor of `user_id`, for the console and the API.
pub fn status(conn: &mut DbConn, user_id: &str) -> Result<FactorStatus, StoreError> {
    let row = user_factors::find(conn, user_id)?;
    Ok(FactorStatus {
        enrolled_at: row.as_ref().and_then(|f| f.enrolled_at.filter(|_| f.enrolled())),
        required: row.is_some_and(|f| f.required),
        recovery_codes_left: user_factors::recovery_codes_left(conn, user_id)?,
    })
}
