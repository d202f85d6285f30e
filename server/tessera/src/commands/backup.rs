//! `tessera backup PATH`: a consistent copy of the SQLite database, taken
//! while the server runs (`Store::backup_sqlite`, `VACUUM INTO`).
//!
//! PostgreSQL is refused: `pg_dump` (or the server's own replication and
//! base backups) does it better. The master key is not in the copy: without
//! it the signing keys in a restored database cannot be decrypted, so it is
//! backed up apart (and kept apart from the database copies).

use super::{output, redact_url};
use crate::config::Config;
use crate::files;
use anyhow::Context as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;
use tessera_store::{Backend, Store};

/// Why `tessera backup` would not start; `main` exits 2 on it, like
/// [`super::Refused`].
#[derive(Debug, thiserror::Error)]
pub enum BackupRefused {
    /// The database is PostgreSQL.
    #[error(
        "tessera backup copies the SQLite database only; back up PostgreSQL with its own tools, \
         e.g. `pg_dump --format=custom --file=tessera.dump DATABASE_URL`, and back up the master key apart"
    )]
    Postgres,
    /// There is no database file to copy.
    #[error("there is no SQLite database at {0}")]
    NoDatabase(String),
    /// The copy would overwrite a file.
    #[error("{0} already exists: a backup never overwrites a file")]
    TargetExists(String),
}

/// Writes the copy to `target` (created 0600, never overwritten). The
/// database is opened as it is: no migration, no key creation.
pub fn run(config: &Config, target: &Path, json: bool) -> anyhow::Result<()> {
    let url = config.database_url();
    let (backend, db) = Backend::of(&url);
    if backend == Backend::Postgres {
        return Err(BackupRefused::Postgres.into());
    }
    if !Path::new(&db).is_file() {
        return Err(BackupRefused::NoDatabase(db).into());
    }
    let store = Store::connect(&url, 1, Duration::from_secs(config.database.connect_timeout_secs))
        .with_context(|| format!("cannot open the database ({})", redact_url(&url)))?;
    // An empty file of our own mode: VACUUM INTO fills an empty file, and
    // the copy holds everything the database does (hashes, sealed keys).
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(target) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(BackupRefused::TargetExists(target.display().to_string()).into());
        }
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", target.display())),
    }
    if let Err(e) = store.backup_sqlite(target) {
        let _ = std::fs::remove_file(target);
        return Err(e).context("backup failed");
    }
    files::private_sqlite(target).with_context(|| format!("cannot restrict {}", target.display()))?;
    let bytes = std::fs::metadata(target).map(|m| m.len()).unwrap_or(0);
    output(
        json,
        &serde_json::json!({"path": target.display().to_string(), "bytes": bytes}),
        &format!(
            "Wrote a consistent copy of {db} to {} ({bytes} bytes). Back up the master key apart from it.",
            target.display()
        ),
    );
    Ok(())
}
