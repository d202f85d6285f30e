//! The master key and encryption at rest (AES-256-GCM).
//!
//! Private signing keys, HS256 API secrets and plugin binding secrets are
//! stored encrypted with the master key. Each ciphertext is bound to its
//! purpose through the AEAD's associated data (e.g. `signing-key:<kid>`), so a
//! row copied into another row's place does not decrypt.

use crate::clock;
use crate::config::Config;

/// The purposes a ciphertext is bound to, in one place so that no two kinds
/// of secret can ever share one (and no module has to import another's just
/// to name its purpose).
pub mod purpose {
    /// A private signing key.
    pub fn signing_key(kid: &str) -> String {
        format!("signing-key:{kid}")
    }

    /// An API's HS256 shared secret.
    pub fn hs256_secret(api_id: &str) -> String {
        format!("api-hs256:{api_id}")
    }

    /// A binding's plugin secrets.
    pub fn binding_secrets(binding_id: &str) -> String {
        format!("binding-secrets:{binding_id}")
    }

    /// An administrator's TOTP secret (console second factor).
    pub fn admin_totp(admin_id: &str) -> String {
        format!("admin-totp:{admin_id}")
    }

    /// An end user's TOTP secret (the hosted sign-in's second factor).
    pub fn user_totp(user_id: &str) -> String {
        format!("user-totp:{user_id}")
    }

    /// A passkey ceremony's state, bound to the console session (its id
    /// hash) that started it.
    pub fn admin_passkey_ceremony(session_hash: &str) -> String {
        format!("admin-passkey-ceremony:{session_hash}")
    }

    /// A DPoP server nonce (RFC 9449 §8): the time slot it was made in.
    pub fn dpop_nonce() -> String {
        "dpop-nonce".to_owned()
    }
}
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::io::Write;
use std::path::Path;
use zeroize::Zeroizing;

/// Errors of the master key and of sealed data.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The configured key is not 32 bytes of base64.
    #[error("master key is invalid: {0}")]
    BadKey(String),
    /// The key file could not be read or created.
    #[error("master key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Decryption failed: wrong master key, or the data was altered.
    #[error("encrypted data cannot be opened (wrong master key, or altered data)")]
    Open,
    /// Randomness or encryption failed.
    #[error("encryption failed")]
    Seal,
}

/// Lowercase hex sha256, as the plugin host names components (one place for
/// the management API, `apply` and the audit of refused uploads).
pub fn sha256_hex(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The node key: 32 random bytes in `<data_dir>/node.key` (mode 0600), never
/// shared between nodes. It authenticates this node's compiled plugin cache,
/// so an artefact is only ever loaded by the node that wrote it.
pub fn node_key(data_dir: &Path) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join("node.key");
    let io = |source| CryptoError::Io { path: path.display().to_string(), source };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let bytes = Zeroizing::new(STANDARD.decode(text.trim()).map_err(|e| CryptoError::BadKey(e.to_string()))?);
            let arr: [u8; 32] =
                bytes[..].try_into().map_err(|_| CryptoError::BadKey("node.key must hold 32 bytes".into()))?;
            Ok(Zeroizing::new(arr))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let bytes = Zeroizing::new(clock::random::<32>().map_err(|_| CryptoError::Seal)?);
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(io)?;
            f.write_all(STANDARD.encode(*bytes).as_bytes()).map_err(io)?;
            Ok(bytes)
        }
        Err(source) => Err(io(source)),
    }
}

/// The master key, and the keys accepted beside it during a rotation
/// (`accepted_master_keys`). Not `Clone`, not `Debug`-printable.
///
/// Only the current key seals; opening tries the current key and then each
/// accepted one. A ciphertext carries no key id: a wrong key fails the
/// AEAD's tag check, which costs about a microsecond, and the list is short
/// and empty outside a rotation.
pub struct MasterKey {
    key: LessSafeKey,
    accepted: Vec<LessSafeKey>,
}

