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

/// Which events to list; every set field must match.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    /// The actor exactly (`admin:alice`, `cli`).
    pub actor: Option<String>,
    /// Actions starting with this (`client.` for every client change).
    pub action_prefix: Option<String>,
    /// The target id exactly.
    pub target: Option<String>,
}

/// The newest events matching `filter`, newest first.
pub fn recent(conn: &mut DbConn, filter: &AuditFilter, offset: i64, limit: i64) -> Result<Vec<AuditEvent>, StoreError> {
    let mut q = audit_events::table.into_boxed();
    if let Some(a) = &filter.actor {
        q = q.filter(audit_events::actor.eq(a.clone()));
    }
    if let Some(p) = &filter.action_prefix {
        let escaped = p.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        q = q.filter(audit_events::action.like(format!("{escaped}%")).escape('\\'));
    }
    if let Some(t) = &filter.target {
        q = q.filter(audit_events::target.eq(t.clone()));
    }
    Ok(q.order((audit_events::at.desc(), audit_events::id.desc()))
        .offset(offset)
        .limit(limit)
        .select(AuditEvent::as_select())
        .load(conn)?)
}
