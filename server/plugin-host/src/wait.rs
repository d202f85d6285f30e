//! Waiting in a host call ends at the call's deadline (Issue #11 item 2,
//! docs/security-checklist.md W-4 and W-19).
//!
//! The epoch deadline interrupts wasm code only: a guest blocked inside a
//! host call is not running wasm, so it is not interrupted. In the WASI p2
//! imports every wait goes through `wasi:io/poll`: Rust's
//! `std::thread::sleep` is `monotonic-clock.subscribe-duration` followed by
//! `pollable.block`, and waiting on several pollables at once is `poll`.
//! wasmtime-wasi 48's sync bindings run these as `in_tokio(async { .. })`,
//! blocking the calling thread until the pollable is ready, however long
//! that is. A 3 s sleep under a 100 ms deadline took 3 s and held its pool
//! slot and thread all along.
//!
//! The options were (1) making the clock subscriptions expire at the
//! deadline, which still lets the guest run on after the "sleep" and leaves
//! any other pollable unbounded; (2) async wasmtime with a timeout around the
//! whole call, which means fibers, async stacks and an async call path for
//! every plugin, to fix one import; (3) replacing the two blocking functions
//! of `wasi:io/poll` (`poll` and `[method]pollable.block`) with versions
//! that wait at most until the call's deadline and then trap. We do (3): it
//! bounds *every* wait, whatever pollable it is on, stops the guest at the
//! deadline instead of letting it run on, and keeps the call path
//! synchronous. The wait itself is wasmtime-wasi's own (the same future,
//! under `tokio::time::timeout`), so readiness semantics do not change.
//!
//! The other blocking WASI calls cannot wait in this sandbox: the
//! `blocking-*` stream functions only reach stdin (closed: returns at once)
//! and stdout/stderr (discarded: always ready); there are no preopened
//! directories and no network. So a call's wall time is bounded by its
//! deadline plus one epoch tick, host calls included.

use std::time::{Duration, Instant};

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::io::poll::{Host as _, HostPollable as _};
use wasmtime_wasi::runtime::in_tokio;

use crate::bindings::HostState;

/// The WASI 0.2 `poll` interface as wasmtime-wasi 48 names it in the linker
/// (its WIT is `wasi:io@0.2.12`; guests built against any 0.2.x resolve to
/// it). The fixture tests fail if a wasmtime update renames it.
const POLL_INTERFACE: &str = "wasi:io/poll@0.2.12";

/// A guest waited in a host call until its deadline; the call is reported
/// as [`crate::PluginFailure::Deadline`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("plugin waited in a host call past its deadline")]
pub(crate) struct WaitPastDeadline;

/// When the running call must be done: set at instantiation (for start
/// functions) and again when the call starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WallDeadline(Instant);

impl WallDeadline {
    pub(crate) fn after(budget: Duration) -> Self {
        let now = Instant::now();
        Self(now.checked_add(budget).unwrap_or(now))
    }

    /// The moment itself.
    pub(crate) fn at(self) -> Instant {
        self.0
    }

    /// What is left of the budget (zero once it is past).
    pub(crate) fn left(self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }
}

/// Replaces `poll` and `[method]pollable.block` in `linker` (which already
/// has WASI p2) with deadline-bounded versions.
pub(crate) fn bound_waits(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut poll = linker.instance(POLL_INTERFACE)?;
    poll.func_wrap("poll", poll_until_deadline)?;
    poll.func_wrap("[method]pollable.block", block_until_deadline)?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Waits for the future of a WASI wait, at most until the call's deadline.
/// A wait whose pollables are ready returns even when no time is left:
/// `timeout` polls the wait before the timer.
fn until_deadline<T>(deadline: WallDeadline, wait: impl Future<Output = wasmtime::Result<T>>) -> wasmtime::Result<T> {
    let left = deadline.left();
    match in_tokio(async { tokio::time::timeout(left, wait).await }) {
        Ok(done) => done,
        Err(_elapsed) => Err(WaitPastDeadline.into()),
    }
}

fn poll_until_deadline(
    mut store: StoreContextMut<'_, HostState>,
    (pollables,): (Vec<Resource<DynPollable>>,),
) -> wasmtime::Result<(Vec<u32>,)> {
    let state = store.data_mut();
    let deadline = state.deadline;
    state.without_slot(|table, _| until_deadline(deadline, table.poll(pollables))).map(|ready| (ready,))
}

fn block_until_deadline(
    mut store: StoreContextMut<'_, HostState>,
    (pollable,): (Resource<DynPollable>,),
) -> wasmtime::Result<()> {
    let state = store.data_mut();
    let deadline = state.deadline;
    state.without_slot(|table, _| until_deadline(deadline, table.block(pollable)))
}

#[cfg(test)]
mod tests {
    use wasmtime::component::ResourceTable;
    use wasmtime::{AsContextMut, Engine, Store};
    use wasmtime_wasi::p2::{Pollable, subscribe};

    use super::*;

    /// A pollable that is never ready (like a sleep of a year).
    struct Never;

    #[wasmtime_wasi::async_trait]
    impl Pollable for Never {
        async fn ready(&mut self) {
            std::future::pending::<()>().await;
        }
    }

    fn never(table: &mut ResourceTable) -> Resource<DynPollable> {
        let r = table.push(Never).unwrap();
        subscribe(table, r).unwrap()
    }

    /// Issue #11 item 2 (docs/security-checklist.md W-4, W-19): both blocking functions of
    /// `wasi:io/poll` give up at the call's deadline with the error that is
    /// reported as `Deadline`. (`block` is also exercised end to end by the
    /// `sleep` fixture, which sleeps with Rust's `std::thread::sleep`.)
    #[test]
    fn poll_and_block_end_at_the_deadline() {
        let engine = Engine::default();
        let mut store = Store::new(&engine, HostState::new(1 << 20, 1, 64, Duration::from_millis(1)));
        for use_poll in [true, false] {
            store.data_mut().deadline = WallDeadline::after(Duration::from_millis(30));
            let p = store.data_mut().without_slot(|table, _| never(table));
            let start = Instant::now();
            let err = if use_poll {
                poll_until_deadline(store.as_context_mut(), (vec![p],)).map(|_| ()).unwrap_err()
            } else {
                block_until_deadline(store.as_context_mut(), (p,)).unwrap_err()
            };
            assert!(err.downcast_ref::<WaitPastDeadline>().is_some(), "{err:#}");
            let took = start.elapsed();
            assert!(took >= Duration::from_millis(25) && took < Duration::from_secs(2), "{took:?}");
        }
    }

    #[test]
    fn a_wait_past_the_deadline_fails_as_deadline() {
        let start = Instant::now();
        let deadline = WallDeadline::after(Duration::from_millis(20));
        let r = until_deadline(deadline, async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(())
        });
        assert_eq!(r.unwrap_err().downcast_ref::<WaitPastDeadline>(), Some(&WaitPastDeadline));
        assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    }

    #[test]
    fn a_ready_wait_returns_even_with_no_time_left() {
        let deadline = WallDeadline::after(Duration::ZERO);
        assert_eq!(until_deadline(deadline, async { Ok(7) }).unwrap(), 7);
    }

    #[test]
    fn a_short_wait_within_the_deadline_completes() {
        let deadline = WallDeadline::after(Duration::from_secs(5));
        let r = until_deadline(deadline, async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok("slept")
        });
        assert_eq!(r.unwrap(), "slept");
    }
}
