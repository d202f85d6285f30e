//! Signed plugin uploads (issue #17 item 3): Ed25519 signatures over a
//! component's sha256 digest, the trusted signers of `[plugins]`, and the
//! private-key files `tessera plugin keygen` writes and `plugin sign` reads.
//!
//! The format, kept stable because CI pipelines produce it:
//! - the signed message is the **32 raw bytes** of the component's sha256
//!   digest (not its hex text), so `openssl dgst -sha256 -binary` followed
//!   by `openssl pkeyutl -sign -rawin` makes the same signature;
//! - a signature file holds the 64-byte Ed25519 signature in standard base64
//!   (surrounding whitespace ignored);
//! - a trusted public key is the 32-byte raw Ed25519 public key in standard
//!   base64, what `plugin keygen` prints;
//! - a private key is PKCS#8 (v1 or v2), PEM (`BEGIN PRIVATE KEY`) or DER.
//!
//! Sigstore bundles are not supported.

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// A trusted signer as written in the configuration:
/// `{ name = "ci", public_key = "<base64 of the 32-byte Ed25519 public key>" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerConfig {
    /// The name recorded as `signed_by` on the versions this key signs.
    pub name: String,
    /// The public key, standard base64 of its 32 raw bytes.
    pub public_key: String,
}

/// A trusted signer whose key parsed: what uploads are checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedSigner {
    /// Its configured name.
    pub name: String,
    key: [u8; 32],
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

impl TrustedSigner {
    /// Parses one configured signer: a non-empty name and a base64 key of
    /// exactly 32 bytes. Nothing of the key is echoed in the error.
    pub fn parse(c: &SignerConfig) -> Result<TrustedSigner, KeyError> {
        if c.name.trim().is_empty() || c.name.len() > 100 {
            return Err(KeyError::Signer("every signer needs a name of 1 to 100 characters".into()));
        }
        let bytes = STANDARD
            .decode(c.public_key.trim())
            .map_err(|_| KeyError::Signer(format!("the public_key of {:?} is not base64", c.name)))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            KeyError::Signer(format!(
                "the public_key of {:?} is not 32 bytes: give the raw Ed25519 public key in base64, as `tessera plugin keygen` prints it",
                c.name
            ))
        })?;
        Ok(TrustedSigner { name: c.name.clone(), key })
    }
}

/// The upload policy: whether a signature is required, and whose count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignaturePolicy {
    /// Refuse uploads that carry no signature.
    pub required: bool,
    /// The keys a signature may be made with, in configuration order.
    pub signers: Vec<TrustedSigner>,
}

impl SignaturePolicy {
    /// Builds the policy from the configuration; every signer must parse,
    /// names must be unique (the name is what the version records), and a
    /// policy that requires signatures must trust at least one key (or no
    /// upload could ever pass).
    pub fn new(required: bool, signers: &[SignerConfig]) -> Result<SignaturePolicy, KeyError> {
        if required && signers.is_empty() {
            return Err(KeyError::Signer(
                "require_signatures is on but no signer is trusted: add one (`tessera plugin keygen` prints its public key)"
                    .into(),
            ));
        }
        let signers = signers.iter().map(TrustedSigner::parse).collect::<Result<Vec<_>, _>>()?;
        for (i, s) in signers.iter().enumerate() {
            if signers[..i].iter().any(|o| o.name == s.name) {
                return Err(KeyError::Signer(format!("the name {:?} is used twice", s.name)));
            }
        }
        Ok(SignaturePolicy { required, signers })
    }

    /// Checks an upload: with a signature, it must verify under one of the
    /// trusted keys over `wasm`'s sha256 (whatever `required` says), and the
    /// signer's name is returned; without one, the upload passes unsigned
    /// unless signatures are required.
    pub fn check(&self, wasm: &[u8], signature: Option<&str>) -> Result<Option<String>, SignatureRefused> {
        let Some(text) = signature else {
            return if self.required { Err(SignatureRefused::Missing) } else { Ok(None) };
        };
        let sig = STANDARD.decode(text.trim()).map_err(|_| SignatureRefused::Malformed)?;
        if sig.len() != 64 {
            return Err(SignatureRefused::Malformed);
        }
        let message = digest(&SHA256, wasm);
        self.signers
            .iter()
            .find(|s| UnparsedPublicKey::new(&ED25519, s.key).verify(message.as_ref(), &sig).is_ok())
            .map(|s| Some(s.name.clone()))
            .ok_or_else(|| SignatureRefused::Untrusted { tried: self.signers.iter().map(|s| s.name.clone()).collect() })
    }
}

/// Why an upload's signature was refused; the text is what the uploader sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureRefused {
    /// `require_signatures` is on and the upload carries none.
    #[error(
        "this server requires signed plugins; sign with `tessera plugin sign FILE --key KEYFILE` and upload with --signature FILE.sig (a key its [plugins] trusted_signers lists)"
    )]
    Missing,
    /// The signature file is not base64 of 64 bytes.
    #[error("the signature is not an Ed25519 signature in base64 (64 bytes), as `tessera plugin sign` writes it")]
    Malformed,
    /// No trusted key verifies the signature over this component's sha256.
    #[error("{}", untrusted_message(.tried))]
    Untrusted {
        /// The names of the keys tried.
        tried: Vec<String>,
    },
}

