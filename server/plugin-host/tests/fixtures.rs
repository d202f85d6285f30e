//! Runs every fixture component from `plugins/fixtures/` (built into
//! `plugins/build/fixtures/` by `plugins/build.sh`) through the real host with
//! `Compiler::InProcess`. A missing fixture fails the test: run
//! `plugins/build.sh --fixtures`.
//!
//! Every failure fixture is followed by an allow-claim call on the same host,
//! so a failure that leaked state (a stuck pool slot, a poisoned lock, memory
//! not returned) shows up as a broken next call.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::sync::{Barrier, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tessera_plugin_host::{
    Compiler, DenialCode, HostConfig, LogLevel, PluginFailure, PluginHost, PluginRun, PluginVerdict, TokenContext,
    UploadError,
};

mod common;
use common::{fixture, plugins_dir};

fn new_host(dir: &Path, deadline_ms: u64) -> PluginHost {
    let config = HostConfig {
        cache_dir: dir.to_owned(),
        deadline_ms,
        pool_instances: 16,
        // Tests run in parallel and many call allow-claim at once; the share
        // has tests of its own below.
        max_pool_share_percent: 100,
        ..HostConfig::default()
    };
    PluginHost::new(config, [9; 32], Compiler::InProcess).unwrap()
}

/// One host for the whole file, as in the server: tests run in parallel on
/// it, which also exercises concurrent preparation.
fn host() -> &'static PluginHost {
    static HOST: OnceLock<(tempfile::TempDir, PluginHost)> = OnceLock::new();
    &HOST
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            // Generous for slow debug CI machines; loop-forever still has to
            // come back within a few seconds.
            let host = new_host(dir.path(), 500);
            (dir, host)
        })
        .1
}

fn ctx() -> TokenContext {
    serde_json::from_value(json!({
        "grant_type": "authorization_code",
        "client": {"id": "web", "name": "Web app", "metadata": {"team": "a"}, "confidential": true},
        "user": {
            "id": "u-1", "username": "alice", "email": "alice@example.com",
            "profile": {"name": "Alice"}, "metadata": {"tenant": "acme"},
            "roles": ["admin"], "source": "signed-in"
        },
        "requested_scopes": ["openid", "read", "write"],
        "granted_scopes": ["openid", "read", "write"],
        "audience": ["https://api.example.com"],
        "access_token_claims": {"sub": "u-1"},
        "id_token_claims": {"sub": "u-1"},
        "config": {"tenant": "t-9"},
        "secrets": {"zeta": "z", "alpha": "a"}
    }))
    .unwrap()
}

fn run_with(name: &str, ctx: &TokenContext, declared: Option<&[String]>) -> PluginRun {
    let wasm = fixture(name);
    let info = host().inspect(&wasm).unwrap_or_else(|e| panic!("{name}: {e}"));
    host().call(&info.sha256, || Ok::<_, String>(wasm), ctx, declared)
}

fn run(name: &str) -> PluginRun {
    run_with(name, &ctx(), None)
}

fn failure(name: &str) -> PluginFailure {
    let r = run(name);
    let failure = r.outcome.expect_err(name);
    assert_allow_claim_still_works();
    failure
}

fn assert_allow_claim_still_works() {
    let r = run("allow-claim");
    let Ok(PluginVerdict::Allow(patch)) = &r.outcome else { panic!("allow-claim after a failure: {:?}", r.outcome) };
    assert_eq!(patch.access_token_claims().get("fixture"), Some(&json!("allow-claim")));
}

/// docs/security-checklist.md W-8: a fresh store and instance per call.
#[test]
fn no_state_survives_from_one_call_to_the_next() {
    // The fixture counts calls in a static and leaves marked heap pages
    // behind; a fresh, zeroed instance per call sees neither, however much
    // of the pool slot is kept resident.
    for i in 0..20 {
        let r = run("counter");
        let Ok(PluginVerdict::Allow(patch)) = &r.outcome else { panic!("{:?}", r.outcome) };
        assert_eq!(patch.access_token_claims().get("calls"), Some(&json!(1)), "call {i}");
        assert_eq!(patch.access_token_claims().get("heap_marks"), Some(&json!(0)), "call {i}");
    }
}

