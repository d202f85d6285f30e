//! The audit log: who changed what, when. Append-only from the application's
//! side; details never contain secrets (callers pass names, not values).
//!
//! # The hash chain
//!
//! The log is tamper-evident (issue #18 item 8): every event carries its
//! place in the chain (`seq`, 1, 2, ...), the hash of the event before it
//! (`prev_hash`; the first event chains from [`GENESIS`], 64 zeros) and its
//! own `hash`, lowercase hex of SHA-256 over eight fields, each written as
//! its UTF-8 byte length (8 bytes, big-endian) followed by its bytes:
//!
//! 1. the tag `tessera.audit.v1`,
//! 2. `prev_hash` (its 64 hex characters),
//! 3. `id`, 4. `at` (decimal Unix seconds, e.g. `1764460800`),
//! 5. `actor`, 6. `action`, 7. `target`, 8. `detail` (the stored text as is).
//!
//! Length prefixes make the encoding unambiguous (no field can spill into
//! the next). An auditor recomputes a line of `tessera audit export` with:
//!
//! ```python
//! import hashlib, json
//! def entry_hash(e):
//!     h = hashlib.sha256()
//!     for f in ("tessera.audit.v1", e["prev_hash"], e["id"], str(e["at"]),
//!               e["actor"], e["action"], e["target"], e["detail"]):
//!         b = f.encode()
//!         h.update(len(b).to_bytes(8, "big") + b)
//!     return h.hexdigest()
//! ```
//!
//! Changing an event's fields breaks its own hash; recomputing that hash
//! breaks the next event's `prev_hash`; removing an event leaves a gap in
//! `seq` and a `prev_hash` that points nowhere; removing events at the end
//! disagrees with the chain head. [`ChainCheck`] finds the first such link,
//! over this database ([`verify`]) or events read from a server. Who
//! can rewrite the whole database can rewrite the whole chain too: an
//! exported hash kept elsewhere anchors it.
//!
//! The head (table `audit_chain`, one row) holds the last `seq` and `hash`.
//! [`record`] locks it with an `UPDATE` before reading it, which takes the
//! row lock on PostgreSQL and the database's write lock on SQLite, so
//! appends from several nodes or threads wait for each other and chain in
//! one order. Events written before the chain existed (migration 000011) are
//! chained by [`chain_unchained`], oldest first, when the store migrates.

use crate::schema::{audit_chain, audit_events};
use crate::{DbConn, StoreError};
use diesel::prelude::*;
use sha2::{Digest, Sha256};
use std::ops::ControlFlow;

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

/// An event with its links, as [`verify`] and the export read it; the links
/// are `None` only on a row nobody chained (which [`verify`] reports).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct ChainedEvent {
    /// The event's fields.
    #[diesel(embed)]
    pub event: AuditEvent,
    /// Its place in the chain, from 1.
    pub seq: Option<i64>,
    /// The hash of the event before it ([`GENESIS`] for the first).
    pub prev_hash: Option<String>,
    /// Its own hash (see the module doc).
    pub hash: Option<String>,
}

/// What the first event chains from.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The tag hashed first, so a later encoding can be told apart.
const TAG: &str = "tessera.audit.v1";

/// The one row of `audit_chain`.
const HEAD: i32 = 1;

/// How many rows one read of the chain loads.
const PAGE: i64 = 1000;

