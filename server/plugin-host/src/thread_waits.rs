//! Telling the thread that runs a call when the call waits in a host call.
//!
//! The server runs token requests with a plugin bound on a pool that keeps
//! about one running thread per CPU (`server/tessera/src/cpu_pool.rs`): a
//! few threads that take the next request without sleeping cost less than
//! many threads each woken for one. A call that waits (`http.fetch`, a WASI
//! sleep) uses no CPU meanwhile, so the pool starts another request while
//! it waits instead of leaving the CPU idle. Every such wait goes through
//! `HostState::without_slot` (`bindings.rs`), which brackets it with the
//! hooks set here. The hooks are process-wide because the pool's threads
//! are found by a thread-local of the pool; off those threads they do
//! nothing.

use std::sync::OnceLock;

/// What to call on the calling thread before and after a call waits in a
/// host call. Plain functions: the waits are in the call path of every
/// plugin, and a hook must be cheap when the thread is not the pool's.
#[derive(Debug, Clone, Copy)]
pub struct WaitHooks {
    /// The call is about to wait.
    pub begins: fn(),
    /// The wait is over (also when it failed or passed the deadline).
    pub ends: fn(),
}

static HOOKS: OnceLock<WaitHooks> = OnceLock::new();

/// Sets the hooks for the life of the process; `false` if they were
/// already set (by an earlier call: the first one stays).
pub fn set_wait_hooks(hooks: WaitHooks) -> bool {
    HOOKS.set(hooks).is_ok()
}

/// Runs `wait` between the hooks' `begins` and `ends`; `ends` runs even if
/// `wait` panics, so the pool's count of waiting threads stays right.
pub(crate) fn waiting<R>(wait: impl FnOnce() -> R) -> R {
    struct Ends(fn());
    impl Drop for Ends {
        fn drop(&mut self) {
            (self.0)();
        }
    }
    let _ends = HOOKS.get().map(|h| {
        (h.begins)();
        Ends(h.ends)
    });
    wait()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        static DEPTH: Cell<i32> = const { Cell::new(0) };
        static SEEN: Cell<i32> = const { Cell::new(0) };
    }

    fn begins() {
        DEPTH.with(|d| d.set(d.get() + 1));
    }

    fn ends() {
        DEPTH.with(|d| d.set(d.get() - 1));
    }

    #[test]
    fn brackets_the_wait_and_ends_after_a_panic() {
        set_wait_hooks(WaitHooks { begins, ends });
        waiting(|| SEEN.with(|s| s.set(DEPTH.with(Cell::get))));
        assert_eq!(SEEN.with(Cell::get), 1, "the wait runs between the hooks");
        assert_eq!(DEPTH.with(Cell::get), 0);
        let panicked = std::panic::catch_unwind(|| waiting(|| panic!("a wait that panics")));
        assert!(panicked.is_err());
        assert_eq!(DEPTH.with(Cell::get), 0, "ends runs on unwind");
    }
}