/// docs/security-checklist.md W-8, for every way a pool slot is reset: given
/// back whole (nothing kept resident); written pages copied back within a
/// kept prefix of one page and the rest given back (where PAGEMAP_SCAN
/// exists the scan stops at the first written page, so both steps run on one
/// slot); the default, where everything the fixture writes is copied back;
/// and the whole kept prefix copied back. Standby is off so every call
/// reuses a slot the previous call wrote.
#[test]
fn no_state_survives_however_the_slot_is_reset() {
    let counter = fixture("counter");
    let keep = HostConfig::default().keep_resident_bytes;
    for (keep_resident_bytes, reset_written_pages_only) in [(0, true), (4096, true), (keep, true), (keep, false)] {
        let dir = tempfile::tempdir().unwrap();
        let config = HostConfig {
            cache_dir: dir.path().to_owned(),
            pool_instances: 2,
            keep_resident_bytes,
            reset_written_pages_only,
            standby_instances: 0,
            ..HostConfig::default()
        };
        let host = PluginHost::new(config, [9; 32], Compiler::InProcess).unwrap();
        let sha = host.inspect(&counter).unwrap().sha256;
        for i in 0..5 {
            let r = host.call(&sha, || Err::<Vec<u8>, _>("prepared"), &ctx(), None);
            let Ok(PluginVerdict::Allow(patch)) = &r.outcome else { panic!("{:?}", r.outcome) };
            let what = format!("keep {keep_resident_bytes}, written only {reset_written_pages_only}, call {i}");
            assert_eq!(patch.access_token_claims().get("calls"), Some(&json!(1)), "{what}");
            assert_eq!(patch.access_token_claims().get("heap_marks"), Some(&json!(0)), "{what}");
        }
    }
}

#[test]
fn allow_claim_adds_its_claim_and_log_line() {
    let r = run("allow-claim");
    let Ok(PluginVerdict::Allow(patch)) = &r.outcome else { panic!("{:?}", r.outcome) };
    assert_eq!(patch.access_token_claims().get("fixture"), Some(&json!("allow-claim")));
    assert_eq!(patch.id_token_claims().get("fixture"), Some(&json!("allow-claim")));
    assert!(patch.drop_scopes().is_empty());
    assert_eq!(r.logs.len(), 1, "{:?}", r.logs);
    assert_eq!(r.logs[0].level, LogLevel::Info);
    assert_eq!(r.logs[0].message, "allow-claim ran");
}

#[test]
fn allow_claim_with_a_matching_declaration_passes() {
    let declared = vec!["fixture".to_owned()];
    let r = run_with("allow-claim", &ctx(), Some(&declared));
    assert!(matches!(r.outcome, Ok(PluginVerdict::Allow(_))), "{:?}", r.outcome);
    let r = run_with("allow-claim", &ctx(), Some(&[]));
    assert_eq!(r.outcome, Err(PluginFailure::UndeclaredClaim("fixture".into())));
}

#[test]
fn allow_claim_without_an_id_token_sets_no_id_claims() {
    let mut c = ctx();
    c.id_token_claims = None;
    let r = run_with("allow-claim", &c, None);
    let Ok(PluginVerdict::Allow(patch)) = &r.outcome else { panic!("{:?}", r.outcome) };
    assert!(patch.id_token_claims().is_empty());
}

#[test]
fn echo_context_sees_exactly_the_context_given() {
    let r = run("echo-context");
    let Ok(PluginVerdict::Allow(patch)) = &r.outcome else { panic!("{:?}", r.outcome) };
    assert_eq!(
        patch.access_token_claims().get("ctx"),
        Some(&json!({
            "grant_type": "authorization_code",
            "client_id": "web",
            "user_id": "u-1",
            "user_source": "signed-in",
            "granted_scopes": ["openid", "read", "write"],
            "audience": ["https://api.example.com"],
            "config": {"tenant": "t-9"},
            "secret_names": ["alpha", "zeta"],
        }))
    );
}

