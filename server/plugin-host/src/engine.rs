//! The wasmtime configuration: the code-affecting settings shared by the host
//! engine and the compile worker (so a `.cwasm` from one loads in the other),
//! the engine fingerprint that keys the disk cache, and the epoch ticker that
//! turns `deadline_ms` into interrupts.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig, Strategy};

use crate::config::HostConfig;
use crate::error::HostError;

/// Period of the epoch ticker; deadlines are counted in these ticks.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Guest stack limit. The host thread running a call (a tokio blocking
/// thread, 2 MiB) must exceed this plus host frames, or the process aborts.
const MAX_WASM_STACK: usize = 512 << 10;

/// The wasmtime release compiled in (pinned `=48.0.8` in the workspace).
/// Part of the cache fingerprint because wasmtime's own compatibility hash
/// only records *that* it checks its version, not which one.
const WASMTIME_VERSION: &str = "48.0.8";

/// Settings that change the machine code. Both engines start from this and
/// nothing here depends on [`HostConfig`], so limits can change without
/// invalidating the cache. Proposals a claims plugin does not need are off
/// (threads, shared memory, memory64, GC, stack switching, component-model
/// async): less compiler surface for untrusted input.
fn code_config() -> Config {
    let mut c = Config::new();
    c.strategy(Strategy::Cranelift)
        .cranelift_opt_level(OptLevel::Speed)
        .wasm_component_model(true)
        .wasm_component_model_async(false)
        .wasm_threads(false)
        .wasm_shared_everything_threads(false)
        .wasm_memory64(false)
        .wasm_gc(false)
        .wasm_stack_switching(false)
        .epoch_interruption(true)
        .max_wasm_stack(MAX_WASM_STACK);
    c
}

fn build(config: &Config) -> Result<Engine, HostError> {
    Engine::new(config).map_err(|e| HostError::Engine(format!("{e:#}")))
}

/// The serving engine: [`code_config`] plus a pooling allocator sized from
/// the config, so instantiation is a slot reuse and the number of live
/// instances and their memory has a hard ceiling.
pub(crate) fn host_engine(cfg: &HostConfig) -> Result<Engine, HostError> {
    let n = cfg.pool_instances;
    let max_memory = usize::try_from(cfg.memory_limit_bytes)
        .map_err(|_| HostError::InvalidConfig("memory_limit_bytes does not fit usize".into()))?;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(32))
        .total_memories(n.saturating_mul(4))
        .total_tables(n.saturating_mul(8))
        .max_core_instances_per_component(50)
        .max_memories_per_component(4)
        .max_tables_per_component(8)
        .max_memories_per_module(2)
        .max_tables_per_module(4)
        .table_elements(crate::limits::MAX_TABLE_ELEMENTS)
        .max_memory_size(max_memory)
        .max_component_instance_size(1 << 20)
        .max_core_instance_size(1 << 20)
        // Keep up to this much of each slot's memory and tables resident and
        // reset it by copying the original contents back instead of madvise:
        // a fresh instance then costs fewer page faults and TLB shootdowns
        // (slots are still restored between calls, so nothing leaks from one
        // call to the next).
        .linear_memory_keep_resident(cfg.keep_resident_bytes)
        .table_keep_resident(cfg.keep_resident_bytes)
        // Where the kernel has PAGEMAP_SCAN (Linux 6.7+), copy back only the
        // pages the call wrote, not the whole kept prefix (the trade-off is
        // on `HostConfig::reset_written_pages_only`). Elsewhere wasmtime
        // falls back to the whole-prefix copy.
        .pagemap_scan(if cfg.reset_written_pages_only { Enabled::Auto } else { Enabled::No });
    let mut config = code_config();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    build(&config)
}

/// The compile worker's engine: the same code settings, on-demand allocation
/// (a pool would reserve terabytes of address space and trip `RLIMIT_AS`).
pub(crate) fn worker_engine() -> Result<Engine, HostError> {
    build(&code_config())
}

/// Feeds `Hash` output into SHA-256 so wasmtime's compatibility hash becomes
/// a stable, collision-resistant file-name component.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        0 // unused: only the digest matters
    }
}

