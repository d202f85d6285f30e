//! The keys of signed uploads: the public keys `[plugins] trusted_signers`
//! lists, their key id (a Sigstore bundle's `publicKey.hint`), and the
//! Ed25519 private-key files `tessera plugin keygen` writes and `plugin
//! sign` reads.
//!
//! A public key is a raw 32-byte Ed25519 key in base64, or a
//! SubjectPublicKeyInfo (PEM `PUBLIC KEY`, or its base64 body on one line)
//! of an ECDSA P-256 key (RFC 5480; what `cosign generate-key-pair` writes)
//! or an Ed25519 key (RFC 8410). Both SPKI forms have one DER encoding, so
//! they are recognised by their exact prefix rather than by a general
//! ASN.1 parser.

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ED25519, Ed25519KeyPair, KeyPair as _, ParsedPublicKey, UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

/// SubjectPublicKeyInfo of Ed25519 (RFC 8410 §4): the algorithm
/// 1.3.101.112 and a BIT STRING of the 32 key bytes, which follow.
const ED25519_SPKI: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// SubjectPublicKeyInfo of ECDSA P-256 (RFC 5480 §2): id-ecPublicKey,
/// the named curve secp256r1 and a BIT STRING of the 65-byte uncompressed
/// point, which follows.
const P256_SPKI: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The encodings of the eight Ed25519 points of small order, without the
/// sign bit of x (aws-lc decodes either; the two of order 4 and the four of
/// order 8 share their y in pairs): the five y of the canonical encodings
/// and the non-canonical y = p and y = p + 1 (0 and 1 again). Under such a
/// key `[S]B = R + [k]A` holds, whatever the message, for an R and S chosen
/// without the private key with a probability of at least 1/8 (always for
/// the identity, with R the identity and S = 0), and aws-lc's verification
/// does not refuse them (ed25519-dalek's `verify_strict` does): the
/// configuration must.
const SMALL_ORDER: [[u8; 32]; 7] = [
    // y = 0: order 4
    [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ],
    // y = 1: the identity, order 1
    [
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ],
    // order 8
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf,
        0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05,
    ],
    // order 8
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20,
        0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a,
    ],
    // y = p - 1: order 2
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
    ],
    // y = p, non-canonical 0: order 4
    [
        0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
    ],
    // y = p + 1, non-canonical 1: order 1
    [
        0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
    ],
];

/// Whether `key` encodes a point of small order ([`SMALL_ORDER`]).
fn small_order(key: &[u8; 32]) -> bool {
    let mut unsigned = *key;
    unsigned[31] &= 0x7f;
    SMALL_ORDER.contains(&unsigned)
}

/// A trusted public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// Ed25519: detached signatures are over the sha256 digest, bundle
    /// signatures over the component (pure Ed25519).
    Ed25519([u8; 32]),
    /// ECDSA P-256 with SHA-256 and ASN.1 DER signatures, over the component
    /// in both forms (as cosign signs); the 65-byte uncompressed point.
    EcdsaP256([u8; 65]),
}

/// Why a configured public key cannot be used; completes "the public_key
/// of NAME …" and never echoes the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PublicKeyRefused {
    /// Neither PEM nor base64.
    #[error(
        "is not base64 (give the raw Ed25519 key `tessera plugin keygen` prints) nor PEM (`-----BEGIN PUBLIC KEY-----`)"
    )]
    NotBase64,
    /// Base64 of something that is no key we read.
    #[error(
        "is neither a raw Ed25519 public key (32 bytes in base64, as `tessera plugin keygen` prints it) nor a SubjectPublicKeyInfo of an ECDSA P-256 or Ed25519 key"
    )]
    Unrecognised,
    /// PEM of something else than a `PUBLIC KEY`.
    #[error("is PEM but not a `PUBLIC KEY` (give the public key, as cosign.pub holds it)")]
    NotPublicKey,
    /// A `PUBLIC KEY` of an unsupported algorithm or curve.
    #[error("is a public key of another type: only ECDSA P-256 (cosign's default) and Ed25519 are supported")]
    Unsupported,
    /// A P-256 point that is not on the curve.
    #[error("is not a valid ECDSA P-256 public key")]
    InvalidPoint,
    /// PEM followed by more than whitespace: a second block or junk, which
    /// would otherwise be ignored.
    #[error("has text after its PEM block (a second key or junk): give one key per signer")]
    TrailingText,
    /// An Ed25519 point of small order (such as 32 zero bytes): a
    /// signature verifies under it whoever made it.
    #[error("is an Ed25519 key of small order (a placeholder such as 32 zero bytes?), under which anyone can sign")]
    SmallOrder,
}