#[test]
fn echo_context_without_a_user_sees_nulls() {
    let mut c = ctx();
    c.grant_type = "client_credentials".into();
    c.user = None;
    c.secrets = Default::default();
    let r = run_with("echo-context", &c, None);
    let Ok(PluginVerdict::Allow(patch)) = &r.outcome else { panic!("{:?}", r.outcome) };
    let echo = &patch.access_token_claims()["ctx"];
    assert_eq!(echo["user_id"], Value::Null);
    assert_eq!(echo["user_source"], Value::Null);
    assert_eq!(echo["grant_type"], json!("client_credentials"));
    assert_eq!(echo["secret_names"], json!([]));
}

#[test]
fn drop_scope_drops_the_configured_scopes() {
    let mut c = ctx();
    c.config = json!({"drop": ["write", "read"]});
    let r = run_with("drop-scope", &c, None);
    let Ok(PluginVerdict::Allow(patch)) = &r.outcome else { panic!("{:?}", r.outcome) };
    assert_eq!(patch.drop_scopes(), ["write", "read"]);
    assert!(patch.access_token_claims().is_empty());
}

#[test]
fn deny_maps_code_and_description() {
    let r = run("deny");
    assert_eq!(
        r.outcome,
        Ok(PluginVerdict::Deny { code: DenialCode::AccessDenied, description: "denied by fixture".into() })
    );
}

#[test]
fn plugin_error_is_plugin_error() {
    assert_eq!(failure("plugin-error"), PluginFailure::PluginError("fixture failure".into()));
}

#[test]
fn trap_is_trap() {
    let f = failure("trap");
    assert!(matches!(&f, PluginFailure::Trap(m) if m.contains("unreachable")), "{f:?}");
    assert_eq!(f.code(), "trap");
}

/// docs/security-checklist.md W-3 (the epoch half; fuel is not used) and W-14's "fails
/// closed": an endless loop is stopped by the deadline and the host recovers.
#[test]
fn loop_forever_hits_the_deadline() {
    let start = Instant::now();
    let r = run("loop-forever");
    assert_eq!(r.outcome, Err(PluginFailure::Deadline));
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
    assert!(r.duration >= Duration::from_millis(400), "{:?}", r.duration);
    assert_allow_claim_still_works();
}

/// docs/security-checklist.md W-5, W-6: the memory cap stops a guest that grows without end.
#[test]
fn grow_memory_hits_the_memory_cap() {
    assert_eq!(failure("grow-memory"), PluginFailure::Memory);
}

/// docs/security-checklist.md W-13: output over the 20 KiB cap is refused.
#[test]
fn oversized_output_is_refused() {
    let f = failure("oversized-output");
    assert!(
        matches!(f, PluginFailure::OversizedOutput { size, limit } if size > 1 << 20 && limit == 20 << 10),
        "{f:?}"
    );
}

/// docs/security-checklist.md W-13: a plugin cannot set a reserved claim.
#[test]
fn reserved_claim_is_refused() {
    assert_eq!(failure("reserved-claim"), PluginFailure::ReservedClaim("sub".into()));
}

/// docs/security-checklist.md W-13: output that is not a JSON object is refused.
#[test]
fn malformed_claims_are_invalid_output() {
    let f = failure("malformed-claims");
    assert!(matches!(&f, PluginFailure::InvalidOutput(m) if m.contains("not valid JSON")), "{f:?}");
    let mut c = ctx();
    c.config = json!({"variant": "not-an-object"});
    let r = run_with("malformed-claims", &c, None);
    assert!(
        matches!(&r.outcome, Err(PluginFailure::InvalidOutput(m)) if m.contains("not a JSON object")),
        "{:?}",
        r.outcome
    );
}

