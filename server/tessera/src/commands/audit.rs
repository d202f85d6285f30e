//! `audit verify` and `audit export`: read the audit log's hash chain
//! (server/store/src/audit.rs documents it) for an auditor. Both only read,
//! and both are written against [`Backend`]: on this machine they read the
//! database, with `--server` they page `/api/v1/audit-events?order=chain`
//! (after `/api/v1/audit-chain`, the head). Either way `verify` runs the
//! same [`ChainCheck`] on the events here, and `export` writes the same
//! lines.

use super::backend::{Backend, rfc3339};
use crate::cli::AuditExportArgs;
use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use std::io::Write;
use std::ops::ControlFlow;
use std::os::unix::fs::OpenOptionsExt;
use tessera_store::audit::{ChainCheck, ChainReport, ChainedEvent};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Walks the chain from the start to the head read first and prints the
/// verdict; a broken chain is an error (exit status 1) after the report is
/// printed on standard output.
pub fn verify(b: &dyn Backend, json_flag: bool) -> anyhow::Result<()> {
    let (head, unchained) = b.audit_head().context("cannot read the audit log")?;
    let mut check = ChainCheck::new(head);
    b.audit_chain(None, None, &mut |row| Ok(check.link(&row))).context("cannot read the audit log")?;
    match check.finish(unchained) {
        ChainReport::Intact { count, head } => {
            super::output(
                json_flag,
                &json!({"ok": true, "count": count, "head": head}),
                &format!("audit log OK: {count} entries chained, head {head}"),
            );
            Ok(())
        }
        ChainReport::Broken(b) => {
            let (id, at) = b.entry.unzip();
            let time = at.map(rfc3339);
            let place = match (&id, &time) {
                (Some(id), Some(time)) => format!("entry {} (id {id}, {time})", b.seq),
                _ => format!("entry {}", b.seq),
            };
            super::output(
                json_flag,
                &json!({"ok": false, "seq": b.seq, "id": id, "at": at, "time": time, "problem": b.problem}),
                &format!("audit log BROKEN at {place}: {}", b.problem),
            );
            bail!("the audit log's hash chain is broken at entry {}", b.seq)
        }
    }
}

/// An event as `audit export` prints it: its place in the chain, the
/// fields its hash covers (`detail` as the stored text), its time in RFC
/// 3339, and both hashes.
fn export_line(row: &ChainedEvent) -> Value {
    let e = &row.event;
    json!({
        "seq": row.seq,
        "id": e.id,
        "at": e.at,
        "time": rfc3339(e.at),
        "actor": e.actor,
        "action": e.action,
        "target": e.target,
        "detail": e.detail,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    })
}

/// A `--since`/`--until` value as Unix seconds: the first second it covers,
/// and the first second after it (a UTC day covers the whole day).
fn parse_date(flag: &str, s: &str) -> anyhow::Result<(i64, i64)> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        let secs = t.unix_timestamp();
        let first = if t.nanosecond() > 0 { secs + 1 } else { secs };
        return Ok((first, secs + 1));
    }
    let day = time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .with_context(|| format!("{flag} {s:?} is neither RFC 3339 (2026-11-30T08:00:00Z) nor a day (2026-11-30)"))?;
    let start = day.midnight().assume_utc().unix_timestamp();
    Ok((start, start + 86_400))
}

/// Writes the chained events in range as JSON lines in chain order
/// ([`export_line`]), the same from this machine and from a server.
pub fn export(b: &dyn Backend, args: AuditExportArgs) -> anyhow::Result<()> {
    let since = args.since.as_deref().map(|s| parse_date("--since", s)).transpose()?.map(|(first, _)| first);
    let before = args.until.as_deref().map(|s| parse_date("--until", s)).transpose()?.map(|(_, after)| after);
    let sink: Box<dyn Write> = match &args.out {
        // 0600: the log names administrators and their addresses.
        Some(path) => Box::new(
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::new(sink);
    b.audit_chain(since, before, &mut |row| {
        writeln!(out, "{}", export_line(&row)).context("cannot write the export")?;
        Ok(ControlFlow::Continue(()))
    })?;
    out.flush().context("cannot write the export")?;
    Ok(())
}