impl PublicKey {
    /// Reads a configured key: PEM `PUBLIC KEY` (one block, nothing but
    /// whitespace after it), or base64 of either 32 raw Ed25519 bytes or a
    /// SubjectPublicKeyInfo. A P-256 point is checked
    /// and an Ed25519 key of small order refused here, so a bad key fails
    /// the configuration at load, not an upload.
    pub fn parse(text: &str) -> Result<PublicKey, PublicKeyRefused> {
        let text = text.trim();
        if text.starts_with("-----BEGIN") {
            let pem = pem::parse(text).map_err(|_| PublicKeyRefused::NotPublicKey)?;
            if pem.tag() != "PUBLIC KEY" {
                return Err(PublicKeyRefused::NotPublicKey);
            }
            // `pem::parse` reads the first block and ignores what follows:
            // the (trimmed) text must end with that block's END line.
            let end = text.find("-----END ").and_then(|at| text[at + 9..].find("-----").map(|e| at + 9 + e + 5));
            if end != Some(text.len()) {
                return Err(PublicKeyRefused::TrailingText);
            }
            return Self::from_spki(pem.contents())?.ok_or(PublicKeyRefused::Unsupported);
        }
        let bytes = STANDARD.decode(text).map_err(|_| PublicKeyRefused::NotBase64)?;
        if let Ok(raw) = <[u8; 32]>::try_from(bytes.as_slice()) {
            return Self::ed25519(raw);
        }
        Self::from_spki(&bytes)?.ok_or(PublicKeyRefused::Unrecognised)
    }

    /// A DER SubjectPublicKeyInfo of one of the two supported types;
    /// `None` for anything else.
    fn from_spki(der: &[u8]) -> Result<Option<PublicKey>, PublicKeyRefused> {
        if let Some(key) = der.strip_prefix(&ED25519_SPKI).and_then(|k| <[u8; 32]>::try_from(k).ok()) {
            return Self::ed25519(key).map(Some);
        }
        if let Some(point) = der.strip_prefix(&P256_SPKI).and_then(|k| <[u8; 65]>::try_from(k).ok()) {
            ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point).map_err(|_| PublicKeyRefused::InvalidPoint)?;
            return Ok(Some(PublicKey::EcdsaP256(point)));
        }
        Ok(None)
    }

    /// An Ed25519 key, unless it is of small order ([`SMALL_ORDER`]).
    fn ed25519(key: [u8; 32]) -> Result<PublicKey, PublicKeyRefused> {
        if small_order(&key) {
            return Err(PublicKeyRefused::SmallOrder);
        }
        Ok(PublicKey::Ed25519(key))
    }

    /// The key's DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        match self {
            PublicKey::Ed25519(k) => [&ED25519_SPKI[..], k].concat(),
            PublicKey::EcdsaP256(p) => [&P256_SPKI[..], p].concat(),
        }
    }

    /// The key id: standard base64 of the sha256 of the DER
    /// SubjectPublicKeyInfo, the `publicKey.hint` Sigstore clients (cosign,
    /// sigstore-go) write into a key-signed bundle and the one
    /// `tessera plugin sign --bundle` writes.
    pub fn key_id(&self) -> String {
        STANDARD.encode(digest(&SHA256, &self.spki_der()))
    }

    /// The key as PEM `PUBLIC KEY` (what cosign reads with `--key`).
    pub fn pem(&self) -> String {
        let lf = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
        pem::encode_config(&pem::Pem::new("PUBLIC KEY", self.spki_der()), lf)
    }

    /// The key in the configuration's shortest form: an Ed25519 key's 32
    /// raw bytes in base64 (what `plugin keygen` prints), a P-256 key's PEM.
    pub fn config_text(&self) -> String {
        match self {
            PublicKey::Ed25519(k) => STANDARD.encode(k),
            PublicKey::EcdsaP256(_) => self.pem(),
        }
    }

    /// Verifies a signature over `message`: pure Ed25519, or ECDSA P-256
    /// with SHA-256 over `message` and an ASN.1 DER signature.
    pub(super) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            PublicKey::Ed25519(k) => UnparsedPublicKey::new(&ED25519, k).verify(message, signature).is_ok(),
            PublicKey::EcdsaP256(p) => {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, p).verify(message, signature).is_ok()
            }
        }
    }

    /// Verifies a detached signature of `wasm`: an Ed25519 key signs the 32
    /// raw bytes of its sha256 (`sha256`), a P-256 key the component itself.
    pub(super) fn verifies_detached(&self, wasm: &[u8], sha256: &[u8], signature: &[u8]) -> bool {
        match self {
            PublicKey::Ed25519(_) => self.verifies(sha256, signature),
            PublicKey::EcdsaP256(_) => self.verifies(wasm, signature),
        }
    }
}

