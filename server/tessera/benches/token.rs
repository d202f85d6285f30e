//! Token-endpoint latency as a client sees it, against the real binary:
//! `client_credentials` with no plugin bound vs. with the Rust username
//! plugin bound (as a client hook, so both run on one server in one run and
//! their ratio is comparable on a noisy machine).
//!
//! Run: `cargo bench -p tessera --bench token` (needs plugins/build.sh first).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/mod.rs"]
mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use support::{Backend, TestServer};

fn token_latency(c: &mut Criterion) {
    let server = TestServer::start(Backend::Sqlite);
    let aud = "https://bench.api.example";
    server.cli_json(&["api", "create", "--identifier", aud, "--scopes", "read"]);
    server.create_user("svc-bench", "a long enough password", &[]);
    let plain = server.cli_json(&[
        "client",
        "create",
        "--name",
        "plain",
        "--grant-types",
        "client_credentials",
        "--service-account",
        "svc-bench",
    ]);
    let hooked = server.cli_json(&[
        "client",
        "create",
        "--name",
        "hooked",
        "--grant-types",
        "client_credentials",
        "--service-account",
        "svc-bench",
    ]);
    let wasm =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../plugins/build/examples/rust-username.wasm");
    assert!(wasm.exists(), "run plugins/build.sh first");
    server.cli_json(&["plugin", "upload", wasm.to_str().unwrap(), "--name", "username"]);
    server.cli_json(&[
        "binding",
        "create",
        "--plugin",
        "username",
        "--grant-types",
        "client_credentials",
        "--client",
        hooked["client_id"].as_str().unwrap(),
    ]);

    let http = reqwest::blocking::Client::new();
    let url = server.token_url();
    let request = |client: &serde_json::Value| -> String {
        let r = http
            .post(&url)
            .basic_auth(client["client_id"].as_str().unwrap(), client["client_secret"].as_str())
            .form(&[("grant_type", "client_credentials"), ("audience", aud)])
            .send()
            .expect("token request");
        assert!(r.status().is_success());
        let body: serde_json::Value = r.json().expect("json");
        body["access_token"].as_str().expect("token").to_owned()
    };
    // Check once that the plugin runs for one client and not the other.
    let payload = |token: String| -> serde_json::Value {
        use base64::Engine as _;
        let part = token.split('.').nth(1).expect("payload");
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).expect("b64"))
            .expect("json")
    };
    assert!(payload(request(&hooked)).get("https://example.com/username").is_some(), "plugin ran");
    assert!(payload(request(&plain)).get("https://example.com/username").is_none(), "no plugin");
    // Per-request tails, interleaved so both see the same machine load; only
    // under `cargo bench` (cargo test runs benches once, as smoke tests).
    let benching = std::env::args().any(|a| a == "--bench");
    let (mut plain_t, mut hooked_t) = (Vec::new(), Vec::new());
    for _ in 0..if benching { 1000 } else { 1 } {
        for (client, out) in [(&plain, &mut plain_t), (&hooked, &mut hooked_t)] {
            let start = std::time::Instant::now();
            std::hint::black_box(request(client));
            out.push(start.elapsed());
        }
    }
    for (name, t) in [("no_plugin", &mut plain_t), ("rust_plugin", &mut hooked_t)] {
        t.sort();
        println!(
            "percentiles client_credentials/{name}: p50 {:?} p99 {:?} ({} requests)",
            t[t.len() / 2],
            t[t.len() * 99 / 100],
            t.len()
        );
    }
    println!(
        "ratio rust_plugin/no_plugin at p50: {:.3}",
        hooked_t[hooked_t.len() / 2].as_secs_f64() / plain_t[plain_t.len() / 2].as_secs_f64()
    );
    let mut group = c.benchmark_group("client_credentials");
    group.bench_function("no_plugin", |b| b.iter(|| request(&plain)));
    group.bench_function("rust_plugin", |b| b.iter(|| request(&hooked)));
    group.finish();
}

criterion_group!(benches, token_latency);
criterion_main!(benches);
