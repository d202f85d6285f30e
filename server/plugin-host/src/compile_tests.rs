//! Tests for the header check and the compile child, using `/bin/sh` scripts
//! as stand-in workers so the timeout, rlimit and error paths run without a
//! real compiler binary.

use super::*;
use crate::engine::host_engine;

/// The smallest valid component: just the preamble.
const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";

fn cfg(dir: &Path) -> HostConfig {
    HostConfig { cache_dir: dir.to_owned(), pool_instances: 2, compile_timeout_ms: 10_000, ..HostConfig::default() }
}

/// `/bin/sh -c script worker extra..`: the extras are `$1..`, followed by
/// wasm-in and cwasm-out.
fn sh(script: &str, extra: &[&str]) -> Compiler {
    let mut args: Vec<OsString> = vec!["-c".into(), script.into(), "worker".into()];
    args.extend(extra.iter().map(OsString::from));
    Compiler::Subprocess { program: "/bin/sh".into(), args }
}

#[test]
fn header_accepts_components_only() {
    assert_eq!(check_header(EMPTY_COMPONENT), Ok(()));
    let core = b"\0asm\x01\x00\x00\x00";
    let Err(UploadError::NotAComponent(msg)) = check_header(core) else { panic!("core module accepted") };
    assert!(msg.contains("core WebAssembly module"), "{msg}");
    for bad in [&b""[..], b"\0asm", b"GIF89a\0\0\0\0", b"(component)"] {
        assert!(matches!(check_header(bad), Err(UploadError::NotAComponent(_))), "{bad:?}");
    }
    let future = b"\0asm\x0e\x00\x01\x00";
    assert!(matches!(check_header(future), Err(UploadError::NotAComponent(m)) if m.contains("0xe")));
}

#[test]
fn one_line_folds_and_bounds() {
    assert_eq!(one_line("a\n  b\tc", 100), "a b c");
    assert!(one_line(&"x".repeat(1000), 50).len() <= 50);
}

#[test]
fn worker_main_writes_an_artefact_the_host_engine_loads() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.wasm");
    let output = dir.path().join("out.cwasm");
    std::fs::write(&input, EMPTY_COMPONENT).unwrap();
    compile_worker_main(&input, &output).unwrap();
    let engine = host_engine(&cfg(dir.path())).unwrap();
    let bytes = std::fs::read(&output).unwrap();
    #[allow(unsafe_code)]
    // SAFETY: written by compile_worker_main just above.
    let loaded = unsafe { Component::deserialize(&engine, &bytes) };
    assert!(loaded.is_ok());
}

#[test]
fn worker_main_refuses_core_modules() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.wasm");
    std::fs::write(&input, b"\0asm\x01\x00\x00\x00").unwrap();
    let r = compile_worker_main(&input, &dir.path().join("out.cwasm"));
    assert!(matches!(r, Err(HostError::Compile(_))), "{r:?}");
}

#[test]
fn subprocess_output_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    let engine = host_engine(&c).unwrap();
    let precompiled = dir.path().join("pre.cwasm");
    std::fs::write(&precompiled, worker_engine().unwrap().precompile_component(EMPTY_COMPONENT).unwrap()).unwrap();
    // $1 = the precompiled file, $2 = wasm-in, $3 = cwasm-out.
    let worker = sh(r#"test -s "$2" && cp "$1" "$3""#, &[precompiled.to_str().unwrap()]);
    let (_component, artefact) = compile(&engine, &worker, &c, EMPTY_COMPONENT).unwrap();
    assert_eq!(artefact, std::fs::read(&precompiled).unwrap());
    // Scratch files are cleaned up.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("compile-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// docs/security-checklist.md W-10: compilation runs under a wall-clock limit.
#[test]
fn timeout_kills_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let c = HostConfig { compile_timeout_ms: 200, ..cfg(dir.path()) };
    let engine = host_engine(&c).unwrap();
    let start = Instant::now();
    let r = compile(&engine, &sh("sleep 30", &[]), &c, EMPTY_COMPONENT);
    assert_eq!(r.err(), Some(UploadError::CompileTimeout { limit_ms: 200 }));
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    let text = UploadError::CompileTimeout { limit_ms: 200 }.to_string();
    assert_eq!(text, "plugin compilation exceeded the 200 ms time limit");
}

/// docs/security-checklist.md W-10: the compile child runs under `RLIMIT_AS`.
#[test]
fn child_runs_with_the_address_space_limit_and_no_environment() {
    let dir = tempfile::tempdir().unwrap();
    let c = HostConfig { compile_memory_bytes: 512 << 20, ..cfg(dir.path()) };
    let engine = host_engine(&c).unwrap();
    // HOME is set for the test process; the child must not see it.
    assert!(std::env::var_os("HOME").is_some());
    let script = r#"echo "as=$(ulimit -v) env=$(env | grep -c '^HOME=')" >&2; exit 3"#;
    let r = compile(&engine, &sh(script, &[]), &c, EMPTY_COMPONENT);
    let Err(UploadError::CompileFailed(msg)) = r else { panic!("{r:?}") };
    assert!(msg.contains("status 3"), "{msg}");
    assert!(msg.contains("as=524288"), "{msg}");
    assert!(msg.contains("env=0"), "{msg}");
}

#[test]
fn allocation_failure_in_the_child_is_out_of_memory() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    let engine = host_engine(&c).unwrap();
    let script = "echo 'memory allocation of 4294967296 bytes failed' >&2; kill -ABRT $$";
    let r = compile(&engine, &sh(script, &[]), &c, EMPTY_COMPONENT);
    assert_eq!(r.err(), Some(UploadError::CompileOutOfMemory { limit: c.compile_memory_bytes }));
}

#[test]
fn garbage_output_is_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    let engine = host_engine(&c).unwrap();
    let r = compile(&engine, &sh(r#"echo garbage > "$2""#, &[]), &c, EMPTY_COMPONENT);
    assert!(matches!(&r, Err(UploadError::CompileFailed(m)) if m.contains("could not be loaded")), "{:?}", r.err());
}

#[test]
fn missing_program_is_an_internal_error() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    let engine = host_engine(&c).unwrap();
    let worker = Compiler::Subprocess { program: dir.path().join("no-such-binary"), args: vec![] };
    let r = compile(&engine, &worker, &c, EMPTY_COMPONENT);
    assert!(matches!(r, Err(UploadError::Internal(_))), "{:?}", r.err());
}
