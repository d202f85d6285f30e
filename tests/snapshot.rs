//! Issue #13 item 2: every node serves the token path from an in-memory
//! snapshot and follows a change made anywhere within one second: a client
//! disabled or a binding disabled by another writer (a CLI process; on
//! PostgreSQL, through node A while tokens come from node B).

use crate::on_both_backends;
use crate::support::{Backend, Options, TestServer};
use serde_json::Value;
use std::time::{Duration, Instant};

const AUD: &str = "https://snapshot.api.example";

/// The promise: a change is in force on every node within one second.
const WITHIN: Duration = Duration::from_secs(1);

async fn token(node: &TestServer, id: &str, secret: &str) -> (u16, Value) {
    node.token_form(id, secret, &[("grant_type", "client_credentials"), ("audience", AUD)]).await
}

fn claims(body: &Value) -> Value {
    use base64::Engine as _;
    let jwt = body["access_token"].as_str().expect("access_token");
    let payload = jwt.split('.').nth(1).expect("payload");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Runs a CLI command on `writer` without waiting for any server, then
/// requests tokens from `node` until `changed` holds for the answer;
/// returns how long that took after the command ended.
async fn time_until(
    writer: &TestServer,
    args: &[&str],
    node: &TestServer,
    id: &str,
    secret: &str,
    changed: impl Fn(u16, &Value) -> bool,
) -> Duration {
    let out = writer.cli_output(args, None);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let start = Instant::now();
    loop {
        let (status, body) = token(node, id, secret).await;
        if changed(status, &body) {
            return start.elapsed();
        }
        assert!(start.elapsed() < 5 * WITHIN, "{args:?} never took effect: {status} {body}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

on_both_backends!(a_change_made_elsewhere_is_in_force_within_one_second, |backend: Backend| async move {
    let key = ("TESSERA_MASTER_KEY".to_owned(), "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=".to_owned());
    let a = TestServer::start_with(backend, Options { env: vec![key.clone()], ..Default::default() });
    // Several nodes need PostgreSQL; on SQLite the other writer is the CLI.
    let b = (backend == Backend::Postgres).then(|| {
        TestServer::start_with(backend, Options { env: vec![key], share_db: Some(a.db.clone()), ..Default::default() })
    });
    let node = b.as_ref().unwrap_or(&a);
    let (id, secret) = a.api_and_client(AUD, "ES256", "read");
    a.cli_json(&["plugin", "upload", &crate::plugins::component("fixtures", "allow-claim"), "--name", "allow"]);
    let binding = a.cli_json(&["binding", "create", "--plugin", "allow", "--grant-types", "client_credentials"]);
    let binding = binding["id"].as_str().unwrap().to_owned();
    // Compiling is not configuration: wait until the node has the plugin
    // ready, and serves what the database holds.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !node.log_text().contains("plugin version ready on this node") {
        assert!(Instant::now() < deadline, "the node never prepared the plugin:\n{}", node.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    node.wait_synced();
    assert_eq!(node.served_generation(), Some(a.db_generation()), "readiness shows the generation served");
    let (status, body) = token(node, &id, &secret).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(claims(&body)["fixture"], "allow-claim");

    let took = time_until(&a, &["binding", "disable", &binding], node, &id, &secret, |status, body| {
        status == 200 && claims(body).get("fixture").is_none()
    })
    .await;
    assert!(took < WITHIN, "a disabled binding took {took:?}");

    let took = time_until(&a, &["client", "disable", &id], node, &id, &secret, |status, body| {
        status == 401 && body["error"] == "invalid_client"
    })
    .await;
    assert!(took < WITHIN, "a disabled client took {took:?}");
});
