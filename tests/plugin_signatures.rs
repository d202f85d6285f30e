//! Signed plugin uploads end to end (issue #17 item 3): `plugin keygen`,
//! `plugin sign` (detached or `--bundle`) and `plugin upload --signature`
//! against the real binary, with `[plugins] require_signatures` on and off,
//! on both backends; Sigstore bundles through the CLI, the management API's
//! header and multipart field, and the console, with Ed25519 and cosign-style
//! ECDSA P-256 keys in the configuration.
//!
//! Needs the fixtures that `plugins/build.sh --fixtures` builds.

use crate::on_both_backends;
use crate::plugins::component;
use crate::support::{Backend, Options, TestServer, binary};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `tessera plugin keygen --out DIR/NAME.pem`; returns the key file and the public key.
pub fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(format!("{name}.pem"));
    let out = Command::new(binary()).args(["plugin", "keygen", "--out"]).arg(&key).arg("--json").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (key, v["public_key"].as_str().unwrap().to_owned())
}

/// `tessera plugin sign FILE --key KEY --out DIR/SIG`; returns the signature file.
pub fn sign(dir: &Path, file: &str, key: &Path, sig: &str) -> String {
    let out_path = dir.join(sig);
    let out = Command::new(binary())
        .args(["plugin", "sign", file, "--key"])
        .arg(key)
        .arg("--out")
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out_path.to_string_lossy().into_owned()
}

/// A server whose configuration file trusts `public` as `ci`.
pub fn server(backend: Backend, dir: &Path, required: bool, public: &str) -> TestServer {
    let config = dir.join("tessera.toml");
    let text = format!(
        "[plugins]\nrequire_signatures = {required}\ntrusted_signers = [{{ name = \"ci\", public_key = \"{public}\" }}]\n"
    );
    std::fs::write(&config, text).unwrap();
    let env = vec![("TESSERA_CONFIG".to_owned(), config.to_string_lossy().into_owned())];
    TestServer::start_with(backend, Options { env, ..Default::default() })
}

fn upload(s: &TestServer, file: &str, name: &str, signature: Option<&str>) -> Output {
    let mut args = vec!["plugin", "upload", file, "--name", name, "--json"];
    if let Some(sig) = signature {
        args.extend(["--signature", sig]);
    }
    s.cli_output(&args, None)
}

fn refused(out: &Output, needle: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "accepted: {}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.contains(needle), "expected {needle:?} in {stderr}");
    stderr
}

fn signers(s: &TestServer, name: &str) -> Vec<Value> {
    let v = s.cli_json(&["plugin", "versions", name]);
    v["versions"].as_array().unwrap().iter().map(|v| v["signed_by"].clone()).collect()
}

