//! Standby instances (`standby.rs`): the next instance of a called plugin is
//! made in the background, and it must behave exactly like one made inline:
//! one call per instance, no state carried over, the full deadline counted
//! from the call, a bounded number of them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use serde_json::json;
use tessera_plugin_host::{Compiler, HostConfig, PluginFailure, PluginHost, PluginVerdict};

mod common;
use common::{client_credentials_context as ctx, fixture};

/// A host of its own (stats and standbys are per host), with 8 pool slots:
/// room for 2 standbys.
fn host(dir: &tempfile::TempDir, deadline_ms: u64, standby_instances: u32) -> PluginHost {
    with_threshold(dir, deadline_ms, standby_instances, 0)
}

fn with_threshold(dir: &tempfile::TempDir, deadline_ms: u64, standby_instances: u32, threshold_us: u64) -> PluginHost {
    let config = HostConfig {
        cache_dir: dir.path().to_owned(),
        deadline_ms,
        pool_instances: 8,
        standby_instances,
        // The fixtures are Rust: cheap to instantiate, so below the default
        // threshold they would never get a standby.
        standby_threshold_us: threshold_us,
        // Several threads may call one plugin at once here; the share has
        // its own tests (fixtures.rs).
        max_pool_share_percent: 100,
        ..HostConfig::default()
    };
    PluginHost::new(config, [5; 32], Compiler::InProcess).unwrap()
}

fn load(host: &PluginHost, name: &str) -> String {
    host.inspect(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}")).sha256
}

fn call(host: &PluginHost, sha: &str) -> Result<PluginVerdict, PluginFailure> {
    host.call(sha, || Err::<Vec<u8>, _>("prepared by inspect"), &ctx(), None).outcome
}

/// docs/security-checklist.md W-8: a standby instance is as fresh as one made inline.
#[test]
fn a_standby_serves_one_call_and_carries_nothing_over() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir, 1_000, 8);
    let counter = load(&host, "counter");
    for i in 0..10 {
        let Ok(PluginVerdict::Allow(patch)) = call(&host, &counter) else { panic!("call {i}") };
        assert_eq!(patch.access_token_claims().get("calls"), Some(&json!(1)), "call {i}");
        assert_eq!(patch.access_token_claims().get("heap_marks"), Some(&json!(0)), "call {i}");
        host.settle();
        assert_eq!(host.standby_len(), 1, "after call {i}");
    }
    // The first call had no standby; each later one found the one made after
    // the call before it.
    assert_eq!(host.stats().standby_hits, 9);
}

#[test]
fn the_deadline_counts_from_the_call_not_from_instantiation() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir, 100, 8);
    let allow = load(&host, "allow-claim");
    let looping = load(&host, "loop-forever");
    assert!(call(&host, &allow).is_ok());
    assert_eq!(call(&host, &looping), Err(PluginFailure::Deadline));
    host.settle();
    // Both standbys now wait for several deadlines' worth of epoch ticks.
    std::thread::sleep(Duration::from_millis(500));
    let hits = host.stats().standby_hits;
    assert!(call(&host, &allow).is_ok(), "an idle standby must still get its whole deadline");
    let run = host.call(&looping, || Err::<Vec<u8>, _>("prepared"), &ctx(), None);
    assert_eq!(run.outcome, Err(PluginFailure::Deadline));
    assert!(run.duration >= Duration::from_millis(80), "{:?}", run.duration);
    assert_eq!(host.stats().standby_hits, hits + 2);
}

#[test]
fn standbys_are_capped_and_the_stalest_is_evicted() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir, 1_000, 100);
    assert_eq!(host.config().standby_capacity(), 2, "a quarter of 8 slots");
    let names = ["allow-claim", "counter", "drop-scope"];
    let shas: Vec<String> = names.iter().map(|n| load(&host, n)).collect();
    for sha in &shas {
        assert!(call(&host, sha).is_ok());
        host.settle();
    }
    assert_eq!(host.standby_len(), 2);
    assert_eq!(host.stats().standby_hits, 0);
    // allow-claim was called first, so its standby made way for drop-scope's.
    assert!(call(&host, &shas[0]).is_ok());
    assert_eq!(host.stats().standby_hits, 0);
    assert!(call(&host, &shas[2]).is_ok());
    assert_eq!(host.stats().standby_hits, 1);
}

#[test]
fn forget_drops_the_standby() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir, 1_000, 8);
    let allow = load(&host, "allow-claim");
    assert!(call(&host, &allow).is_ok());
    host.settle();
    assert_eq!(host.standby_len(), 1);
    host.forget(&allow);
    assert_eq!(host.standby_len(), 0);
}

#[test]
fn with_standby_off_every_call_instantiates_inline() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir, 1_000, 0);
    let counter = load(&host, "counter");
    for _ in 0..3 {
        assert!(call(&host, &counter).is_ok());
        host.settle();
    }
    assert_eq!(host.standby_len(), 0);
    assert_eq!(host.stats().standby_hits, 0);
}

#[test]
fn a_plugin_that_fails_keeps_failing_the_same_way_from_standby() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir, 1_000, 8);
    let trap = load(&host, "trap");
    for _ in 0..3 {
        assert!(matches!(call(&host, &trap), Err(PluginFailure::Trap(_))));
        host.settle();
    }
    assert_eq!(host.stats().standby_hits, 2);
}

#[test]
fn a_plugin_that_instantiates_faster_than_the_threshold_gets_no_standby() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing instantiates in an hour, so once one instantiation is timed
    // the plugin is not worth a standby.
    let host = with_threshold(&dir, 1_000, 8, 3_600_000_000);
    let allow = load(&host, "allow-claim");
    for _ in 0..3 {
        assert!(call(&host, &allow).is_ok());
        host.settle();
    }
    assert_eq!(host.standby_len(), 0);
    assert_eq!(host.stats().standby_hits, 0);
}

#[test]
fn calls_outrunning_the_standby_thread_never_run_out_of_slots() {
    let dir = tempfile::tempdir().unwrap();
    // 8 slots, 2 standbys: spent stores waiting in an unbounded queue would
    // soon hold the rest.
    let host = host(&dir, 1_000, 8);
    let shas = [load(&host, "allow-claim"), load(&host, "counter"), load(&host, "drop-scope")];
    std::thread::scope(|s| {
        for t in 0..3 {
            let (host, shas) = (&host, &shas);
            s.spawn(move || {
                for i in 0..300 {
                    let sha = &shas[(t + i) % shas.len()];
                    let outcome = call(host, sha);
                    assert!(outcome.is_ok(), "thread {t} call {i}: {outcome:?}");
                }
            });
        }
    });
    host.settle();
    assert!(host.standby_len() <= 2);
}
