//! `audit verify` and `audit export`: read the audit log's hash chain
//! (server/store/src/audit.rs documents it) for an auditor. Both only read.

use super::Context;
use crate::cli::{AuditCommand, AuditExportArgs};
use anyhow::{Context as _, bail};
use serde_json::json;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use tessera_store::audit::{self, ChainReport};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// How many events one read of the export loads.
const PAGE: i64 = 1000;

/// `tessera audit ...`
pub fn audit(ctx: &Context, cmd: AuditCommand) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Verify { json } => verify(ctx, json),
        AuditCommand::Export(args) => export(ctx, args),
    }
}

/// Unix seconds as RFC 3339, or the number itself if out of range.
fn rfc3339(at: i64) -> String {
    OffsetDateTime::from_unix_timestamp(at).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_else(|| at.to_string())
}

/// Prints the verdict; a broken chain is an error (exit status 1) after the
/// report is printed on standard output.
fn verify(ctx: &Context, json_flag: bool) -> anyhow::Result<()> {
    let report = audit::verify(&mut *ctx.store.conn()?).context("cannot read the audit log")?;
    match report {
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

/// Writes the events in range as JSON lines, in chain order, each with the
/// fields its hash covers (`detail` as the stored text) and both hashes.
fn export(ctx: &Context, args: AuditExportArgs) -> anyhow::Result<()> {
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
    let mut conn = ctx.store.conn()?;
    let mut after_seq = 0;
    loop {
        let page = audit::chained(&mut conn, since, before, after_seq, PAGE).context("cannot read the audit log")?;
        let Some(last) = page.last() else { break };
        after_seq = last.seq.unwrap_or(after_seq);
        for row in page {
            let e = row.event;
            let line = json!({
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
            });
            writeln!(out, "{line}").context("cannot write the export")?;
        }
    }
    out.flush().context("cannot write the export")?;
    Ok(())
}
