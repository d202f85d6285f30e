//! How many calls of heavy plugins run at once (`HostConfig::running_calls`).
//!
//! A plugin whose runtime is large (the JavaScript and Python examples: an
//! interpreter, its heap and its standard library in linear memory) costs
//! megabytes per live instance, and its calls are CPU-bound. Under load the
//! per-plugin share (`share.rs`, 16 calls by default) let up to 16 of them
//! be alive at once on a one-CPU server that runs one at a time: the Python
//! example's peak memory then depended on how many happened to overlap
//! (136 to 195 MiB over runs, BENCHMARKS.md). Here those calls queue for a
//! run slot instead: at most [`RunGate::cap`] run at once over all heavy
//! plugins (four per CPU by default), and one plugin at most half of them.
//! A call waits in line at most ten deadlines (`host.rs`), then fails as
//! busy; waiting in line costs it no more than sharing the CPU with the
//! calls ahead would. Measured on one CPU under load, the Python example's
//! peak memory went from 133–169 MiB to 112–122 MiB, with tokens per second
//! within the run-to-run spread (BENCHMARKS.md).
//!
//! A call holds its slot only while it can use a CPU: around `http.fetch`
//! and WASI waits (`wait.rs`) it gives the slot back and takes one again
//! after, so plugins that call a slow service are not limited by the CPU
//! count. And a call that has run for [`LONG_CALL_TICKS`] gives it back for
//! good (`call.rs`, at an epoch deadline) and runs on without one until its
//! own deadline: the queue exists to keep many ordinary interpreter calls
//! from being alive at once, and must not let calls that loop until their
//! deadline (a bug, or a hostile plugin) hold every slot and stall the
//! other plugins; those share the CPU with everything else, as before. Plugins that instantiate quickly (Rust, C, Go, Zig) are small and
//! never queue here (`host.rs` decides per call).
//!
//! A finished call hands its slot to the first waiting call that may run
//! (first in, first out, skipping calls of a plugin at its half), waking
//! that one thread only.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use crate::locks::lock;

/// Epoch ticks (milliseconds) after which a running call gives its slot
/// back: a hundred times the Python example's call, ten times a slow one.
pub(crate) const LONG_CALL_TICKS: u64 = 10;

/// The run slots of heavy plugins' calls, shared by the host's calls.
#[derive(Debug)]
pub(crate) struct RunGate {
    cap: usize,
    per_plugin: usize,
    state: Mutex<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    /// Calls running per plugin (plugins with none are removed).
    by_plugin: HashMap<Arc<str>, usize>,
    line: VecDeque<Arc<Waiter>>,
}

/// One call waiting for a slot; `granted` is set by the call that hands
/// its slot over.
#[derive(Debug)]
struct Waiter {
    sha256: Arc<str>,
    granted: Mutex<bool>,
    wake: Condvar,
}

impl GateState {
    fn running(&self) -> usize {
        self.by_plugin.values().sum()
    }

    fn may_run(&self, sha256: &str, gate: &RunGate) -> bool {
        self.running() < gate.cap && self.by_plugin.get(sha256).copied().unwrap_or(0) < gate.per_plugin
    }

    fn take(&mut self, sha256: &Arc<str>) {
        *self.by_plugin.entry(Arc::clone(sha256)).or_insert(0) += 1;
    }
}

impl RunGate {
    /// `cap` slots in all (at least 1); one plugin may hold half of them
    /// (at least 1).
    pub(crate) fn new(cap: usize) -> Arc<Self> {
        let cap = cap.max(1);
        Arc::new(Self { cap, per_plugin: (cap / 2).max(1), state: Mutex::default() })
    }

    /// The most calls that run at once.
    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    /// A slot for a call of `sha256`, waiting in line until `until`; `None`
    /// if none came by then.
    pub(crate) fn enter(self: &Arc<Self>, sha256: &Arc<str>, until: Instant) -> Option<RunSlot> {
        self.take(sha256, until).then(|| RunSlot { of: Some((Arc::clone(self), Arc::clone(sha256))), held: true })
    }

    fn take(&self, sha256: &Arc<str>, until: Instant) -> bool {
        let waiter = {
            let mut state = lock(&self.state);
            // A free slot that a waiting call could use is handed over when
            // it is freed, so whenever one is free here, every call in line
            // waits for its plugin's half: taking it passes no one.
            if state.may_run(sha256, self) {
                state.take(sha256);
                return true;
            }
            let waiter =
                Arc::new(Waiter { sha256: Arc::clone(sha256), granted: Mutex::new(false), wake: Condvar::new() });
            state.line.push_back(Arc::clone(&waiter));
            waiter
        };
        let mut granted = lock(&waiter.granted);
        while !*granted {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            granted = waiter.wake.wait_timeout(granted, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        if *granted {
            return true;
        }
        drop(granted);
        // Out of time: leave the line, unless a slot was handed over between
        // the last look and taking the lock (the handing call holds it).
        let mut state = lock(&self.state);
        if *lock(&waiter.granted) {
            return true;
        }
        state.line.retain(|w| !Arc::ptr_eq(w, &waiter));
        false
    }

    fn release(&self, sha256: &str) {
        let mut state = lock(&self.state);
        if let Some(n) = state.by_plugin.get_mut(sha256) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                state.by_plugin.remove(sha256);
            }
        }
        let next = state.line.iter().position(|w| state.may_run(&w.sha256, self));
        if let Some(waiter) = next.and_then(|i| state.line.remove(i)) {
            state.take(&waiter.sha256);
            *lock(&waiter.granted) = true;
            waiter.wake.notify_one();
        }
    }

