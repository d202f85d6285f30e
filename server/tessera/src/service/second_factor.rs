//! The console's second factor (issue #18 item 2): TOTP (RFC 6238: HMAC-SHA1,
//! 6 digits, 30-second steps, one step of clock skew either way, through
//! the `totp-rs` crate) with single-use recovery codes, and the server-wide
//! "require a second factor" switch.
//!
//! - The secret is 160 random bits (RFC 4226 §4 recommends 160) from the
//!   server's CSPRNG, sealed with the master key and bound to the
//!   administrator's id (`crypto::purpose::admin_totp`), like signing keys.
//! - A code is accepted once: the step it matched must be later than the
//!   last accepted one (`admins::accept_totp_step`, one conditional UPDATE),
//!   so neither a replay within the window nor an older code passes.
//! - Recovery codes are 10 random codes of 16 characters, stored as
//!   SHA-256 hashes, shown once, each used once; enrolling again replaces them.
//! - Wrong codes are throttled per administrator with the store's throttle
//!   (key `console:second-factor:<id>`, `[login]`'s pair limit and lock).

use super::admin::{AdminError, audit};
use super::db::Db;
use super::sign_in::ThrottleSettings;
pub use super::totp::{Enrolment, RECOVERY_CODES};
use crate::crypto::{MasterKey, purpose};
use serde_json::json;
use tessera_store::admins::{self, Admin};
use tessera_store::passkeys;
use tessera_store::{DbConn, Store, StoreError};

/// The issuer an authenticator app shows next to an administrator's code.
const ISSUER_LABEL: &str = "Tessera";
use super::totp::{self, FactorThrottle, TotpError, decode_secret, matching_step, recovery_code, recovery_hash};

/// Why a code was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    /// Wrong, already used or expired code (never says which).
    #[error("That code is not valid. Use the current code from your app, or one of your recovery codes.")]
    Wrong,
    /// Too many wrong codes: retry after this many seconds.
    #[error("Too many wrong codes. Wait a few minutes and try again.")]
    Throttled(u64),
    /// Storage or the master key failed.
    #[error(transparent)]
    Failed(#[from] AdminError),
}

impl From<StoreError> for CodeError {
    fn from(e: StoreError) -> CodeError {
        CodeError::Failed(e.into())
    }
}

fn internal(e: impl std::fmt::Display) -> AdminError {
    AdminError::Internal(e.to_string())
}

/// A new secret for `username` to enrol, labelled "Tessera" in the app.
pub fn begin(username: &str) -> Result<Enrolment, AdminError> {
    Ok(totp::begin_at(ISSUER_LABEL, username)?)
}

/// The enrolment of a secret typed back in base32 (the form carries it
/// between showing it and confirming it).
pub fn resume(secret_base32: &str, username: &str) -> Result<Enrolment, AdminError> {
    Ok(totp::resume_at(ISSUER_LABEL, secret_base32, username)?)
}

impl From<TotpError> for AdminError {
    fn from(e: TotpError) -> AdminError {
        match e {
            e @ TotpError::BadSecret => AdminError::Invalid { field: "secret", message: e.to_string() },
            TotpError::Internal(m) => AdminError::Internal(m),
        }
    }
}

/// Reserves a code attempt for `admin_id` (key `console:second-factor:<id>`),
/// or refuses while the key is locked.
pub(super) fn admit<'a>(
    conn: &mut DbConn,
    settings: &'a ThrottleSettings,
    admin_id: &str,
    now: i64,
) -> Result<FactorThrottle<'a>, CodeError> {
    FactorThrottle::admit_key(conn, settings, format!("console:second-factor:{admin_id}"), now)?
        .map_err(CodeError::Throttled)
}

/// Confirms an enrolment with a first code: stores the sealed secret and
/// new recovery codes, and returns the codes (shown once). Replaces an
/// earlier enrolment and its codes; audited.
pub fn confirm(
    store: &Store,
    master: &MasterKey,
    admin: &Admin,
    secret_base32: &str,
    code: &str,
    now: i64,
) -> Result<Vec<String>, AdminError> {
    let secret = decode_secret(secret_base32)?;
    let Some(step) = matching_step(&secret, code, now)? else {
        return Err(AdminError::Invalid {
            field: "code",
            message: "is not the current code for this secret; check the app's clock and try again".into(),
        });
    };
    let sealed = master.seal(&purpose::admin_totp(&admin.id), secret.as_ref()).map_err(internal)?;
    let codes = (0..RECOVERY_CODES).map(|_| recovery_code()).collect::<Result<Vec<_>, _>>()?;
    let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(c)).collect();
    let actor = format!("admin:{}", admin.username);
    store.tx(|conn| {
        admins::set_totp(conn, &admin.id, Some(&sealed), Some(step), &hashes)?;
        audit(conn, &actor, now, "admin.second_factor.enrol", &admin.id, json!({"recovery_codes": RECOVERY_CODES}))
    })?;
    Ok(codes)
}

