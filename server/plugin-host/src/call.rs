//! One plugin call: a fresh [`Store`] with its limiter, epoch deadline and log
//! buffer, instantiation from the pre-linked component, the `on-token` call,
//! and the mapping of everything wasmtime can report to [`PluginFailure`].
//! Instantiating and calling are separate steps so an instance can be made
//! ahead of its call (see `standby.rs`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wasmtime::{Engine, Store, Trap};

use crate::bindings::{HostState, TokenPlugin, TokenPluginPre, wit};
use crate::compile::one_line;
use crate::error::PluginFailure;
use crate::limits::LogLine;

/// Bytes kept of a guest's `err` text or a trap description.
const MAX_ERROR_BYTES: usize = 1024;

/// The per-call limits, resolved from [`crate::HostConfig`] once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallLimits {
    pub memory_limit: usize,
    pub max_log_lines: usize,
    pub max_log_line_bytes: usize,
    pub deadline_ticks: u64,
}

/// A fresh instance that has not been called yet: its own [`Store`] (limiter,
/// log buffer, WASI context) and the instantiated component. It serves
/// exactly one call; [`call`] consumes it.
pub(crate) struct Instance {
    store: Store<HostState>,
    plugin: TokenPlugin,
}

/// A pre-linked plugin, and the fastest instantiation seen for it, which
/// tells whether making its instances ahead is worth a thread hand-off
/// (`standby.rs`).
pub(crate) struct Template {
    pre: TokenPluginPre<HostState>,
    fastest_ns: AtomicU64,
}

impl Template {
    pub(crate) fn new(pre: TokenPluginPre<HostState>) -> Self {
        Self { pre, fastest_ns: AtomicU64::new(u64::MAX) }
    }

    /// [`instantiate`], timed.
    pub(crate) fn instantiate(
        &self,
        engine: &Engine,
        limits: CallLimits,
    ) -> Result<Instance, (PluginFailure, Vec<LogLine>)> {
        let start = Instant::now();
        let made = instantiate(engine, &self.pre, limits)?;
        let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.fastest_ns.fetch_min(ns, Ordering::Relaxed);
        Ok(made)
    }

    /// The fastest successful instantiation so far, if any.
    pub(crate) fn fastest(&self) -> Option<Duration> {
        match self.fastest_ns.load(Ordering::Relaxed) {
            u64::MAX => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }
}

/// Instantiates the pre-linked component in a new store. Start functions run
/// under the same deadline and memory limit as a call.
fn instantiate(
    engine: &Engine,
    pre: &TokenPluginPre<HostState>,
    limits: CallLimits,
) -> Result<Instance, (PluginFailure, Vec<LogLine>)> {
    let state = HostState::new(limits.memory_limit, limits.max_log_lines, limits.max_log_line_bytes);
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    store.set_epoch_deadline(limits.deadline_ticks);
    store.epoch_deadline_trap();
    match pre.instantiate(&mut store) {
        Ok(plugin) => Ok(Instance { store, plugin }),
        Err(e) => {
            let failure = instantiate_failure(&e, store.data().limiter.hit());
            Err((failure, store.into_data().logs.finish()))
        }
    }
}

/// Runs `on-token` once. Returns the guest's raw decision (still to be
/// validated) or the failure, the captured log lines either way, and the
/// spent store, whose drop returns the pool slot (and resets its memory).
pub(crate) fn call(
    instance: Instance,
    limits: CallLimits,
    ctx: &wit::TokenContext,
) -> (Result<wit::Decision, PluginFailure>, Vec<LogLine>, Store<HostState>) {
    let Instance { mut store, plugin } = instance;
    // The deadline counts from the call, however long the instance waited.
    store.set_epoch_deadline(limits.deadline_ticks);
    let outcome = match plugin.call_on_token(&mut store, ctx) {
        Ok(Ok(decision)) => Ok(decision),
        Ok(Err(_)) if store.data().limiter.hit() => Err(PluginFailure::Memory),
        Ok(Err(msg)) => Err(PluginFailure::PluginError(one_line(&msg, MAX_ERROR_BYTES))),
        Err(e) => Err(trap_failure(&e, store.data().limiter.hit())),
    };
    let logs = store.data_mut().logs.take();
    (outcome, logs, store)
}

/// Deadline beats memory: an interrupt is the definitive cause even if a
/// grow was refused earlier. Otherwise a refused grow explains the trap.
fn trap_failure(e: &wasmtime::Error, memory_hit: bool) -> PluginFailure {
    let trap = e.downcast_ref::<Trap>();
    if trap == Some(&Trap::Interrupt) {
        return PluginFailure::Deadline;
    }
    if memory_hit {
        return PluginFailure::Memory;
    }
    tracing::debug!("plugin trapped: {e:#}");
    // The trap code reads well ("wasm `unreachable` instruction executed");
    // the full chain with the wasm backtrace is only for the debug log.
    let msg = match trap {
        Some(t) => t.to_string(),
        None => format!("{e:#}"),
    };
    PluginFailure::Trap(one_line(&msg, MAX_ERROR_BYTES))
}

/// A start function can trap or hit the deadline like a call; anything else
/// (pool exhausted, instance limits) means the host could not run it.
fn instantiate_failure(e: &wasmtime::Error, memory_hit: bool) -> PluginFailure {
    if e.downcast_ref::<Trap>().is_some() || memory_hit {
        return trap_failure(e, memory_hit);
    }
    tracing::warn!("plugin instantiation failed: {e:#}");
    PluginFailure::Unavailable(one_line(&format!("could not instantiate: {e:#}"), MAX_ERROR_BYTES))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupt_is_deadline_even_after_a_refused_grow() {
        let e = wasmtime::Error::from(Trap::Interrupt);
        assert_eq!(trap_failure(&e, true), PluginFailure::Deadline);
        assert_eq!(trap_failure(&e, false), PluginFailure::Deadline);
    }

    #[test]
    fn trap_after_refused_grow_is_memory() {
        let e = wasmtime::Error::from(Trap::UnreachableCodeReached);
        assert_eq!(trap_failure(&e, true), PluginFailure::Memory);
        let PluginFailure::Trap(msg) = trap_failure(&e, false) else { panic!("not a trap") };
        assert!(msg.contains("unreachable"), "{msg}");
    }

    #[test]
    fn non_trap_instantiation_error_is_unavailable() {
        let e = wasmtime::format_err!("pool exhausted");
        assert!(
            matches!(instantiate_failure(&e, false), PluginFailure::Unavailable(m) if m.contains("pool exhausted"))
        );
        assert_eq!(instantiate_failure(&e, true), PluginFailure::Memory);
    }
}
