//! Host tests of upload checks, call-path guards and the compile cache,
//! mostly on the 8-byte empty component; the run-slot test, which needs to
//! fill the host's gate from inside, calls the allow-claim fixture.

use std::path::Path;

use super::*;
use crate::context::ClientContext;

const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";

fn host(dir: &Path, key: u8) -> PluginHost {
    let config = HostConfig { cache_dir: dir.to_owned(), pool_instances: 2, ..HostConfig::default() };
    PluginHost::new(config, [key; 32], Compiler::InProcess).unwrap()
}

fn ctx() -> TokenContext {
    TokenContext {
        grant_type: "client_credentials".into(),
        client: ClientContext {
            id: "svc".into(),
            name: "Service".into(),
            metadata: serde_json::json!({}),
            confidential: true,
        },
        user: None,
        requested_scopes: vec![],
        granted_scopes: vec![],
        audience: vec![],
        access_token_claims: serde_json::Map::new(),
        id_token_claims: None,
        config: serde_json::json!({}),
        secrets: Default::default(),
    }
}

fn never() -> Result<Vec<u8>, String> {
    Err("loader must not be called".into())
}

#[test]
fn host_is_send_and_sync() {
    fn assert<T: Send + Sync>() {}
    assert::<PluginHost>();
}

/// docs/security-checklist.md W-9: the size cap applies before parsing.
#[test]
fn too_large_upload_is_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let h = PluginHost::new(
        HostConfig {
            cache_dir: dir.path().to_owned(),
            max_upload_bytes: 16,
            pool_instances: 2,
            ..HostConfig::default()
        },
        [0; 32],
        Compiler::InProcess,
    )
    .unwrap();
    let err = h.inspect(&[0u8; 17]).unwrap_err();
    assert_eq!(err, UploadError::TooLarge { size: 17, limit: 16 });
    assert_eq!(err.to_string(), "plugin is 17 bytes, larger than the 16-byte upload limit");
}

/// docs/security-checklist.md W-9: garbage, bad magic and core modules are refused.
#[test]
fn garbage_and_core_modules_are_not_components() {
    let dir = tempfile::tempdir().unwrap();
    let h = host(dir.path(), 1);
    for bad in [&b"hello world, not wasm"[..], b"\0asm\x01\x00\x00\x00", b""] {
        let err = h.inspect(bad).unwrap_err();
        assert!(matches!(err, UploadError::NotAComponent(_)), "{err}");
        assert!(err.to_string().starts_with("not a WebAssembly component: "));
    }
    assert_eq!(h.stats().compiles, 0);
}

#[test]
fn component_without_on_token_is_wrong_world() {
    let dir = tempfile::tempdir().unwrap();
    let h = host(dir.path(), 1);
    let err = h.inspect(EMPTY_COMPONENT).unwrap_err();
    let UploadError::WrongWorld(msg) = &err else { panic!("{err}") };
    assert!(msg.contains("does not export `on-token`"), "{msg}");
    assert!(!err.to_string().contains('\n'));
}

#[test]
fn call_rejects_a_malformed_sha_without_loading() {
    let dir = tempfile::tempdir().unwrap();
    let h = host(dir.path(), 1);
    for bad in ["../../etc/passwd", "ABC", &"A".repeat(64)] {
        let run = h.call(bad, never, &ctx(), None);
        assert!(matches!(run.outcome, Err(PluginFailure::Unavailable(_))), "{bad}");
    }
}

#[test]
fn call_reports_loader_errors_and_hash_mismatches_as_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let h = host(dir.path(), 1);
    let sha = hex::encode(Sha256::digest(EMPTY_COMPONENT));
    let run = h.call(&sha, || Err::<Vec<u8>, _>("database down"), &ctx(), None);
    assert!(matches!(&run.outcome, Err(PluginFailure::Unavailable(m)) if m.contains("database down")));
    let run = h.call(&sha, || Ok::<_, String>(b"other".to_vec()), &ctx(), None);
    assert!(matches!(&run.outcome, Err(PluginFailure::Unavailable(m)) if m.contains("do not hash")));
    let run = h.call(&sha, || Ok::<_, String>(EMPTY_COMPONENT.to_vec()), &ctx(), None);
    assert!(matches!(&run.outcome, Err(PluginFailure::Unavailable(m)) if m.contains("on-token")), "{:?}", run.outcome);
}

#[test]
fn oversized_input_is_refused_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let h = host(dir.path(), 1);
    let mut big = ctx();
    big.config = serde_json::json!({ "blob": "x".repeat(200 << 10) });
    let run = h.call(&"0".repeat(64), never, &big, None);
    let Err(PluginFailure::OversizedInput { size, limit }) = run.outcome else { panic!("{:?}", run.outcome) };
    assert!(size > limit && limit == 128 << 10);
}