    /// Calls running now.
    #[cfg(test)]
    fn running(&self) -> usize {
        lock(&self.state).running()
    }
}

/// One call's run slot, kept in its store: given back while the call waits
/// in a host call, and when it ends (or is dropped).
#[derive(Debug)]
pub(crate) struct RunSlot {
    /// The gate and the plugin; `None`: the call does not queue (a light
    /// plugin, or outside a call).
    of: Option<(Arc<RunGate>, Arc<str>)>,
    held: bool,
}

impl RunSlot {
    /// No slot and none needed.
    pub(crate) fn none() -> Self {
        Self { of: None, held: false }
    }

    /// Whether the call holds a slot now.
    pub(crate) fn is_held(&self) -> bool {
        self.held
    }

    /// Gives the slot back (the call is about to wait, or is done).
    pub(crate) fn pause(&mut self) {
        if let (true, Some((gate, sha256))) = (self.held, &self.of) {
            gate.release(sha256);
            self.held = false;
        }
    }

    /// Takes a slot again after [`Self::pause`], waiting at most until
    /// `until`. Past it the call goes on without one: its deadline, which
    /// is that moment, interrupts it at the next epoch tick.
    pub(crate) fn resume(&mut self, until: Instant) {
        if let (false, Some((gate, sha256))) = (self.held, &self.of) {
            self.held = gate.take(sha256, until);
        }
    }
}

impl Drop for RunSlot {
    fn drop(&mut self) {
        self.pause();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn sha(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    fn now() -> Instant {
        Instant::now()
    }

    #[test]
    fn at_most_cap_run_and_one_plugin_at_most_half() {
        let gate = RunGate::new(4);
        let (a, b) = (sha("a"), sha("b"));
        let a1 = gate.enter(&a, now()).unwrap();
        let _a2 = gate.enter(&a, now()).unwrap();
        assert!(gate.enter(&a, now()).is_none(), "a plugin holds at most half");
        let _b1 = gate.enter(&b, now()).unwrap();
        let _b2 = gate.enter(&b, now()).unwrap();
        assert!(gate.enter(&sha("c"), now()).is_none(), "all four taken");
        assert_eq!(gate.running(), 4);
        drop(a1);
        assert_eq!(gate.running(), 3);
        assert!(gate.enter(&sha("c"), now()).is_some());
    }

    #[test]
    fn a_small_gate_still_runs_every_plugin() {
        let gate = RunGate::new(1);
        let first = gate.enter(&sha("a"), now()).unwrap();
        assert!(gate.enter(&sha("b"), now()).is_none());
        drop(first);
        assert!(gate.enter(&sha("b"), now()).is_some());
        assert_eq!(RunGate::new(0).cap(), 1);
    }

    /// A paused call frees its slot for others, and takes one again.
    #[test]
    fn a_paused_call_lets_another_run_and_resumes() {
        let gate = RunGate::new(2);
        let mut waiting = gate.enter(&sha("a"), now()).unwrap();
        assert!(gate.enter(&sha("a"), now()).is_none(), "a's half is one");
        waiting.pause();
        let other = gate.enter(&sha("a"), now()).unwrap();
        waiting.resume(now());
        assert!(!waiting.held, "its plugin's half is taken by the other call");
        drop(other);
        waiting.resume(now());
        assert!(waiting.held);
        drop(waiting);
        assert_eq!(gate.running(), 0);
    }

    /// A freed slot goes to the first call in line that may run, which is
    /// woken with it; a call that waited past its time leaves the line.
    #[test]
    fn a_freed_slot_is_handed_to_the_call_in_line() {
        let gate = RunGate::new(2);
        let (a, b) = (sha("a"), sha("b"));
        let held_a = gate.enter(&a, now()).unwrap();
        let held_b = gate.enter(&b, now()).unwrap();
        assert!(gate.enter(&a, now() + Duration::from_millis(20)).is_none(), "timed out");
        assert!(lock(&gate.state).line.is_empty(), "and left the line");
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let start = Instant::now();
                let slot = gate.enter(&b, Instant::now() + Duration::from_secs(10));
                (slot.is_some(), start.elapsed())
            });
            while lock(&gate.state).line.is_empty() {
                std::thread::yield_now();
            }
            std::thread::sleep(Duration::from_millis(30));
            // a's slot cannot go to b's call (b is at its half) ...
            drop(held_a);
            assert_eq!(lock(&gate.state).line.len(), 1);
            // ... b's can.
            drop(held_b);
            let (got, took) = waiter.join().unwrap();
            assert!(got && took >= Duration::from_millis(30), "got {got} after {took:?}");
        });
        assert_eq!(gate.running(), 0);
    }

    #[test]
    fn slotless_calls_never_queue() {
        let mut none = RunSlot::none();
        none.pause();
        none.resume(now());
        assert!(!none.held);
    }
}