on_both_backends!(required_signatures_accept_a_trusted_signer_and_refuse_the_rest, |backend: Backend| async move {
    let dir = tempfile::tempdir().unwrap();
    let (ci_key, ci_public) = keygen(dir.path(), "ci");
    let (other_key, _) = keygen(dir.path(), "other");
    let s = server(backend, dir.path(), true, &ci_public);
    let allow = component("fixtures", "allow-claim");
    let deny = component("fixtures", "deny");

    let unsigned = refused(
        &upload(&s, &allow, "rule", None),
        "this server requires signed plugins; sign with `tessera plugin sign",
    );
    assert!(!unsigned.contains(&ci_public), "the message names keys, never their material");
    let by_other = sign(dir.path(), &allow, &other_key, "other.sig");
    let wrong_key = refused(&upload(&s, &allow, "rule", Some(&by_other)), "tried: ci");
    let private = std::fs::read_to_string(&other_key).unwrap();
    let private_body: String = private.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!wrong_key.contains(&private_body) && !wrong_key.contains(&std::fs::read_to_string(&by_other).unwrap()));
    // A valid signature, but of another component.
    let of_allow = sign(dir.path(), &allow, &ci_key, "allow.sig");
    refused(&upload(&s, &deny, "rule", Some(&of_allow)), "does not verify for this component");
    assert!(s.cli_json(&["plugin", "list"])["plugins"].as_array().unwrap().is_empty(), "nothing saved from refusals");
    // Each refusal is in the audit log: who tried, which bytes, and why.
    let refusals: Vec<Value> = s
        .cli(&["audit", "export"])
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["action"] == "plugin.upload.refused")
        .collect();
    assert_eq!(refusals.len(), 3, "{refusals:?}");
    let detail = |i: usize| serde_json::from_str::<Value>(refusals[i]["detail"].as_str().unwrap()).unwrap();
    assert_eq!((refusals[0]["actor"].as_str(), refusals[0]["target"].as_str()), (Some("cli"), Some("rule")));
    assert_eq!(detail(0)["signature_given"], false);
    assert!(detail(0)["reason"].as_str().unwrap().contains("requires signed plugins"), "{}", detail(0));
    assert_eq!(detail(1)["signature_given"], true);
    assert!(detail(1)["reason"].as_str().unwrap().contains("tried: ci"), "{}", detail(1));
    let deny_sha = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &std::fs::read(&deny).unwrap());
    let deny_hex: String = deny_sha.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(detail(2)["sha256"], deny_hex.as_str(), "the refused bytes are named");

    let ok = upload(&s, &allow, "rule", Some(&of_allow));
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let v: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(v["signed_by"], "ci");
    assert_eq!(signers(&s, "rule"), [Value::from("ci")]);
    let human = s.cli(&["plugin", "versions", "rule"]);
    assert!(human.contains("signed by ci"), "{human}");
    // The list shows the latest version's signer too.
    assert_eq!(s.cli_json(&["plugin", "list"])["plugins"][0]["signed_by"], "ci");
    let listed = s.cli(&["plugin", "list"]);
    assert!(listed.contains("rule v1 (signed by ci)"), "{listed}");
});

on_both_backends!(
    without_the_policy_unsigned_uploads_pass_and_given_signatures_are_still_checked,
    |backend: Backend| async move {
        let dir = tempfile::tempdir().unwrap();
        let (ci_key, ci_public) = keygen(dir.path(), "ci");
        let (other_key, _) = keygen(dir.path(), "other");
        let s = server(backend, dir.path(), false, &ci_public);
        let allow = component("fixtures", "allow-claim");

        let plain = upload(&s, &allow, "rule", None);
        assert!(plain.status.success(), "{}", String::from_utf8_lossy(&plain.stderr));
        refused(&upload(&s, &allow, "rule", Some(&sign(dir.path(), &allow, &other_key, "o.sig"))), "tried: ci");
        let signed = upload(&s, &allow, "rule", Some(&sign(dir.path(), &allow, &ci_key, "ci.sig")));
        assert!(signed.status.success(), "{}", String::from_utf8_lossy(&signed.stderr));
        // Newest first: the signed version 2, the unsigned version 1.
        assert_eq!(signers(&s, "rule"), [Value::from("ci"), Value::Null]);
        assert!(s.cli(&["plugin", "versions", "rule"]).contains("unsigned"));
    }
);