#[test]
fn log_flood_is_allowed_with_logs_capped() {
    // The fixture spends ~0.5 s building 100 MB of lines (its own CPU, not
    // the host's), so it gets a patient host; the cap is what is under test.
    let dir = tempfile::tempdir().unwrap();
    let patient = new_host(dir.path(), 30_000);
    let wasm = fixture("log-flood");
    let sha = patient.inspect(&wasm).unwrap().sha256;
    let r = patient.call(&sha, || Ok::<_, String>(wasm), &ctx(), None);
    assert!(matches!(r.outcome, Ok(PluginVerdict::Allow(_))), "{:?}", r.outcome);
    let limits = patient.config();
    assert_eq!(r.logs.len(), limits.max_log_lines + 1);
    assert!(r.logs.iter().all(|l| l.message.len() <= limits.max_log_line_bytes));
    assert!(r.logs[0].message.starts_with("log-flood line 00000 "));
    let marker = r.logs.last().unwrap();
    assert_eq!(marker.message, format!("… {} lines dropped", 10_000 - limits.max_log_lines));
}

#[test]
fn log_flood_under_the_shared_deadline_leaves_the_host_usable() {
    // Allowed or stopped by the 500 ms deadline depending on machine speed;
    // either way the next call must work and the logs stay capped.
    let r = run("log-flood");
    assert!(matches!(r.outcome, Ok(_) | Err(PluginFailure::Deadline)), "{:?}", r.outcome);
    assert!(r.logs.len() <= host().config().max_log_lines + 1);
    assert_allow_claim_still_works();
}

/// docs/security-checklist.md W-9: a component of another world is refused at upload.
#[test]
fn wrong_world_is_refused_at_upload() {
    let err = host().inspect(&fixture("wrong-world")).unwrap_err();
    let UploadError::WrongWorld(msg) = &err else { panic!("{err}") };
    assert!(msg.contains("on-token"), "{msg}");
    assert!(!err.to_string().contains('\n'));
}

/// docs/security-checklist.md W-9: a core module is refused at upload.
#[test]
fn not_a_component_is_refused_at_upload() {
    let err = host().inspect(&fixture("not-a-component")).unwrap_err();
    assert!(matches!(&err, UploadError::NotAComponent(m) if m.contains("core WebAssembly module")), "{err}");
}

#[test]
fn inspect_reports_identity_world_and_interface() {
    let wasm = fixture("allow-claim");
    let info = host().inspect(&wasm).unwrap();
    assert_eq!(info.size, wasm.len());
    assert_eq!(info.sha256.len(), 64);
    assert_eq!(info.world, "tessera:plugin/token-plugin@0.1.0");
    assert_eq!(info.exports, ["on-token"]);
    assert!(info.imports.iter().any(|i| i.starts_with("tessera:plugin/host")), "{:?}", info.imports);
}

#[test]
fn second_call_is_served_from_memory() {
    let wasm = fixture("allow-claim");
    let info = host().inspect(&wasm).unwrap();
    let r = host().call(&info.sha256, || Err::<Vec<u8>, _>("must not load"), &ctx(), None);
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
}

/// A small host whose compile cache is `dir`, with one node key: hosts
/// made on one `dir` share their artefacts.
fn cached_host(dir: &Path) -> PluginHost {
    let config = HostConfig { cache_dir: dir.to_owned(), pool_instances: 2, ..HostConfig::default() };
    PluginHost::new(config, [3; 32], Compiler::InProcess).unwrap()
}

#[test]
fn fresh_host_loads_fixture_from_disk_and_runs_it() {
    let dir = tempfile::tempdir().unwrap();
    let make = || cached_host(dir.path());
    let wasm = fixture("allow-claim");
    let sha = make().inspect(&wasm).unwrap().sha256;
    let fresh = make();
    let r = fresh.call(&sha, || Ok::<_, String>(wasm.clone()), &ctx(), None);
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
    assert_eq!(fresh.stats().compiles, 0);
    assert_eq!(fresh.stats().disk_cache_hits, 1);
}