/// The hash of `event` chained after `prev_hash` (encoding in the module doc).
pub fn entry_hash(prev_hash: &str, event: &AuditEvent) -> String {
    let at = event.at.to_string();
    let mut h = Sha256::new();
    for field in [TAG, prev_hash, &event.id, &at, &event.actor, &event.action, &event.target, &event.detail] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Locks the chain head for the rest of the transaction and returns it.
fn lock_head(conn: &mut DbConn) -> Result<(i64, String), StoreError> {
    // A no-op UPDATE: PostgreSQL's row lock, SQLite's write lock, taken
    // before the head is read so no other append reads the same head.
    let locked =
        diesel::update(audit_chain::table.find(HEAD)).set(audit_chain::seq.eq(audit_chain::seq)).execute(conn)?;
    if locked != 1 {
        return Err(StoreError::Corrupt("the audit chain head (table audit_chain) is missing".into()));
    }
    Ok(audit_chain::table.find(HEAD).select((audit_chain::seq, audit_chain::hash)).first(conn)?)
}

fn set_head(conn: &mut DbConn, seq: i64, hash: &str) -> Result<(), StoreError> {
    diesel::update(audit_chain::table.find(HEAD))
        .set((audit_chain::seq.eq(seq), audit_chain::hash.eq(hash)))
        .execute(conn)?;
    Ok(())
}

/// Appends an event at the end of the chain, inside the caller's
/// transaction (which holds the chain head until it ends). The one way
/// events are written.
pub fn record(conn: &mut DbConn, event: &AuditEvent) -> Result<(), StoreError> {
    let (head_seq, head_hash) = lock_head(conn)?;
    let seq = head_seq + 1;
    let hash = entry_hash(&head_hash, event);
    diesel::insert_into(audit_events::table)
        .values((
            event,
            audit_events::seq.eq(seq),
            audit_events::prev_hash.eq(&head_hash),
            audit_events::hash.eq(&hash),
        ))
        .execute(conn)?;
    set_head(conn, seq, &hash)
}

/// Chains the events written before the chain existed (or by a node that
/// does not know it yet), oldest first, after the current head; returns
/// how many. Cheap when there are none: nothing is locked then.
pub fn chain_unchained(conn: &mut DbConn) -> Result<usize, StoreError> {
    let unchained = audit_events::table.filter(audit_events::hash.is_null());
    if !diesel::select(diesel::dsl::exists(unchained)).get_result::<bool>(conn)? {
        return Ok(0);
    }
    let (mut seq, mut prev) = lock_head(conn)?;
    let mut chained = 0;
    loop {
        let page: Vec<AuditEvent> = audit_events::table
            .filter(audit_events::hash.is_null())
            .order((audit_events::at.asc(), audit_events::id.asc()))
            .limit(PAGE)
            .select(AuditEvent::as_select())
            .load(conn)?;
        if page.is_empty() {
            break;
        }
        for event in &page {
            seq += 1;
            let hash = entry_hash(&prev, event);
            diesel::update(audit_events::table.find(&event.id))
                .set((audit_events::seq.eq(seq), audit_events::prev_hash.eq(&prev), audit_events::hash.eq(&hash)))
                .execute(conn)?;
            prev = hash;
            chained += 1;
        }
    }
    set_head(conn, seq, &prev)?;
    Ok(chained)
}

/// The first place the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    /// The chain position where it breaks (the entry's, or the one expected).
    pub seq: i64,
    /// The entry found there, if any (id and time).
    pub entry: Option<(String, i64)>,
    /// What differs, for the auditor.
    pub problem: String,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainReport {
    /// Every event links to the one before it and the head matches.
    Intact {
        /// How many events the chain holds.
        count: i64,
        /// The last hash (worth keeping elsewhere as an anchor).
        head: String,
    },
    /// The first broken link, walking from the start.
    Broken(BrokenLink),
}

/// Where the chain ends, as its head row (`audit_chain`) records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// The last `seq` (0: no events yet).
    pub seq: i64,
    /// The last event's hash ([`GENESIS`] when there is none).
    pub hash: String,
}

/// The chain head now; a missing head row is `Corrupt`.
pub fn head(conn: &mut DbConn) -> Result<ChainHead, StoreError> {
    let (seq, hash) = audit_chain::table
        .find(HEAD)
        .select((audit_chain::seq, audit_chain::hash))
        .first::<(i64, String)>(conn)
        .optional()?
        .ok_or_else(|| StoreError::Corrupt("the audit chain head (table audit_chain) is missing".into()))?;
    Ok(ChainHead { seq, hash })
}

