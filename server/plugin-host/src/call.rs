//! One plugin call: a fresh [`Store`] with its limiter, epoch deadline and log
//! buffer, instantiation from the pre-linked component, the `on-token` call,
//! and the mapping of everything wasmtime can report to [`PluginFailure`].
//! Instantiating and calling are separate steps so an instance can be made
//! ahead of its call (see `standby.rs`).
//!
//! `on-token` is called through a typed function whose result type is the
//! gated one from `lift.rs`, not the generated `TokenPlugin::call_on_token`:
//! the generated lift copies every string the result names before any size
//! check (Issue #11 item 3).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::{ComponentExportIndex, Func};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};

use crate::bindings::{HostState, TokenPluginPre, wit};
use crate::compile::one_line;
use crate::engine::deadline_ticks;
use crate::error::PluginFailure;
use crate::gate::{LONG_CALL_TICKS, RunSlot};
use crate::http::{HttpCall, HttpExchange};
use crate::lift::{GatedResult, OverBudget, with_budget};
use crate::limits::LogLine;
use crate::wait::{WaitPastDeadline, WallDeadline};

/// Bytes kept of a guest's `err` text or a trap description.
const MAX_ERROR_BYTES: usize = 1024;

/// The per-call limits, resolved from [`crate::HostConfig`] once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallLimits {
    pub memory_limit: usize,
    pub max_log_lines: usize,
    pub max_log_line_bytes: usize,
    pub deadline_ticks: u64,
    /// The deadline as wall time, for waits in host calls (`wait.rs`).
    pub deadline: Duration,
    /// Step of the clocks the guest reads (`clocks.rs`).
    pub clock_resolution: Duration,
    /// The output cap, reported when the lift budget runs out.
    pub max_output_bytes: usize,
    /// Units the result's lift may charge (`lift.rs`).
    pub lift_budget: usize,
}

/// A fresh instance that has not been called yet: its own [`Store`] (limiter,
/// log buffer, WASI context) and the instantiated component's `on-token`.
/// It serves exactly one call; [`call`] consumes it.
pub(crate) struct Instance {
    store: Store<HostState>,
    on_token: Func,
}

/// A pre-linked plugin, and the fastest instantiation seen for it, which
/// tells whether making its instances ahead is worth a thread hand-off
/// (`standby.rs`).
pub(crate) struct Template {
    pre: TokenPluginPre<HostState>,
    on_token: ComponentExportIndex,
    fastest_ns: AtomicU64,
}

impl Template {
    /// `None` when the component has no `on-token` export (checked before,
    /// by `TokenPluginPre::new`).
    pub(crate) fn new(pre: TokenPluginPre<HostState>) -> Option<Self> {
        let on_token = pre.instance_pre().component().get_export_index(None, "on-token")?;
        Some(Self { pre, on_token, fastest_ns: AtomicU64::new(u64::MAX) })
    }

    /// [`instantiate`], timed.
    pub(crate) fn instantiate(
        &self,
        engine: &Engine,
        limits: CallLimits,
    ) -> Result<Instance, (PluginFailure, Vec<LogLine>)> {
        let start = Instant::now();
        let made = instantiate(engine, self, limits)?;
        let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.fastest_ns.fetch_min(ns, Ordering::Relaxed);
        Ok(made)
    }

    /// Whether the plugin is heavy (an interpreter and its heap): its
    /// fastest instantiation so far took `threshold` or more, or it was
    /// never instantiated yet. Heavy plugins get standby instances
    /// (`standby.rs`) and queue for a run slot (`gate.rs`).
    pub(crate) fn is_heavy(&self, threshold: Duration) -> bool {
        match self.fastest_ns.load(Ordering::Relaxed) {
            u64::MAX => true,
            ns => Duration::from_nanos(ns) >= threshold,
        }
    }
}