/// Why a configured signer or a key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A `trusted_signers` entry is unusable; the message names it.
    #[error("plugins.trusted_signers: {0}")]
    Signer(String),
    /// A private-key file is not a PKCS#8 Ed25519 key.
    #[error("not a PKCS#8 Ed25519 private key (PEM `BEGIN PRIVATE KEY` or DER)")]
    PrivateKey,
    /// The system could not generate a key.
    #[error("cannot generate an Ed25519 key")]
    Generate,
}

/// A new Ed25519 private key as PKCS#8 PEM, and its public key in the
/// configuration's format.
pub fn generate() -> Result<(Zeroizing<String>, String), KeyError> {
    let kp = Ed25519KeyPair::generate().map_err(|_| KeyError::Generate)?;
    let der = kp.to_pkcs8v1().map_err(|_| KeyError::Generate)?;
    let lf = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    let pem = Zeroizing::new(pem::encode_config(&pem::Pem::new("PRIVATE KEY", der.as_ref()), lf));
    Ok((pem, STANDARD.encode(kp.public_key().as_ref())))
}

/// An Ed25519 private key read from a key file, for `tessera plugin sign`.
pub struct SigningKey(Ed25519KeyPair);

impl SigningKey {
    /// Reads a private-key file's bytes: PKCS#8 (v1 or v2), PEM (`BEGIN
    /// PRIVATE KEY`) or DER.
    pub fn read(file: &[u8]) -> Result<SigningKey, KeyError> {
        let der = match pem::parse(file) {
            Ok(p) if p.tag() == "PRIVATE KEY" => Zeroizing::new(p.into_contents()),
            Ok(_) => return Err(KeyError::PrivateKey),
            // Not PEM: DER as it is.
            Err(_) => Zeroizing::new(file.to_vec()),
        };
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map(SigningKey).map_err(|_| KeyError::PrivateKey)
    }

    /// Its public key.
    pub fn public_key(&self) -> PublicKey {
        let mut k = [0u8; 32];
        k.copy_from_slice(self.0.public_key().as_ref());
        PublicKey::Ed25519(k)
    }

    /// The detached signature of `wasm` (over its sha256), in base64: the
    /// content of the `.sig` file.
    pub fn detached_signature(&self, wasm: &[u8]) -> String {
        STANDARD.encode(self.sign_raw(digest(&SHA256, wasm).as_ref()))
    }

    /// Signs `message` as it is (pure Ed25519).
    pub(super) fn sign_raw(&self, message: &[u8]) -> Vec<u8> {
        self.0.sign(message).as_ref().to_vec()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(super) mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};

    /// A new P-256 key pair and its public key as PEM (a cosign.pub).
    pub fn p256() -> (EcdsaKeyPair, String) {
        let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        let mut point = [0u8; 65];
        point.copy_from_slice(kp.public_key().as_ref());
        (kp, PublicKey::EcdsaP256(point).pem())
    }

    /// An ECDSA P-256 SHA-256 ASN.1 signature of `message`.
    pub fn p256_sign(kp: &EcdsaKeyPair, message: &[u8]) -> Vec<u8> {
        kp.sign(&SystemRandom::new(), message).unwrap().as_ref().to_vec()
    }

    #[test]
    fn pem_and_base64_spki_keys_of_both_types_are_read() {
        let (kp, pem) = p256();
        let key = PublicKey::parse(&pem).unwrap();
        assert!(matches!(key, PublicKey::EcdsaP256(p) if p[..] == *kp.public_key().as_ref()));
        // The PEM body on one line reads the same.
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert_eq!(PublicKey::parse(&body).unwrap(), key);
        assert!(key.verifies(b"artefact", &p256_sign(&kp, b"artefact")));
        assert!(!key.verifies(b"artefact!", &p256_sign(&kp, b"artefact")));

        let (private, raw) = generate().unwrap();
        let ed = SigningKey::read(private.as_bytes()).unwrap().public_key();
        assert_eq!(PublicKey::parse(&raw).unwrap(), ed);
        assert_eq!(PublicKey::parse(&ed.pem()).unwrap(), ed);
        assert_eq!(ed.config_text(), raw);
    }

