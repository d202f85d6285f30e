//! Sigstore bundles, key-signed, checked offline: the JSON form of
//! `dev.sigstore.bundle.v1.Bundle` (sigstore/protobuf-specs
//! `protos/sigstore_bundle.proto`), as `cosign sign-blob --key cosign.key
//! --bundle FILE.sigstore.json` (`--new-bundle-format`) writes it:
//!
//! ```json
//! {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
//!  "verificationMaterial": {"publicKey": {"hint": "<key id>"}, "tlogEntries": [...]},
//!  "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": "<base64>"},
//!                       "signature": "<base64>"}}
//! ```
//!
//! What is checked: the media type (versions 0.1 to 0.3), that the
//! material is a public key (a certificate means keyless signing, which
//! needs the Sigstore trust root this server does not use), that the
//! content is a `messageSignature` (a `dsseEnvelope` is an attestation, not
//! a signature over the component), that `messageDigest` is the component's
//! sha256, and that `signature` verifies over the component under a trusted
//! key: the one whose key id equals `publicKey.hint` if one does, otherwise
//! each in turn. What is not checked: `tlogEntries` and
//! `timestampVerificationData` (Rekor inclusion and signed timestamps need
//! Rekor's and the TSA's keys and a trust root; the trust here is the
//! configured key alone).

use super::{SignatureRefused, SigningKey, TrustedSigner, untrusted};
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::json;

/// The media types read: the three versions of the first form, and v0.3's
/// own name (protobuf-specs `docs/bundle.md` recommends it for new bundles).
const MEDIA_TYPES: [&str; 4] = [
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
];

