//! Row locks for a change made only if a resource is still the version its
//! caller read (the management API's `If-Match`, issue #14 item 3): the
//! check and the change run in one transaction that first locks the
//! resource's row, so two changes made against the same version cannot
//! both pass the check.
//!
//! The lock is a no-op `UPDATE` of the row, as the audit chain head is
//! locked (`audit.rs`): on PostgreSQL it takes the row lock (what `SELECT
//! ... FOR UPDATE` takes), held to the end of the transaction; on SQLite
//! a transaction begins deferred, and its first write takes the database's
//! write lock (waiting `busy_timeout` for it), so a transaction that writes
//! before it reads never reads a version another writer is about to
//! replace.

use crate::schema::{admins, apis, bindings, client_secrets, clients, signing_keys, users};
use crate::{DbConn, StoreError};
use diesel::prelude::*;

/// A resource's row, by table and primary key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row<'a> {
    /// A user (`users.id`).
    User(&'a str),
    /// A client (`clients.id`).
    Client(&'a str),
    /// A client secret (`client_secrets.id`).
    ClientSecret(&'a str),
    /// An API (`apis.id`).
    Api(&'a str),
    /// A token-hook binding (`bindings.id`).
    Binding(&'a str),
    /// A signing key (`signing_keys.kid`).
    SigningKey(&'a str),
    /// A console administrator (`admins.id`).
    Admin(&'a str),
}

/// Locks `row` for the rest of the caller's transaction; `NotFound` if it
/// does not exist (nothing is locked on PostgreSQL then).
pub fn lock(conn: &mut DbConn, row: Row<'_>) -> Result<(), StoreError> {
    let locked = match row {
        Row::User(id) => diesel::update(users::table.find(id)).set(users::id.eq(users::id)).execute(conn)?,
        Row::Client(id) => diesel::update(clients::table.find(id)).set(clients::id.eq(clients::id)).execute(conn)?,
        Row::ClientSecret(id) => diesel::update(client_secrets::table.find(id))
            .set(client_secrets::id.eq(client_secrets::id))
            .execute(conn)?,
        Row::Api(id) => diesel::update(apis::table.find(id)).set(apis::id.eq(apis::id)).execute(conn)?,
        Row::Binding(id) => {
            diesel::update(bindings::table.find(id)).set(bindings::id.eq(bindings::id)).execute(conn)?
        }
        Row::SigningKey(kid) => {
            diesel::update(signing_keys::table.find(kid)).set(signing_keys::kid.eq(signing_keys::kid)).execute(conn)?
        }
        Row::Admin(id) => diesel::update(admins::table.find(id)).set(admins::id.eq(admins::id)).execute(conn)?,
    };
    if locked == 0 {
        return Err(StoreError::NotFound(format!("{row:?}")));
    }
    Ok(())
}

/// Runs `f` inside the caller's transaction as a nested one (a savepoint):
/// an error rolls back what `f` did and nothing before it. What a service
/// function's own transaction becomes when it runs inside a larger one.
pub fn nested<T>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>) -> Result<T, StoreError> {
    conn.transaction(f)
}