on_both_backends!(
    /// An empty signature (a `--signature` file or a multipart field with
    /// no bytes) is no signature: stored unsigned where signatures are
    /// optional, refused as missing where they are required.
    an_empty_signature_is_no_signature, |backend: Backend| async move {
    use tessera::service::oauth::management::MANAGEMENT_AUDIENCE;
    use tessera::web::routes::api as paths;
    let dir = tempfile::tempdir().unwrap();
    let (_, ci_public) = keygen(dir.path(), "ci");
    let (allow, deny) = (component("fixtures", "allow-claim"), component("fixtures", "deny"));
    let empty = dir.path().join("empty.sig");
    std::fs::write(&empty, "").unwrap();
    let empty = empty.to_string_lossy().into_owned();

    // Optional: an empty --signature file and an empty multipart field both
    // store the version unsigned.
    let s = server(backend, dir.path(), false, &ci_public);
    let out = upload(&s, &allow, "rule", Some(&empty));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let c = s.cli_json(&["mgmt-client", "create", "--name", "ci", "--scopes", "write:plugins"]);
    let (id, secret) = (c["client_id"].as_str().unwrap(), c["client_secret"].as_str().unwrap());
    let pairs = [("grant_type", "client_credentials"), ("audience", MANAGEMENT_AUDIENCE), ("scope", "write:plugins")];
    let (status, token) = s.token_form(id, secret, &pairs).await;
    assert_eq!(status, 200, "{token}");
    let form = reqwest::multipart::Form::new()
        .part("component", reqwest::multipart::Part::bytes(std::fs::read(&deny).unwrap()).file_name("deny.wasm"))
        .part("signature", reqwest::multipart::Part::bytes(Vec::new()).file_name("deny.wasm.sig"));
    let r = reqwest::Client::new()
        .post(format!("{}{}", s.base, paths::plugin_versions("deny")))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    assert_eq!((signers(&s, "rule"), signers(&s, "deny")), (vec![Value::Null], vec![Value::Null]), "stored unsigned");
    drop(s);

    // Required: an empty signature is a missing one, refused and audited as such.
    let s = server(backend, dir.path(), true, &ci_public);
    refused(&upload(&s, &allow, "rule", Some(&empty)), "this server requires signed plugins");
    let refusal: Value = s
        .cli(&["audit", "export"])
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["action"] == "plugin.upload.refused")
        .unwrap();
    let detail: Value = serde_json::from_str(refusal["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["signature_given"], false, "{detail}");
});

/// The format is the one `openssl` makes: Ed25519 over the 32 raw bytes of
/// the sha256 digest, base64; the public key is the raw 32 bytes, base64.
#[test]
fn a_signature_made_with_openssl_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sh = |script: &str| {
        let out = Command::new("sh").arg("-c").arg(script).current_dir(d).output().unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let allow = component("fixtures", "allow-claim");
    sh("openssl genpkey -algorithm ed25519 -out key.pem");
    let public = sh("openssl pkey -in key.pem -pubout -outform DER | tail -c 32 | base64");
    sh(&format!(
        "openssl dgst -sha256 -binary '{allow}' > digest && openssl pkeyutl -sign -inkey key.pem -rawin -in digest | base64 -w0 > plugin.sig"
    ));
    let s = server(Backend::Sqlite, d, true, &public);
    let ok = upload(&s, &allow, "rule", Some(&d.join("plugin.sig").to_string_lossy()));
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    // And `plugin sign` reads openssl's (PKCS#8 v1) key file.
    let ours = sign(d, &allow, &d.join("key.pem"), "ours.sig");
    assert_eq!(
        std::fs::read_to_string(ours).unwrap().trim(),
        std::fs::read_to_string(d.join("plugin.sig")).unwrap().trim()
    );
}

#[test]
fn an_invalid_trusted_key_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tessera.toml");
    std::fs::write(&config, "[plugins]\ntrusted_signers = [{ name = \"ci\", public_key = \"bm90IGEga2V5\" }]\n")
        .unwrap();
    let out = Command::new(binary())
        .env("TESSERA_CONFIG", &config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid configuration: plugins.trusted_signers") && stderr.contains("\"ci\""), "{stderr}");
    assert!(!stderr.contains("bm90IGEga2V5"), "the key is not echoed: {stderr}");
}

#[test]
fn host_keys_of_plugins_still_come_from_the_environment() {
    // `[plugins]` is read in two parts (signature keys, host keys): an
    // environment override of a host key still reaches the host.
    let dir = tempfile::tempdir().unwrap();
    let (_, public) = keygen(dir.path(), "ci");
    let s = server(Backend::Sqlite, dir.path(), false, &public);
    let out = s
        .command()
        .env("TESSERA_PLUGINS__MAX_UPLOAD_BYTES", "1000")
        .args(["plugin", "upload", &component("fixtures", "allow-claim"), "--name", "small"])
        .output()
        .unwrap();
    refused(&out, "larger than the 1000-byte upload limit");
}