/// A version this node compiled before runs from its disk-cache artefact
/// without reading the component's bytes (17.6 MiB for the Python example,
/// which held beside the artefact were its peak memory); with no artefact
/// the bytes are read and compiled.
#[test]
fn a_cached_artefact_runs_without_the_components_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let make = || cached_host(dir.path());
    let wasm = fixture("allow-claim");
    let sha = make().inspect(&wasm).unwrap().sha256;
    let fresh = make();
    let r = fresh.call(&sha, || Err::<Vec<u8>, _>("the bytes must not be read"), &ctx(), None);
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
    assert_eq!((fresh.stats().compiles, fresh.stats().disk_cache_hits), (0, 1));
    assert_eq!(fresh.inspect(&wasm).unwrap().size, wasm.len(), "inspect still reports the size");
    // The warmer's way in, likewise.
    let warmed = make();
    warmed.warm(&sha, || Err::<Vec<u8>, _>("the bytes must not be read")).unwrap();
    assert_eq!((warmed.stats().compiles, warmed.stats().disk_cache_hits), (0, 1));

    let empty = tempfile::tempdir().unwrap();
    let cold = cached_host(empty.path());
    let r = cold.call(&sha, || Err::<Vec<u8>, _>("database down"), &ctx(), None);
    assert!(matches!(&r.outcome, Err(PluginFailure::Unavailable(m)) if m.contains("database down")), "{:?}", r.outcome);
    cold.warm(&sha, || Ok::<_, String>(wasm.clone())).unwrap();
    assert_eq!(cold.stats().compiles, 1, "no artefact: the bytes are compiled");
}