/// Instantiates the pre-linked component in a new store. Start functions run
/// under the same deadline and memory limit as a call.
fn instantiate(
    engine: &Engine,
    template: &Template,
    limits: CallLimits,
) -> Result<Instance, (PluginFailure, Vec<LogLine>)> {
    let mut state =
        HostState::new(limits.memory_limit, limits.max_log_lines, limits.max_log_line_bytes, limits.clock_resolution);
    state.deadline = WallDeadline::after(limits.deadline);
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    store.set_epoch_deadline(limits.deadline_ticks);
    store.epoch_deadline_trap();
    let made = template.pre.instance_pre().instantiate(&mut store).and_then(|instance| {
        instance
            .get_func(&mut store, template.on_token)
            .ok_or_else(|| wasmtime::format_err!("the instance has no `on-token` export"))
    });
    match made {
        Ok(on_token) => Ok(Instance { store, on_token }),
        Err(e) => {
            let failure = instantiate_failure(&e, store.data().limiter.hit(), limits);
            Err((failure, store.into_data().logs.finish()))
        }
    }
}

/// What one call produced besides its outcome.
pub(crate) struct CallTrace {
    /// Lines the plugin logged.
    pub logs: Vec<LogLine>,
    /// Requests it made through `http.fetch` (0.2.0 only).
    pub http: Vec<HttpExchange>,
}

/// Runs `on-token` once, with `http` as what `http.fetch` may do, holding
/// `slot` (given back when it returns, and while it waits in host calls).
/// Returns the guest's raw decision (still to be validated) or the
/// failure, the captured log lines and requests either way, and the spent
/// store, whose drop returns the pool slot (and resets its memory).
pub(crate) fn call(
    instance: Instance,
    limits: CallLimits,
    ctx: &wit::TokenContext,
    http: HttpCall,
    slot: RunSlot,
) -> (Result<wit::Decision, PluginFailure>, CallTrace, Store<HostState>) {
    let Instance { mut store, on_token } = instance;
    // The deadline counts from the call, however long the instance waited;
    // `http.fetch` reads it from the store, which the guest cannot write.
    store.set_epoch_deadline(limits.deadline_ticks);
    store.data_mut().deadline = WallDeadline::after(limits.deadline);
    store.data_mut().http = http;
    if slot.is_held() && limits.deadline_ticks > LONG_CALL_TICKS {
        // A call that runs this long gives its slot back and runs on to its
        // deadline without one (`gate.rs`), so calls that run to their
        // deadline cannot hold every slot. What is left of the deadline is
        // read from the wall clock: the call may have waited in host calls
        // meanwhile, and its deadline does not move.
        let mut extended = false;
        store.set_epoch_deadline(LONG_CALL_TICKS);
        store.epoch_deadline_callback(move |mut store| {
            let left = store.data().deadline.left();
            if std::mem::replace(&mut extended, true) || left.is_zero() {
                return Ok(UpdateDeadline::Interrupt);
            }
            store.data_mut().slot.pause();
            let ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
            Ok(UpdateDeadline::Continue(deadline_ticks(ms)))
        });
    }
    store.data_mut().slot = slot;
    let result = on_token
        .typed::<(&wit::TokenContext,), (GatedResult,)>(&store)
        .and_then(|f| with_budget(limits.lift_budget, || f.call(&mut store, (ctx,))));
    let outcome = match result {
        Ok((Ok(decision),)) => Ok(decision.into()),
        Ok((Err(_),)) if store.data().limiter.hit() => Err(PluginFailure::Memory),
        Ok((Err(msg),)) => Err(PluginFailure::PluginError(one_line(&msg.0, MAX_ERROR_BYTES))),
        Err(e) => Err(trap_failure(&e, store.data().limiter.hit(), limits)),
    };
    let logs = store.data_mut().logs.take();
    let http = store.data_mut().http.take_exchanges();
    // The grant (with the binding's secrets) leaves the store now, not when
    // the spent store is dropped later on another thread.
    store.data_mut().http = HttpCall::none();
    // The slot goes back now, not when the spent store is dropped later.
    store.data_mut().slot = RunSlot::none();
    (outcome, CallTrace { logs, http }, store)
}