/// The console's upload form takes the signature file, refuses an unsigned
/// upload next to the signature field, and the plugin page shows the signer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_uploads_with_a_signature_and_shows_who_signed() {
    use crate::console::Console;
    use tessera::web::routes;
    let dir = tempfile::tempdir().unwrap();
    let (ci_key, ci_public) = keygen(dir.path(), "ci");
    let s = server(Backend::Sqlite, dir.path(), true, &ci_public);
    let console = Console::signed_in(&s).await;
    let csrf = console.csrf().await;
    let allow = component("fixtures", "allow-claim");
    let sig = std::fs::read(sign(dir.path(), &allow, &ci_key, "allow.sig")).unwrap();
    let upload = |signature: Option<Vec<u8>>| {
        let mut form = reqwest::multipart::Form::new()
            .text("csrf", csrf.clone())
            .text("name", "rule")
            .part("file", reqwest::multipart::Part::bytes(std::fs::read(&allow).unwrap()).file_name("plugin.wasm"));
        // A browser sends an empty part when no file is chosen.
        form = form.part("signature", reqwest::multipart::Part::bytes(signature.unwrap_or_default()).file_name(""));
        console.http.post(format!("{}{}", s.base, routes::console::PLUGINS)).multipart(form).send()
    };
    let r = upload(None).await.unwrap();
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    let error = page.split("role=\"alert\">").nth(1).unwrap_or("").split('<').next().unwrap_or("");
    assert!(error.contains("this server requires signed plugins"), "{error:?}");
    let r = upload(Some(sig)).await.unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let page = console.get(&routes::console::plugin("rule")).await.text().await.unwrap();
    assert!(page.contains("<td class=\"signed-by\">ci</td>"), "{page}");
}

/// `tessera plugin sign FILE --key KEY --bundle` with the default output
/// name; returns the bundle file.
fn sign_bundle(file: &str, key: &Path) -> String {
    let out =
        Command::new(binary()).args(["plugin", "sign", file, "--bundle", "--json", "--key"]).arg(key).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let path = v["signature_file"].as_str().unwrap().to_owned();
    assert_eq!(path, format!("{file}.sigstore.json"));
    path
}

/// A new ECDSA P-256 key, as `cosign generate-key-pair` makes one: the key
/// pair and its public key as PEM (cosign.pub).
fn cosign_key() -> (aws_lc_rs::signature::EcdsaKeyPair, String) {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
    let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
    let point: [u8; 65] = kp.public_key().as_ref().try_into().unwrap();
    let pem = tessera::plugin_signatures::PublicKey::EcdsaP256(point).pem();
    (kp, pem)
}

fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The Sigstore bundle `cosign sign-blob --key cosign.key --new-bundle-format
/// --bundle` writes for `wasm` (without its transparency-log entry),
/// pretty-printed as `jq` would show it.
fn cosign_bundle(kp: &aws_lc_rs::signature::EcdsaKeyPair, wasm: &[u8]) -> String {
    use aws_lc_rs::digest::{SHA256, digest};
    let sig = kp.sign(&aws_lc_rs::rand::SystemRandom::new(), wasm).unwrap();
    serde_json::to_string_pretty(&json!({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": "cosign"}, "tlogEntries": []},
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": base64_std(digest(&SHA256, wasm).as_ref())},
            "signature": base64_std(sig.as_ref()),
        },
    }))
    .unwrap()
}

/// A server trusting the Ed25519 key `ci` and the PEM key `release` (a
/// multi-line TOML string, as cosign.pub is pasted).
fn server_with_pem(backend: Backend, dir: &Path, ci: &str, release_pem: &str) -> TestServer {
    let config = dir.join("tessera.toml");
    let text = format!(
        "[plugins]\nrequire_signatures = true\ntrusted_signers = [\n  {{ name = \"ci\", public_key = \"{ci}\" }},\n  {{ name = \"release\", public_key = \"\"\"\n{release_pem}\"\"\" }},\n]\n"
    );
    std::fs::write(&config, text).unwrap();
    let env = vec![("TESSERA_CONFIG".to_owned(), config.to_string_lossy().into_owned())];
    TestServer::start_with(backend, Options { env, ..Default::default() })
}