/// Hex digest identifying which compiled artefacts this engine can load:
/// the wasmtime version plus everything wasmtime itself checks (target, ISA
/// flags, tunables, features).
pub(crate) fn fingerprint(engine: &Engine) -> String {
    let mut h = Sha256Hasher(Sha256::new());
    h.write(b"tessera-engine-v1\0wasmtime-");
    h.write(WASMTIME_VERSION.as_bytes());
    h.write(b"\0");
    engine.precompile_compatibility_hash().hash(&mut h);
    hex::encode(h.0.finalize())
}

/// Deadline in epoch ticks; one extra tick because the first tick may come
/// right after the deadline is set.
pub(crate) fn deadline_ticks(deadline_ms: u64) -> u64 {
    let tick_ms = u64::try_from(EPOCH_TICK.as_millis()).unwrap_or(1).max(1);
    deadline_ms.div_ceil(tick_ms).saturating_add(1)
}

/// Background thread that advances the engine's epoch every [`EPOCH_TICK`]
/// while wasm may run, and sleeps otherwise; stopped and joined when
/// dropped (with the [`crate::PluginHost`]).
///
/// Ticking every millisecond on an idle server woke the process a thousand
/// times a second for nothing (about 2 % of a CPU with no traffic at all).
/// Wasm runs only inside a [`Running`] guard ([`Epochs::running`]), taken
/// around every instantiation and call; the thread parks when none is held
/// and the first guard wakes it. A deadline is set inside the guard, so it
/// counts ticks that all come: the same bound as a ticker that never stops.
pub(crate) struct EpochTicker {
    epochs: Epochs,
    handle: Option<JoinHandle<()>>,
}

/// What the ticker thread and the guards share.
#[derive(Debug)]
struct TickerState {
    /// Guards alive: wasm may be running while this is above zero.
    running: AtomicUsize,
    stop: AtomicBool,
    /// The ticker thread, to unpark; set once it has started.
    thread: OnceLock<Thread>,
    /// Epochs advanced so far (tests read it).
    ticks: AtomicU64,
}

/// A handle on the ticker, for whoever runs wasm (the host's calls and the
/// standby thread's instantiations).
#[derive(Debug, Clone)]
pub(crate) struct Epochs(Arc<TickerState>);

impl Epochs {
    /// Keeps the epoch advancing until the guard is dropped. Take it before
    /// setting a store's deadline and running any of its wasm.
    pub(crate) fn running(&self) -> Running {
        if self.0.running.fetch_add(1, Ordering::SeqCst) == 0
            && let Some(t) = self.0.thread.get()
        {
            t.unpark();
        }
        Running(Arc::clone(&self.0))
    }

    #[cfg(test)]
    fn ticks(&self) -> u64 {
        self.0.ticks.load(Ordering::Relaxed)
    }
}

