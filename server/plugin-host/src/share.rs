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
//! fails at once as [`crate::PluginFailure::Busy`]: never queued, so a
//! saturating plugin cannot make its callers hang either.
//!
//! Standby instances (`standby.rs`) are bounded on their own (at most a
//! quarter of the pool, one per plugin) and are not counted here.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::locks::lock;

/// Calls in flight per plugin, with a common cap.
#[derive(Debug)]
pub(crate) struct PoolShares {
    cap: usize,
    running: Mutex<HashMap<String, usize>>,
}

/// One call's claim on its plugin's share; released when dropped.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    shares: &'a PoolShares,
    sha256: String,
}

impl PoolShares {
    pub(crate) fn new(cap: usize) -> Self {
        Self { cap: cap.max(1), running: Mutex::default() }
    }

    /// The most calls one plugin may have in flight.
    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    /// A permit for one more call of `sha256`, or `None` when it already has
    /// [`Self::cap`] calls in flight.
    pub(crate) fn acquire(&self, sha256: &str) -> Option<Permit<'_>> {
        let mut running = lock(&self.running);
        let n = running.entry(sha256.to_owned()).or_insert(0);
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(Permit { shares: self, sha256: sha256.to_owned() })
    }

    /// Calls in flight now, over every plugin: the pool slots in use.
    pub(crate) fn in_use(&self) -> usize {
        lock(&self.running).values().sum()
    }

    /// Calls of `sha256` in flight now.
    #[cfg(test)]
    fn running(&self, sha256: &str) -> usize {
        lock(&self.running).get(sha256).copied().unwrap_or(0)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut running = lock(&self.shares.running);
        if let Some(n) = running.get_mut(&self.sha256) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                running.remove(&self.sha256);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_gets_at_most_its_share_and_others_are_unaffected() {
        let shares = PoolShares::new(2);
        let a1 = shares.acquire("a").unwrap();
        let _a2 = shares.acquire("a").unwrap();
        assert!(shares.acquire("a").is_none());
        let _b = shares.acquire("b").unwrap();
        drop(a1);
        assert!(shares.acquire("a").is_some());
    }

    #[test]
    fn permits_are_returned_and_idle_plugins_forgotten() {
        let shares = PoolShares::new(1);
        {
            let _p = shares.acquire("a").unwrap();
            assert_eq!(shares.running("a"), 1);
        }
        assert_eq!(shares.running("a"), 0);
        assert!(lock(&shares.running).is_empty());
    }

    #[test]
    fn slots_in_use_count_every_plugin() {
        let shares = PoolShares::new(2);
        let _a = shares.acquire("a").unwrap();
        let b = shares.acquire("b").unwrap();
        let _b2 = shares.acquire("b").unwrap();
        assert_eq!(shares.in_use(), 3);
        drop(b);
        assert_eq!(shares.in_use(), 2);
    }

    #[test]
    fn the_cap_is_at_least_one() {
        assert_eq!(PoolShares::new(0).cap(), 1);
    }
}