/// Removes `admin`'s second factor and recovery codes; refused while the
/// server requires one (`Conflict`); audited.
pub fn remove(store: &Store, actor: &str, admin_id: &str, now: i64) -> Result<(), AdminError> {
    store.tx(|conn| {
        // A passkey is a second factor too: with one, TOTP may go.
        if admins::second_factor_required(conn)? && passkeys::count(conn, admin_id)? == 0 {
            return Err(StoreError::Conflict(
                "A second factor is required for every administrator; enrol a new one instead.".into(),
            ));
        }
        admins::set_totp(conn, admin_id, None, None, &[])?;
        audit(conn, actor, now, "admin.second_factor.remove", admin_id, json!({}))
    })?;
    Ok(())
}

/// An owner takes every second factor away from another administrator who
/// lost theirs (TOTP, recovery codes, passkeys) and ends their sessions, in
/// one transaction; audited as `admin.second_factor.reset`. Where a second
/// factor is required they enrol a new one at their next sign-in. One's own
/// factor is changed on the account page, where the current one is known.
pub fn reset(store: &impl Db, actor: &str, now: i64, by_id: &str, admin_id: &str) -> Result<(), AdminError> {
    if by_id == admin_id {
        return Err(AdminError::Conflict("Change your own second factor on Your account.".into()));
    }
    store.tx(|conn| {
        let admin =
            admins::find(conn, admin_id)?.ok_or_else(|| StoreError::NotFound(format!("administrator {admin_id}")))?;
        let totp = admin.totp_secret_enc.is_some();
        admins::set_totp(conn, admin_id, None, None, &[])?;
        let passkeys = passkeys::delete_all(conn, admin_id)?;
        let sessions = admins::delete_sessions(conn, admin_id, None)?;
        let details =
            json!({"username": admin.username, "totp": totp, "passkeys": passkeys, "sessions_ended": sessions});
        audit(conn, actor, now, "admin.second_factor.reset", admin_id, details)
    })?;
    Ok(())
}

/// Checks a code typed at sign-in: a current TOTP code (once per step) or
/// an unused recovery code (used up). Throttled per administrator: wrong
/// codes count, and the limit locks like a sign-in pair. A failure is
/// audited as `admin.second_factor.failed`, a recovery code's use as
/// `admin.second_factor.recovery`.
pub fn check(
    store: &Store,
    master: &MasterKey,
    settings: &ThrottleSettings,
    admin: &Admin,
    code: &str,
    now: i64,
) -> Result<(), CodeError> {
    let Some(sealed) = admin.totp_secret_enc.as_deref() else {
        return Err(CodeError::Wrong);
    };
    let mut conn = store.conn()?;
    let throttle = admit(&mut conn, settings, &admin.id, now)?;
    let secret = master.open(&purpose::admin_totp(&admin.id), sealed).map_err(internal)?;
    let actor = format!("admin:{}", admin.username);
    let accepted = match matching_step(&secret, code, now).map_err(AdminError::from)? {
        Some(step) => admins::accept_totp_step(&mut conn, &admin.id, step)?,
        None if admins::use_recovery_code(&mut conn, &admin.id, &recovery_hash(code))? => {
            let left = admins::recovery_codes_left(&mut conn, &admin.id)?;
            audit(&mut conn, &actor, now, "admin.second_factor.recovery", &admin.id, json!({"left": left}))?;
            true
        }
        None => false,
    };
    if accepted {
        throttle.passed(&mut conn)?;
        return Ok(());
    }
    throttle.failed(&mut conn)?;
    audit(&mut conn, &actor, now, "admin.second_factor.failed", &admin.id, json!({}))?;
    Err(CodeError::Wrong)
}

/// Whether every administrator must have a second factor.
pub fn required(store: &Store) -> Result<bool, StoreError> {
    admins::second_factor_required(&mut *store.conn()?)
}

/// Sets the server-wide requirement (an owner's switch, `write:admins` on
/// the console route); audited.
pub fn set_required(store: &Store, actor: &str, now: i64, required: bool) -> Result<(), AdminError> {
    store.tx(|conn| {
        admins::set_second_factor_required(conn, required)?;
        audit(conn, actor, now, "admin.second_factor.require", "console", json!({"required": required}))
    })?;
    Ok(())
}

/// Unused recovery codes of `admin_id`.
pub fn recovery_codes_left(store: &Store, admin_id: &str) -> Result<i64, StoreError> {
    admins::recovery_codes_left(&mut *store.conn()?, admin_id)
}
