//! Suspending a binding whose plugin keeps running out its deadline
//! (docs/security-checklist.md W-14).
//!
//! A call that hits its deadline has held a CPU for the whole deadline. A
//! plugin that loops on every call would, under load, keep the CPU pool's
//! threads busy doing nothing useful for every token of its clients. After
//! `after` such calls of one binding in a row, the binding is suspended on
//! this node for `cooldown`: its plugin is not called, the run is recorded
//! as `suspended`, and the binding's failure policy decides the token as it
//! would have for the deadline itself (`service::pipeline::apply_policy`).
//!
//! When the cooldown ends, one call runs (the others stay suspended while
//! it does): any answer, or any failure but the deadline, ends the
//! suspension; another deadline suspends the binding again at once. Only
//! deadlines count: every other failure (a trap, the memory limit, bad
//! output) ends quickly and costs little. The state is per node and in
//! memory, so a restart or another node starts counting afresh; what a
//! suspension costs is at most `after` deadlines per node per cooldown.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The outcome of a call a suspension kept from running, in run records
/// and in `tessera_plugin_runs_total`.
pub const SUSPENDED: &str = "suspended";

/// The bindings of this node that ran out their deadline lately.
#[derive(Debug)]
pub struct Suspensions {
    /// Deadlines in a row that suspend a binding; 0: never.
    after: u32,
    /// How long a suspension lasts.
    cooldown: Duration,
    /// By binding id; only bindings whose last call ran out its deadline
    /// have an entry.
    state: Mutex<HashMap<String, Streak>>,
    /// Whether `state` has an entry, written under its lock. Read without
    /// it, so the common path (no binding has run out its deadline lately)
    /// takes no lock before or after a call: every plugin token passes
    /// here. A stale read only lets one call run or check the map in vain.
    tracking: AtomicBool,
}

#[derive(Debug, Default)]
struct Streak {
    /// Calls in a row that ran out their deadline.
    deadlines: u32,
    /// Suspended until then; a call admitted after it moves it one
    /// cooldown ahead, so the others wait while that call runs.
    until: Option<Instant>,
}

/// What [`Suspensions::record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Nothing changed for the binding's callers.
    Nothing,
    /// This call's deadline suspended the binding.
    Suspended,
    /// This call answered after a suspension: the binding runs again.
    Resumed,
}

impl Suspensions {
    /// Suspends a binding for `cooldown` after `after` deadlines in a row
    /// (`after` 0: never).
    pub fn new(after: u32, cooldown: Duration) -> Suspensions {
        Suspensions { after, cooldown, state: Mutex::new(HashMap::new()), tracking: AtomicBool::new(false) }
    }

    /// How much longer `binding` stays suspended at `now`, or `None` when
    /// its plugin may be called. The first call after a cooldown is let
    /// through and pushes the suspension one cooldown further for the
    /// others, until [`Suspensions::record`] hears how it went.
    pub fn check(&self, binding: &str, now: Instant) -> Option<Duration> {
        if !self.tracking.load(Ordering::Acquire) {
            return None;
        }
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let streak = state.get_mut(binding)?;
        let until = streak.until?;
        if now < until {
            return Some(until - now);
        }
        streak.until = Some(now + self.cooldown);
        None
    }

    /// Records how a call of `binding` ended: `deadline` when it ran out
    /// its deadline. Holds the lock for a map lookup only, and takes it
    /// after an answer only while some binding is tracked.
    pub fn record(&self, binding: &str, deadline: bool, now: Instant) -> Recorded {
        if self.after == 0 || (!deadline && !self.tracking.load(Ordering::Acquire)) {
            return Recorded::Nothing;
        }
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !deadline {
            let ended = state.remove(binding);
            self.tracking.store(!state.is_empty(), Ordering::Release);
            return match ended {
                Some(Streak { until: Some(_), .. }) => Recorded::Resumed,
                _ => Recorded::Nothing,
            };
        }
        self.tracking.store(true, Ordering::Release);
        let streak = state.entry(binding.to_owned()).or_default();
        streak.deadlines = streak.deadlines.saturating_add(1);
        if streak.deadlines < self.after {
            return Recorded::Nothing;
        }
        let was_suspended = streak.until.is_some();
        streak.until = Some(now + self.cooldown);
        if was_suspended { Recorded::Nothing } else { Recorded::Suspended }
    }

    /// The cooldown, for messages.
    pub fn cooldown(&self) -> Duration {
        self.cooldown
    }