/// The oldest event outside the chain (no `seq` or no hashes), if any, as
/// stored: a row inserted around the application, which
/// [`ChainCheck::finish`] reports.
pub fn first_unchained(conn: &mut DbConn) -> Result<Option<ChainedEvent>, StoreError> {
    Ok(audit_events::table
        .filter(audit_events::seq.is_null().or(audit_events::hash.is_null()).or(audit_events::prev_hash.is_null()))
        .order((audit_events::at.asc(), audit_events::id.asc()))
        .select(ChainedEvent::as_select())
        .first(conn)
        .optional()?)
}

/// The verification of the chain, as a pure walk over the events' fields:
/// fed the events in `seq` order after the head was read, it finds the
/// first broken link. It does no I/O, so `tessera audit verify` runs the
/// very same checks on this machine ([`verify`]) and against a server's
/// management API (which serves the same fields).
#[derive(Debug, Clone)]
pub struct ChainCheck {
    head: ChainHead,
    next_seq: i64,
    prev: String,
    broken: Option<BrokenLink>,
}

impl ChainCheck {
    /// A walk that ends at `head` (read before the first event): events
    /// appended meanwhile lie beyond it and are not a break.
    pub fn new(head: ChainHead) -> ChainCheck {
        ChainCheck { head, next_seq: 1, prev: GENESIS.to_owned(), broken: None }
    }

    /// Checks the next event in `seq` order. `Break` once the walk needs
    /// no more events (a link broke, or the head is reached): the caller
    /// stops reading then.
    pub fn link(&mut self, row: &ChainedEvent) -> ControlFlow<()> {
        if self.broken.is_some() || self.next_seq > self.head.seq || row.seq.is_some_and(|s| s > self.head.seq) {
            return ControlFlow::Break(());
        }
        if let Some(problem) = check_link(row, self.next_seq, &self.prev) {
            let seq = row.seq.unwrap_or(self.next_seq);
            self.broken = Some(BrokenLink { seq, entry: Some((row.event.id.clone(), row.event.at)), problem });
            return ControlFlow::Break(());
        }
        self.prev = row.hash.clone().unwrap_or_default();
        self.next_seq += 1;
        if self.next_seq > self.head.seq { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    }

    /// The verdict once the events are read: the first broken link, else
    /// a chain that ends short of its head, else `unchained` (the oldest
    /// event outside the chain, [`first_unchained`]), else intact.
    pub fn finish(self, unchained: Option<AuditEvent>) -> ChainReport {
        if let Some(b) = self.broken {
            return ChainReport::Broken(b);
        }
        let ChainHead { seq: head_seq, hash: head_hash } = self.head;
        if self.next_seq <= head_seq || self.prev != head_hash {
            let problem = format!(
                "the chain head says {head_seq} entries ending in hash {head_hash}, but the entries end at {} \
                 (entries at the end were removed, or the head was changed)",
                self.next_seq - 1
            );
            return ChainReport::Broken(BrokenLink { seq: self.next_seq, entry: None, problem });
        }
        if let Some(e) = unchained {
            return ChainReport::Broken(BrokenLink {
                seq: head_seq + 1,
                entry: Some((e.id, e.at)),
                problem: "this entry is not in the chain (no seq or hash): it was inserted around the application"
                    .into(),
            });
        }
        ChainReport::Intact { count: head_seq, head: head_hash }
    }
}

/// Walks the whole chain in order and reports the first broken link
/// ([`ChainCheck`] over this database's events).
pub fn verify(conn: &mut DbConn) -> Result<ChainReport, StoreError> {
    let mut check = ChainCheck::new(head(conn)?);
    let mut after_seq = 0;
    'walk: loop {
        let page = chained(conn, None, None, after_seq, PAGE)?;
        let Some(last_seq) = page.last().and_then(|r| r.seq) else { break };
        after_seq = last_seq;
        for row in &page {
            if check.link(row).is_break() {
                break 'walk;
            }
        }
    }
    Ok(check.finish(first_unchained(conn)?.map(|r| r.event)))
}

