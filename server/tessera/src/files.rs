//! File modes for what Tessera keeps on disk (issue #11 item 10): the data
//! directory holds the SQLite database (argon2 hashes, e-mail addresses,
//! console CSRF tokens), the master and node keys and the plugin cache, so
//! directories are 0700 and files 0600 whatever the process umask.
//!
//! Modes are set explicitly rather than by changing the umask, so they hold
//! for folders that already exist (a data directory made by an older
//! version, or by hand) and do not depend on the order in which the process
//! creates things. Files created later inherit privacy from their folder
//! being 0700; the key files and cache artefacts are created 0600 where they
//! are written (`crypto.rs`, the plugin host's cache).

use std::fs::{DirBuilder, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Creates `dir` (and missing parents) as 0700, and makes an existing `dir` 0700.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    std::fs::set_permissions(dir, Permissions::from_mode(0o700))
}

/// Prepares an SQLite database file: creates it empty as 0600 if missing
/// (SQLite then gives its `-wal` and `-shm` files the database's mode), and
/// makes existing database, WAL and shared-memory files 0600.
pub fn private_sqlite(db: &Path) -> io::Result<()> {
    if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        private_dir(parent)?;
    }
    std::fs::OpenOptions::new().write(true).create(true).truncate(false).mode(0o600).open(db)?;
    for path in sqlite_files(db) {
        match std::fs::set_permissions(&path, Permissions::from_mode(0o600)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(())
}

/// The database file and the two SQLite keeps beside it in WAL mode.
fn sqlite_files(db: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut s = db.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    [db.to_owned(), with("-wal"), with("-shm")]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn existing_open_folders_and_files_are_closed() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, Permissions::from_mode(0o755)).unwrap();
        let db = data.join("t.db");
        std::fs::write(&db, b"").unwrap();
        std::fs::write(data.join("t.db-wal"), b"").unwrap();
        std::fs::set_permissions(&db, Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(data.join("t.db-wal"), Permissions::from_mode(0o666)).unwrap();
        private_dir(&data).unwrap();
        private_sqlite(&db).unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&data.join("t.db-wal")), 0o600);
        assert!(!data.join("t.db-shm").exists(), "nothing is created beside the database");
    }

    #[test]
    fn a_new_database_is_created_private_with_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("new/sub/t.db");
        private_sqlite(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(db.parent().unwrap()), 0o700);
    }
}
