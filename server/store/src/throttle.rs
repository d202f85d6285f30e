//! Counters for throttling failed sign-ins and client authentications, in
//! the database so every node sees the same count.
//!
//! A counter is one row per key. It counts attempts in a window; a key that
//! has used up its attempts is refused until the window ends or, once
//! [`lock_if_spent`] locked it, until `locked_until`. Each lock of a key
//! lasts twice as long as the one before (`strikes`), up to a maximum.
//!
//! [`reserve`] is the atomic step: one `UPDATE ... WHERE failures < max`
//! counts the attempt before it is made, so concurrent attempts can never
//! run more checks than the limit (issue #11 item 6). What the keys mean
//! (account and address pairs, ...) is the caller's business.
//!
//! [`mark`] keeps markers in the same table ("this account signed in from
//! this address", keys containing `:known:`), dated by `window_start`. A
//! purge of old rows must keep a marker as long as its caller trusts it
//! (`[login] known_address_secs`) and a locked row until `locked_until`.

use crate::schema::login_failures;
use crate::{DbConn, StoreError};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// The limits of one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Attempts counted in a window before the key is refused.
    pub max: i32,
    /// The counting window, seconds.
    pub window_secs: i64,
}

/// The answer of [`reserve`] and [`check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The attempt may go ahead (for [`reserve`]: it is already counted).
    Admitted,
    /// Refused; the key frees up at this Unix time.
    Refused {
        /// When to try again, Unix seconds.
        until: i64,
    },
}

/// The row of `key`: (window_start, failures, locked_until, strikes).
fn row(conn: &mut DbConn, key: &str) -> Result<Option<(i64, i32, i64, i32)>, StoreError> {
    Ok(login_failures::table
        .find(key)
        .select((
            login_failures::window_start,
            login_failures::failures,
            login_failures::locked_until,
            login_failures::strikes,
        ))
        .first(conn)
        .optional()?)
}

/// When a refused key frees up: the end of its lock if it is locked (a
/// lock resets the count), else the end of its spent window.
fn refused_until(window_start: i64, locked_until: i64, now: i64, limit: Limit) -> i64 {
    if locked_until > now { locked_until } else { window_start + limit.window_secs }
}

/// Whether an attempt on `key` would be admitted now, without counting it.
/// Cheap (one read) for callers that only count failures (client secrets).
pub fn check(conn: &mut DbConn, key: &str, now: i64, limit: Limit) -> Result<Admission, StoreError> {
    Ok(match row(conn, key)? {
        Some((_, _, locked, _)) if locked > now => Admission::Refused { until: locked },
        Some((start, n, locked, _)) if start > now - limit.window_secs && n >= limit.max => {
            Admission::Refused { until: refused_until(start, locked, now, limit) }
        }
        _ => Admission::Admitted,
    })
}