on_both_backends!(
    a_bundle_from_plugin_sign_passes_required_signatures_and_one_of_another_file_is_refused,
    |backend: Backend| async move {
        let dir = tempfile::tempdir().unwrap();
        let (ci_key, ci_public) = keygen(dir.path(), "ci");
        let s = server(backend, dir.path(), true, &ci_public);
        // Signed copies in the temporary folder, so the bundles land beside them.
        let copy = |name: &str| {
            let to = dir.path().join(format!("{name}.wasm"));
            std::fs::copy(component("fixtures", name), &to).unwrap();
            to.to_string_lossy().into_owned()
        };
        let (allow, deny) = (copy("allow-claim"), copy("deny"));
        let bundle = sign_bundle(&allow, &ci_key);
        let text = std::fs::read_to_string(&bundle).unwrap();
        assert!(
            text.starts_with("{\"") && text.contains("\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\""),
            "{text}"
        );

        let other = refused(&upload(&s, &deny, "rule", Some(&bundle)), "the bundle signs another artefact (sha256 ");
        assert!(!other.contains(&ci_public), "{other}");
        assert!(
            s.cli_json(&["plugin", "list"])["plugins"].as_array().unwrap().is_empty(),
            "nothing saved from refusals"
        );

        let ok = upload(&s, &allow, "rule", Some(&bundle));
        assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
        assert_eq!(serde_json::from_slice::<Value>(&ok.stdout).unwrap()["signed_by"], "ci");
        assert_eq!(signers(&s, "rule"), [Value::from("ci")]);
        assert_eq!(s.cli_json(&["plugin", "versions", "rule"])["versions"][0]["signature_form"], "sigstore_bundle");
        let human = s.cli(&["plugin", "versions", "rule"]);
        assert!(human.contains("signed by ci (Sigstore bundle)"), "{human}");
    }
);

/// The management API reads a bundle from the `Tessera-Plugin-Signature`
/// header (one line) and from the multipart field (as written), and a
/// cosign-style P-256 key from the configuration's PEM; a bundle of another
/// file is a 400 on `signature` that stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_verifies_cosign_bundles_and_refuses_one_of_another_file_storing_nothing() {
    use tessera::service::oauth::management::MANAGEMENT_AUDIENCE;
    use tessera::web::routes::api as paths;
    let dir = tempfile::tempdir().unwrap();
    let (_, ci_public) = keygen(dir.path(), "ci");
    let (cosign, cosign_pub) = cosign_key();
    let s = server_with_pem(Backend::Sqlite, dir.path(), &ci_public, &cosign_pub);
    let c = s.cli_json(&["mgmt-client", "create", "--name", "ci", "--scopes", "write:plugins"]);
    let (id, secret) = (c["client_id"].as_str().unwrap(), c["client_secret"].as_str().unwrap());
    let pairs = [("grant_type", "client_credentials"), ("audience", MANAGEMENT_AUDIENCE), ("scope", "write:plugins")];
    let (status, token) = s.token_form(id, secret, &pairs).await;
    assert_eq!(status, 200, "{token}");
    let token = token["access_token"].as_str().unwrap().to_owned();
    let post = |name: &str, wasm: Vec<u8>, header: String| {
        reqwest::Client::new()
            .post(format!("{}{}", s.base, paths::plugin_versions(name)))
            .bearer_auth(&token)
            .header("content-type", "application/wasm")
            .header("tessera-plugin-signature", header)
            .body(wasm)
            .send()
    };
    let allow = std::fs::read(component("fixtures", "allow-claim")).unwrap();
    let deny = std::fs::read(component("fixtures", "deny")).unwrap();
    let of_allow = cosign_bundle(&cosign, &allow);
    let one_line = tessera::plugin_signatures::one_line(&of_allow);

    let r = post("rule", deny.clone(), one_line.clone()).await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["invalid-params"][0]["name"], "signature", "{body}");
    assert!(body.to_string().contains("the bundle signs another artefact"), "{body}");
    assert_eq!(s.count_rows("plugin_versions"), 0, "a refused upload stores nothing");

    let r = post("rule", allow.clone(), one_line).await.unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!((&v["signed_by"], &v["signature_form"]), (&json!("release"), &json!("sigstore_bundle")), "{v}");
    // The multipart field takes the bundle as written, over several lines.
    let form = reqwest::multipart::Form::new()
        .part("component", reqwest::multipart::Part::bytes(deny.clone()).file_name("deny.wasm"))
        .text("signature", cosign_bundle(&cosign, &deny));
    let url = format!("{}{}", s.base, paths::plugin_versions("deny"));
    let r = reqwest::Client::new().post(url).bearer_auth(&token).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["signed_by"], "release");

    // sigstore-conformance's real key-signed bundle, sent as `jq -c` prints
    // it (the em dash of its Rekor checkpoint as UTF-8): read, and refused
    // because its key is not trusted here.
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/sigstore");
    let real = std::fs::read_to_string(fixtures.join("a.txt.managed-key.sigstore.json")).unwrap();
    let a_txt = std::fs::read(fixtures.join("a.txt")).unwrap();
    let r = post("a-txt", a_txt, real.trim().to_owned()).await.unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["invalid-params"][0]["name"], "signature", "not trusted here: {body}");
    assert!(body.to_string().contains("tried: ci, release"), "{body}");
    assert_eq!(s.count_rows("plugin_versions"), 2);
}

