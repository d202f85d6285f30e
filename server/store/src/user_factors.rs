//! End users' second factor: a TOTP secret (sealed by the caller), the last
//! accepted time step, single-use recovery codes, the "enrol at the next
//! sign-in" requirement, and the sign-ins waiting for a code.
//!
//! A user with no row has no factor and no requirement. Waiting sign-ins
//! live in a table of their own (`pending_sign_ins`), never in `sessions`,
//! so no reader of a session can mistake a half-finished sign-in for one.

use crate::schema::{pending_sign_ins, user_recovery_codes, user_second_factors};
use crate::{DbConn, StoreError};
use diesel::prelude::*;

/// A user's second-factor row.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = user_second_factors)]
pub struct UserFactor {
    /// The user.
    pub user_id: String,
    /// The TOTP secret, sealed with the master key; `None`: not enrolled.
    pub totp_secret_enc: Option<Vec<u8>>,
    /// The time step of the last accepted code.
    pub totp_last_step: Option<i64>,
    /// When the secret was enrolled, Unix seconds.
    pub enrolled_at: Option<i64>,
    /// The user must enrol at the next sign-in (set by an administrator).
    pub required: bool,
}

impl UserFactor {
    /// Whether the user has a TOTP secret.
    pub fn enrolled(&self) -> bool {
        self.totp_secret_enc.is_some()
    }
}

/// The row of `user_id`, if any.
pub fn find(conn: &mut DbConn, user_id: &str) -> Result<Option<UserFactor>, StoreError> {
    Ok(user_second_factors::table.find(user_id).select(UserFactor::as_select()).first(conn).optional()?)
}

/// Writes `row` whole: updates the user's row, or inserts it. Run it in a
/// transaction when it follows a read.
fn put(conn: &mut DbConn, row: &UserFactor) -> Result<(), StoreError> {
    use user_second_factors::dsl as t;
    let n = diesel::update(t::user_second_factors.find(&row.user_id))
        .set((
            t::totp_secret_enc.eq(&row.totp_secret_enc),
            t::totp_last_step.eq(row.totp_last_step),
            t::enrolled_at.eq(row.enrolled_at),
            t::required.eq(row.required),
        ))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(t::user_second_factors).values(row).execute(conn)?;
    }
    Ok(())
}

/// Stores an enrolment: the sealed secret, the step its first code matched,
/// and new recovery codes (replacing any earlier secret and codes). The
/// requirement is met, so it is cleared.
pub fn enrol(
    conn: &mut DbConn,
    user_id: &str,
    sealed: &[u8],
    step: i64,
    now: i64,
    recovery_hashes: &[String],
) -> Result<(), StoreError> {
    let row = UserFactor {
        user_id: user_id.to_owned(),
        totp_secret_enc: Some(sealed.to_vec()),
        totp_last_step: Some(step),
        enrolled_at: Some(now),
        required: false,
    };
    put(conn, &row)?;
    replace_recovery_codes(conn, user_id, recovery_hashes)
}

/// Takes the user's secret and recovery codes away; with `require`, they
/// must enrol a new one at their next sign-in. True if there was a secret.
pub fn reset(conn: &mut DbConn, user_id: &str, require: bool) -> Result<bool, StoreError> {
    let had = find(conn, user_id)?.is_some_and(|f| f.enrolled());
    let row = UserFactor {
        user_id: user_id.to_owned(),
        totp_secret_enc: None,
        totp_last_step: None,
        enrolled_at: None,
        required: require,
    };
    put(conn, &row)?;
    replace_recovery_codes(conn, user_id, &[])?;
    Ok(had)
}

/// Sets or clears "enrol at the next sign-in", keeping any secret.
pub fn set_required(conn: &mut DbConn, user_id: &str, required: bool) -> Result<(), StoreError> {
    let mut row = find(conn, user_id)?.unwrap_or(UserFactor {
        user_id: user_id.to_owned(),
        totp_secret_enc: None,
        totp_last_step: None,
        enrolled_at: None,
        required: false,
    });
    row.required = required;
    put(conn, &row)
}

fn replace_recovery_codes(conn: &mut DbConn, user_id: &str, hashes: &[String]) -> Result<(), StoreError> {
    use user_recovery_codes::dsl as t;
    diesel::delete(t::user_recovery_codes.filter(t::user_id.eq(user_id))).execute(conn)?;
    for h in hashes {
        diesel::insert_into(t::user_recovery_codes)
            .values((t::code_hash.eq(h), t::user_id.eq(user_id)))
            .execute(conn)?;
    }
    Ok(())
}

/// Accepts a code that matched time step `step` if no code of that step or
/// a later one was accepted before (one conditional UPDATE, so of two
/// concurrent uses of one code, on any nodes, one wins).
pub fn accept_totp_step(conn: &mut DbConn, user_id: &str, step: i64) -> Result<bool, StoreError> {
    use user_second_factors::dsl as t;
    let n = diesel::update(
        t::user_second_factors
            .find(user_id)
            .filter(t::totp_secret_enc.is_not_null())
            .filter(t::totp_last_step.is_null().or(t::totp_last_step.lt(step))),
    )
    .set(t::totp_last_step.eq(step))
    .execute(conn)?;
    Ok(n == 1)
}

/// Uses up a recovery code; false if it is not one of the user's unused codes.
pub fn use_recovery_code(conn: &mut DbConn, user_id: &str, code_hash: &str) -> Result<bool, StoreError> {
    use user_recovery_codes::dsl as t;
    let n = diesel::delete(t::user_recovery_codes.filter(t::code_hash.eq(code_hash)).filter(t::user_id.eq(user_id)))
        .execute(conn)?;
    Ok(n == 1)
}

/// How many unused recovery codes the user has.
pub fn recovery_codes_left(conn: &mut DbConn, user_id: &str) -> Result<i64, StoreError> {
    use user_recovery_codes::dsl as t;
    Ok(t::user_recovery_codes.filter(t::user_id.eq(user_id)).count().get_result(conn)?)
}

/// A sign-in past the password, waiting for the second factor.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = pending_sign_ins)]
pub struct PendingSignIn {
    /// SHA-256 hex of the browser's random id.
    pub id_hash: String,
    /// The user whose password was right.
    pub user_id: String,
    /// The user has no factor and must enrol one (else: asks for a code).
    pub enrol: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; a few minutes after the password.
    pub expires_at: i64,
    /// A step-up of this session (its hash): the session gains the factor
    /// in place, keeping its `sid`; `None`: a sign-in that opens a session.
    pub session_id_hash: Option<String>,
}

/// Stores a waiting sign-in.
pub fn insert_pending(conn: &mut DbConn, p: &PendingSignIn) -> Result<(), StoreError> {
    diesel::insert_into(pending_sign_ins::table).values(p).execute(conn)?;
    Ok(())
}

/// The unexpired waiting sign-in with this hash.
pub fn pending(conn: &mut DbConn, id_hash: &str, now: i64) -> Result<Option<PendingSignIn>, StoreError> {
    Ok(pending_sign_ins::table
        .find(id_hash)
        .filter(pending_sign_ins::expires_at.gt(now))
        .select(PendingSignIn::as_select())
        .first(conn)
        .optional()?)
}

/// Ends a waiting sign-in; true if this call removed it (of two concurrent
/// completions, one wins).
pub fn finish_pending(conn: &mut DbConn, id_hash: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(pending_sign_ins::table.find(id_hash)).execute(conn)? == 1)
}
