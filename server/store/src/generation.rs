//! The change counters of the one-row `config_generation` table (migration
//! 000014): database triggers bump `config` on every insert, update or
//! delete of the tables the token path's in-memory snapshot holds (users,
//! clients, client secrets, APIs, plugin versions, bindings) and `locks`
//! whenever a client-authentication lock (`login_failures` keys starting
//! `client:`) is set or removed.
//!
//! The counters are bumped in the writer's own transaction, so a reader
//! that sees a new value sees the data committed with it; a reader that
//! loads the data after reading the counter can at worst load newer data
//! than the counter says, and then reloads once more for nothing.

use crate::clients::ClientSecret;
use crate::schema::{client_secrets, config_generation};
use crate::{DbConn, StoreError};
use diesel::prelude::*;

/// The counters at one moment. Each only grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Generation {
    /// Changes of the snapshot's tables.
    pub config: i64,
    /// Changes of client-authentication locks.
    pub locks: i64,
}

/// Reads both counters: one indexed single-row read, cheap enough to poll.
/// A missing row is `Corrupt` (the migration inserts it).
pub fn read(conn: &mut DbConn) -> Result<Generation, StoreError> {
    let (config, locks) = config_generation::table
        .find(1)
        .select((config_generation::config, config_generation::locks))
        .first::<(i64, i64)>(conn)
        .optional()?
        .ok_or_else(|| StoreError::Corrupt("config_generation has no row".into()))?;
    Ok(Generation { config, locks })
}

/// Every client secret not revoked, of every client: what the token path's
/// snapshot holds (expiry is evaluated when a secret is presented, against
/// the caller's clock, so an expiring secret needs no reload).
pub fn unrevoked_client_secrets(conn: &mut DbConn) -> Result<Vec<ClientSecret>, StoreError> {
    Ok(client_secrets::table
        .filter(client_secrets::revoked_at.is_null())
        .select(ClientSecret::as_select())
        .load(conn)?)
}