/// The media type `tessera plugin sign --bundle` writes.
const WRITTEN: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// The fields read; the others (`tlogEntries`, timestamps, future
/// additions) are ignored, as protobuf JSON readers do.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bundle {
    media_type: Option<String>,
    verification_material: Option<Material>,
    message_signature: Option<MessageSignature>,
    dsse_envelope: Option<IgnoredAny>,
    /// cosign's own earlier format (`cosign sign-blob --bundle` before
    /// `--new-bundle-format`) has this instead of a media type.
    base64_signature: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Material {
    public_key: Option<KeyIdentifier>,
    certificate: Option<IgnoredAny>,
    x509_certificate_chain: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct KeyIdentifier {
    hint: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageSignature {
    message_digest: Option<HashOutput>,
    signature: Option<String>,
}

#[derive(Deserialize)]
struct HashOutput {
    algorithm: Option<String>,
    digest: Option<String>,
}

/// Protobuf JSON writes bytes in standard base64 and reads URL-safe too.
fn bytes(field: &'static str, text: &str) -> Result<Vec<u8>, SignatureRefused> {
    STANDARD.decode(text).or_else(|_| URL_SAFE.decode(text)).map_err(|_| SignatureRefused::NotBase64(field))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks the bundle `text` for the component `wasm` (whose sha256 is
/// `sha256`); returns the signer whose key verified it.
pub(super) fn check<'a>(
    signers: &'a [TrustedSigner],
    wasm: &[u8],
    sha256: &[u8],
    text: &str,
) -> Result<&'a TrustedSigner, SignatureRefused> {
    let b: Bundle = serde_json::from_str(text).map_err(|e| SignatureRefused::NotABundle(e.to_string()))?;
    let media_type = match (b.media_type, b.base64_signature) {
        (None, Some(_)) => return Err(SignatureRefused::LegacyCosignBundle),
        (None, None) => return Err(SignatureRefused::NotABundle("it has no mediaType".into())),
        (Some(m), _) => m,
    };
    if !MEDIA_TYPES.contains(&media_type.as_str()) {
        return Err(SignatureRefused::MediaType(media_type));
    }
    let material = b.verification_material.ok_or_else(|| no("verificationMaterial"))?;
    if material.certificate.is_some() || material.x509_certificate_chain.is_some() {
        return Err(SignatureRefused::Keyless);
    }
    let hint = material.public_key.ok_or_else(|| no("verificationMaterial.publicKey"))?.hint;
    if b.dsse_envelope.is_some() {
        return Err(SignatureRefused::Dsse);
    }
    let message = b.message_signature.ok_or_else(|| no("messageSignature"))?;
    // protobuf-specs makes the digest optional; when present it must name
    // this component (the signature below is checked over the component
    // either way, so an absent digest weakens nothing).
    if let Some(d) = message.message_digest {
        let algorithm = d.algorithm.unwrap_or_else(|| "HASH_ALGORITHM_UNSPECIFIED".into());
        if algorithm != "SHA2_256" {
            return Err(SignatureRefused::DigestAlgorithm(algorithm));
        }
        let signed = bytes("messageDigest.digest", d.digest.as_deref().unwrap_or_default())?;
        if signed != sha256 {
            return Err(SignatureRefused::OtherArtefact { signed: hex(&signed), component: hex(sha256) });
        }
    }
    let signature = bytes("messageSignature.signature", &message.signature.ok_or_else(|| no("signature"))?)?;
    let named: Vec<&TrustedSigner> = signers.iter().filter(|s| hint.as_deref() == Some(&*s.key.key_id())).collect();
    let candidates = if named.is_empty() { signers.iter().collect() } else { named };
    candidates.iter().find(|s| s.key.verifies(wasm, &signature)).copied().ok_or_else(|| untrusted(candidates))
}

fn no(field: &str) -> SignatureRefused {
    SignatureRefused::NotABundle(format!("it has no {field}"))
}

/// A Sigstore bundle (v0.3, one line of JSON) of `wasm` signed with `key`:
/// pure Ed25519 over the component, the key id as `publicKey.hint`, no
/// transparency-log entry: what `tessera plugin sign --bundle` writes, in
/// the shape cosign writes, so a pipeline without cosign gets the same form.
pub fn bundle(key: &SigningKey, wasm: &[u8]) -> String {
    json!({
        "mediaType": WRITTEN,
        "verificationMaterial": {"publicKey": {"hint": key.public_key().key_id()}, "tlogEntries": []},
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": STANDARD.encode(digest(&SHA256, wasm))},
            "signature": STANDARD.encode(key.sign_raw(wasm)),
        },
    })
    .to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::keys::tests::{p256, p256_sign};
    use super::super::tests::policy;
    use super::super::{SignaturePolicy, generate};
    use super::*;
    use serde_json::Value;

    const ARTEFACT: &[u8] = include_bytes!("../../../../tests/fixtures/sigstore/a.txt");
    const MANAGED_KEY: &str = include_str!("../../../../tests/fixtures/sigstore/a.txt.managed-key.sigstore.json");
    const COSIGN_PUB: &str = include_str!("../../../../tests/fixtures/sigstore/cosign.pub");

    /// A bundle for `wasm` by the P-256 `kp`, as cosign writes one, with
    /// `edit` applied to its JSON.
    fn p256_bundle(kp: &aws_lc_rs::signature::EcdsaKeyPair, wasm: &[u8], edit: impl FnOnce(&mut Value)) -> String {
        let mut b = json!({
            "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.2",
            "verificationMaterial": {"publicKey": {"hint": "not a key id"}},
            "messageSignature": {
                "messageDigest": {"algorithm": "SHA2_256", "digest": STANDARD.encode(digest(&SHA256, wasm))},
                "signature": STANDARD.encode(p256_sign(kp, wasm)),
            },
        });
        edit(&mut b);
        serde_json::to_string_pretty(&b).unwrap()
    }

    fn refusal(p: &SignaturePolicy, wasm: &[u8], bundle: &str) -> SignatureRefused {
        p.check(wasm, Some(bundle)).unwrap_err()
    }

    #[test]
    fn a_real_key_signed_bundle_verifies_with_its_cosign_pub() {
        let p = policy(true, &[("other", &generate().unwrap().1), ("release", COSIGN_PUB)]);
        assert_eq!(p.check(ARTEFACT, Some(MANAGED_KEY)), Ok(Some("release".into())));
        // Its tlog entry and timestamp are not checked; its digest is.
        let e = refusal(&p, b"another artefact", MANAGED_KEY);
        assert!(matches!(e, SignatureRefused::OtherArtefact { .. }), "{e}");
        assert!(e.to_string().starts_with("the bundle signs another artefact (sha256 a0cfc71271d6e278"), "{e}");
        // Its hint names the release key: only that one is tried.
        let tampered = MANAGED_KEY.replace("\"signature\":\"MEUCIQCA", "\"signature\":\"MEUCIQCB");
        assert_eq!(refusal(&p, ARTEFACT, &tampered), SignatureRefused::Untrusted { tried: vec!["release".into()] });
    }

    #[test]
    fn real_keyless_and_dsse_bundles_are_refused_with_the_way_out() {
        let p = policy(true, &[("release", COSIGN_PUB)]);
        let keyless = include_str!("../../../../tests/fixtures/sigstore/a.txt.keyless.sigstore.json");
        let e = refusal(&p, ARTEFACT, keyless);
        assert_eq!(e, SignatureRefused::Keyless);
        assert!(e.to_string().contains("configure a key") && e.to_string().contains("cosign sign-blob --key"), "{e}");
        let dsse = include_str!("../../../../tests/fixtures/sigstore/dsse.public-key.sigstore.json");
        let e = refusal(&p, ARTEFACT, dsse);
        assert_eq!(e, SignatureRefused::Dsse);
        assert!(e.to_string().contains("not a signature over the component"), "{e}");
    }

    #[test]
    fn bundles_by_p256_and_ed25519_keys_verify_over_the_component() {
        let (kp, pem) = p256();
        let (ed_private, ed_public) = generate().unwrap();
        let p = policy(true, &[("ed", &ed_public), ("cosign", &pem)]);
        // No matching hint: each key is tried.
        assert_eq!(p.check(b"wasm", Some(&p256_bundle(&kp, b"wasm", |_| ()))), Ok(Some("cosign".into())));
        // Every media type, and no digest at all (optional in the spec).
        for m in MEDIA_TYPES {
            let b = p256_bundle(&kp, b"wasm", |b| {
                b["mediaType"] = m.into();
                b["messageSignature"].as_object_mut().unwrap().remove("messageDigest");
            });
            assert_eq!(p.check(b"wasm", Some(&b)), Ok(Some("cosign".into())), "{m}");
        }
        let ours = bundle(&SigningKey::read(ed_private.as_bytes()).unwrap(), b"wasm");
        assert_eq!(p.check(b"wasm", Some(&ours)), Ok(Some("ed".into())));
        // Pure Ed25519 over the component, not over its digest.
        let v: Value = serde_json::from_str(&ours).unwrap();
        assert_eq!(v["mediaType"], WRITTEN);
        let sig = STANDARD.decode(v["messageSignature"]["signature"].as_str().unwrap()).unwrap();
        let key = &p.signers[0].key;
        assert!(key.verifies(b"wasm", &sig) && !key.verifies(digest(&SHA256, b"wasm").as_ref(), &sig));
        assert_eq!(v["verificationMaterial"]["publicKey"]["hint"], key.key_id());
        assert!(!ours.contains('\n'), "one line, so it fits a header");
    }

    #[test]
    fn a_bundle_signed_by_an_untrusted_key_or_for_another_file_is_refused() {
        let (kp, _) = p256();
        let (_, trusted) = p256();
        let p = policy(false, &[("cosign", &trusted)]);
        let by_other = p256_bundle(&kp, b"wasm", |_| ());
        assert_eq!(refusal(&p, b"wasm", &by_other), SignatureRefused::Untrusted { tried: vec!["cosign".into()] });
        // The digest names the other file before any key is tried.
        let e = refusal(&p, b"other wasm", &by_other);
        assert!(e.to_string().starts_with("the bundle signs another artefact"), "{e}");
        // A digest of this file but a signature over another one.
        let swapped = p256_bundle(&kp, b"other wasm", |b| {
            b["messageSignature"]["messageDigest"]["digest"] = STANDARD.encode(digest(&SHA256, b"wasm")).into();
        });
        assert!(matches!(refusal(&p, b"wasm", &swapped), SignatureRefused::Untrusted { .. }));
    }

    #[test]
    fn each_unreadable_bundle_has_its_own_refusal() {
        let (kp, pem) = p256();
        let p = policy(true, &[("cosign", &pem)]);
        let with = |edit: fn(&mut Value)| refusal(&p, b"wasm", &p256_bundle(&kp, b"wasm", edit));
        assert_eq!(
            with(|b| b["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=9".into()),
            SignatureRefused::MediaType("application/vnd.dev.sigstore.bundle+json;version=9".into())
        );
        assert_eq!(
            with(|b| b["verificationMaterial"] =
                json!({"x509CertificateChain": {"certificates": [{"rawBytes": "AQID"}]}})),
            SignatureRefused::Keyless
        );
        assert_eq!(
            with(|b| b["verificationMaterial"]["certificate"] = json!({"rawBytes": "AQID"})),
            SignatureRefused::Keyless
        );
        assert_eq!(
            with(|b| b["dsseEnvelope"] = json!({"payload": "e30=", "payloadType": "application/vnd.in-toto+json"})),
            SignatureRefused::Dsse
        );
        assert_eq!(
            with(|b| b["messageSignature"]["messageDigest"]["algorithm"] = "SHA2_384".into()),
            SignatureRefused::DigestAlgorithm("SHA2_384".into())
        );
        assert_eq!(
            with(|b| b["messageSignature"]["messageDigest"].as_object_mut().unwrap().clear()),
            SignatureRefused::DigestAlgorithm("HASH_ALGORITHM_UNSPECIFIED".into())
        );
        assert_eq!(
            with(|b| b["messageSignature"]["messageDigest"]["digest"] = "not base64!".into()),
            SignatureRefused::NotBase64("messageDigest.digest")
        );
        assert_eq!(
            with(|b| b["messageSignature"]["signature"] = "%%%".into()),
            SignatureRefused::NotBase64("messageSignature.signature")
        );
        assert_eq!(
            with(|b| {
                b.as_object_mut().unwrap().remove("messageSignature");
            }),
            SignatureRefused::NotABundle("it has no messageSignature".into())
        );
        assert_eq!(
            with(|b| b["verificationMaterial"] = json!({})),
            SignatureRefused::NotABundle("it has no verificationMaterial.publicKey".into())
        );
        let legacy = r#"{"base64Signature": "MEUCIQ==", "cert": "", "rekorBundle": {}}"#;
        assert_eq!(refusal(&p, b"wasm", legacy), SignatureRefused::LegacyCosignBundle);
        assert!(matches!(refusal(&p, b"wasm", "{\"mediaType\": 1}"), SignatureRefused::NotABundle(_)));
        assert!(matches!(refusal(&p, b"wasm", "{ not json"), SignatureRefused::NotABundle(_)));
        // Refusals say what is wrong without echoing keys or signatures.
        assert!(!with(|b| b["mediaType"] = "x".into()).to_string().contains("BEGIN"));
    }
}