/// Deadline beats memory: an interrupt, or a wait that reached the deadline,
/// is the definitive cause even if a grow was refused earlier. A result over
/// the lift budget is oversized output, whatever happened before. Otherwise
/// a refused grow explains the trap.
fn trap_failure(e: &wasmtime::Error, memory_hit: bool, limits: CallLimits) -> PluginFailure {
    let trap = e.downcast_ref::<Trap>();
    if trap == Some(&Trap::Interrupt) || e.downcast_ref::<WaitPastDeadline>().is_some() {
        return PluginFailure::Deadline;
    }
    if let Some(over) = e.downcast_ref::<OverBudget>() {
        return PluginFailure::OversizedOutput { size: over.charged, limit: limits.max_output_bytes };
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
fn instantiate_failure(e: &wasmtime::Error, memory_hit: bool, limits: CallLimits) -> PluginFailure {
    if e.downcast_ref::<Trap>().is_some() || e.downcast_ref::<WaitPastDeadline>().is_some() || memory_hit {
        return trap_failure(e, memory_hit, limits);
    }
    tracing::warn!("plugin instantiation failed: {e:#}");
    PluginFailure::Unavailable(one_line(&format!("could not instantiate: {e:#}"), MAX_ERROR_BYTES))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> CallLimits {
        CallLimits {
            memory_limit: 1 << 20,
            max_log_lines: 1,
            max_log_line_bytes: 1,
            deadline_ticks: 2,
            deadline: Duration::from_millis(1),
            clock_resolution: Duration::from_millis(1),
            max_output_bytes: 100,
            lift_budget: 200,
        }
    }

    #[test]
    fn interrupt_is_deadline_even_after_a_refused_grow() {
        let e = wasmtime::Error::from(Trap::Interrupt);
        assert_eq!(trap_failure(&e, true, limits()), PluginFailure::Deadline);
        assert_eq!(trap_failure(&e, false, limits()), PluginFailure::Deadline);
    }

    /// Issue #11 item 2 (docs/security-checklist.md W-19): a wait cut off at the deadline is
    /// reported like an interrupt, in a call or in a start function.
    #[test]
    fn a_wait_cut_off_at_the_deadline_is_deadline() {
        let e = wasmtime::Error::from(WaitPastDeadline);
        assert_eq!(trap_failure(&e, true, limits()), PluginFailure::Deadline);
        assert_eq!(instantiate_failure(&e, false, limits()), PluginFailure::Deadline);
    }

    /// Issue #11 item 3 (docs/security-checklist.md W-18): a lift stopped by its budget is
    /// oversized output, reported against the configured cap.
    #[test]
    fn a_lift_over_budget_is_oversized_output() {
        let e = wasmtime::Error::from(OverBudget { charged: 201, budget: 200 });
        assert_eq!(trap_failure(&e, true, limits()), PluginFailure::OversizedOutput { size: 201, limit: 100 });
    }

    #[test]
    fn trap_after_refused_grow_is_memory() {
        let e = wasmtime::Error::from(Trap::UnreachableCodeReached);
        assert_eq!(trap_failure(&e, true, limits()), PluginFailure::Memory);
        let PluginFailure::Trap(msg) = trap_failure(&e, false, limits()) else { panic!("not a trap") };
        assert!(msg.contains("unreachable"), "{msg}");
    }

    #[test]
    fn non_trap_instantiation_error_is_unavailable() {
        let e = wasmtime::format_err!("pool exhausted");
        assert!(
            matches!(instantiate_failure(&e, false, limits()), PluginFailure::Unavailable(m) if m.contains("pool exhausted"))
        );
        assert_eq!(instantiate_failure(&e, true, limits()), PluginFailure::Memory);
    }
}
