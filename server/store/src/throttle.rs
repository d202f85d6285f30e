//! Failed sign-in counters for throttling, per account and per address, in
//! the database so every node sees the same count.

use crate::schema::login_failures;
use crate::{DbConn, StoreError};
use diesel::prelude::*;

/// Failures for `key` in the window that started after `now - window_secs`.
pub fn failures(conn: &mut DbConn, key: &str, now: i64, window_secs: i64) -> Result<i32, StoreError> {
    let row: Option<(i64, i32)> = login_failures::table
        .find(key)
        .select((login_failures::window_start, login_failures::failures))
        .first(conn)
        .optional()?;
    Ok(match row {
        Some((start, n)) if start > now - window_secs => n,
        _ => 0,
    })
}

/// Counts one failure for `key`, starting a new window when the old one ended.
pub fn record_failure(conn: &mut DbConn, key: &str, now: i64, window_secs: i64) -> Result<(), StoreError> {
    let current = failures(conn, key, now, window_secs)?;
    let row = login_failures::table.find(key);
    let updated = if current == 0 {
        // No row yet, or its window ended: start a new window.
        diesel::update(row).set((login_failures::window_start.eq(now), login_failures::failures.eq(1))).execute(conn)?
    } else {
        diesel::update(row).set(login_failures::failures.eq(login_failures::failures + 1)).execute(conn)?
    };
    if updated == 0 {
        let inserted = diesel::insert_into(login_failures::table)
            .values((
                login_failures::throttle_key.eq(key),
                login_failures::window_start.eq(now),
                login_failures::failures.eq(1),
            ))
            .execute(conn);
        match inserted {
            // Another node inserted first: count on its row.
            Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
                diesel::update(login_failures::table.find(key))
                    .set(login_failures::failures.eq(login_failures::failures + 1))
                    .execute(conn)?;
            }
            other => {
                other?;
            }
        }
    }
    Ok(())
}

/// Forgets the failures of `key` (after a successful sign-in).
pub fn clear(conn: &mut DbConn, key: &str) -> Result<(), StoreError> {
    diesel::delete(login_failures::table.find(key)).execute(conn)?;
    Ok(())
}
