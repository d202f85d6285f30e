//! Signed plugin uploads (issue #17 item 3): the trusted signers of
//! `[plugins]`, the upload policy, and the two forms a signature may take.
//! `service::plugins::upload` is the one place an upload is checked.
//!
//! The forms, kept stable because CI pipelines produce them; the form is
//! told from the content (a JSON object, or base64 text):
//! - **a detached signature**: base64 text (surrounding whitespace ignored),
//!   what `tessera plugin sign` writes. With an Ed25519 key it is the 64-byte
//!   signature over the **32 raw bytes** of the component's sha256 digest
//!   (not its hex text), so `openssl dgst -sha256 -binary` followed by
//!   `openssl pkeyutl -sign -rawin` makes the same signature. With an ECDSA
//!   P-256 key it is the ASN.1 DER signature over the component (SHA-256),
//!   what cosign 2's `cosign sign-blob --key cosign.key FILE` prints;
//! - **a Sigstore bundle** (`sigstore.rs`): the JSON `cosign sign-blob --key
//!   cosign.key --bundle FILE.sigstore.json` (cosign 2.4 and later with
//!   `--new-bundle-format`) and `tessera plugin sign --bundle` write, checked
//!   offline against the configured keys only.
//!
//! Trusted keys (`keys.rs`): a raw Ed25519 public key in base64 (what
//! `tessera plugin keygen` prints), or a PEM SubjectPublicKeyInfo of an
//! ECDSA P-256 or Ed25519 key (what `cosign generate-key-pair` writes to
//! cosign.pub). Private keys for `plugin sign` are Ed25519 PKCS#8.

mod keys;
mod sigstore;

pub use keys::{KeyError, PublicKey, PublicKeyRefused, SigningKey, generate};
pub use sigstore::bundle;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// The largest signature text read (a detached signature is under 100
/// bytes; a Sigstore bundle with transparency-log entries and timestamps a
/// few KiB): more is refused before it is parsed or stored.
pub const MAX_SIGNATURE_BYTES: usize = 64 * 1024;

/// A trusted signer as written in the configuration:
/// `{ name = "ci", public_key = "<base64 of the 32-byte Ed25519 public key>" }`,
/// or with `public_key` a PEM public key (`-----BEGIN PUBLIC KEY-----`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerConfig {
    /// The name recorded as `signed_by` on the versions this key signs.
    pub name: String,
    /// The public key: standard base64 of a raw 32-byte Ed25519 key, or a
    /// SubjectPublicKeyInfo of an ECDSA P-256 or Ed25519 key, PEM or its
    /// base64 body.
    pub public_key: String,
}

/// A trusted signer whose key parsed: what uploads are checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedSigner {
    /// Its configured name.
    pub name: String,
    /// Its key.
    pub key: PublicKey,
}

impl TrustedSigner {
    /// Parses one configured signer: a non-empty name without leading or
    /// trailing whitespace (`"ci "` would be recorded as a name that looks
    /// like `ci`) and a key [`PublicKey::parse`] reads. Nothing of the key
    /// is echoed in the error.
    pub fn parse(c: &SignerConfig) -> Result<TrustedSigner, KeyError> {
        if c.name.trim().is_empty() || c.name.len() > 100 {
            return Err(KeyError::Signer("every signer needs a name of 1 to 100 characters".into()));
        }
        if c.name.trim() != c.name {
            return Err(KeyError::Signer(format!(
                "the name {:?} has leading or trailing whitespace: a signer's name is recorded as it is",
                c.name
            )));
        }
        let key = PublicKey::parse(&c.public_key)
            .map_err(|e| KeyError::Signer(format!("the public_key of {:?} {e}", c.name)))?;
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
    /// names and keys must be unique (the name is what the version records,
    /// so one key must have one name), and a
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
            if let Some(o) = signers[..i].iter().find(|o| o.key == s.key) {
                return Err(KeyError::Signer(format!(
                    "{:?} and {:?} have the same public key: a signature by it could be recorded under either name",
                    o.name, s.name
                )));
            }
        }
        Ok(SignaturePolicy { required, signers })
    }

    /// Checks an upload: with a signature (either form), it must verify
    /// under one of the trusted keys for `wasm` (whatever `required` says),
    /// and the signer's name is returned; without one, the upload passes
    /// unsigned unless signatures are required. An empty or blank signature
    /// (a multipart field, file or form field with no text) is no signature,
    /// not a malformed one: it is what a pipeline or form sends when there
    /// is nothing to send.
    pub fn check(&self, wasm: &[u8], signature: Option<&str>) -> Result<Option<String>, SignatureRefused> {
        let Some(text) = signature.filter(|t| !t.trim().is_empty()) else {
            return if self.required { Err(SignatureRefused::Missing) } else { Ok(None) };
        };
        if text.len() > MAX_SIGNATURE_BYTES {
            return Err(SignatureRefused::TooLarge);
        }
        let sha256 = digest(&SHA256, wasm);
        if SignatureForm::of(text) == SignatureForm::SigstoreBundle {
            return sigstore::check(&self.signers, wasm, sha256.as_ref(), text).map(|s| Some(s.name.clone()));
        }
        // Base64 wrapped over several lines (as `--server` joins them before
        // sending, `one_line`) reads the same here, for every caller.
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let sig = STANDARD.decode(compact).map_err(|_| SignatureRefused::Malformed)?;
        // Ed25519 signatures are 64 bytes; ECDSA P-256 ones a DER SEQUENCE of at most 72.
        let der = sig.first() == Some(&0x30) && (8..=72).contains(&sig.len());
        if sig.len() != 64 && !der {
            return Err(SignatureRefused::Malformed);
        }
        self.signers
            .iter()
            .find(|s| s.key.verifies_detached(wasm, sha256.as_ref(), &sig))
            .map(|s| Some(s.name.clone()))
            .ok_or_else(|| untrusted(&self.signers))
    }
}

