//! Signing-key rotation (docs/security-checklist.md J-14, R-7): the next key is published
//! before it signs, and tokens signed before a rotation still verify after it.
//! Every JWKS read checks that no private member is published (J-15).

use crate::client_credentials::oauth2_token;
use crate::on_both_backends;
use crate::support::{Backend, TestServer, verify_with_discovery};
use serde_json::Value;
use std::time::{Duration, Instant};
use tessera::web::routes;

async fn jwks_kids(server: &TestServer) -> Vec<String> {
    let v: Value = reqwest::get(format!("{}{}", server.base, routes::JWKS)).await.unwrap().json().await.unwrap();
    for k in v["keys"].as_array().unwrap() {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(k.get(private).is_none(), "JWKS leaks private member {private}");
        }
    }
    v["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

fn key_in_state(server: &TestServer, alg: &str, state: &str) -> String {
    let list = server.cli_json(&["keys", "list"]);
    list["keys"].as_array().unwrap().iter().find(|k| k["alg"] == alg && k["state"] == state).expect("key")["kid"]
        .as_str()
        .unwrap()
        .to_owned()
}

on_both_backends!(tokens_signed_before_rotation_still_verify, |backend: Backend| async move {
    let server = TestServer::start(backend);
    let aud = "https://keys.api.example";
    let (id, secret) = server.api_and_client(aud, "RS256", "read");
    let before = oauth2_token(&server, &id, &secret, aud, &[], false).await;
    let old_kid = jsonwebtoken::decode_header(&before).unwrap().kid.unwrap();
    let next = key_in_state(&server, "RS256", "next");
    assert!(jwks_kids(&server).await.contains(&next), "the next key is published before it signs");

    let rotated = server.cli_json(&["keys", "rotate"]);
    assert!(rotated["rotated"].as_array().unwrap().iter().any(|r| r["current"].as_str() == Some(next.as_str())));

    // The running server sees the rotation within its refresh interval (1 s).
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let t = oauth2_token(&server, &id, &secret, aud, &[], false).await;
        if jsonwebtoken::decode_header(&t).unwrap().kid.as_deref() == Some(next.as_str()) {
            break t;
        }
        assert!(Instant::now() < deadline, "server never switched to the new key");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let kids = jwks_kids(&server).await;
    assert!(kids.contains(&old_kid), "retired key still published");
    assert!(kids.contains(&next));
    verify_with_discovery(&server.base, &before, aud).await;
    verify_with_discovery(&server.base, &after, aud).await;
    assert_eq!(kids.len(), 9, "3 algorithms x (retired, current, next)");
});

/// A `tessera` command on `server`'s database with `master_key` current and
/// `accepted` accepted (the server's own key settings replaced).
fn with_master_key(server: &TestServer, master_key: &str, accepted: &[&str], args: &[&str]) -> std::process::Output {
    let mut cmd = server.command();
    cmd.env("TESSERA_MASTER_KEY", master_key);
    cmd.env("TESSERA_ACCEPTED_MASTER_KEYS", format!("[{}]", accepted.join(",")));
    cmd.args(args).output().expect("run tessera")
}

fn node(db: &std::sync::Arc<crate::support::TestDb>, master_key: &str, accepted: &[&str]) -> TestServer {
    let env = vec![
        ("TESSERA_MASTER_KEY".to_owned(), master_key.to_owned()),
        ("TESSERA_ACCEPTED_MASTER_KEYS".to_owned(), format!("[{}]", accepted.join(","))),
    ];
    TestServer::start_with(
        Backend::Postgres,
        crate::support::Options { env, share_db: Some(db.clone()), ..Default::default() },
    )
}

/// docs/security-checklist.md A-12: the master key rotates on a cluster
/// without downtime and without losing what it seals. Each node learns the
/// new key as accepted, then makes it current with the old one accepted
/// (nodes in either state meanwhile open each other's writes), `master-key
/// rewrap` seals everything again, and the old key goes: signing keys and
/// HS256 secrets are unchanged. A key that opens nothing is refused by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_master_key_rotates_across_nodes_without_losing_what_it_seals() {
    const OLD: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
    let a = TestServer::start_with(
        Backend::Postgres,
        crate::support::Options { env: vec![("TESSERA_MASTER_KEY".to_owned(), OLD.to_owned())], ..Default::default() },
    );
    let generated: Value =
        serde_json::from_slice(&with_master_key(&a, OLD, &[], &["master-key", "generate", "--json"]).stdout).unwrap();
    let new = generated["master_key"].as_str().expect("a generated key").to_owned();
    assert_eq!(base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &new).unwrap().len(), 32);
    let rs = "https://rotate-rs.api.example";
    let (id, secret) = a.api_and_client(rs, "RS256", "read");
    let hs = "https://rotate-hs.api.example";
    let hs_api = a.cli_json(&["api", "create", "--identifier", hs, "--alg", "HS256", "--scopes", "read"]);
    let shared = hs_api["hs256_secret"].as_str().unwrap().to_owned();
    let db = a.db.clone();
    let kid_before = jsonwebtoken::decode_header(&oauth2_token(&a, &id, &secret, rs, &[], false).await).unwrap().kid;
    let hs_verifies = |token: &str| {
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        v.set_audience(&[hs]);
        jsonwebtoken::decode::<Value>(token, &jsonwebtoken::DecodingKey::from_secret(shared.as_bytes()), &v).is_ok()
    };

    // Phase 1: node B knows the new key as accepted only; node A still seals
    // with the old one. Phase 2: both seal with the new key, the old accepted.
    let b = node(&db, OLD, &[&new]);
    let b = {
        drop(b);
        node(&db, &new, &[OLD])
    };
    let a2 = node(&db, &new, &[OLD]);
    drop(a);
    assert!(a2.log_text().contains("run `tessera master-key rewrap`"), "the start says what is left to do");
    // A secret sealed with the new key by one node opens on the other.
    let hs2 = "https://rotate-hs2.api.example";
    let hs2_api = a2.cli_json(&["api", "create", "--identifier", hs2, "--alg", "HS256", "--scopes", "read"]);
    b.wait_synced();
    let token = oauth2_token(&b, &id, &secret, hs2, &[], false).await;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.set_audience(&[hs2]);
    let key = jsonwebtoken::DecodingKey::from_secret(hs2_api["hs256_secret"].as_str().unwrap().as_bytes());
    assert!(jsonwebtoken::decode::<Value>(&token, &key, &v).is_ok(), "the other node signs with the new secret");

    // The old key still seals the signing keys and the first HS256 secret.
    let status = |server: &TestServer, master: &str, accepted: &[&str]| {
        let out = with_master_key(server, master, accepted, &["master-key", "status", "--json"]);
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    };
    let (ok, stdout, stderr) = status(&a2, &new, &[OLD]);
    assert!(ok, "{stderr}");
    let before: Value = serde_json::from_str(&stdout).unwrap();
    let keys = before["kinds"]["signing_keys"]["accepted"].as_u64().unwrap();
    assert!(keys >= 6, "every signing key (current and next of three algorithms): {before}");
    assert_eq!(before["kinds"]["api_secrets"], serde_json::json!({"current": 1, "accepted": 1}), "{before}");

    // Without the old key nothing would open: refused, by name.
    let (ok, _, stderr) = status(&a2, &new, &[]);
    assert!(!ok);
    assert!(stderr.contains("open with neither the master key nor any of accepted_master_keys"), "{stderr}");
    assert!(stderr.contains("signing_keys"), "{stderr}");

    let out = with_master_key(&a2, &new, &[OLD], &["master-key", "rewrap", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(done["resealed"].as_u64(), Some(keys + 1), "{done}");
    assert_eq!(done["accepted"], 0, "{done}");
    let audit = a2.cli(&["audit", "export"]);
    assert_eq!(audit.matches("master_key.rewrap").count(), 1, "{audit}");

    // Phase 4: the old key is gone; the same signing key and secrets serve.
    drop(b);
    drop(a2);
    let c = node(&db, &new, &[]);
    let rs_token = oauth2_token(&c, &id, &secret, rs, &[], false).await;
    assert_eq!(jsonwebtoken::decode_header(&rs_token).unwrap().kid, kid_before, "the same signing key");
    verify_with_discovery(&c.base, &rs_token, rs).await;
    assert!(hs_verifies(&oauth2_token(&c, &id, &secret, hs, &[], false).await), "the same HS256 secret");
    let (ok, stdout, _) = status(&c, &new, &[]);
    assert!(ok);
    assert_eq!(serde_json::from_str::<Value>(&stdout).unwrap()["accepted"], 0);
}