    /// `binding`'s suspension at `now`, if it is suspended: what the
    /// console shows. Only reads (unlike [`Suspensions::check`], it never
    /// lets a call through).
    pub fn of(&self, binding: &str, now: Instant) -> Option<Suspended> {
        if !self.tracking.load(Ordering::Acquire) {
            return None;
        }
        let state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.get(binding).and_then(|streak| streak.suspended(binding, now))
    }

    /// Every binding suspended at `now`, by id.
    pub fn all(&self, now: Instant) -> Vec<Suspended> {
        if !self.tracking.load(Ordering::Acquire) {
            return Vec::new();
        }
        let state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut all: Vec<Suspended> = state.iter().filter_map(|(id, streak)| streak.suspended(id, now)).collect();
        all.sort_by(|a, b| a.binding.cmp(&b.binding));
        all
    }
}

impl Streak {
    /// What the console shows of `binding`'s streak at `now`, if it is a
    /// suspension that has not ended.
    fn suspended(&self, binding: &str, now: Instant) -> Option<Suspended> {
        let left = self.until.filter(|u| *u > now)? - now;
        Some(Suspended {
            binding: binding.to_owned(),
            deadlines: self.deadlines,
            remaining_secs: left.as_secs() + u64::from(left.subsec_nanos() > 0),
        })
    }
}

/// A binding suspended on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspended {
    /// The binding's id.
    pub binding: String,
    /// Calls in a row that ran out their deadline.
    pub deadlines: u32,
    /// Whole seconds (rounded up) until a call is tried again.
    pub remaining_secs: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_secs(30);

    #[test]
    fn deadlines_in_a_row_suspend_and_anything_else_breaks_the_streak() {
        let s = Suspensions::new(3, COOL);
        let t = Instant::now();
        assert_eq!(s.record("b", true, t), Recorded::Nothing);
        assert_eq!(s.record("b", true, t), Recorded::Nothing);
        assert_eq!(s.record("b", false, t), Recorded::Nothing, "an answer breaks the streak");
        assert_eq!(s.record("b", true, t), Recorded::Nothing);
        assert_eq!(s.record("b", true, t), Recorded::Nothing);
        assert_eq!(s.check("b", t), None, "two in a row are not enough");
        assert_eq!(s.record("b", true, t), Recorded::Suspended);
        assert_eq!(s.check("b", t + Duration::from_secs(10)), Some(Duration::from_secs(20)));
        assert_eq!(s.check("other", t), None, "per binding");
    }

    /// What the console shows: suspended bindings only, and reading them
    /// lets no call through.
    #[test]
    fn the_suspended_bindings_are_listed_without_admitting_a_call() {
        let s = Suspensions::new(2, COOL);
        let t = Instant::now();
        assert!(s.all(t).is_empty());
        s.record("b", true, t);
        assert_eq!(s.of("b", t), None, "one deadline is a streak, not a suspension");
        s.record("b", true, t);
        s.record("a", true, t);
        let ten = t + Duration::from_millis(10_500);
        assert_eq!(s.all(ten), vec![Suspended { binding: "b".into(), deadlines: 2, remaining_secs: 20 }]);
        assert_eq!(s.of("b", ten).map(|x| x.remaining_secs), Some(20), "rounded up");
        assert_eq!(s.check("b", ten), Some(COOL - Duration::from_millis(10_500)), "still suspended after reading");
        assert!(s.all(t + COOL).is_empty(), "the cooldown is over");
    }

    #[test]
    fn after_the_cooldown_one_call_runs_and_decides() {
        let s = Suspensions::new(1, COOL);
        let t = Instant::now();
        assert_eq!(s.record("b", true, t), Recorded::Suspended);
        let later = t + COOL;
        assert_eq!(s.check("b", later), None, "the first call after the cooldown runs");
        assert_eq!(s.check("b", later), Some(COOL), "the others wait for it");
        assert_eq!(s.record("b", true, later), Recorded::Nothing, "a deadline again: suspended again");
        assert_eq!(s.check("b", later + Duration::from_secs(1)), Some(COOL - Duration::from_secs(1)));
        let again = later + COOL;
        assert_eq!(s.check("b", again), None);
        assert_eq!(s.record("b", false, again), Recorded::Resumed);
        assert_eq!(s.check("b", again), None);
        assert_eq!(s.record("b", true, again), Recorded::Suspended, "counting starts afresh");
    }

    #[test]
    fn zero_never_suspends() {
        let s = Suspensions::new(0, COOL);
        let t = Instant::now();
        for _ in 0..10 {
            assert_eq!(s.record("b", true, t), Recorded::Nothing);
        }
        assert_eq!(s.check("b", t), None);
    }
}
