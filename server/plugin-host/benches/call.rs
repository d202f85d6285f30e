//! Fresh-instance call overhead (new store + instantiate + `on-token` +
//! validation + drop) for each example plugin built by `plugins/build.sh`.
//! Missing example files are skipped with a note: this is a bench, not a test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use tessera_plugin_host::{Compiler, HostConfig, PluginHost, TokenContext};

/// Each example with a binding config under which it succeeds on the sample
/// context, so the bench times the real path rather than an early `err`.
fn examples() -> [(&'static str, serde_json::Value); 4] {
    use serde_json::json;
    [
        ("rust-username", json!({})),
        ("js-permissions", json!({"roles": {"viewer": ["read"], "admin": ["read", "write"]}})),
        ("python-tenant", json!({"tenant": "acme"})),
        ("c-audience-guard", json!({"allowed_audiences": ["https://api.example.com/billing"]})),
    ]
}

fn plugins_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../plugins")
}

fn context() -> TokenContext {
    let path = plugins_dir().join("examples/context.sample.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("sample context parses")
}

fn bench_calls(c: &mut Criterion) {
    let cache = tempfile::tempdir().expect("temp dir");
    let config = HostConfig {
        cache_dir: cache.path().to_owned(),
        deadline_ms: 1_000,
        pool_instances: 4,
        // For A/B runs of the pool's resident-memory setting (BENCHMARKS.md).
        keep_resident_bytes: std::env::var("TESSERA_BENCH_KEEP_RESIDENT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(HostConfig::default().keep_resident_bytes),
        ..HostConfig::default()
    };
    let host = PluginHost::new(config, [42; 32], Compiler::InProcess).expect("host");
    let mut group = c.benchmark_group("fresh_instance_call");
    for (name, config) in examples() {
        let ctx = TokenContext { config, ..context() };
        let path = plugins_dir().join(format!("build/examples/{name}.wasm"));
        let Ok(wasm) = std::fs::read(&path) else {
            eprintln!("note: skipping {name}: {} not found (run plugins/build.sh)", path.display());
            continue;
        };
        let info = match host.inspect(&wasm) {
            Ok(info) => info,
            Err(e) => {
                eprintln!("note: skipping {name}: {e}");
                continue;
            }
        };
        let first = host.call(&info.sha256, || Ok::<_, String>(wasm.clone()), &ctx, None);
        if let Err(e) = &first.outcome {
            eprintln!("note: {name} fails on the sample context ({e}); timing it anyway");
        }
        group.bench_function(name, |b| {
            b.iter(|| {
                let run = host.call(&info.sha256, || Err::<Vec<u8>, _>("already prepared"), black_box(&ctx), None);
                black_box(run)
            });
        });
        // Criterion reports the mean and median; the tail needs each call timed.
        let n = if std::env::args().any(|a| a == "--bench") { 2000 } else { 1 };
        let mut samples: Vec<std::time::Duration> = (0..n)
            .map(|_| {
                let start = std::time::Instant::now();
                black_box(host.call(&info.sha256, || Err::<Vec<u8>, _>("already prepared"), &ctx, None));
                start.elapsed()
            })
            .collect();
        samples.sort();
        println!(
            "percentiles fresh_instance_call/{name}: p50 {:?} p99 {:?} ({n} calls)",
            samples[samples.len() / 2],
            samples[samples.len() * 99 / 100]
        );
    }
    group.finish();
}

criterion_group!(benches, bench_calls);
criterion_main!(benches);