    #[test]
    fn an_openssl_ed25519_spki_is_read() {
        // `openssl pkey -pubout` of an Ed25519 key (RFC 8410 §10.1's example key).
        let pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
        let key = PublicKey::parse(pem).unwrap();
        assert_eq!(
            key.spki_der(),
            STANDARD.decode("MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=").unwrap()
        );
    }

    #[test]
    fn other_key_types_and_bad_points_are_refused() {
        // P-384 (secp384r1): cosign can make one, this server does not read it.
        let p384 = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEdu38j9nVwQN3Os83nazcQl/uP1iw9dzR
i/gSd6YSK5Q6Ry4gMl6dmGT5/ugHouP17XY7wR/UwOOZKMuaVPWQRgkYu/fYsZHc
x4E/Je2zZAfAAi7SBatieGiyXSoeZ+I5
-----END PUBLIC KEY-----";
        assert_eq!(PublicKey::parse(p384), Err(PublicKeyRefused::Unsupported));
        let private = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----";
        assert_eq!(PublicKey::parse(private), Err(PublicKeyRefused::NotPublicKey));
        let (_, pem) = p256();
        let mut der = PublicKey::parse(&pem).unwrap().spki_der();
        der[40] ^= 1; // the point leaves the curve
        assert_eq!(PublicKey::parse(&STANDARD.encode(&der)), Err(PublicKeyRefused::InvalidPoint));
        assert_eq!(PublicKey::parse(&STANDARD.encode([1u8; 10])), Err(PublicKeyRefused::Unrecognised));
        assert_eq!(PublicKey::parse("%%%"), Err(PublicKeyRefused::NotBase64));
    }

    #[test]
    fn small_order_ed25519_keys_under_which_anyone_signs_are_refused() {
        // The identity point: R = the identity and S = 0 make a signature
        // that verifies over any message under it, so such a key would
        // accept forgeries of every upload.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let forged = [&identity[..], &[0u8; 32]].concat();
        assert!(PublicKey::Ed25519(identity).verifies(b"any component", &forged), "why the check exists");
        assert_eq!(PublicKey::parse(&STANDARD.encode(identity)), Err(PublicKeyRefused::SmallOrder));
        // Each of the eight points of small order, with either sign bit and
        // the non-canonical encodings of 0 and 1, raw or as SPKI.
        let mut weak = 0;
        for encoded in SMALL_ORDER {
            for sign in [0x00, 0x80] {
                let mut k = encoded;
                k[31] |= sign;
                assert_eq!(PublicKey::parse(&STANDARD.encode(k)), Err(PublicKeyRefused::SmallOrder), "{k:02x?}");
                let spki = STANDARD.encode([&ED25519_SPKI[..], &k].concat());
                assert_eq!(PublicKey::parse(&spki), Err(PublicKeyRefused::SmallOrder), "{k:02x?}");
                weak += 1;
            }
        }
        assert_eq!(weak, 14);
        // An ordinary key still reads.
        let (_, ordinary) = generate().unwrap();
        assert!(matches!(PublicKey::parse(&ordinary), Ok(PublicKey::Ed25519(_))));
    }

    #[test]
    fn a_pem_key_followed_by_anything_but_whitespace_is_refused() {
        let (_, pem) = p256();
        let (_, second) = p256();
        let key = PublicKey::parse(&pem).unwrap();
        assert_eq!(PublicKey::parse(&format!("\n{pem}\n\r\n  \n")), Ok(key));
        // A second block or junk after the first was silently ignored: the
        // configuration would not say what it trusts.
        for tail in
            [format!("\n{second}"), "junk".to_owned(), "\n-----END PUBLIC KEY-----".to_owned(), "x\n".to_owned()]
        {
            assert_eq!(PublicKey::parse(&format!("{pem}{tail}")), Err(PublicKeyRefused::TrailingText), "{tail:?}");
        }
    }

    #[test]
    fn the_key_id_is_base64_of_the_sha256_of_the_spki() {
        // The key and hint of sigstore-conformance's managed-key bundle (tests/fixtures/sigstore).
        let pem = include_str!("../../../../tests/fixtures/sigstore/cosign.pub");
        assert_eq!(PublicKey::parse(pem).unwrap().key_id(), "TLMsSDfG3ajPsWge+z/vX5T/zluXnmvbkTkwLIV68Tk=");
    }

    #[test]
    fn der_private_keys_are_read_too() {
        let (pem, public) = generate().unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = STANDARD.decode(body).unwrap();
        assert_eq!(SigningKey::read(&der).unwrap().public_key().config_text(), public);
        assert!(matches!(SigningKey::read(b"garbage"), Err(KeyError::PrivateKey)));
    }
}