/// A real cosign key (sigstore-conformance's cosign.pub) in the
/// configuration: its bundle is accepted, and the upload goes on to the
/// component check.
#[test]
fn a_real_cosign_bundle_passes_the_signature_check_with_its_cosign_pub() {
    let dir = tempfile::tempdir().unwrap();
    let (_, ci_public) = keygen(dir.path(), "ci");
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/sigstore");
    let cosign_pub = std::fs::read_to_string(fixtures.join("cosign.pub")).unwrap();
    let s = server_with_pem(Backend::Sqlite, dir.path(), &ci_public, &cosign_pub);
    let a_txt = fixtures.join("a.txt").to_string_lossy().into_owned();
    let bundle = fixtures.join("a.txt.managed-key.sigstore.json").to_string_lossy().into_owned();
    // Past the signature, refused as a file that is not a component.
    let out = upload(&s, &a_txt, "a-txt", Some(&bundle));
    let stderr = refused(&out, "not a WebAssembly component");
    assert!(!stderr.contains("signature") && !stderr.contains("bundle"), "{stderr}");
    let keyless = fixtures.join("a.txt.keyless.sigstore.json").to_string_lossy().into_owned();
    refused(&upload(&s, &a_txt, "a-txt", Some(&keyless)), "configure a key in [plugins] trusted_signers");
}

/// `--server`: the CLI sends a pretty-printed bundle on one header line.
#[test]
fn the_remote_cli_uploads_a_multi_line_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let (_, ci_public) = keygen(dir.path(), "ci");
    let (cosign, cosign_pub) = cosign_key();
    let s = server_with_pem(Backend::Sqlite, dir.path(), &ci_public, &cosign_pub);
    let allow = component("fixtures", "allow-claim");
    let bundle = dir.path().join("allow.sigstore.json");
    std::fs::write(&bundle, cosign_bundle(&cosign, &std::fs::read(&allow).unwrap())).unwrap();
    let remote = crate::remote_cli::RemoteCli::new(&s, "read:plugins,write:plugins");
    let out = remote.output(
        &["plugin", "upload", &allow, "--name", "rule", "--json", "--signature", &bundle.to_string_lossy()],
        None,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap()["signed_by"], "release");
}

/// The console's form takes a bundle as the signature file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_takes_a_sigstore_bundle_as_the_signature_file() {
    use crate::console::Console;
    use tessera::web::routes;
    let dir = tempfile::tempdir().unwrap();
    let (ci_key, ci_public) = keygen(dir.path(), "ci");
    let s = server(Backend::Sqlite, dir.path(), true, &ci_public);
    let console = Console::signed_in(&s).await;
    let csrf = console.csrf().await;
    let allow = dir.path().join("allow.wasm");
    std::fs::copy(component("fixtures", "allow-claim"), &allow).unwrap();
    let bundle = std::fs::read(sign_bundle(&allow.to_string_lossy(), &ci_key)).unwrap();
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .text("name", "rule")
        .part("file", reqwest::multipart::Part::bytes(std::fs::read(&allow).unwrap()).file_name("plugin.wasm"))
        .part("signature", reqwest::multipart::Part::bytes(bundle).file_name("plugin.wasm.sigstore.json"));
    let r = console.http.post(format!("{}{}", s.base, routes::console::PLUGINS)).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let page = console.get(&routes::console::plugin("rule")).await.text().await.unwrap();
    assert!(page.contains("<td class=\"signed-by\">ci <span class=\"muted\">(Sigstore bundle)</span></td>"), "{page}");
}