#[test]
fn fresh_host_reuses_an_authentic_cache_file() {
    let dir = tempfile::tempdir().unwrap();
    let first = host(dir.path(), 7);
    let _ = first.inspect(EMPTY_COMPONENT);
    assert_eq!(first.stats().compiles, 1);
    drop(first);
    let second = host(dir.path(), 7);
    let _ = second.inspect(EMPTY_COMPONENT);
    assert_eq!(second.stats(), HostStats { compiles: 0, disk_cache_hits: 1, disk_cache_rejects: 0, standby_hits: 0 });
}

/// docs/security-checklist.md W-10: a cached artefact is deserialized only if this node's
/// key authenticates it; tampered or foreign files are recompiled.
#[test]
fn tampered_or_foreign_cache_files_are_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let _ = host(dir.path(), 7).inspect(EMPTY_COMPONENT);
    let sha = hex::encode(Sha256::digest(EMPTY_COMPONENT));
    let mac = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(".cwasm.mac"))
        .unwrap();
    assert!(mac.file_name().unwrap().to_string_lossy().starts_with(&sha));
    std::fs::write(&mac, "00".repeat(32)).unwrap();

    let h = host(dir.path(), 7);
    let _ = h.inspect(EMPTY_COMPONENT);
    assert_eq!(h.stats().compiles, 1);
    assert_eq!(h.stats().disk_cache_rejects, 1);
    assert_eq!(h.stats().disk_cache_hits, 0);

    // A node with another key does not trust this node's (now valid) file.
    let other = host(dir.path(), 8);
    let _ = other.inspect(EMPTY_COMPONENT);
    assert_eq!(other.stats().compiles, 1);
    assert_eq!(other.stats().disk_cache_rejects, 1);
}

#[test]
fn sha_check_accepts_only_lowercase_hex() {
    assert!(is_sha256_hex(&"a1".repeat(32)));
    assert!(!is_sha256_hex(&"A1".repeat(32)));
    assert!(!is_sha256_hex(&"a1".repeat(31)));
}

/// `forget_http_cache` empties the one binding's response cache in the
/// host's shared caches (the ones its calls read), and no other binding's.
#[test]
fn forgetting_a_bindings_http_cache_drops_its_entries_in_the_host() {
    use crate::http_cache::{CacheKey, Cached};
    let dir = tempfile::tempdir().unwrap();
    let h = host(dir.path(), 7);
    let later = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let key = CacheKey::new("GET", "https://dir.example/users/7", None, &[], &[]);
    let answer = Cached { status: 200, headers: vec![], body: "{}".into() };
    h.http_caches.put("deleted", key.clone(), answer.clone(), later);
    h.http_caches.put("other", key.clone(), answer, later);
    h.forget_http_cache("deleted");
    assert_eq!(h.http_caches.len("deleted"), 0);
    assert!(h.http_caches.get("deleted", &key, std::time::Instant::now()).is_none());
    assert_eq!(h.http_caches.len("other"), 1, "other bindings keep their answers");
}

/// docs/security-checklist.md W-26: a heavy call that finds every run slot
/// taken waits in line until its deadline would pass, then fails as
/// saturated (code `busy`, retryable: a 503 at the token endpoint); once a
/// slot is free it runs.
#[test]
fn a_heavy_call_without_a_run_slot_fails_as_saturated() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/build/fixtures/allow-claim.wasm");
    let wasm = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{} is missing ({e}): run plugins/build.sh --fixtures", path.display()));
    let dir = tempfile::tempdir().unwrap();
    let config = HostConfig {
        cache_dir: dir.path().to_owned(),
        pool_instances: 4,
        deadline_ms: 100,
        running_calls: 2,
        standby_instances: 0,
        // Every plugin counts as heavy.
        standby_threshold_us: 0,
        ..HostConfig::default()
    };
    let h = PluginHost::new(config, [3; 32], Compiler::InProcess).unwrap();
    let sha = h.inspect(&wasm).unwrap().sha256;
    let (x, y): (Arc<str>, Arc<str>) = (Arc::from("x"), Arc::from("y"));
    let held = h.gate.enter(&x, Instant::now()).unwrap();
    let _other = h.gate.enter(&y, Instant::now()).unwrap();
    let start = Instant::now();
    let run = h.call(&sha, never, &ctx(), None);
    let failure = PluginFailure::Saturated { running: 2 };
    assert_eq!(run.outcome, Err(failure.clone()));
    assert!(start.elapsed() >= Duration::from_millis(90), "it waited in line first: {:?}", start.elapsed());
    assert_eq!(failure.code(), "busy");
    assert!(failure.is_retryable());
    drop(held);
    assert!(h.call(&sha, never, &ctx(), None).outcome.is_ok(), "a freed slot lets it run");
}
