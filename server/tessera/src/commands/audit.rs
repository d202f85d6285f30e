//! `audit verify` and `audit export`: read the audit log's hash chain
//! (server/store/src/audit.rs documents it) for an auditor. Both only read.
//! `export` is written against [`Backend`] (with `--server` it pages
//! `/api/v1/audit-events`, whose events carry no chain links); `verify`
//! walks the chain in this machine's database.

use super::Context;
use super::backend::{Backend, rfc3339};
use crate::cli::AuditExportArgs;
use anyhow::{Context as _, bail};
use serde_json::json;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use tessera_store::audit::{self, ChainReport};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Prints the verdict; a broken chain is an error (exit status 1) after the
/// report is printed on standard output.
pub fn verify(ctx: &Context, json_flag: bool) -> anyhow::Result<()> {
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

/// Writes the events in range as JSON lines, oldest first, each with the
/// fields its hash covers (`detail` as the stored text) and, on this
/// machine, its place in the chain and both hashes.
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
    b.audit_events(since, before, &mut |line| writeln!(out, "{line}").context("cannot write the export"))?;
    out.flush().context("cannot write the export")?;
    Ok(())
}
