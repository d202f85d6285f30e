//! Signed plugin uploads end to end (issue #17 item 3): `plugin keygen`,
//! `plugin sign` and `plugin upload --signature` against the real binary,
//! with `[plugins] require_signatures` on and off, on both backends.
//!
//! Needs the fixtures that `plugins/build.sh --fixtures` builds.

use crate::on_both_backends;
use crate::plugins::component;
use crate::support::{Backend, Options, TestServer, binary};
use serde_json::Value;
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
