//! Revoked access tokens (issue #15 item 1; RFC 7009, RFC 6749 §4.1.2).
//!
//! Access tokens are JWTs that every node checks without a database read, so
//! revoking one writes a row here that every node copies into memory
//! (`tessera::service::oauth::revoked`). A row names either one token by its
//! `jti`, or every token of a client or of a user issued before a time: a
//! cut-off, so revoking never depends on knowing which tokens exist, nor on
//! another request having stored its token yet.
//!
//! Contract for readers: rows are only ever added (and purged once
//! `expires_at` has passed, when every token they cover has expired). Ids
//! grow, but on PostgreSQL a row with a smaller id can commit after one with
//! a larger id, so [`since`] also returns rows written recently, whatever
//! their id: a reader that polls with an overlap longer than any transaction
//! misses none.

use crate::schema::revocations;
use crate::{DbConn, StoreError};
use diesel::prelude::*;
use std::fmt;
use std::str::FromStr;

/// How long a client or user cut-off is kept: the longest lifetime an API's
/// access tokens may have (the console and the CLI refuse longer ones), so
/// every token a cut-off covers has expired when it goes.
pub const CUT_OFF_RETENTION_SECS: i64 = 30 * 86_400;

/// What a revocation covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationKind {
    /// One access token, named by its `jti`.
    Token,
    /// Every access token of a client (`client_id`) issued before the cut-off.
    Client,
    /// Every access token of a user (`sub`) issued before the cut-off.
    User,
}

impl RevocationKind {
    /// The name stored in `revocations.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationKind::Token => "token",
            RevocationKind::Client => "client",
            RevocationKind::User => "user",
        }
    }
}

impl fmt::Display for RevocationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `kind` name this code does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown revocation kind {0:?}")]
pub struct UnknownKind(String);

impl FromStr for RevocationKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, UnknownKind> {
        match s {
            "token" => Ok(RevocationKind::Token),
            "client" => Ok(RevocationKind::Client),
            "user" => Ok(RevocationKind::User),
            other => Err(UnknownKind(other.to_owned())),
        }
    }
}

/// A revocations row as the database holds it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = revocations)]
struct Row {
    id: i64,
    kind: String,
    subject: String,
    issued_before: i64,
    expires_at: i64,
}

/// One revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// Row id; grows with every insert.
    pub id: i64,
    /// What it covers.
    pub kind: RevocationKind,
    /// The `jti`, client id or user id.
    pub subject: String,
    /// Tokens with an `iat` before this are revoked (client and user kinds;
    /// for one token it equals `expires_at`).
    pub issued_before: i64,
    /// When every token it covers has expired; purged after.
    pub expires_at: i64,
}

/// Revokes one access token until it would have expired.
pub fn revoke_token(conn: &mut DbConn, jti: &str, expires_at: i64, now: i64) -> Result<(), StoreError> {
    insert(conn, RevocationKind::Token, jti, expires_at, expires_at, now)
}

/// Revokes every access token of `subject` (a client or a user, by `kind`)
/// issued at or before `now`.
pub fn cut_off(conn: &mut DbConn, kind: RevocationKind, subject: &str, now: i64) -> Result<(), StoreError> {
    insert(conn, kind, subject, now + 1, now + CUT_OFF_RETENTION_SECS, now)
}

fn insert(
    conn: &mut DbConn,
    kind: RevocationKind,
    subject: &str,
    issued_before: i64,
    expires_at: i64,
    now: i64,
) -> Result<(), StoreError> {
    diesel::insert_into(revocations::table)
        .values((
            revocations::kind.eq(kind.as_str()),
            revocations::subject.eq(subject),
            revocations::issued_before.eq(issued_before),
            revocations::expires_at.eq(expires_at),
            revocations::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Unexpired revocations (at `now`) with an id above `after_id` or written
/// at or after `written_since`, oldest first. See the module doc for why
/// both.
pub fn since(conn: &mut DbConn, after_id: i64, written_since: i64, now: i64) -> Result<Vec<Revocation>, StoreError> {
    revocations::table
        .filter(revocations::id.gt(after_id).or(revocations::created_at.ge(written_since)))
        .filter(revocations::expires_at.gt(now))
        .order(revocations::id.asc())
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(|r| {
            Ok(Revocation {
                kind: crate::parse_column("revocations.kind", &r.kind)?,
                id: r.id,
                subject: r.subject,
                issued_before: r.issued_before,
                expires_at: r.expires_at,
            })
        })
        .collect()
}
