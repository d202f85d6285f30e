//! `tessera:plugin@0.2.0` components through the real host (issue #17 item
//! 4): one fixture per behaviour of `http.fetch` (a forbidden URL, a loop
//! over the request count, a response over the cap, a server slower than
//! the deadline) and the `rust-enrich` example against a loopback server.
//! The 0.1.0 fixtures and examples keep running unchanged in `fixtures.rs`
//! on a host that links both versions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tessera_plugin_host::{
    AllowedPrefix, Compiler, HostConfig, HttpGrant, PluginFailure, PluginHost, PluginRun, PluginSecrets, PluginVerdict,
    TokenContext, WORLD, WORLD_V0_2,
};

mod common;
use common::{fixture, plugins_dir};

const DEADLINE_MS: u64 = 400;

fn host() -> &'static PluginHost {
    static HOST: OnceLock<(tempfile::TempDir, PluginHost)> = OnceLock::new();
    &HOST
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let config = HostConfig {
                cache_dir: dir.path().to_owned(),
                deadline_ms: DEADLINE_MS,
                pool_instances: 8,
                max_pool_share_percent: 100,
                ..HostConfig::default()
            };
            (dir, PluginHost::new(config, [7; 32], Compiler::InProcess).unwrap())
        })
        .1
}

fn example(name: &str) -> Vec<u8> {
    let path = plugins_dir().join(format!("build/examples/{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{} is missing ({e}): run plugins/build.sh", path.display()))
}

/// A loopback server answering every request with `status` and `body`
/// after `delay`; keeps each request's head.
fn serve(delay: Duration, status: u16, body: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}/", listener.local_addr().unwrap().port());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let (seen, body) = (Arc::clone(&kept), body.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                seen.lock().unwrap().push(head);
                std::thread::sleep(delay);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    (base, seen)
}

fn grant(allow: &[&str], secrets: &[(&str, &str)]) -> Arc<HttpGrant> {
    Arc::new(HttpGrant {
        binding_id: "binding-1".into(),
        allow: allow.iter().map(|a| AllowedPrefix::parse(a).unwrap()).collect(),
        cache_ttl: None,
        secrets: PluginSecrets(
            secrets.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<BTreeMap<_, _>>(),
        ),
    })
}

fn ctx(config: Value) -> TokenContext {
    let mut c = common::client_credentials_context();
    c.config = config;
    c
}

fn run(wasm: Vec<u8>, ctx: &TokenContext, grant: Arc<HttpGrant>) -> PluginRun {
    let info = host().inspect(&wasm).unwrap();
    host().call_with_http(&info.sha256, || Ok::<_, String>(wasm), ctx, None, grant)
}

fn claims(run: &PluginRun) -> serde_json::Map<String, Value> {
    let Ok(PluginVerdict::Allow(patch)) = &run.outcome else { panic!("not allowed: {:?}", run.outcome) };
    patch.access_token_claims().clone()
}

#[test]
fn components_report_the_world_they_were_built_for() {
    let v2 = host().inspect(&fixture("http-forbidden")).unwrap();
    assert_eq!(v2.world, WORLD_V0_2);
    assert!(v2.imports.iter().any(|i| i == "tessera:plugin/http@0.2.0"), "{:?}", v2.imports);
    assert_eq!(host().inspect(&fixture("allow-claim")).unwrap().world, WORLD);
}

#[test]
fn a_forbidden_url_is_refused_and_recorded() {
    let r = run(fixture("http-forbidden"), &ctx(json!({})), grant(&["https://api.example.com/"], &[]));
    assert_eq!(claims(&r)["http_error"], "not_allowed");
    assert_eq!(r.http.len(), 1);
    assert_eq!(r.http[0].url, "https://forbidden.example/");
    assert!(r.http[0].error.as_deref().unwrap().starts_with("not_allowed"), "{:?}", r.http[0]);
    // Through `call` (no grant) a 0.2.0 plugin may reach nothing at all.
    let wasm = fixture("http-forbidden");
    let sha = host().inspect(&wasm).unwrap().sha256;
    let plain = host().call(&sha, || Ok::<_, String>(wasm), &ctx(json!({})), None);
    assert_eq!(claims(&plain)["http_error"], "not_allowed");
}

#[test]
fn a_plugin_looping_on_fetch_gets_its_request_count_and_one_record_over_it() {
    let r = run(fixture("http-loop"), &ctx(json!({})), grant(&[], &[]));
    let max = HostConfig::default().http_max_requests;
    assert_eq!(claims(&r)["http_capped"], json!(1000 - max));
    assert_eq!(r.http.len(), max + 1);
}

#[test]
fn a_response_over_the_cap_is_too_large() {
    let (base, _) = serve(Duration::ZERO, 200, "x".repeat(HostConfig::default().http_max_response_bytes + 1));
    let r = run(fixture("http-huge"), &ctx(json!({"url": base})), grant(&[&base], &[]));
    assert_eq!(claims(&r)["http_error"], "too_large");
    assert_eq!(r.http[0].error.as_deref(), Some("too_large"));
}

#[test]
fn a_server_slower_than_the_deadline_is_cut_off_within_the_deadline() {
    let (base, _) = serve(Duration::from_secs(5), 200, "{}".into());
    let wasm = fixture("http-forbidden");
    let sha = host().inspect(&wasm).unwrap().sha256;
    let start = Instant::now();
    let r =
        host().call_with_http(&sha, || Ok::<_, String>(wasm), &ctx(json!({"url": base})), None, grant(&[&base], &[]));
    let took = start.elapsed();
    assert!(took < Duration::from_millis(DEADLINE_MS + 400), "the call took {took:?}");
    // The request ends at the deadline with `timeout`; the guest then has at
    // most an epoch tick before it is interrupted, so it either allowed
    // with what it learnt or hit the deadline.
    assert_eq!(r.http[0].error.as_deref(), Some("timeout"));
    match &r.outcome {
        Err(PluginFailure::Deadline) => {}
        Ok(_) => assert_eq!(claims(&r)["http_error"], "timeout"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_enrich_example_adds_claims_from_the_service_with_the_secret_header() {
    let (base, seen) = serve(Duration::ZERO, 200, r#"{"department":"R&D","cost_center":"42","salary":1}"#.into());
    let mut c: TokenContext = ctx(json!({"url": format!("{base}users/"), "claims": ["department", "cost_center"]}));
    c.user = Some(
        serde_json::from_value(json!({
            "id": "u 1/..", "username": "alice", "source": "service-account"
        }))
        .unwrap(),
    );
    c.secrets = PluginSecrets([("directory-token".to_owned(), "Bearer t0ken".to_owned())].into());
    let r = run(example("rust-enrich"), &c, grant(&[&format!("{base}users/")], &[("directory-token", "Bearer t0ken")]));
    let got = claims(&r);
    assert_eq!(got["department"], "R&D");
    assert_eq!(got["cost_center"], "42");
    assert!(!got.contains_key("salary"));
    let head = seen.lock().unwrap().join("\n");
    assert!(head.starts_with("GET /users/u%201%2F.. HTTP/1.1"), "{head}");
    assert!(head.to_ascii_lowercase().contains("authorization: bearer t0ken"), "{head}");
    assert_eq!(r.http.len(), 1);
    assert_eq!(r.http[0].status, Some(200));
    assert!(!format!("{:?}", r.http).contains("t0ken"));
}
