//! Standby instances: every call still gets a fresh instance, but the next
//! one is made ahead of time, off the request path.
//!
//! For a JavaScript or Python plugin most of a call is instantiation, not the
//! call: these runtimes are dynamically linked components, and wasmtime
//! fills every function-table slot of every library (about 700 for QuickJS,
//! about 10 000 for CPython) on each new instance, then resets the pages the
//! instance wrote when it is dropped (BENCHMARKS.md, run 4). Both are work the
//! request does not need to wait for. So after a plugin is called, one
//! background thread makes its next instance and keeps it on standby, and
//! drops the spent store, and the next call only runs `on-token`.
//!
//! What does not change: an instance serves exactly one call and nothing
//! survives from one call to the next; the deadline counts from the call, not
//! from instantiation; a call that finds no standby (the first one, or a
//! burst) instantiates inline exactly as before, and reports any
//! instantiation failure itself. A failed background instantiation is only
//! discarded.
//!
//! Standbys hold pool slots, so there are at most `capacity` of them (the
//! configured count, capped at a quarter of the pool) and the stalest is
//! evicted to make room. The queue to the thread holds one job (one spent
//! store) while it works on another: when calls come faster than the thread
//! works, the caller drops its spent store itself and no next instance is
//! made, which is exactly the behaviour without standbys. That is also what
//! happens on a saturated CPU, where the thread has no idle time to hide
//! work in: a deeper queue there only held spent instances, and their
//! memory (a Python instance's is over 13 MiB), for longer (BENCHMARKS.md,
//! "JavaScript and Python under load"). Standbys, the queued store and the
//! one being worked on hold at most a quarter of the pool plus two slots.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use wasmtime::{Engine, Store};

use crate::bindings::HostState;
use crate::call::{CallLimits, Instance, Template};
use crate::engine::Epochs;
use crate::error::HostError;
use crate::locks::lock;

/// Jobs that may wait for the background thread while it works on another.
const QUEUE: usize = 1;

/// Work for the background thread, one per call: drop the spent store
/// (which returns its pool slot and resets its memory), then make the next
/// instance of the plugin with this sha256. One job per call, dropped first,
/// so the thread never holds more than one slot.
struct Job {
    spent: Store<HostState>,
    sha256: String,
    template: Arc<Template>,
}

/// An instance waiting for its call.
struct Ready {
    instance: Instance,
    made: Instant,
}

/// State shared by the callers and the background thread.
struct Shared {
    capacity: usize,
    /// Plugins that instantiate faster than this are not worth it.
    threshold: Duration,
    ready: Mutex<HashMap<String, Ready>>,
    /// Jobs sent and not yet finished, for [`Standby::settle`].
    pending: Mutex<usize>,
    settled: Condvar,
}

/// The standby instances of one [`crate::PluginHost`] and the thread that
/// makes them. With a capacity of 0 it does nothing and starts no thread.
pub(crate) struct Standby {
    shared: Arc<Shared>,
    jobs: Option<SyncSender<Job>>,
}

impl Standby {
    /// Starts the background thread unless `capacity` is 0.
    pub(crate) fn start(
        engine: Engine,
        epochs: Epochs,
        limits: CallLimits,
        capacity: usize,
        threshold: Duration,
    ) -> Result<Self, HostError> {
        let shared = Arc::new(Shared {
            capacity,
            threshold,
            ready: Mutex::default(),
            pending: Mutex::new(0),
            settled: Condvar::new(),
        });
        if capacity == 0 {
            return Ok(Self { shared, jobs: None });
        }
        // One job waits while the thread works on another: when calls
        // outrun the thread, a job that does not fit is dropped by the caller
        // (its spent store with it, and no next instance), so a backlog can
        // never hold pool slots, or their memory, that the calls need.
        let (tx, rx) = sync_channel(QUEUE);
        let worker = Arc::clone(&shared);
        thread::Builder::new()
            .name("tessera-plugin-standby".into())
            .spawn(move || work(&engine, &epochs, limits, &worker, &rx))
            .map_err(|e| HostError::Engine(format!("could not start the plugin standby thread: {e}")))?;
        Ok(Self { shared, jobs: Some(tx) })
    }