/// See [`Epochs::running`].
#[derive(Debug)]
pub(crate) struct Running(Arc<TickerState>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl EpochTicker {
    pub(crate) fn start(engine: Engine) -> Result<Self, HostError> {
        let state = Arc::new(TickerState {
            running: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            thread: OnceLock::new(),
            ticks: AtomicU64::new(0),
        });
        let shared = Arc::clone(&state);
        let handle = std::thread::Builder::new()
            .name("tessera-epoch".into())
            .spawn(move || {
                while !shared.stop.load(Ordering::SeqCst) {
                    if shared.running.load(Ordering::SeqCst) == 0 {
                        // A guard taken after this load unparks us (an
                        // unpark before the park makes it return at once).
                        std::thread::park();
                        continue;
                    }
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                    shared.ticks.fetch_add(1, Ordering::Relaxed);
                }
            })
            .map_err(|e| HostError::Engine(format!("could not start the epoch thread: {e}")))?;
        // Set before any guard can exist: the host is not built yet.
        let _ = state.thread.set(handle.thread().clone());
        Ok(Self { epochs: Epochs(state), handle: Some(handle) })
    }

    /// A handle for taking [`Running`] guards.
    pub(crate) fn epochs(&self) -> Epochs {
        self.epochs.clone()
    }

    /// [`Epochs::running`].
    pub(crate) fn running(&self) -> Running {
        self.epochs.running()
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.epochs.0.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            h.thread().unpark();
            // The thread only sleeps, parks and increments; it cannot panic.
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> HostConfig {
        HostConfig { pool_instances: 2, ..HostConfig::default() }
    }

    #[test]
    fn worker_and_host_engines_share_a_fingerprint() {
        let host = host_engine(&small()).unwrap();
        let worker = worker_engine().unwrap();
        assert_eq!(fingerprint(&host), fingerprint(&worker));
        assert_eq!(fingerprint(&host).len(), 64);
    }

    #[test]
    fn limits_do_not_change_the_fingerprint() {
        let a = host_engine(&small()).unwrap();
        let b = host_engine(&HostConfig { memory_limit_bytes: 16 << 20, pool_instances: 3, ..HostConfig::default() })
            .unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
    }

    #[test]
    fn worker_artefacts_load_in_the_pooling_engine() {
        let host = host_engine(&small()).unwrap();
        let worker = worker_engine().unwrap();
        let cwasm = worker.precompile_component(b"(component)").unwrap();
        #[allow(unsafe_code)]
        // SAFETY: the bytes were produced by `precompile_component` just above.
        let loaded = unsafe { wasmtime::component::Component::deserialize(&host, &cwasm) };
        assert!(loaded.is_ok(), "{:#}", loaded.err().map(|e| e.to_string()).unwrap_or_default());
    }

    /// The `[[package]]` entry `name` in the workspace's Cargo.lock: its version.
    fn locked_version(name: &str) -> Option<String> {
        let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock")).unwrap();
        let entry = format!("\nname = \"{name}\"\n");
        lock.split("[[package]]").find(|p| p.contains(&entry)).and_then(|p| {
            p.lines().find_map(|l| l.strip_prefix("version = \"")).map(|v| v.trim_end_matches('"').to_owned())
        })
    }

    /// docs/security-checklist.md W-1 and W-10: the version the cache fingerprint records is
    /// the wasmtime actually built (a long-term-support line), so artefacts of
    /// another wasmtime are never deserialized.
    #[test]
    fn fingerprint_names_the_locked_wasmtime_of_an_lts_line() {
        assert_eq!(locked_version("wasmtime").as_deref(), Some(WASMTIME_VERSION));
        assert_eq!(locked_version("wasmtime-wasi").as_deref(), Some(WASMTIME_VERSION));
        assert!(WASMTIME_VERSION.starts_with("48."), "48.x is a wasmtime LTS line (24 months of security fixes)");
    }

    /// docs/security-checklist.md W-2: Cranelift only; the Winch backend is not even built.
    #[test]
    fn winch_is_not_in_the_build() {
        assert!(locked_version("wasmtime-internal-cranelift").is_some());
        assert_eq!(locked_version("winch-codegen"), None);
        assert_eq!(locked_version("wasmtime-internal-winch"), None);
        assert_eq!(locked_version("wasmtime-winch"), None);
    }

    #[test]
    fn deadline_rounds_up_to_whole_ticks() {
        assert_eq!(deadline_ticks(100), 101);
        assert_eq!(deadline_ticks(1), 2);
    }

    #[test]
    fn ticker_advances_and_stops() {
        let engine = worker_engine().unwrap();
        let ticker = EpochTicker::start(engine.clone()).unwrap();
        let _running = ticker.epochs().running();
        std::thread::sleep(Duration::from_millis(20));
        drop(ticker); // joins; a hang here fails the test by timeout
    }

    /// Waits (up to 10 s) until `f` holds.
    fn eventually(what: &str, f: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(std::time::Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn ticker_ticks_only_while_a_guard_is_held() {
        let ticker = EpochTicker::start(worker_engine().unwrap()).unwrap();
        let epochs = ticker.epochs();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(epochs.ticks(), 0, "no wasm may run: no ticks");
        let a = epochs.running();
        let b = epochs.running();
        eventually("ticks with guards held", || epochs.ticks() >= 3);
        drop(a);
        let now = epochs.ticks();
        eventually("still ticking while one guard is held", || epochs.ticks() >= now + 3);
        drop(b);
        // At most the tick in flight when the last guard went; then parked.
        std::thread::sleep(Duration::from_millis(100));
        let parked = epochs.ticks();
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(epochs.ticks(), parked, "parked once no guard is held");
        let _again = epochs.running();
        eventually("woken by the next guard", || epochs.ticks() > parked);
    }
}
