//! `Compiler::Subprocess` end to end with the real compile worker (the
//! package's `tessera-compile-worker` binary, which cargo must build before
//! it runs these tests): the artefact a child compiles under `RLIMIT_AS`
//! loads in the pooling engine and runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;

use serde_json::json;
use tessera_plugin_host::{Compiler, HostConfig, PluginHost, PluginVerdict, TokenContext, UploadError};

mod common;
use common::{fixture, plugins_dir};

/// The worker binary: cargo builds every `[[bin]]` of a package before its
/// integration tests and tells them where through `CARGO_BIN_EXE_<name>`, so
/// this never depends on what an earlier build left in the target dir.
fn worker() -> Compiler {
    Compiler::Subprocess { program: env!("CARGO_BIN_EXE_tessera-compile-worker").into(), args: vec![] }
}

fn host(dir: &Path, compile_memory_bytes: u64) -> PluginHost {
    let config = HostConfig {
        cache_dir: dir.to_owned(),
        pool_instances: 2,
        deadline_ms: 5_000,
        compile_memory_bytes,
        ..HostConfig::default()
    };
    PluginHost::new(config, [5; 32], worker()).unwrap()
}

fn ctx(config: serde_json::Value) -> TokenContext {
    serde_json::from_value(json!({
        "grant_type": "authorization_code",
        "client": {"id": "web"},
        "user": {"id": "u-1", "username": "alice", "roles": ["admin"], "source": "signed-in"},
        "config": config
    }))
    .unwrap()
}

#[test]
fn child_compiled_fixture_loads_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let h = host(dir.path(), 2 << 30);
    let wasm = fixture("allow-claim");
    let info = h.inspect(&wasm).unwrap();
    assert_eq!(h.stats().compiles, 1);
    let r = h.call(&info.sha256, || Err::<Vec<u8>, _>("prepared"), &ctx(json!({})), None);
    assert!(matches!(r.outcome, Ok(PluginVerdict::Allow(_))), "{:?}", r.outcome);
}

#[test]
fn child_reports_wrong_world_and_core_modules_like_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let h = host(dir.path(), 2 << 30);
    assert!(matches!(h.inspect(&fixture("wrong-world")), Err(UploadError::WrongWorld(_))));
    assert!(matches!(h.inspect(&fixture("not-a-component")), Err(UploadError::NotAComponent(_))));
}

/// 8 MiB is below what the worker needs to even start; depending on where it
/// runs out, the child reports a failed allocation (out of memory) or dies
/// (e.g. SIGSEGV growing its stack). Either way a clean one-line error.
/// (The classification itself is tested with scripted workers in compile.rs.)
/// docs/security-checklist.md W-10: compilation is contained by an address-space limit.
#[test]
fn child_over_its_address_space_limit_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let h = host(dir.path(), 8 << 20);
    let err = h.inspect(&fixture("allow-claim")).unwrap_err();
    assert!(matches!(err, UploadError::CompileOutOfMemory { .. } | UploadError::CompileFailed(_)), "{err}");
    assert!(!err.to_string().contains('\n'), "{err}");
}

/// The large examples, which carry an interpreter (Python, JavaScript) or a
/// runtime with a garbage collector (Go), must compile within the default
/// 2 GiB address-space limit. `plugins/build.sh` builds them; a missing one
/// fails the test rather than skipping it.
#[test]
fn large_examples_compile_under_the_default_limit() {
    let dir = tempfile::tempdir().unwrap();
    let h = host(dir.path(), HostConfig::default().compile_memory_bytes);
    let cases = [
        ("python-tenant", json!({"tenant": "acme"})),
        ("js-permissions", json!({"roles": {"admin": ["read"]}})),
        ("go-username", json!({})),
    ];
    for (name, config) in cases {
        let path = plugins_dir().join(format!("build/examples/{name}.wasm"));
        let wasm = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{} is missing ({e}): run plugins/build.sh", path.display()));
        let info = h.inspect(&wasm).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Several fresh instances: a warm one starts within its first
        // millisecond, where a monotonic clock starting at 0 would stop Go's
        // runtime (src/clocks.rs starts it at one step).
        for call in 0..10 {
            let r = h.call(&info.sha256, || Err::<Vec<u8>, _>("prepared"), &ctx(config.clone()), None);
            assert!(r.outcome.is_ok(), "{name}, call {call}: {:?}", r.outcome);
        }
    }
}