fn untrusted_message(tried: &[String]) -> String {
    if tried.is_empty() {
        return "the signature cannot be checked: this server trusts no signer ([plugins] trusted_signers is empty)"
            .into();
    }
    format!(
        "the signature does not verify for this component with any trusted key (tried: {}); it was made with another key, or over another file",
        tried.join(", ")
    )
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

/// Reads a private-key file's bytes: PKCS#8 PEM or DER.
fn key_pair(file: &[u8]) -> Result<Ed25519KeyPair, KeyError> {
    let der = match pem::parse(file) {
        Ok(p) if p.tag() == "PRIVATE KEY" => Zeroizing::new(p.into_contents()),
        Ok(_) => return Err(KeyError::PrivateKey),
        // Not PEM: DER as it is.
        Err(_) => Zeroizing::new(file.to_vec()),
    };
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(|_| KeyError::PrivateKey)
}

/// Signs `wasm` (its sha256) with the private key in `key_file`; returns
/// the signature in base64, the signature file's content.
pub fn sign(key_file: &[u8], wasm: &[u8]) -> Result<String, KeyError> {
    let kp = key_pair(key_file)?;
    Ok(STANDARD.encode(kp.sign(digest(&SHA256, wasm).as_ref()).as_ref()))
}

/// The public key of the private key in `key_file`, in the configuration's format.
pub fn public_key(key_file: &[u8]) -> Result<String, KeyError> {
    Ok(STANDARD.encode(key_pair(key_file)?.public_key().as_ref()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn policy(required: bool, keys: &[(&str, &str)]) -> SignaturePolicy {
        let c: Vec<SignerConfig> =
            keys.iter().map(|(n, k)| SignerConfig { name: (*n).into(), public_key: (*k).into() }).collect();
        SignaturePolicy::new(required, &c).unwrap()
    }

    #[test]
    fn a_signature_by_a_trusted_key_names_its_signer() {
        let (pem, public) = generate().unwrap();
        let (_, other) = generate().unwrap();
        let sig = sign(pem.as_bytes(), b"component").unwrap();
        let p = policy(true, &[("other", &other), ("ci", &public)]);
        assert_eq!(p.check(b"component", Some(&format!("{sig}\n"))), Ok(Some("ci".into())));
        assert_eq!(public_key(pem.as_bytes()).unwrap(), public);
    }

    #[test]
    fn a_signature_over_another_component_or_by_another_key_is_refused() {
        let (pem, public) = generate().unwrap();
        let (other_pem, _) = generate().unwrap();
        let p = policy(false, &[("ci", &public)]);
        let tampered = p.check(b"component!", Some(&sign(pem.as_bytes(), b"component").unwrap()));
        assert_eq!(tampered, Err(SignatureRefused::Untrusted { tried: vec!["ci".into()] }));
        let wrong_key = p.check(b"component", Some(&sign(other_pem.as_bytes(), b"component").unwrap()));
        assert!(wrong_key.unwrap_err().to_string().contains("tried: ci"));
        assert_eq!(p.check(b"component", Some("not base64!")), Err(SignatureRefused::Malformed));
    }

    #[test]
    fn unsigned_passes_only_when_signatures_are_not_required() {
        let (_, public) = generate().unwrap();
        assert_eq!(policy(false, &[("ci", &public)]).check(b"c", None), Ok(None));
        let refused = policy(true, &[("ci", &public)]).check(b"c", None).unwrap_err();
        assert!(refused.to_string().starts_with("this server requires signed plugins; sign with `tessera plugin sign"));
    }

    #[test]
    fn the_digest_signed_is_the_32_raw_bytes_of_sha256() {
        let (pem, public) = generate().unwrap();
        let kp = key_pair(pem.as_bytes()).unwrap();
        let raw = digest(&SHA256, b"component");
        let by_hand = STANDARD.encode(kp.sign(raw.as_ref()).as_ref());
        assert_eq!(policy(true, &[("ci", &public)]).check(b"component", Some(&by_hand)), Ok(Some("ci".into())));
    }

    #[test]
    fn bad_configured_keys_and_duplicate_names_are_refused_without_echoing_the_key() {
        let bad = |name: &str, key: &str| {
            SignaturePolicy::new(false, &[SignerConfig { name: name.into(), public_key: key.into() }])
                .unwrap_err()
                .to_string()
        };
        let e = bad("ci", "c2VjcmV0LWlzaA==");
        assert!(e.contains("\"ci\"") && e.contains("32 bytes") && !e.contains("c2VjcmV0"), "{e}");
        assert!(bad("ci", "%%%").contains("not base64"));
        assert!(bad("", &STANDARD.encode([0u8; 32])).contains("name"));
        let (_, k) = generate().unwrap();
        let twice = vec![
            SignerConfig { name: "ci".into(), public_key: k.clone() },
            SignerConfig { name: "ci".into(), public_key: k },
        ];
        assert!(SignaturePolicy::new(false, &twice).unwrap_err().to_string().contains("used twice"));
        assert!(SignaturePolicy::new(true, &[]).unwrap_err().to_string().contains("no signer is trusted"));
    }

    #[test]
    fn der_private_keys_are_read_too() {
        let (pem, public) = generate().unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = STANDARD.decode(body).unwrap();
        assert_eq!(public_key(&der).unwrap(), public);
        assert!(matches!(public_key(b"garbage"), Err(KeyError::PrivateKey)));
    }
}