    /// The instance made ahead for this plugin, if there is one.
    pub(crate) fn take(&self, sha256: &str) -> Option<Instance> {
        self.jobs.as_ref()?;
        lock(&self.shared.ready).remove(sha256).map(|r| r.instance)
    }

    /// After a call: for a plugin worth a standby, drops the spent store and
    /// makes the next instance in the background (its memory reset is as
    /// slow as its instantiation); otherwise drops the store here. Asking
    /// only after the call means the first call's instantiation is timed
    /// before deciding.
    pub(crate) fn after_call(&self, spent: Store<HostState>, sha256: &str, template: &Arc<Template>) {
        if self.worth_it(template) {
            self.send(Job { spent, sha256: sha256.to_owned(), template: Arc::clone(template) });
        }
    }

    /// Handing work to another thread costs a wake-up (a cross-CPU interrupt,
    /// a VM exit on virtual machines) and leaves the instance in the other
    /// CPU's cache: tens of microseconds, more than a Rust or C plugin takes
    /// to instantiate. A plugin never instantiated yet counts as worth it.
    fn worth_it(&self, template: &Template) -> bool {
        self.jobs.is_some() && template.is_heavy(self.shared.threshold)
    }

    /// Drops the standby of a plugin that is no longer used.
    pub(crate) fn forget(&self, sha256: &str) {
        lock(&self.shared.ready).remove(sha256);
    }

    /// How many instances are on standby now.
    pub(crate) fn len(&self) -> usize {
        lock(&self.shared.ready).len()
    }

    /// Blocks until the background thread has finished every job sent so
    /// far. Benchmarks and tests use it to start from a known state.
    pub(crate) fn settle(&self) {
        let mut pending = lock(&self.shared.pending);
        while *pending > 0 {
            pending = self.shared.settled.wait(pending).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Queues `job`, or, when there is no thread or the queue is full, drops
    /// it here: the caller then drops its spent store, as without a standby,
    /// and no next instance is made.
    fn send(&self, job: Job) {
        let Some(tx) = &self.jobs else { return };
        *lock(&self.shared.pending) += 1;
        if let Err(returned) = tx.try_send(job) {
            drop(returned);
            self.shared.done();
        }
    }
}

impl Shared {
    fn done(&self) {
        let mut pending = lock(&self.pending);
        *pending = pending.saturating_sub(1);
        if *pending == 0 {
            self.settled.notify_all();
        }
    }

    /// Keeps `instance` for `sha256` (which has none: only the thread adds,
    /// and it checked), evicting the stalest standby when full. The evicted
    /// instance is dropped after the lock is released.
    fn keep(&self, sha256: String, instance: Instance) {
        let evicted = {
            let mut ready = lock(&self.ready);
            let stalest = (ready.len() >= self.capacity)
                .then(|| ready.iter().min_by_key(|(_, r)| r.made).map(|(k, _)| k.clone()))
                .flatten();
            let evicted = stalest.and_then(|k| ready.remove(&k));
            ready.insert(sha256, Ready { instance, made: Instant::now() });
            evicted
        };
        drop(evicted);
    }
}

fn work(engine: &Engine, epochs: &Epochs, limits: CallLimits, shared: &Shared, jobs: &Receiver<Job>) {
    while let Ok(Job { spent, sha256, template }) = jobs.recv() {
        drop(spent);
        if !lock(&shared.ready).contains_key(&sha256) {
            // Start functions are wasm under the call's deadline.
            let _running = epochs.running();
            match template.instantiate(engine, limits) {
                Ok(instance) => shared.keep(sha256, instance),
                Err((failure, _)) => tracing::debug!(sha256, "standby instantiation failed: {failure}"),
            }
        }
        shared.done();
    }
}