/// Why `row` is not the link expected at `seq` after `prev`, if it is not.
fn check_link(row: &ChainedEvent, seq: i64, prev: &str) -> Option<String> {
    let (Some(row_seq), Some(row_prev), Some(row_hash)) = (row.seq, &row.prev_hash, &row.hash) else {
        return Some("the entry has a place in the chain but no hashes".into());
    };
    if row_seq != seq {
        return Some(format!("entry {seq} is missing (removed?): the next entry found is {row_seq}"));
    }
    if row_prev != prev {
        return Some(format!(
            "its prev_hash {row_prev} is not the hash of the entry before it ({prev}): \
             the entry before it was changed or removed"
        ));
    }
    let recomputed = entry_hash(row_prev, &row.event);
    if &recomputed != row_hash {
        return Some(format!(
            "its fields (id, at, actor, action, target, detail) hash to {recomputed}, not to its stored hash \
             {row_hash}: the entry was changed"
        ));
    }
    None
}

/// Chained events in chain order after `after_seq`, at most `limit`, with
/// `since <= at < before` where given: one page of an export.
pub fn chained(
    conn: &mut DbConn,
    since: Option<i64>,
    before: Option<i64>,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<ChainedEvent>, StoreError> {
    let mut q = audit_events::table.filter(audit_events::seq.gt(after_seq)).into_boxed();
    if let Some(s) = since {
        q = q.filter(audit_events::at.ge(s));
    }
    if let Some(b) = before {
        q = q.filter(audit_events::at.lt(b));
    }
    Ok(q.order(audit_events::seq.asc()).limit(limit).select(ChainedEvent::as_select()).load(conn)?)
}

/// Which events to list; every set field must match.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    /// The actor exactly (`admin:alice`, `cli`).
    pub actor: Option<String>,
    /// Actions starting with this (`client.` for every client change), or
    /// with any of several prefixes given comma-separated.
    pub action_prefix: Option<String>,
    /// The target id exactly.
    pub target: Option<String>,
}
/// The event with this id, with its links, if any.
pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<ChainedEvent>, StoreError> {
    Ok(audit_events::table.find(id).select(ChainedEvent::as_select()).first(conn).optional()?)
}

/// One page of a keyset listing: events matching `filter` with
/// `since <= at < until` (where given), ordered by (`at`, `id`), newest
/// first unless `oldest_first`, strictly after `after` (the (`at`, `id`) of
/// the last event of the previous page) in that order, at most `limit`.
/// Events appended between two pages do not shift the next one.
pub fn page(
    conn: &mut DbConn,
    filter: &AuditFilter,
    since: Option<i64>,
    until: Option<i64>,
    oldest_first: bool,
    after: Option<(i64, &str)>,
    limit: i64,
) -> Result<Vec<ChainedEvent>, StoreError> {
    let mut q = filtered(filter);
    if let Some(s) = since {
        q = q.filter(audit_events::at.ge(s));
    }
    if let Some(u) = until {
        q = q.filter(audit_events::at.lt(u));
    }
    match (after, oldest_first) {
        (Some((at, id)), false) => {
            q = q.filter(audit_events::at.lt(at).or(audit_events::at.eq(at).and(audit_events::id.lt(id.to_owned()))));
        }
        (Some((at, id)), true) => {
            q = q.filter(audit_events::at.gt(at).or(audit_events::at.eq(at).and(audit_events::id.gt(id.to_owned()))));
        }
        (None, _) => {}
    }
    let q = if oldest_first {
        q.order((audit_events::at.asc(), audit_events::id.asc()))
    } else {
        q.order((audit_events::at.desc(), audit_events::id.desc()))
    };
    Ok(q.limit(limit).select(ChainedEvent::as_select()).load(conn)?)
}

/// The events matching `filter`, unordered, as a boxed query.
fn filtered<'a>(filter: &AuditFilter) -> audit_events::BoxedQuery<'a, <DbConn as diesel::Connection>::Backend> {
    let mut q = audit_events::table.into_boxed();
    if let Some(a) = &filter.actor {
        q = q.filter(audit_events::actor.eq(a.clone()));
    }
    if let Some(p) = &filter.action_prefix {
        // Several prefixes, comma-separated (no action has a comma in its
        // name): an event matches any of them.
        let like = |p: &str| {
            let escaped = p.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            audit_events::action.like(format!("{escaped}%")).escape('\\')
        };
        let mut prefixes = p.split(',').map(str::trim).filter(|p| !p.is_empty());
        if let Some(first) = prefixes.next() {
            type Condition = Box<
                dyn BoxableExpression<
                        audit_events::table,
                        <DbConn as diesel::Connection>::Backend,
                        SqlType = diesel::sql_types::Bool,
                    >,
            >;
            let mut any: Condition = Box::new(like(first));
            for more in prefixes {
                any = Box::new(any.or(like(more)));
            }
            q = q.filter(any);
        }
    }
    if let Some(t) = &filter.target {
        q = q.filter(audit_events::target.eq(t.clone()));
    }
    q
}