#[test]
fn sample_context_file_parses() {
    let path = plugins_dir().join("examples/context.sample.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let ctx: TokenContext = serde_json::from_str(&text).unwrap();
    let back: TokenContext = serde_json::from_str(&serde_json::to_string(&ctx).unwrap()).unwrap();
    assert_eq!(back, ctx);
}

/// docs/security-checklist.md W-15: calls beyond the pool fail fast, never queue.
#[test]
fn a_full_pool_fails_fast_as_unavailable_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        HostConfig { cache_dir: dir.path().to_owned(), deadline_ms: 2_000, pool_instances: 1, ..HostConfig::default() };
    let small = PluginHost::new(config, [9; 32], Compiler::InProcess).unwrap();
    let looping = fixture("loop-forever");
    let allow = fixture("allow-claim");
    let loop_sha = small.inspect(&looping).unwrap().sha256;
    let allow_sha = small.inspect(&allow).unwrap().sha256;
    let never = || Err::<Vec<u8>, _>("prepared");

    std::thread::scope(|s| {
        let busy = s.spawn(|| small.call(&loop_sha, never, &ctx(), None).outcome);
        // Whichever call finds the single slot taken must fail at once.
        let mut refused = false;
        while !busy.is_finished() && !refused {
            let start = Instant::now();
            let r = small.call(&allow_sha, never, &ctx(), None);
            if let Err(PluginFailure::Unavailable(_)) = r.outcome {
                assert!(start.elapsed() < Duration::from_millis(500));
                refused = true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let busy = busy.join().unwrap();
        assert!(
            refused || matches!(busy, Err(PluginFailure::Unavailable(_))),
            "no call was refused; loop-forever gave {busy:?}"
        );
    });
    let r = small.call(&allow_sha, never, &ctx(), None);
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
}

/// Issue #11 item 2 (docs/security-checklist.md W-4, W-19): a plugin that sleeps 3 s with
/// `std::thread::sleep` (WASI monotonic-clock subscribe, then poll) under a
/// 500 ms deadline is stopped at the deadline, not when it wakes up: the
/// deadline bounds wall time, waits in host calls included.
#[test]
fn sleep_is_stopped_at_the_deadline() {
    let mut c = ctx();
    c.config = json!({"ms": 3_000});
    let r = run_with("sleep", &c, None);
    assert_eq!(r.outcome, Err(PluginFailure::Deadline));
    assert!(r.duration >= Duration::from_millis(450), "{:?}", r.duration);
    assert!(r.duration < Duration::from_millis(1_500), "slept past the deadline: {:?}", r.duration);
    assert_allow_claim_still_works();
}

/// Issue #11 item 2: waits are bounded, not forbidden: a short sleep well
/// within the deadline completes and the plugin goes on.
#[test]
fn a_sleep_within_the_deadline_completes() {
    let mut c = ctx();
    c.config = json!({"ms": 20});
    let r = run_with("sleep", &c, None);
    let Ok(PluginVerdict::Allow(patch)) = &r.outcome else { panic!("{:?}", r.outcome) };
    assert_eq!(patch.access_token_claims().get("slept_ms"), Some(&json!(20)));
    assert!(r.duration >= Duration::from_millis(20), "{:?}", r.duration);
}

/// A host where every plugin counts as heavy (`standby_threshold_us: 0`)
/// and `running` calls run at once (`gate.rs`).
fn gated_host(dir: &Path, running: u32, deadline_ms: u64) -> PluginHost {
    let config = HostConfig {
        cache_dir: dir.to_owned(),
        deadline_ms,
        pool_instances: 16,
        max_pool_share_percent: 100,
        standby_instances: 0,
        standby_threshold_us: 0,
        running_calls: running,
        ..HostConfig::default()
    };
    PluginHost::new(config, [9; 32], Compiler::InProcess).unwrap()
}

/// docs/security-checklist.md W-26: a heavy call that has run for ten
/// milliseconds gives its run slot back, so a call that loops until its
/// deadline cannot hold the only slot: another call runs meanwhile, and the
/// loop still ends at its own deadline, not a second one after the slot went
/// back (that would take twice the deadline). The upper bound leaves 1.5 s
/// for instantiation and a loaded CI machine: 2.54 s was seen there once.
#[test]
fn a_long_call_gives_its_run_slot_back_and_keeps_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let host = gated_host(dir.path(), 1, 2_000);
    let looping = host.inspect(&fixture("loop-forever")).unwrap().sha256;
    let run = runs_beside(&host, Duration::from_millis(200), "loop", || {
        host.call(&looping, || Err::<Vec<u8>, _>("prepared"), &ctx(), None)
    });
    assert_eq!(run.outcome, Err(PluginFailure::Deadline));
    assert!(
        run.duration >= Duration::from_millis(1_900) && run.duration < Duration::from_millis(3_500),
        "the loop ran to its own deadline: {:?}",
        run.duration
    );
}

/// Starts `slow` on a thread of its own and, `after` that, calls the
/// allow-claim fixture, which must succeed within a second while `slow`
/// still runs (with one run slot: `slow` gave its slot back). Returns what
/// `slow` returned; `what` names it in failure messages.
fn runs_beside<T: Send>(host: &PluginHost, after: Duration, what: &str, slow: impl FnOnce() -> T + Send) -> T {
    let allow = host.inspect(&fixture("allow-claim")).unwrap().sha256;
    std::thread::scope(|s| {
        let slow = s.spawn(slow);
        std::thread::sleep(after);
        let start = Instant::now();
        assert!(host.call(&allow, || Err::<Vec<u8>, _>("prepared"), &ctx(), None).outcome.is_ok());
        let took = start.elapsed();
        assert!(!slow.is_finished(), "the other call ran while the {what} still ran");
        assert!(took < Duration::from_millis(1_000), "it did not wait for the {what}: {took:?}");
        slow.join().unwrap()
    })
}

/// docs/security-checklist.md W-26: a call waiting in a host call gives
/// its run slot back meanwhile, so plugins that wait (a sleep here; a
/// slow service behind `http.fetch` likewise) are not bounded by the CPU
/// count: with one slot, another call runs while a sleeper sleeps.
#[test]
fn a_call_waiting_in_a_host_call_lets_others_run() {
    let dir = tempfile::tempdir().unwrap();
    let host = gated_host(dir.path(), 1, 5_000);
    let sleep = host.inspect(&fixture("sleep")).unwrap().sha256;
    let mut sleepy = ctx();
    sleepy.config = json!({"ms": 1_500});
    let outcome = runs_beside(&host, Duration::from_millis(300), "sleeper", || {
        host.call(&sleep, || Err::<Vec<u8>, _>("prepared"), &sleepy, None).outcome
    });
    assert!(outcome.is_ok(), "the sleeper took a slot again and finished");
}

/// Issue #11 item 2 (docs/security-checklist.md W-15, W-19): one plugin cannot take more
/// than its share of the pool. Twelve sleepers that each hold their slot
/// until the deadline arrive at once on an 8-slot pool with a 25 % share:
/// two run, the other ten fail at once as `busy` (not queued, not hung), and
/// another plugin's calls keep succeeding meanwhile. Without the share the
/// sleepers take all eight slots and the other plugin gets `unavailable`.
#[test]
fn one_plugin_saturating_its_share_leaves_the_pool_to_others() {
    const SLEEPERS: usize = 12;
    let dir = tempfile::tempdir().unwrap();
    let config = HostConfig {
        cache_dir: dir.path().to_owned(),
        deadline_ms: 1_000,
        pool_instances: 8,
        max_pool_share_percent: 25,
        standby_instances: 0,
        ..HostConfig::default()
    };
    let host = PluginHost::new(config, [9; 32], Compiler::InProcess).unwrap();
    assert_eq!(host.config().pool_share(), 2);
    let sleep_sha = host.inspect(&fixture("sleep")).unwrap().sha256;
    let allow_sha = host.inspect(&fixture("allow-claim")).unwrap().sha256;
    let never = || Err::<Vec<u8>, _>("prepared");
    let mut sleepy = ctx();
    sleepy.config = json!({"ms": 10_000});
    let start_line = Barrier::new(SLEEPERS + 1);

    let results: Vec<_> = std::thread::scope(|s| {
        let sleepers: Vec<_> = (0..SLEEPERS)
            .map(|_| {
                s.spawn(|| {
                    start_line.wait();
                    let start = Instant::now();
                    let outcome = host.call(&sleep_sha, never, &sleepy, None).outcome;
                    (outcome, start.elapsed())
                })
            })
            .collect();
        start_line.wait();
        // The admitted sleepers now sit in their slots until the deadline.
        std::thread::sleep(Duration::from_millis(200));
        for i in 0..20 {
            let r = host.call(&allow_sha, never, &ctx(), None);
            assert!(r.outcome.is_ok(), "call {i} of another plugin while one saturates its share: {:?}", r.outcome);
            std::thread::sleep(Duration::from_millis(10));
        }
        sleepers.into_iter().map(|t| t.join().unwrap()).collect()
    });

    let busy: Vec<_> = results.iter().filter(|(o, _)| *o == Err(PluginFailure::Busy { limit: 2 })).collect();
    let stopped = results.iter().filter(|(o, _)| *o == Err(PluginFailure::Deadline)).count();
    assert_eq!((busy.len(), stopped), (SLEEPERS - 2, 2), "{results:?}");
    for (_, took) in busy {
        assert!(*took < Duration::from_millis(300), "a refused call took {took:?}");
    }
    let f = PluginFailure::Busy { limit: 2 };
    assert_eq!(f.code(), "busy");
    assert!(f.to_string().contains("share of the instance pool"), "{f}");
    // Once the sleepers are gone the plugin runs again.
    sleepy.config = json!({"ms": 1});
    assert!(host.call(&sleep_sha, never, &sleepy, None).outcome.is_ok());
}

/// Issue #11 item 14 (docs/security-checklist.md W-12): by default a plugin reads clocks
/// that step in whole milliseconds. The fixture reads the monotonic and the
/// wall clock in a busy loop for 3 ms: every step it sees is a whole
/// millisecond and no reading has a sub-millisecond part (the default WASI
/// clocks step every few dozen nanoseconds).
#[test]
fn plugins_cannot_observe_sub_millisecond_time() {
    let r = run("clock");
    let Ok(PluginVerdict::Allow(patch)) = &r.outcome else { panic!("{:?}", r.outcome) };
    let claims = patch.access_token_claims();
    let step = claims["monotonic_min_step_ns"].as_u64().expect("the monotonic clock never moved in 3 ms");
    assert!(step >= 1_000_000 && step % 1_000_000 == 0, "monotonic step {step} ns");
    assert_eq!(claims["monotonic_off_grid"], json!(0), "{claims:?}");
    assert_eq!(claims["wall_sub_ms"], json!(0), "{claims:?}");
    if let Some(wall_step) = claims["wall_min_step_ns"].as_u64() {
        assert!(wall_step >= 1_000_000 && wall_step % 1_000_000 == 0, "wall step {wall_step} ns");
    }
}

/// Issue #11 item 14: `clock_resolution_ms` makes the clocks coarser still.
#[test]
fn clock_resolution_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let config = HostConfig {
        cache_dir: dir.path().to_owned(),
        deadline_ms: 5_000,
        pool_instances: 2,
        clock_resolution_ms: 10,
        ..HostConfig::default()
    };
    let host = PluginHost::new(config, [9; 32], Compiler::InProcess).unwrap();
    let wasm = fixture("clock");
    let sha = host.inspect(&wasm).unwrap().sha256;
    let r = host.call(&sha, || Ok::<_, String>(wasm), &ctx(), None);
    let Ok(PluginVerdict::Allow(patch)) = &r.outcome else { panic!("{:?}", r.outcome) };
    let step = patch.access_token_claims()["monotonic_min_step_ns"].as_u64().unwrap();
    assert!(step >= 10_000_000 && step % 10_000_000 == 0, "monotonic step {step} ns");
}

