//! Clients created by Dynamic Client Registration (RFC 7591): the SHA-256
//! of each one's registration access token (RFC 7592), and the metadata it
//! registered that the client row has no column for. A row goes with its
//! client (`ON DELETE CASCADE`).

use crate::schema::client_registrations;
use crate::{DbConn, StoreError};
use diesel::prelude::*;
use serde_json::Value;

/// A client_registrations row as the database holds it.
#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = client_registrations)]
struct Row {
    client_id: String,
    token_hash: String,
    registered: String,
    created_at: i64,
    updated_at: i64,
}

/// A registered client's registration.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// The client.
    pub client_id: String,
    /// SHA-256 hex of its registration access token.
    pub token_hash: String,
    /// What it registered beyond the client's own settings (a JSON object).
    pub registered: Value,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last update through RFC 7592.
    pub updated_at: i64,
}

impl TryFrom<Row> for Registration {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self, StoreError> {
        Ok(Registration {
            registered: serde_json::from_str(&r.registered)
                .map_err(|e| StoreError::Corrupt(format!("client_registrations.registered: {e}")))?,
            client_id: r.client_id,
            token_hash: r.token_hash,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

impl Registration {
    fn to_row(&self) -> Row {
        Row {
            client_id: self.client_id.clone(),
            token_hash: self.token_hash.clone(),
            registered: self.registered.to_string(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// Stores a new registration (its client must exist).
pub fn insert(conn: &mut DbConn, r: &Registration) -> Result<(), StoreError> {
    diesel::insert_into(client_registrations::table).values(r.to_row()).execute(conn)?;
    Ok(())
}

/// The registration of `client_id`, if it was registered.
pub fn find(conn: &mut DbConn, client_id: &str) -> Result<Option<Registration>, StoreError> {
    client_registrations::table
        .find(client_id)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Registration::try_from)
        .transpose()
}

/// The ids of every client that registered itself.
pub fn client_ids(conn: &mut DbConn) -> Result<std::collections::HashSet<String>, StoreError> {
    Ok(client_registrations::table.select(client_registrations::client_id).load::<String>(conn)?.into_iter().collect())
}

/// Replaces what a registration holds (RFC 7592 §2.2 update); false if
/// there is none.
pub fn update(conn: &mut DbConn, r: &Registration) -> Result<bool, StoreError> {
    let n = diesel::update(client_registrations::table.find(&r.client_id)).set(r.to_row()).execute(conn)?;
    Ok(n == 1)
}
