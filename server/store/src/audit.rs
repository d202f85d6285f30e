//! The audit log: who changed what, when. Append-only from the application's
//! side; details never contain secrets (callers pass names, not values).

use crate::schema::audit_events;
use crate::{DbConn, StoreError};
use diesel::prelude::*;

/// One audit event.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    /// Event id (UUID v7: sorts by time).
    pub id: String,
    /// Unix seconds.
    pub at: i64,
    /// Who: `cli`, `admin:<name>`, `api:<client>`.
    pub actor: String,
    /// What: `client.create`, `keys.rotate`, ...
    pub action: String,
    /// The object acted on.
    pub target: String,
    /// A JSON object with non-secret detail.
    pub detail: String,
}

/// Appends an event.
pub fn record(conn: &mut DbConn, event: &AuditEvent) -> Result<(), StoreError> {
    diesel::insert_into(audit_events::table).values(event).execute(conn)?;
    Ok(())
}

/// The newest events, optionally only those whose action starts with `action_prefix`.
pub fn recent(
    conn: &mut DbConn,
    action_prefix: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut q = audit_events::table.into_boxed();
    if let Some(p) = action_prefix {
        q = q.filter(audit_events::action.like(format!("{p}%")));
    }
    Ok(q.order((audit_events::at.desc(), audit_events::id.desc()))
        .offset(offset)
        .limit(limit)
        .select(AuditEvent::as_select())
        .load(conn)?)
}