/// docs/security-checklist.md W-7: unbounded recursion hits the wasm stack limit and traps
/// ("call stack exhausted"); the process and the host live on.
#[test]
fn unbounded_recursion_traps_and_the_host_lives_on() {
    let f = failure("recurse");
    assert!(matches!(&f, PluginFailure::Trap(m) if m.contains("call stack exhausted")), "{f:?}");
}

/// docs/security-checklist.md W-11: the WASI context is empty. The plugin host links WASI
/// p2 (language runtimes import it) but a plugin sees no environment, no
/// arguments, no files and an empty stdin. (Sockets are denied too:
/// `allow_tcp`/`allow_udp`/`allow_ip_name_lookup` are off in bindings.rs.)
#[test]
fn plugins_see_no_environment_arguments_or_files() {
    let r = run("wasi-probe");
    let Ok(PluginVerdict::Allow(patch)) = &r.outcome else { panic!("{:?}", r.outcome) };
    let claims = patch.access_token_claims();
    assert_eq!(
        (&claims["env"], &claims["args"], &claims["files"], &claims["stdin_bytes"]),
        (&json!(0), &json!(0), &json!(false), &json!(0)),
        "{claims:?}"
    );
}

/// The plugin host tells the calling thread when a call waits in a host
/// call (`thread_waits.rs`), so the server's CPU pool can run another token
/// meanwhile: a WASI sleep is bracketed by the hooks, on the calling
/// thread, and a call that does not wait calls neither.
#[test]
fn a_wait_in_a_host_call_is_bracketed_by_the_wait_hooks() {
    use std::cell::Cell;
    thread_local! {
        static BEGUN: Cell<u32> = const { Cell::new(0) };
        static ENDED: Cell<u32> = const { Cell::new(0) };
    }
    fn begins() {
        BEGUN.with(|c| c.set(c.get() + 1));
    }
    fn ends() {
        ENDED.with(|c| c.set(c.get() + 1));
    }
    assert!(tessera_plugin_host::set_wait_hooks(tessera_plugin_host::WaitHooks { begins, ends }));
    let mut c = ctx();
    c.config = json!({"ms": 20});
    let r = run_with("sleep", &c, None);
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
    let (begun, ended) = (BEGUN.with(Cell::get), ENDED.with(Cell::get));
    assert!(begun >= 1, "the sleep was not reported");
    assert_eq!(begun, ended, "every wait that began ended");
    run("allow-claim");
    assert_eq!(BEGUN.with(Cell::get), begun, "a call that does not wait reports none");
}
