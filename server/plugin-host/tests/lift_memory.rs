//! Issue #11 item 3 (docs/security-checklist.md W-18): what the host copies out of a guest's
//! result is bounded, however often the result names the same bytes.
//!
//! A binary of its own because it counts every heap allocation of the
//! process with a counting global allocator; nothing else runs in it.
//! Guest linear memory lives in the pooling allocator's slots (mapped
//! memory, not the heap) and is bounded by `memory_limit_bytes`, so the heap
//! growth measured here is exactly what the host adds on top of the plugin's
//! own memory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};

use tessera_plugin_host::{Compiler, HostConfig, PluginFailure, PluginHost};

mod common;
use common::{client_credentials_context as ctx, fixture};

/// Live heap bytes, and the most seen since the last reset.
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

struct Counting;

fn grew(bytes: usize) {
    let now = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    LIVE.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counters only observe sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            grew(new_size);
            shrank(layout.size());
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn assert_refused(outcome: &Result<tessera_plugin_host::PluginVerdict, PluginFailure>) {
    assert!(
        matches!(outcome, Err(PluginFailure::OversizedOutput { size, limit }) if *size > *limit && *limit == 20 << 10),
        "{outcome:?}"
    );
}

/// The `repeat-output` fixture returns one 10 MiB string under 12 names (its
/// drop-scopes entries): 120 MiB if lifted naively, which is what the host
/// used to copy, per call, before its 20 KiB output check (wasmtime's own
/// hostcall fuel only stops a lift at 128 MiB). Now the lift stops at its budget (twice the output cap), so 8
/// concurrent calls raise the host heap by at most 16 MiB in all, a quarter
/// of one plugin's 64 MiB memory cap; each call's server memory is then at
/// most its pool slot (the memory cap) plus about 2 MiB.
#[test]
fn aliased_output_is_refused_without_being_copied() {
    const CALLS: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let config = HostConfig {
        cache_dir: dir.path().to_owned(),
        // Generous: lifting 120 MiB took a good while in debug builds.
        deadline_ms: 30_000,
        pool_instances: 16,
        max_pool_share_percent: 100,
        ..HostConfig::default()
    };
    let host = PluginHost::new(config, [4; 32], Compiler::InProcess).unwrap();
    assert_eq!(host.config().memory_limit_bytes, 64 << 20);
    let sha = host.inspect(&fixture("repeat-output")).unwrap().sha256;
    let never = || Err::<Vec<u8>, _>("prepared");
    // A first call, so runtime state made once (thread locals, tokio) is
    // not counted.
    assert_refused(&host.call(&sha, never, &ctx(), None).outcome);
    host.settle();

    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let start_line = Barrier::new(CALLS);
    std::thread::scope(|s| {
        let calls: Vec<_> = (0..CALLS)
            .map(|_| {
                s.spawn(|| {
                    start_line.wait();
                    host.call(&sha, never, &ctx(), None).outcome
                })
            })
            .collect();
        for c in calls {
            assert_refused(&c.join().unwrap());
        }
    });
    let grown = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    eprintln!("{CALLS} concurrent calls grew the heap by {} KiB at most", grown >> 10);
    assert!(grown <= 16 << 20, "{CALLS} concurrent calls grew the heap by {} KiB", grown >> 10);
}
