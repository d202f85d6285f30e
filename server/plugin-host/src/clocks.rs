//! The clocks a plugin reads (Issue #11 item 14, docs/security-checklist.md W-12).
//!
//! Plugins run in the process that holds the signing keys. WASI's default
//! clocks hand a guest the host's monotonic clock at nanosecond precision
//! (about 140 ns steps were observed) and the real wall clock, which is what
//! timing side channels need. Claim rules need neither: "now" to the
//! millisecond is plenty. So both clocks are wrapped to step in whole
//! multiples of `HostConfig::clock_resolution_ms` (1 ms by default), and
//! they report that as their resolution.
//!
//! The monotonic clock also starts afresh when the instance is made, so a
//! plugin does not learn how long the server has been up. It starts at one
//! step rather than zero: Go's runtime refuses to start on a monotonic clock
//! that reads 0 ("nanotime returning zero"), which a warm instance called in
//! its first millisecond would otherwise see.
//!
//! What this does not do: a guest can still count loop iterations between
//! two clock steps, and sleeping (`subscribe-duration`) still waits on the
//! host's timer; only the readings are coarse. Fuel or a separate process
//! would be the next step (docs/security-checklist.md W-3, W-12).

use std::time::Duration;

use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// Rounds `ns` down to a multiple of `step` (`step` ≥ 1).
fn floor_to(ns: u64, step: u64) -> u64 {
    ns - ns % step.max(1)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A wall clock that only moves in steps of `resolution`.
pub(crate) struct CoarseWallClock<C> {
    inner: C,
    step_ns: u64,
}

impl<C: HostWallClock> CoarseWallClock<C> {
    pub(crate) fn new(inner: C, resolution: Duration) -> Self {
        Self { inner, step_ns: nanos(resolution).max(1) }
    }
}

impl<C: HostWallClock> HostWallClock for CoarseWallClock<C> {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(self.step_ns).max(self.inner.resolution())
    }

    fn now(&self) -> Duration {
        Duration::from_nanos(floor_to(nanos(self.inner.now()), self.step_ns))
    }
}

/// A monotonic clock that only moves in steps of `resolution`, counted from
/// the inner clock's origin (for `wasmtime_wasi`'s `MonotonicClock`: when it
/// was made, i.e. with the instance).
pub(crate) struct CoarseMonotonicClock<C> {
    inner: C,
    step_ns: u64,
}

impl<C: HostMonotonicClock> CoarseMonotonicClock<C> {
    pub(crate) fn new(inner: C, resolution: Duration) -> Self {
        Self { inner, step_ns: nanos(resolution).max(1) }
    }
}

impl<C: HostMonotonicClock> HostMonotonicClock for CoarseMonotonicClock<C> {
    fn resolution(&self) -> u64 {
        self.step_ns.max(self.inner.resolution())
    }

    fn now(&self) -> u64 {
        floor_to(self.inner.now(), self.step_ns).saturating_add(self.step_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock stopped at the given nanosecond.
    struct Fake(u64);

    impl Fake {
        fn at(ns: u64) -> Self {
            Self(ns)
        }
        fn get(&self) -> u64 {
            self.0
        }
    }

    impl HostMonotonicClock for Fake {
        fn resolution(&self) -> u64 {
            1
        }
        fn now(&self) -> u64 {
            self.get()
        }
    }

    impl HostWallClock for Fake {
        fn resolution(&self) -> Duration {
            Duration::from_nanos(1)
        }
        fn now(&self) -> Duration {
            Duration::from_nanos(self.get())
        }
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn monotonic_readings_are_whole_milliseconds() {
        let c = CoarseMonotonicClock::new(Fake::at(5_999_999), MS);
        assert_eq!(c.now(), 6_000_000);
        assert_eq!(c.resolution(), 1_000_000);
        let c = CoarseMonotonicClock::new(Fake::at(6_000_000), MS);
        assert_eq!(c.now(), 7_000_000);
    }

    /// A fresh instance's first reading is one step, never 0 (Go's runtime
    /// traps on a zero monotonic clock; server/plugin-host/tests/subprocess.rs
    /// calls the Go example on fresh instances).
    #[test]
    fn a_fresh_monotonic_clock_never_reads_zero() {
        let c = CoarseMonotonicClock::new(Fake::at(0), MS);
        assert_eq!(c.now(), 1_000_000);
        let c = CoarseMonotonicClock::new(Fake::at(999_999), MS);
        assert_eq!(c.now(), 1_000_000);
    }

    #[test]
    fn wall_readings_are_whole_milliseconds() {
        let c = CoarseWallClock::new(Fake::at(1_764_000_000_123_456_789), MS);
        assert_eq!(c.now(), Duration::from_nanos(1_764_000_000_123_000_000));
        assert_eq!(c.resolution(), MS);
    }

    #[test]
    fn a_coarser_setting_is_honoured_and_zero_means_one_nanosecond() {
        let c = CoarseWallClock::new(Fake::at(2_345_000_000), Duration::from_secs(1));
        assert_eq!(c.now(), Duration::from_secs(2));
        let c = CoarseMonotonicClock::new(Fake::at(7), Duration::ZERO);
        assert_eq!(c.now(), 8);
    }
}
