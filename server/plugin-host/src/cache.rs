//! The on-disk compile cache: `<sha256>-<engine>.cwasm` plus a `.mac` file
//! holding HMAC-SHA256 (node key) over the artefact, its sha256 and the
//! engine fingerprint.
//!
//! Deserializing a `.cwasm` is `unsafe`: the bytes become executable code.
//! So an artefact is handed out only if its MAC verifies, which proves this
//! node wrote it for this very plugin and engine; anything else (missing MAC,
//! wrong key, flipped byte, a valid pair copied under another plugin's name)
//! is deleted and the plugin recompiled.

use std::fs::DirBuilder;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::HostError;

type HmacSha256 = Hmac<Sha256>;

/// Domain separation for the MAC input, versioned with the file layout.
const MAC_CONTEXT: &[u8] = b"tessera-plugin-cwasm-v1\0";

/// A directory of authenticated compiled artefacts for one engine.
pub(crate) struct DiskCache {
    dir: PathBuf,
    fingerprint: String,
    key: [u8; 32],
}

impl DiskCache {
    /// Opens (creating, mode 0700) the cache directory.
    pub(crate) fn open(dir: &Path, fingerprint: String, key: [u8; 32]) -> Result<Self, HostError> {
        DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| HostError::io(dir, &e))?;
        Ok(Self { dir: dir.to_owned(), fingerprint, key })
    }

    fn artefact_path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.fingerprint))
    }

    fn mac_path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm.mac", self.fingerprint))
    }

    fn mac(&self, sha256: &str, bytes: &[u8]) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail; the fallback
        // keeps the no-panic rule without a reachable error path.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()));
        mac.update(MAC_CONTEXT);
        mac.update(sha256.as_bytes());
        mac.update(b"\0");
        mac.update(self.fingerprint.as_bytes());
        mac.update(b"\0");
        mac.update(bytes);
        mac
    }

    /// The artefact for `sha256` if present and authentic. A present but
    /// unauthentic pair is deleted and reported as `Rejected`.
    pub(crate) fn load(&self, sha256: &str) -> Lookup {
        let Ok(tag_hex) = std::fs::read_to_string(self.mac_path(sha256)) else {
            return Lookup::Missing;
        };
        let Ok(bytes) = std::fs::read(self.artefact_path(sha256)) else {
            return Lookup::Missing;
        };
        let authentic =
            hex::decode(tag_hex.trim()).is_ok_and(|tag| self.mac(sha256, &bytes).verify_slice(&tag).is_ok());
        if authentic {
            Lookup::Hit(bytes)
        } else {
            tracing::warn!(sha256, "cached plugin artefact failed authentication; recompiling");
            self.remove(sha256);
            Lookup::Rejected
        }
    }

    /// Writes the artefact, then its MAC, each atomically (temp file + rename),
    /// so a reader never sees a MAC for a half-written artefact.
    pub(crate) fn store(&self, sha256: &str, bytes: &[u8]) -> std::io::Result<()> {
        let tag = hex::encode(self.mac(sha256, bytes).finalize().into_bytes());
        self.write_atomic(&self.artefact_path(sha256), bytes)?;
        self.write_atomic(&self.mac_path(sha256), tag.as_bytes())
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(&self.dir)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }

    /// Deletes both files; missing files are fine.
    pub(crate) fn remove(&self, sha256: &str) {
        let _ = std::fs::remove_file(self.mac_path(sha256));
        let _ = std::fs::remove_file(self.artefact_path(sha256));
    }

    #[cfg(test)]
    pub(crate) fn paths(&self, sha256: &str) -> (PathBuf, PathBuf) {
        (self.artefact_path(sha256), self.mac_path(sha256))
    }
}

/// Result of a cache lookup.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Authentic artefact bytes, safe to deserialize.
    Hit(Vec<u8>),
    /// Nothing cached.
    Missing,
    /// Something was cached but failed authentication and was deleted.
    Rejected,
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn cache(dir: &Path, key: u8) -> DiskCache {
        DiskCache::open(dir, "f".repeat(64), [key; 32]).unwrap()
    }

    #[test]
    fn stored_artefact_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path(), 1);
        assert_eq!(c.load(A), Lookup::Missing);
        c.store(A, b"code").unwrap();
        assert_eq!(c.load(A), Lookup::Hit(b"code".to_vec()));
    }

    #[test]
    fn flipped_byte_is_rejected_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path(), 1);
        c.store(A, b"code").unwrap();
        let (art, mac) = c.paths(A);
        std::fs::write(&art, b"codf").unwrap();
        assert_eq!(c.load(A), Lookup::Rejected);
        assert!(!art.exists() && !mac.exists());
    }

    #[test]
    fn another_nodes_key_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        cache(dir.path(), 1).store(A, b"code").unwrap();
        assert_eq!(cache(dir.path(), 2).load(A), Lookup::Rejected);
    }

    #[test]
    fn missing_or_garbled_mac_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path(), 1);
        c.store(A, b"code").unwrap();
        let (_, mac) = c.paths(A);
        std::fs::remove_file(&mac).unwrap();
        assert_eq!(c.load(A), Lookup::Missing);
        c.store(A, b"code").unwrap();
        std::fs::write(&mac, "not hex").unwrap();
        assert_eq!(c.load(A), Lookup::Rejected);
    }

    #[test]
    fn a_valid_pair_copied_under_another_name_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path(), 1);
        c.store(A, b"code").unwrap();
        let (a_art, a_mac) = c.paths(A);
        let (b_art, b_mac) = c.paths(B);
        std::fs::copy(a_art, b_art).unwrap();
        std::fs::copy(a_mac, b_mac).unwrap();
        assert_eq!(c.load(B), Lookup::Rejected);
    }

    #[test]
    fn cache_dir_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("cache");
        cache(&sub, 1);
        let mode = std::fs::metadata(&sub).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
