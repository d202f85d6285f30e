//! Fresh-instance call overhead for each example plugin built by
//! `plugins/build.sh`, three ways (see [`Mode`]): instantiating inline, with
//! the instance made ahead on standby, and back to back.
//! Missing example files are skipped with a note: this is a bench, not a test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use tessera_plugin_host::{Compiler, HostConfig, PluginHost, TokenContext};

/// Each example with a binding config under which it succeeds on the sample
/// context, so the bench times the real path rather than an early `err`.
fn examples() -> [(&'static str, serde_json::Value); 6] {
    use serde_json::json;
    let audiences = json!({"allowed_audiences": ["https://api.example.com/billing"]});
    [
        ("rust-username", json!({})),
        ("js-permissions", json!({"roles": {"viewer": ["read"], "admin": ["read", "write"]}})),
        ("python-tenant", json!({"tenant": "acme"})),
        ("c-audience-guard", audiences.clone()),
        ("go-username", json!({})),
        ("zig-audience-guard", audiences),
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

/// How a call meets its instance (`standby.rs`).
#[derive(Clone, Copy)]
enum Mode {
    /// Standby off: the call instantiates, runs `on-token` and drops the
    /// store. The whole cost of a fresh instance.
    Inline,
    /// Standby on, and the background thread has made the next instance
    /// before each call (untimed `settle`): the request path when plugin
    /// calls are spaced by the rest of a token request.
    Standby,
    /// Standby on, calls back to back: the background thread races the
    /// caller, so this is what a saturated plugin sees.
    BackToBack,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Inline => "inline",
            Mode::Standby => "standby",
            Mode::BackToBack => "back_to_back",
        }
    }
}

fn new_host(cache: &std::path::Path, standby_instances: u32) -> PluginHost {
    let config = HostConfig {
        cache_dir: cache.to_owned(),
        deadline_ms: 1_000,
        pool_instances: 8,
        // For A/B runs of the pool's memory-reset settings (BENCHMARKS.md).
        keep_resident_bytes: std::env::var("TESSERA_BENCH_KEEP_RESIDENT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(HostConfig::default().keep_resident_bytes),
        reset_written_pages_only: std::env::var("TESSERA_BENCH_RESET_WRITTEN_PAGES_ONLY")
            .map_or(HostConfig::default().reset_written_pages_only, |v| v != "false"),
        standby_instances,
        ..HostConfig::default()
    };
    PluginHost::new(config, [42; 32], Compiler::InProcess).expect("host")
}

/// One call, timed the way the mode measures it.
fn timed_call(host: &PluginHost, mode: Mode, sha: &str, ctx: &TokenContext) -> std::time::Duration {
    if let Mode::Standby = mode {
        host.settle();
    }
    let start = std::time::Instant::now();
    let run = black_box(host.call(sha, || Err::<Vec<u8>, _>("already prepared"), black_box(ctx), None));
    let elapsed = start.elapsed();
    // A failing call is fast and would flatter the figures.
    assert!(run.outcome.is_ok(), "{:?}", run.outcome);
    elapsed
}

fn bench_calls(c: &mut Criterion) {
    let cache = tempfile::tempdir().expect("temp dir");
    // The second host loads the first one's compiled artefacts from disk.
    let inline = new_host(cache.path(), 0);
    let standby = new_host(cache.path(), 1);
    let mut group = c.benchmark_group("fresh_instance_call");
    for (name, config) in examples() {
        let ctx = TokenContext { config, ..context() };
        let path = plugins_dir().join(format!("build/examples/{name}.wasm"));
        // A missing example fails the run: `cargo test --all-targets` runs this
        // bench once, and a silent skip would hide a broken example build.
        let wasm = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{} is missing ({e}): run plugins/build.sh", path.display()));
        for mode in [Mode::Inline, Mode::Standby, Mode::BackToBack] {
            let host = if let Mode::Inline = mode { &inline } else { &standby };
            let info = host.inspect(&wasm).unwrap_or_else(|e| panic!("{name} does not load: {e}"));
            let first = host.call(&info.sha256, || Ok::<_, String>(wasm.clone()), &ctx, None);
            assert!(first.outcome.is_ok(), "{name} fails on the sample context: {:?}", first.outcome);
            let id = format!("{}/{name}", mode.label());
            group.bench_function(&id, |b| {
                b.iter_custom(|iters| (0..iters).map(|_| timed_call(host, mode, &info.sha256, &ctx)).sum());
            });
            // Criterion reports the mean and median; the tail needs each call timed.
            let n = if std::env::args().any(|a| a == "--bench") { 2000 } else { 1 };
            let mut samples: Vec<std::time::Duration> =
                (0..n).map(|_| timed_call(host, mode, &info.sha256, &ctx)).collect();
            samples.sort();
            println!(
                "percentiles fresh_instance_call/{id}: p50 {:?} p99 {:?} ({n} calls)",
                samples[samples.len() / 2],
                samples[samples.len() * 99 / 100]
            );
            host.settle();
        }
    }
    group.finish();
}

criterion_group!(benches, bench_calls);
criterion_main!(benches);
