//! Each plugin's share of the instance pool (Issue #11 item 2, docs/security-checklist.md
//! W-15 and W-19).
//!
//! Every call holds one pool slot from instantiation until its store is
//! dropped. Without a per-plugin bound, one plugin that is slow (or sleeps,
//! or loops until its deadline) under load takes every slot, and every other
//! plugin's calls fail with a full pool: 64 sleepers once starved every other
//! client's token requests. So each plugin version (keyed by its sha256, the
//! unit the host runs; two bindings of one version share its share) may have
//! at most [`crate::HostConfig::pool_share`] calls in flight. A call over it
//! waits at most [`crate::HostConfig::share_wait_ms`] (10 ms) for one of
//! them to finish, then fails as [`crate::PluginFailure::Busy`]: a burst is
//! absorbed (32 connections on one core briefly put more than 16 calls of
//! one plugin in flight, and each extra one was a 503), while a saturating
//! plugin makes its callers wait no longer than that.
//!
//! Standby instances (`standby.rs`) are bounded on their own (at most a
//! quarter of the pool, one per plugin) and are not counted here.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::locks::lock;

/// Calls in flight per plugin, with a common cap.
#[derive(Debug)]
pub(crate) struct PoolShares {
    cap: usize,
    plugins: Mutex<HashMap<String, Share>>,
    wait: Duration,
}

/// One plugin's calls in flight and the calls waiting for one of them.
#[derive(Debug, Default)]
struct Share {
    running: usize,
    waiting: usize,
    /// Signalled, once per finished call, for one waiter of this plugin:
    /// waking every waiter of every plugin at each call's end (one condvar
    /// for all) made a saturated plugin's callers spend their CPU on
    /// wake-ups that found the share still full.
    freed: Arc<Condvar>,
}

/// One call's claim on its plugin's share; released when dropped.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    shares: &'a PoolShares,
    sha256: String,
}

impl PoolShares {
    pub(crate) fn new(cap: usize, wait: Duration) -> Self {
        Self { cap: cap.max(1), plugins: Mutex::default(), wait }
    }

    /// The most calls one plugin may have in flight.
    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    /// A permit for one more call of `sha256`, or `None` when it still has
    /// [`Self::cap`] calls in flight after waiting up to the configured wait.
    pub(crate) fn acquire(&self, sha256: &str) -> Option<Permit<'_>> {
        let until = Instant::now() + self.wait;
        let mut plugins = lock(&self.plugins);
        loop {
            let share = plugins.entry(sha256.to_owned()).or_default();
            if share.running < self.cap {
                share.running += 1;
                return Some(Permit { shares: self, sha256: sha256.to_owned() });
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            share.waiting += 1;
            let freed = Arc::clone(&share.freed);
            // A poisoned lock only means another call panicked mid-update
            // of plain counters; the map is still usable.
            plugins = freed.wait_timeout(plugins, left).unwrap_or_else(|p| p.into_inner()).0;
            if let Some(share) = plugins.get_mut(sha256) {
                share.waiting -= 1;
            }
        }
    }

    /// Calls in flight now, over every plugin: the pool slots in use.
    pub(crate) fn in_use(&self) -> usize {
        lock(&self.plugins).values().map(|s| s.running).sum()
    }

    /// Calls of `sha256` in flight now.
    #[cfg(test)]
    fn running(&self, sha256: &str) -> usize {
        lock(&self.plugins).get(sha256).map_or(0, |s| s.running)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut plugins = lock(&self.shares.plugins);
        if let Some(share) = plugins.get_mut(&self.sha256) {
            share.running = share.running.saturating_sub(1);
            if share.waiting > 0 {
                share.freed.notify_one();
            } else if share.running == 0 {
                plugins.remove(&self.sha256);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_gets_at_most_its_share_and_others_are_unaffected() {
        let shares = PoolShares::new(2, Duration::ZERO);
        let a1 = shares.acquire("a").unwrap();
        let _a2 = shares.acquire("a").unwrap();
        assert!(shares.acquire("a").is_none());
        let _b = shares.acquire("b").unwrap();
        drop(a1);
        assert!(shares.acquire("a").is_some());
    }

    #[test]
    fn permits_are_returned_and_idle_plugins_forgotten() {
        let shares = PoolShares::new(1, Duration::ZERO);
        {
            let _p = shares.acquire("a").unwrap();
            assert_eq!(shares.running("a"), 1);
        }
        assert_eq!(shares.running("a"), 0);
        assert!(lock(&shares.plugins).is_empty());
    }

    #[test]
    fn slots_in_use_count_every_plugin() {
        let shares = PoolShares::new(2, Duration::ZERO);
        let _a = shares.acquire("a").unwrap();
        let b = shares.acquire("b").unwrap();
        let _b2 = shares.acquire("b").unwrap();
        assert_eq!(shares.in_use(), 3);
        drop(b);
        assert_eq!(shares.in_use(), 2);
    }

    /// A call over the share waits for one to finish, within the wait;
    /// past it, it is refused.
    #[test]
    fn a_call_over_the_share_waits_for_a_slot_within_the_wait() {
        let shares = PoolShares::new(1, Duration::from_secs(5));
        let held = shares.acquire("a").unwrap();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let start = Instant::now();
                let got = shares.acquire("a").is_some();
                (got, start.elapsed())
            });
            std::thread::sleep(Duration::from_millis(50));
            drop(held);
            let (got, took) = waiter.join().unwrap();
            assert!(got && took >= Duration::from_millis(40), "got {got} after {took:?}");
        });
        let short = PoolShares::new(1, Duration::from_millis(20));
        let _held = short.acquire("a").unwrap();
        let start = Instant::now();
        assert!(short.acquire("a").is_none());
        assert!(start.elapsed() >= Duration::from_millis(20), "it waited first");
        assert!(short.acquire("b").is_some(), "another plugin never waits on this one");
    }

    #[test]
    fn the_cap_is_at_least_one() {
        assert_eq!(PoolShares::new(0, Duration::ZERO).cap(), 1);
    }
}