/// The refusal when none of `tried` verifies the signature.
fn untrusted<'a>(tried: impl IntoIterator<Item = &'a TrustedSigner>) -> SignatureRefused {
    SignatureRefused::Untrusted { tried: tried.into_iter().map(|s| s.name.clone()).collect() }
}

/// The form of a signature, told from its text: what the check reads it
/// as, and what `plugin versions` and the console show beside the signer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignatureForm {
    /// Base64 text: a detached signature.
    Detached,
    /// A JSON object: a Sigstore bundle.
    SigstoreBundle,
}

impl SignatureForm {
    /// A JSON object is a bundle; anything else is read as base64.
    pub fn of(signature: &str) -> SignatureForm {
        if signature.trim_start().starts_with('{') { SignatureForm::SigstoreBundle } else { SignatureForm::Detached }
    }
}

/// Why an upload's signature was refused; the text is what the uploader sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureRefused {
    /// `require_signatures` is on and the upload carries none.
    #[error(
        "this server requires signed plugins; sign with `tessera plugin sign FILE --key KEYFILE` and upload with --signature FILE.sig, or sign with `cosign sign-blob --key cosign.key --bundle FILE.sigstore.json FILE` and upload with --signature FILE.sigstore.json (a key its [plugins] trusted_signers lists)"
    )]
    Missing,
    /// Neither a Sigstore bundle nor base64 of a signature.
    #[error(
        "the signature is neither a signature in base64 (Ed25519, 64 bytes, as `tessera plugin sign` writes it; ECDSA P-256, as `cosign sign-blob --key` prints it) nor a Sigstore bundle (a JSON object)"
    )]
    Malformed,
    /// Longer than [`MAX_SIGNATURE_BYTES`].
    #[error("the signature is larger than 64 KiB: give the signature or Sigstore bundle file itself")]
    TooLarge,
    /// No trusted key verifies the signature over this component.
    #[error("{}", untrusted_message(.tried))]
    Untrusted {
        /// The names of the keys tried.
        tried: Vec<String>,
    },
    /// JSON that is not a Sigstore bundle this server can read.
    #[error("the Sigstore bundle cannot be read: {0}")]
    NotABundle(String),
    /// cosign's own bundle format from before Sigstore bundles.
    #[error(
        "this is cosign's older bundle format (base64Signature): write a Sigstore bundle with `cosign sign-blob --key cosign.key --new-bundle-format --bundle FILE.sigstore.json FILE`, or upload the bare signature `cosign sign-blob --key cosign.key FILE` prints"
    )]
    LegacyCosignBundle,
    /// A `mediaType` other than the Sigstore bundle versions 0.1 to 0.3.
    #[error(
        "the bundle's mediaType {0:?} is not one this server reads (application/vnd.dev.sigstore.bundle+json;version=0.1, 0.2 or 0.3, or application/vnd.dev.sigstore.bundle.v0.3+json)"
    )]
    MediaType(String),
    /// Keyless signing: a Fulcio certificate instead of a public key.
    #[error(
        "the bundle carries a certificate (keyless Fulcio signing), which needs the Sigstore trust root: this server checks bundles offline against its own keys only; configure a key in [plugins] trusted_signers and sign with `cosign sign-blob --key`"
    )]
    Keyless,
    /// A DSSE envelope (an in-toto attestation) instead of a message signature.
    #[error(
        "the bundle holds a DSSE envelope (an attestation), not a signature over the component: sign the component itself with `cosign sign-blob --key cosign.key --bundle FILE.sigstore.json FILE` or `tessera plugin sign FILE --key KEYFILE --bundle`"
    )]
    Dsse,
    /// A message digest that is not SHA2_256.
    #[error("the bundle's messageDigest uses {0}; only SHA2_256 is accepted")]
    DigestAlgorithm(String),
    /// A bundle field that must be base64 is not.
    #[error("the bundle's {0} is not base64")]
    NotBase64(&'static str),
    /// The bundle's digest names another file.
    #[error("the bundle signs another artefact (sha256 {signed}), not this component (sha256 {component})")]
    OtherArtefact {
        /// The digest the bundle records, hex.
        signed: String,
        /// The uploaded component's digest, hex.
        component: String,
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

/// A signature file's text as one line of ASCII, for an HTTP header (which
/// cannot hold line breaks, and where proxies may mangle other bytes): a
/// bundle's JSON cannot break a line inside a string, and base64 wrapped
/// over lines means the same joined. Characters beyond ASCII, which JSON
/// allows only inside strings (a Rekor checkpoint's em dash), become
/// `\uXXXX` escapes of the same string.
pub fn one_line(text: &str) -> String {
    let joined: String = text.lines().map(str::trim).collect();
    if !joined.starts_with('{') {
        return joined;
    }
    let mut ascii = String::with_capacity(joined.len());
    for c in joined.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            for unit in c.encode_utf16(&mut [0; 2]) {
                ascii.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    ascii
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    pub(super) fn policy(required: bool, keys: &[(&str, &str)]) -> SignaturePolicy {
        let c: Vec<SignerConfig> =
            keys.iter().map(|(n, k)| SignerConfig { name: (*n).into(), public_key: (*k).into() }).collect();
        SignaturePolicy::new(required, &c).unwrap()
    }

    fn sign(pem: &str, wasm: &[u8]) -> String {
        SigningKey::read(pem.as_bytes()).unwrap().detached_signature(wasm)
    }

    #[test]
    fn a_signature_by_a_trusted_key_names_its_signer() {
        let (pem, public) = generate().unwrap();
        let (_, other) = generate().unwrap();
        let sig = sign(&pem, b"component");
        let p = policy(true, &[("other", &other), ("ci", &public)]);
        assert_eq!(p.check(b"component", Some(&format!("{sig}\n"))), Ok(Some("ci".into())));
        assert_eq!(SigningKey::read(pem.as_bytes()).unwrap().public_key().config_text(), public);
    }

    #[test]
    fn a_signature_over_another_component_or_by_another_key_is_refused() {
        let (pem, public) = generate().unwrap();
        let (other_pem, _) = generate().unwrap();
        let p = policy(false, &[("ci", &public)]);
        let tampered = p.check(b"component!", Some(&sign(&pem, b"component")));
        assert_eq!(tampered, Err(SignatureRefused::Untrusted { tried: vec!["ci".into()] }));
        let wrong_key = p.check(b"component", Some(&sign(&other_pem, b"component")));
        assert!(wrong_key.unwrap_err().to_string().contains("tried: ci"));
        assert_eq!(p.check(b"component", Some("not base64!")), Err(SignatureRefused::Malformed));
        // Base64, but of neither a 64-byte Ed25519 nor a DER ECDSA signature.
        assert_eq!(p.check(b"component", Some("c2VjcmV0LWlzaA==")), Err(SignatureRefused::Malformed));
    }

    #[test]
    fn unsigned_passes_only_when_signatures_are_not_required() {
        let (_, public) = generate().unwrap();
        assert_eq!(policy(false, &[("ci", &public)]).check(b"c", None), Ok(None));
        let refused = policy(true, &[("ci", &public)]).check(b"c", None).unwrap_err();
        assert!(refused.to_string().starts_with("this server requires signed plugins; sign with `tessera plugin sign"));
        assert!(refused.to_string().contains("cosign sign-blob --key"), "{refused}");
    }

    /// An empty signature (a multipart part or a file with no bytes, a blank
    /// form field) is no signature: optional, the upload passes unsigned;
    /// required, it gets the "requires signed plugins" refusal, not
    /// "malformed".
    #[test]
    fn an_empty_or_blank_signature_is_no_signature() {
        let (_, public) = generate().unwrap();
        for empty in ["", " ", "\n", "\r\n\t "] {
            assert_eq!(policy(false, &[("ci", &public)]).check(b"c", Some(empty)), Ok(None), "{empty:?}");
            let required = policy(true, &[("ci", &public)]).check(b"c", Some(empty));
            assert_eq!(required, Err(SignatureRefused::Missing), "{empty:?}");
        }
    }

    #[test]
    fn the_digest_signed_is_the_32_raw_bytes_of_sha256() {
        let (pem, public) = generate().unwrap();
        let raw = digest(&SHA256, b"component");
        let by_hand = STANDARD.encode(SigningKey::read(pem.as_bytes()).unwrap().sign_raw(raw.as_ref()));
        assert_eq!(policy(true, &[("ci", &public)]).check(b"component", Some(&by_hand)), Ok(Some("ci".into())));
    }

    #[test]
    fn a_cosign_style_ecdsa_p256_detached_signature_verifies_over_the_component() {
        let (key, pem) = keys::tests::p256();
        let p = policy(true, &[("cosign", &pem)]);
        let sig = STANDARD.encode(keys::tests::p256_sign(&key, b"component"));
        assert_eq!(p.check(b"component", Some(&sig)), Ok(Some("cosign".into())));
        assert_eq!(
            p.check(b"component!", Some(&sig)),
            Err(SignatureRefused::Untrusted { tried: vec!["cosign".into()] })
        );
    }

    #[test]
    fn an_oversized_signature_is_refused_before_it_is_read() {
        let (_, public) = generate().unwrap();
        let huge = format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_SIGNATURE_BYTES));
        assert_eq!(policy(false, &[("ci", &public)]).check(b"c", Some(&huge)), Err(SignatureRefused::TooLarge));
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
    fn one_key_under_two_names_and_names_with_outer_whitespace_are_refused() {
        let (_, k) = generate().unwrap();
        let pem = PublicKey::parse(&k).unwrap().pem();
        // The same key, even written another way, under two names: which
        // name a signature is recorded under would depend on the order.
        let twice = vec![
            SignerConfig { name: "ci".into(), public_key: k.clone() },
            SignerConfig { name: "release".into(), public_key: pem },
        ];
        let e = SignaturePolicy::new(false, &twice).unwrap_err().to_string();
        assert!(e.contains("\"ci\"") && e.contains("\"release\"") && e.contains("same public key"), "{e}");
        for name in [" ci", "ci ", "\tci", "ci\n", " ", ""] {
            let one = [SignerConfig { name: name.into(), public_key: k.clone() }];
            let e = SignaturePolicy::new(false, &one).unwrap_err().to_string();
            assert!(e.contains("name"), "{name:?}: {e}");
        }
        assert!(SignaturePolicy::new(false, &[SignerConfig { name: "c i".into(), public_key: k }]).is_ok());
    }

    #[test]
    fn a_detached_signature_wrapped_over_several_lines_is_read() {
        let (pem, public) = generate().unwrap();
        let sig = sign(&pem, b"component");
        let p = policy(true, &[("ci", &public)]);
        let wrapped: String =
            sig.as_bytes().chunks(20).map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap())).collect();
        assert_eq!(p.check(b"component", Some(&wrapped)), Ok(Some("ci".into())));
        let spaced = format!("  {}\t {} \n", &sig[..40], &sig[40..]);
        assert_eq!(p.check(b"component", Some(&spaced)), Ok(Some("ci".into())));
        assert_eq!(
            p.check(b"component", Some(&format!("{}\u{a0}{}", &sig[..40], &sig[40..]))),
            Err(SignatureRefused::Malformed)
        );
    }

    #[test]
    fn a_signature_file_becomes_one_header_line() {
        assert_eq!(one_line("{\n  \"a\": \"b c\",\n  \"d\": 1\n}\n"), "{\"a\": \"b c\",\"d\": 1}");
        assert_eq!(one_line("AAAA\nBBBB\n"), "AAAABBBB");
        let escaped = one_line("{\"note\": \"— rekor 😀\"}");
        assert_eq!(escaped, r#"{"note": "\u2014 rekor \ud83d\ude00"}"#);
        let same: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(same["note"], "— rekor 😀");
    }
}