/// Which configured key opened a sealed value ([`MasterKey::open_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenedWith {
    /// The current master key.
    Current,
    /// One of `accepted_master_keys`: the value is sealed again by
    /// `tessera master-key rewrap`.
    Accepted,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// Loads the key from config (`master_key`, then `master_key_file`), or
    /// creates `<data_dir>/master.key` with mode 0600 on first start.
    /// The keys in `accepted_master_keys` join it (see [`MasterKey`]).
    pub fn load_or_create(config: &Config) -> Result<MasterKey, CryptoError> {
        let mut master = Self::load_current(config)?;
        for (i, b64) in config.accepted_master_keys.iter().enumerate() {
            let key =
                Self::from_base64(b64).map_err(|e| CryptoError::BadKey(format!("accepted_master_keys[{i}]: {e}")))?;
            master.accepted.push(key.key);
        }
        Ok(master)
    }

    fn load_current(config: &Config) -> Result<MasterKey, CryptoError> {
        if let Some(b64) = &config.master_key {
            return Self::from_base64(b64);
        }
        let path = config.master_key_file.clone().unwrap_or_else(|| config.data_dir.join("master.key"));
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_base64(text.trim()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && config.master_key_file.is_none() => {
                Self::create(&path)
            }
            Err(source) => Err(CryptoError::Io { path: path.display().to_string(), source }),
        }
    }

    /// A fresh random key as base64, for `tessera master-key generate`.
    pub fn generate_base64() -> Result<Zeroizing<String>, CryptoError> {
        let bytes = Zeroizing::new(clock::random::<32>().map_err(|_| CryptoError::Seal)?);
        Ok(Zeroizing::new(STANDARD.encode(*bytes)))
    }

    /// How many keys besides the current one open sealed data.
    pub fn accepted_count(&self) -> usize {
        self.accepted.len()
    }

    fn create(path: &Path) -> Result<MasterKey, CryptoError> {
        use std::os::unix::fs::OpenOptionsExt;
        let bytes = Zeroizing::new(clock::random::<32>().map_err(|_| CryptoError::Seal)?);
        let io = |source| CryptoError::Io { path: path.display().to_string(), source };
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io)?;
        f.write_all(STANDARD.encode(*bytes).as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        tracing::warn!(path = %path.display(), "generated a new master key; back it up, and give every node the same key");
        Self::from_bytes(&bytes[..])
    }

    /// A key from base64 text.
    pub fn from_base64(b64: &str) -> Result<MasterKey, CryptoError> {
        let bytes = Zeroizing::new(STANDARD.decode(b64.trim()).map_err(|e| CryptoError::BadKey(e.to_string()))?);
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Result<MasterKey, CryptoError> {
        if bytes.len() != 32 {
            return Err(CryptoError::BadKey(format!("expected 32 bytes, got {}", bytes.len())));
        }
        let unbound =
            UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| CryptoError::BadKey("rejected by AES".into()))?;
        Ok(MasterKey { key: LessSafeKey::new(unbound), accepted: Vec::new() })
    }

    /// Encrypts `plain` for `purpose`: returns nonce || ciphertext || tag.
    pub fn seal(&self, purpose: &str, plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce_bytes = clock::random::<NONCE_LEN>().map_err(|_| CryptoError::Seal)?;
        let mut buf = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(purpose.as_bytes()),
                &mut buf,
            )
            .map_err(|_| CryptoError::Seal)?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Decrypts what [`MasterKey::seal`] produced for the same `purpose`,
    /// with the current key or an accepted one.
    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.open_with(purpose, sealed).map(|(plain, _)| plain)
    }

    /// [`MasterKey::open`], saying which key opened it.
    pub fn open_with(&self, purpose: &str, sealed: &[u8]) -> Result<(Zeroizing<Vec<u8>>, OpenedWith), CryptoError> {
        if let Some(plain) = open_one(&self.key, purpose, sealed) {
            return Ok((plain, OpenedWith::Current));
        }
        self.accepted
            .iter()
            .find_map(|key| open_one(key, purpose, sealed))
            .map(|plain| (plain, OpenedWith::Accepted))
            .ok_or(CryptoError::Open)
    }
}

/// Opens `sealed` (nonce || ciphertext || tag) with one key, or `None`.
fn open_one(key: &LessSafeKey, purpose: &str, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buf = Zeroizing::new(body.to_vec());
    let n = key.open_in_place(nonce, Aad::from(purpose.as_bytes()), &mut buf[..]).ok()?.len();
    buf.truncate(n);
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_lowercase_hex() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    /// docs/security-checklist.md A-12 (in part): private keys and HS256 secrets are sealed
    /// with the master key held outside the database, bound to their purpose.
    #[test]
    fn sealed_data_opens_only_for_its_purpose() {
        let k = MasterKey::from_base64(&STANDARD.encode([9u8; 32])).unwrap();
        let s = k.seal("a", b"secret").unwrap();
        assert_eq!(&k.open("a", &s).unwrap()[..], b"secret");
        assert!(k.open("b", &s).is_err());
    }

    /// docs/security-checklist.md A-12: during a rotation the accepted keys
    /// open what they sealed; only the current key seals.
    #[test]
    fn accepted_keys_open_but_never_seal() {
        let key = |current: u8, accepted: &[u8]| {
            let config = Config {
                master_key: Some(STANDARD.encode([current; 32])),
                accepted_master_keys: accepted.iter().map(|b| STANDARD.encode([*b; 32])).collect(),
                ..Config::default()
            };
            MasterKey::load_or_create(&config).unwrap()
        };
        let old = key(1, &[]).seal("p", b"old").unwrap();
        let rotated = key(2, &[1]);
        let (plain, with) = rotated.open_with("p", &old).unwrap();
        assert_eq!((&plain[..], with), (&b"old"[..], OpenedWith::Accepted));
        assert!(rotated.open_with("q", &old).is_err(), "the purpose still binds");
        let new = rotated.seal("p", b"new").unwrap();
        assert_eq!(rotated.open_with("p", &new).unwrap().1, OpenedWith::Current);
        assert!(key(1, &[]).open("p", &new).is_err(), "sealed with the current key, not the accepted one");
        assert!(key(2, &[]).open("p", &old).is_err(), "without the old key the old value stays shut");
        let bad = Config {
            master_key: Some(STANDARD.encode([2u8; 32])),
            accepted_master_keys: vec!["short".into()],
            ..Config::default()
        };
        let Err(CryptoError::BadKey(why)) = MasterKey::load_or_create(&bad) else { panic!("a bad accepted key") };
        assert!(why.starts_with("accepted_master_keys[0]"), "{why}");
    }

    #[test]
    fn generated_key_file_is_private_and_reloads() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let config = Config { data_dir: dir.path().to_owned(), ..Config::default() };
        let k1 = MasterKey::load_or_create(&config).unwrap();
        let mode = std::fs::metadata(dir.path().join("master.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let k2 = MasterKey::load_or_create(&config).unwrap();
        assert_eq!(&k2.open("p", &k1.seal("p", b"x").unwrap()).unwrap()[..], b"x");
    }

    #[test]
    fn short_key_is_rejected() {
        assert!(MasterKey::from_base64(&STANDARD.encode([1u8; 16])).is_err());
    }
}