/// The newest events matching `filter`, newest first.
pub fn recent(
    conn: &mut DbConn,
    filter: &AuditFilter,
    offset: i64,
    limit: i64,
) -> Result<Vec<ChainedEvent>, StoreError> {
    let q = filtered(filter);
    Ok(q.order((audit_events::at.desc(), audit_events::id.desc()))
        .offset(offset)
        .limit(limit)
        .select(ChainedEvent::as_select())
        .load(conn)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A well-chained run of `n` events, as the store writes them.
    fn chain(n: i64) -> Vec<ChainedEvent> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let event = AuditEvent {
                    id: format!("e{seq}"),
                    at: 100 + seq,
                    actor: "cli".into(),
                    action: "user.create".into(),
                    target: "u".into(),
                    detail: "{}".into(),
                };
                let hash = entry_hash(&prev, &event);
                let row =
                    ChainedEvent { event, seq: Some(seq), prev_hash: Some(prev.clone()), hash: Some(hash.clone()) };
                prev = hash;
                row
            })
            .collect()
    }

    fn walk(head: ChainHead, rows: &[ChainedEvent], unchained: Option<AuditEvent>) -> ChainReport {
        let mut check = ChainCheck::new(head);
        for row in rows {
            if check.link(row).is_break() {
                break;
            }
        }
        check.finish(unchained)
    }

    #[test]
    fn the_walk_ends_at_the_head_read_first_so_later_appends_are_no_break() {
        let rows = chain(5);
        let head = ChainHead { seq: 3, hash: rows[2].hash.clone().unwrap() };
        let mut check = ChainCheck::new(head.clone());
        assert!(check.link(&rows[0]).is_continue());
        assert!(check.link(&rows[1]).is_continue());
        assert!(check.link(&rows[2]).is_break(), "the head is reached: no more events needed");
        assert_eq!(check.finish(None), ChainReport::Intact { count: 3, head: head.hash });
    }

    #[test]
    fn a_changed_field_breaks_its_own_link_and_the_walk_stops_there() {
        let mut rows = chain(4);
        rows[1].event.detail = r#"{"forged":true}"#.into();
        let head = ChainHead { seq: 4, hash: rows[3].hash.clone().unwrap() };
        let ChainReport::Broken(b) = walk(head, &rows, None) else { panic!("a changed entry must break the chain") };
        assert_eq!((b.seq, b.entry), (2, Some(("e2".into(), 102))));
        assert!(b.problem.contains("the entry was changed"), "{}", b.problem);
    }

    #[test]
    fn a_gap_below_the_head_and_an_unchained_row_are_reported() {
        let rows = chain(3);
        let head = ChainHead { seq: 3, hash: rows[2].hash.clone().unwrap() };
        let ChainReport::Broken(b) = walk(head.clone(), &[rows[0].clone(), rows[2].clone()], None) else {
            panic!("a removed entry must break the chain")
        };
        assert_eq!(b.seq, 3);
        assert!(b.problem.contains("entry 2 is missing"), "{}", b.problem);
        let stray = AuditEvent {
            id: "x".into(),
            at: 1,
            actor: "cli".into(),
            action: "a".into(),
            target: "t".into(),
            detail: "{}".into(),
        };
        let ChainReport::Broken(b) = walk(head, &rows, Some(stray)) else {
            panic!("an unchained row must be reported")
        };
        assert_eq!((b.seq, b.entry), (4, Some(("x".into(), 1))));
    }
}