/// Atomically counts one attempt on `key` if the key is not locked and has
/// counted fewer than `limit.max` attempts in its window (a window that
/// ended starts again). Never counts past the limit, whatever runs
/// concurrently: the check and the increment are one `UPDATE` (PostgreSQL
/// re-checks its `WHERE` on the row it locked; SQLite has one writer).
/// Must not run inside a transaction on PostgreSQL (a unique violation on
/// the first insert would abort it).
pub fn reserve(conn: &mut DbConn, key: &str, now: i64, limit: Limit) -> Result<Admission, StoreError> {
    let this = || login_failures::table.find(key);
    // A window that ended starts again; idempotent, because it moves
    // window_start to now (a concurrent second reset no longer matches).
    diesel::update(this().filter(login_failures::window_start.le(now - limit.window_secs)))
        .filter(login_failures::locked_until.le(now))
        .set((login_failures::window_start.eq(now), login_failures::failures.eq(0)))
        .execute(conn)?;
    for _ in 0..3 {
        let counted = diesel::update(
            this().filter(login_failures::failures.lt(limit.max)).filter(login_failures::locked_until.le(now)),
        )
        .set(login_failures::failures.eq(login_failures::failures + 1))
        .execute(conn)?;
        if counted == 1 {
            return Ok(Admission::Admitted);
        }
        match row(conn, key)? {
            Some((start, failures, locked, _)) if failures >= limit.max || locked > now => {
                return Ok(Admission::Refused { until: refused_until(start, locked, now, limit) });
            }
            // The row was inserted by a concurrent first attempt after our
            // UPDATE found none: count on it. Refusing here refused a fresh
            // key that had room (a console sign-in answered 429 when several
            // first attempts on one account raced).
            Some(_) => continue,
            None if limit.max <= 0 => return Ok(Admission::Refused { until: now + limit.window_secs }),
            None => {
                let inserted = diesel::insert_into(login_failures::table)
                    .values((
                        login_failures::throttle_key.eq(key),
                        login_failures::window_start.eq(now),
                        login_failures::failures.eq(1),
                        login_failures::locked_until.eq(0),
                        login_failures::strikes.eq(0),
                    ))
                    .execute(conn);
                match inserted {
                    Ok(_) => return Ok(Admission::Admitted),
                    // Another request inserted first: count on its row.
                    Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Err(StoreError::Conflict(format!("throttle key {key} kept changing")))
}

/// Gives back one attempt counted by [`reserve`] (the attempt succeeded, or
/// was never made).
pub fn release(conn: &mut DbConn, key: &str) -> Result<(), StoreError> {
    diesel::update(login_failures::table.find(key).filter(login_failures::failures.gt(0)))
        .set(login_failures::failures.eq(login_failures::failures - 1))
        .execute(conn)?;
    Ok(())
}

/// Counts one failure on `key` after the fact (for callers that use
/// [`check`] rather than [`reserve`]).
pub fn record_failure(conn: &mut DbConn, key: &str, now: i64, limit: Limit) -> Result<(), StoreError> {
    // Counting past the limit is fine here; the lock below resets the count.
    reserve(conn, key, now, Limit { max: i32::MAX, ..limit }).map(|_| ())
}

/// After a failed attempt: if `key` has used up `limit.max` attempts in
/// its window, locks it for `base_secs * 2^strikes` (at most `max_secs`),
/// adds a strike and starts a new count. Only one of several concurrent
/// callers locks (the count it matches on is reset in the same statement).
/// Returns the lock's end when this call locked.
pub fn lock_if_spent(
    conn: &mut DbConn,
    key: &str,
    now: i64,
    limit: Limit,
    base_secs: i64,
    max_secs: i64,
) -> Result<Option<i64>, StoreError> {
    let Some((_, _, _, strikes)) = row(conn, key)? else { return Ok(None) };
    let delay = lock_secs(strikes, base_secs, max_secs);
    let locked = diesel::update(
        login_failures::table
            .find(key)
            .filter(login_failures::failures.ge(limit.max))
            .filter(login_failures::strikes.eq(strikes)),
    )
    .set((
        login_failures::locked_until.eq(now + delay),
        login_failures::strikes.eq(strikes.saturating_add(1)),
        login_failures::failures.eq(0),
        login_failures::window_start.eq(now),
    ))
    .execute(conn)?;
    Ok((locked == 1).then_some(now + delay))
}

/// The length of the lock after `strikes` earlier locks: doubling from
/// `base_secs`, never more than `max_secs`.
pub fn lock_secs(strikes: i32, base_secs: i64, max_secs: i64) -> i64 {
    let factor = 1i64.checked_shl(strikes.clamp(0, 62) as u32).unwrap_or(i64::MAX);
    base_secs.saturating_mul(factor).min(max_secs).max(0)
}

/// Every key starting with `prefix` that is locked at `now`, with the end of
/// its lock: what a node mirrors in memory so that the success path of a
/// throttled check reads nothing (client authentication; the `locks`
/// counter of `generation` says when to read this again).
pub fn locked_with_prefix(conn: &mut DbConn, prefix: &str, now: i64) -> Result<Vec<(String, i64)>, StoreError> {
    let pattern = format!("{}%", prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    Ok(login_failures::table
        .filter(login_failures::throttle_key.like(pattern).escape('\\'))
        .filter(login_failures::locked_until.gt(now))
        .select((login_failures::throttle_key, login_failures::locked_until))
        .load(conn)?)
}

/// Forgets `key` (after a successful sign-in: its failures and strikes).
pub fn clear(conn: &mut DbConn, key: &str) -> Result<(), StoreError> {
    diesel::delete(login_failures::table.find(key)).execute(conn)?;
    Ok(())
}

/// Records that `key` happened now (a marker such as "this account signed
/// in from this address"); see [`marked_since`].
pub fn mark(conn: &mut DbConn, key: &str, now: i64) -> Result<(), StoreError> {
    let updated =
        diesel::update(login_failures::table.find(key)).set(login_failures::window_start.eq(now)).execute(conn)?;
    if updated == 0 {
        let inserted = diesel::insert_into(login_failures::table)
            .values((
                login_failures::throttle_key.eq(key),
                login_failures::window_start.eq(now),
                login_failures::failures.eq(0),
                login_failures::locked_until.eq(0),
                login_failures::strikes.eq(0),
            ))
            .execute(conn);
        match inserted {
            Ok(_) | Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// True if [`mark`] recorded `key` after `since`.
pub fn marked_since(conn: &mut DbConn, key: &str, since: i64) -> Result<bool, StoreError> {
    Ok(row(conn, key)?.is_some_and(|(at, ..)| at > since))
}

#[cfg(test)]
mod tests {
    #[test]
    fn locks_double_and_stop_at_the_maximum() {
        assert_eq!(super::lock_secs(0, 60, 900), 60);
        assert_eq!(super::lock_secs(1, 60, 900), 120);
        assert_eq!(super::lock_secs(3, 60, 900), 480);
        assert_eq!(super::lock_secs(4, 60, 900), 900);
        assert_eq!(super::lock_secs(400, 60, 900), 900);
    }
}
