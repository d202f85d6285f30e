//! Outbound HTTP for plugins end to end (issue #17 item 4): a
//! `tessera:plugin@0.2.0` plugin bound with an allow-list and a secret
//! enriches real tokens from an in-test HTTP server; the secret header
//! reaches the server and never the run record; a forbidden URL is refused
//! and recorded; a 0.1.0 example beside it runs as before.

use crate::plugins::component;
use crate::support::{Backend, TestServer};
use serde_json::Value;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

const AUD: &str = "https://enrich.api.example";
const SECRET: &str = "Bearer directory-s3cr3t";

/// A user directory on loopback: `GET /users/<id>` answers the user's
/// department; every request head is kept.
struct Directory {
    base: String,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Directory {
    fn start() -> Directory {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let heads = Arc::new(Mutex::new(Vec::new()));
        let kept = heads.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let kept = kept.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut head = String::new();
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                        head.push_str(&line);
                        line.clear();
                    }
                    kept.lock().unwrap().push(head);
                    let body = r#"{"department":"Research","cost_center":"CC-7"}"#;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        Directory { base, heads }
    }
}

fn runs_of(server: &TestServer, binding: &str, n: usize) -> Vec<Value> {
    let v = server.cli_json_until(&["binding", "runs", "--binding", binding], |v| {
        v["runs"].as_array().is_some_and(|r| r.len() >= n)
    });
    v["runs"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_0_2_plugin_enriches_the_token_over_http_with_a_secret_header_it_never_sees() {
    let dir = Directory::start();
    // Debug builds on a shared machine: room for the request, which is
    // still bounded by this deadline.
    let server = TestServer::start_with(
        Backend::Sqlite,
        crate::support::Options {
            env: vec![("TESSERA_PLUGINS__DEADLINE_MS".to_owned(), "2000".to_owned())],
            ..Default::default()
        },
    );
    server.api_and_client(AUD, "RS256", "read");
    server.create_user("svc-enrich", "a long enough password", &[]);
    let c = server.cli_json(&[
        "client",
        "create",
        "--name",
        "enrich",
        "--grant-types",
        "client_credentials",
        "--service-account",
        "svc-enrich",
    ]);
    let (cid, csecret) = (c["client_id"].as_str().unwrap().to_owned(), c["client_secret"].as_str().unwrap().to_owned());
    let up = server.cli_json(&["plugin", "upload", &component("examples", "rust-enrich"), "--name", "rust-enrich"]);
    assert_eq!(up["world"], "tessera:plugin/token-plugin@0.2.0");
    let prefix = format!("{}/users/", dir.base);
    let config = serde_json::json!({"url": prefix, "claims": ["department", "cost_center"]}).to_string();
    let created = server.cli_json(&[
        "binding",
        "create",
        "--plugin",
        "rust-enrich",
        "--grant-types",
        "client_credentials",
        "--config",
        &config,
        "--secret",
        &format!("directory-token={SECRET}"),
        "--http-allow",
        &prefix,
        "--http-cache-ttl",
        "60",
    ]);
    let enrich = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["http_allow"], serde_json::json!([prefix]));
    assert_eq!(created["http_cache_ttl_secs"], 60);
    // A 0.1.0 example after it, unchanged.
    server.cli_json(&["plugin", "upload", &component("examples", "rust-username"), "--name", "rust-username"]);
    server.cli_json(&["binding", "create", "--plugin", "rust-username", "--grant-types", "client_credentials"]);

    let token = crate::client_credentials::oauth2_token(&server, &cid, &csecret, AUD, &[], false).await;
    let claims = crate::support::verify_with_discovery(&server.base, &token, AUD).await;
    assert_eq!(claims["department"], "Research");
    assert_eq!(claims["cost_center"], "CC-7");
    assert_eq!(claims["https://example.com/username"], "svc-enrich", "the 0.1.0 plugin runs as before");

    let heads = dir.heads.lock().unwrap().join("\n");
    assert!(heads.contains("GET /users/"), "{heads}");
    assert!(heads.to_ascii_lowercase().contains(&format!("authorization: {}", SECRET.to_ascii_lowercase())), "{heads}");

    // A second token within the TTL: answered from the binding's cache.
    crate::client_credentials::oauth2_token(&server, &cid, &csecret, AUD, &[], false).await;
    assert_eq!(dir.heads.lock().unwrap().len(), 1, "the second answer came from the cache");

    let runs = runs_of(&server, &enrich, 2);
    let text = Value::Array(runs.clone()).to_string();
    assert!(!text.contains("s3cr3t"), "the secret never reaches the run record: {text}");
    let first = &runs[runs.len() - 1]["http"][0];
    assert_eq!(first["method"], "GET");
    assert_eq!(first["status"], 200);
    assert_eq!(first["cached"], false);
    assert!(first["url"].as_str().unwrap().starts_with(&prefix), "{first}");
    assert_eq!(runs[0]["http"][0]["cached"], true);

    // Outside the allow-list: refused before any connection, and recorded.
    let elsewhere = serde_json::json!({"url": format!("{}/admin/", dir.base)}).to_string();
    server.cli_json(&["binding", "update", &enrich, "--config", &elsewhere]);
    server.wait_synced();
    let r = reqwest::Client::new()
        .post(server.token_url())
        .basic_auth(&cid, Some(&csecret))
        .form(&[("grant_type", "client_credentials"), ("audience", AUD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 500, "the plugin's err under the deny policy");
    let runs = runs_of(&server, &enrich, 3);
    let refused = &runs[0]["http"][0];
    assert!(refused["error"].as_str().unwrap().starts_with("not_allowed"), "{refused}");
    assert_eq!(refused["status"], Value::Null);
    assert_eq!(dir.heads.lock().unwrap().len(), 1, "no request left the server");
}