/// A third party agrees with `plugin sign --bundle`: OpenSSL verifies the
/// bundle's signature as pure Ed25519 over the component, its hint is the
/// sha256 of the key's SubjectPublicKeyInfo as OpenSSL encodes it, and a
/// server trusting that PEM public key (an Ed25519 SPKI) accepts the bundle.
#[test]
fn a_bundle_from_plugin_sign_verifies_with_openssl_and_its_pem_key() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sh = |script: &str| {
        let out = Command::new("sh").arg("-c").arg(script).current_dir(d).output().unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let allow = d.join("allow.wasm");
    std::fs::copy(component("fixtures", "allow-claim"), &allow).unwrap();
    sh("openssl genpkey -algorithm ed25519 -out key.pem && openssl pkey -in key.pem -pubout -out pub.pem");
    let bundle: Value = serde_json::from_str(
        &std::fs::read_to_string(sign_bundle(&allow.to_string_lossy(), &d.join("key.pem"))).unwrap(),
    )
    .unwrap();
    let sig = base64::engine::general_purpose::STANDARD
        .decode(bundle["messageSignature"]["signature"].as_str().unwrap())
        .unwrap();
    std::fs::write(d.join("sig.bin"), sig).unwrap();
    let verified = sh("openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in allow.wasm -sigfile sig.bin");
    assert!(verified.contains("Signature Verified Successfully"), "{verified}");
    let hint = sh("openssl pkey -pubin -in pub.pem -outform DER | openssl dgst -sha256 -binary | base64");
    assert_eq!(bundle["verificationMaterial"]["publicKey"]["hint"], hint.as_str());
    let digest = sh("openssl dgst -sha256 -binary allow.wasm | base64");
    assert_eq!(bundle["messageSignature"]["messageDigest"], json!({"algorithm": "SHA2_256", "digest": digest}));

    let (_, other) = keygen(d, "other");
    let s = server_with_pem(Backend::Sqlite, d, &other, &std::fs::read_to_string(d.join("pub.pem")).unwrap());
    let ok = upload(&s, &allow.to_string_lossy(), "rule", Some(&format!("{}.sigstore.json", allow.display())));
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&ok.stdout).unwrap()["signed_by"], "release");
}

/// `plugin keygen` writes the public key as PEM beside the private key: the
/// file OpenSSL verifies a `plugin sign --bundle` signature with, and one a
/// server trusts as it stands.
#[test]
fn keygen_writes_a_pem_public_key_that_openssl_and_the_server_take() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, raw) = keygen(d, "ci");
    let pub_file = d.join("ci.pem.pub");
    let pem = std::fs::read_to_string(&pub_file).unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
    let allow = d.join("allow.wasm");
    std::fs::copy(component("fixtures", "allow-claim"), &allow).unwrap();
    let bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(sign_bundle(&allow.to_string_lossy(), &key)).unwrap()).unwrap();
    let sig = base64::engine::general_purpose::STANDARD
        .decode(bundle["messageSignature"]["signature"].as_str().unwrap())
        .unwrap();
    std::fs::write(d.join("sig.bin"), sig).unwrap();
    let out = Command::new("openssl")
        .args([
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "ci.pem.pub",
            "-rawin",
            "-in",
            "allow.wasm",
            "-sigfile",
            "sig.bin",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Signature Verified Successfully"), "{out:?}");
    // The raw key printed and the PEM file are one key: trusting the PEM
    // accepts what the key signs.
    let (_, other) = keygen(d, "other");
    assert_ne!(other, raw);
    let s = server_with_pem(Backend::Sqlite, d, &other, &pem);
    let ok = upload(&s, &allow.to_string_lossy(), "rule", Some(&format!("{}.sigstore.json", allow.display())));
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    // A second keygen to the same name refuses, the existing files untouched.
    let again = Command::new(binary()).args(["plugin", "keygen", "--out"]).arg(&key).output().unwrap();
    assert!(!again.status.success());
    assert_eq!(std::fs::read_to_string(&pub_file).unwrap(), pem);
}
