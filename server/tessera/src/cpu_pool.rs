//! The thread pool for CPU work handed off an HTTP worker: today the token
//! requests with a plugin bound (`web/oauth.rs`).
//!
//! actix-web's blocking pool starts a thread per concurrent job (up to 512
//! per worker), and wakes one for each: with 32 connections on one CPU,
//! about 32 threads take turns, each woken by a futex and each cold in the
//! cache. A few threads that take the next job from the queue without
//! sleeping cost a third less per plugin token (BENCHMARKS.md, "The blocking
//! pool's size"). A small pool alone would let a few waits stop everything
//! else, so this one keeps about `base` threads *running* (one per CPU by
//! default) rather than `base` threads in all:
//!
//! * A thread counts as running while its job runs, unless the job waits
//!   in a plugin's host call (`http.fetch`, a WASI sleep: the plugin host
//!   tells us through [`wait_begins`] and [`wait_ends`]) or has run longer
//!   than `stall_after` (a compile on a cache miss, a database read, a
//!   plugin that loops to its deadline: whatever the reason, the CPU's turn
//!   passes on). A job starts only while fewer than `base` threads run; a
//!   wait or a stall lets the next job start on another thread (started if
//!   none is idle, up to `max_threads`), as tokio's `block_in_place` hands a
//!   worker's place on.
//! * A thread that finishes a job takes the next one itself while fewer
//!   than `base` others run: under load the queue is rarely empty and no
//!   thread sleeps between jobs.
//! * A monitor thread marks stalls; it sleeps while every queued job has a
//!   thread on its way, and otherwise wakes when the oldest running job
//!   would reach `stall_after`.
//! * Threads beyond `base` that have been idle for [`IDLE_EXIT`] end; all
//!   of them end when the pool is dropped, after the jobs queued by then.
//!
//! The price: a pool thread runs job after job for its whole time slice,
//! so a finished response may wait for the slice's end before the HTTP
//! worker writes it (the Rust plugin rows' p99 ÷ p50 went from 2.3 to 2.6–2.8
//! while their p50 fell by a third). Yielding after each job removes most
//! of that tail and doubles the cost of a token (BENCHMARKS.md, "The CPU
//! pool (session 13)").
//!
//! Everything is under one mutex: a job is a token request of 50 µs or
//! more, and the lock is held for a few list operations per job.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long a job may run before the pool stops counting it as running:
/// about three times the Python example's token and a hundred times a Rust
/// plugin's, well below a plugin's default deadline (100 ms).
pub const STALL_AFTER: Duration = Duration::from_millis(5);

/// Idle time after which a thread beyond `base` ends.
pub const IDLE_EXIT: Duration = Duration::from_secs(10);

/// Threads at most, running or not: beyond the plugin host's instance pool
/// (64 by default) more threads would only wait for a slot.
pub const MAX_THREADS: usize = 128;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The job was dropped before it ran or while it ran: the pool was
/// dropped, no thread could be started, or the job panicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the job did not finish on the CPU pool")]
pub struct Canceled;

/// What [`CpuPool::stats`] reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Threads running a job that counts as running.
    pub running: usize,
    /// Threads whose job waits in a host call or has run `stall_after`.
    pub waiting: usize,
    /// Threads without a job.
    pub idle: usize,
    /// Jobs not started yet.
    pub queued: usize,
}

/// A pool of threads that keeps about `base` of them running (module docs).
pub struct CpuPool {
    shared: Arc<Shared>,
}

struct Shared {
    base: usize,
    max_threads: usize,
    stall_after: Duration,
    state: Mutex<State>,
    /// Idle threads wait here for a job.
    work: Condvar,
    /// The monitor waits here while every queued job has a thread on its way.
    monitor: Condvar,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// Threads alive (the monitor not counted).
    threads: usize,
    /// Threads waiting on `work`.
    idle: usize,
    /// Threads told to take a job (notified or being started) that have not
    /// looked at the queue yet.
    wakes: usize,
    /// The jobs running now, one per busy thread.
    busy: Vec<Busy>,
    next_thread: u64,
    monitor_started: bool,
    monitor_parked: bool,
    closed: bool,
}

/// A running job: its thread, when it started, and whether it still counts
/// as running.
struct Busy {
    thread: u64,
    started: Instant,
    /// Depth of the plugin host's waits the job is in.
    waits: u32,
    /// Marked by the monitor once the job ran `stall_after`.
    stalled: bool,
}

impl Busy {
    fn running(&self) -> bool {
        self.waits == 0 && !self.stalled
    }
}

impl State {
    fn running(&self) -> usize {
        self.busy.iter().filter(|b| b.running()).count()
    }

    fn busy_mut(&mut self, thread: u64) -> Option<&mut Busy> {
        self.busy.iter_mut().find(|b| b.thread == thread)
    }
}

thread_local! {
    /// The pool and thread id of a pool thread (none elsewhere), for the
    /// plugin host's wait hooks.
    static CURRENT: RefCell<Option<(Arc<Shared>, u64)>> = const { RefCell::new(None) };
}

impl CpuPool {
    /// One running thread per CPU this process may use; threads start on
    /// first use.
    pub fn per_cpu() -> Self {
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Self::with_limits(cpus, MAX_THREADS, STALL_AFTER)
    }

    /// A pool that keeps `base` threads running (at least one), with the
    /// other limits given (tests).
    pub fn with_limits(base: usize, max_threads: usize, stall_after: Duration) -> Self {
        let base = base.max(1);
        CpuPool {
            shared: Arc::new(Shared {
                base,
                max_threads: max_threads.max(base),
                stall_after,
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                monitor: Condvar::new(),
            }),
        }
    }

    /// The pool's threads and queue now, for the metrics.
    pub fn stats(&self) -> PoolStats {
        let st = self.shared.lock();
        let running = st.running();
        PoolStats {
            running,
            waiting: st.busy.len() - running,
            idle: st.threads.saturating_sub(st.busy.len()),
            queued: st.queue.len(),
        }
    }

    /// Runs `f` on the pool; the future resolves with its result, or with
    /// [`Canceled`] if it panicked or could not run.
    pub fn run<F, R>(&self, f: F) -> impl Future<Output = Result<R, Canceled>> + use<F, R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        Shared::submit(
            &self.shared,
            Box::new(move || {
                // A dropped receiver (the client went away) is no error.
                let _ = tx.send(f());
            }),
        );
        async move { rx.await.map_err(|_| Canceled) }
    }
}

impl Drop for CpuPool {
    /// Threads end once the queue is empty; jobs already queued still run.
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.work.notify_all();
        self.shared.monitor.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Jobs run outside the lock, so a poisoned lock means a bug in this
        // file; the state is still consistent list by list.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn submit(this: &Arc<Self>, job: Job) {
        let mut st = this.lock();
        if st.closed {
            return; // drops the job: its future resolves as `Canceled`
        }
        st.queue.push_back(job);
        let start_monitor = !std::mem::replace(&mut st.monitor_started, true);
        let spawn = this.dispatch(&mut st);
        drop(st);
        if start_monitor {
            let pool = Arc::clone(this);
            if let Err(e) = std::thread::Builder::new().name("tessera-cpu-monitor".into()).spawn(move || pool.monitor())
            {
                // Waits still hand the CPU's turn on; only stalls go unseen.
                tracing::warn!(error = %e, "cannot start the CPU pool's monitor thread");
            }
        }
        Self::spawn(this, spawn);
    }

    /// Wakes idle threads, or reserves new ones, for queued jobs while
    /// fewer than `base` threads run. Returns how many threads to start;
    /// the caller starts them after unlocking.
    fn dispatch(&self, st: &mut State) -> usize {
        let mut spawn = 0;
        while st.queue.len() > st.wakes && st.running() + st.wakes < self.base {
            if st.idle > st.wakes {
                self.work.notify_one();
            } else if st.threads < self.max_threads {
                st.threads += 1;
                spawn += 1;
            } else {
                break;
            }
            st.wakes += 1;
        }
        // Jobs left without a thread wait for a running one to finish, stop
        // waiting or stall: only then has the monitor something to watch.
        if st.queue.len() > st.wakes && st.monitor_parked {
            self.monitor.notify_one();
        }
        spawn
    }

    fn spawn(this: &Arc<Self>, count: usize) {
        for _ in 0..count {
            let pool = Arc::clone(this);
            let started = std::thread::Builder::new().name("tessera-cpu".into()).spawn(move || pool.worker());
            if let Err(e) = started {
                tracing::error!(error = %e, "cannot start a CPU pool thread");
                let mut st = this.lock();
                st.threads -= 1;
                st.wakes = st.wakes.saturating_sub(1);
                if st.threads == 0 {
                    // Nothing would ever run them: their futures resolve
                    // as `Canceled` (a 500) instead of hanging.
                    st.queue.clear();
                }
            }
        }
    }

    fn worker(self: Arc<Self>) {
        let mut st = self.lock();
        let me = st.next_thread;
        st.next_thread += 1;
        CURRENT.with(|c| *c.borrow_mut() = Some((Arc::clone(&self), me)));
        st.wakes = st.wakes.saturating_sub(1);
        loop {
            if st.running() < self.base
                && let Some(job) = st.queue.pop_front()
            {
                st.busy.push(Busy { thread: me, started: Instant::now(), waits: 0, stalled: false });
                drop(st);
                // The job sends its own result; a panic drops the sender,
                // which the caller sees as `Canceled`. The thread lives on.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                st = self.lock();
                st.busy.retain(|b| b.thread != me);
                continue;
            }
            if st.closed && st.queue.is_empty() {
                break;
            }
            st.idle += 1;
            let (guard, waited) = self.work.wait_timeout(st, IDLE_EXIT).unwrap_or_else(PoisonError::into_inner);
            st = guard;
            st.idle -= 1;
            st.wakes = st.wakes.saturating_sub(1);
            if waited.timed_out() && st.threads > self.base && st.queue.is_empty() {
                break;
            }
        }
        st.threads -= 1;
        drop(st);
        CURRENT.with(|c| c.borrow_mut().take());
    }

    /// Marks the jobs that ran `stall_after` as stalled and lets others
    /// start in their place; sleeps while no job is left without a thread.
    fn monitor(self: Arc<Self>) {
        let mut st = self.lock();
        while !st.closed {
            if st.queue.len() <= st.wakes {
                st.monitor_parked = true;
                st = self.monitor.wait(st).unwrap_or_else(PoisonError::into_inner);
                st.monitor_parked = false;
                continue;
            }
            let now = Instant::now();
            for b in st.busy.iter_mut().filter(|b| !b.stalled && now.duration_since(b.started) >= self.stall_after) {
                b.stalled = true;
            }
            let spawn = self.dispatch(&mut st);
            if spawn > 0 {
                drop(st);
                Self::spawn(&self, spawn);
                st = self.lock();
            }
            let next = st.busy.iter().filter(|b| !b.stalled).map(|b| b.started + self.stall_after).min();
            let sleep = next.map_or(self.stall_after, |at| at.saturating_duration_since(Instant::now()));
            st = self
                .monitor
                .wait_timeout(st, sleep.max(Duration::from_micros(100)))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn wait_begins(this: &Arc<Self>, thread: u64) {
        let mut st = this.lock();
        let Some(busy) = st.busy_mut(thread) else { return };
        busy.waits += 1;
        let spawn = this.dispatch(&mut st);
        drop(st);
        Self::spawn(this, spawn);
    }

    fn wait_ends(&self, thread: u64) {
        if let Some(busy) = self.lock().busy_mut(thread) {
            busy.waits = busy.waits.saturating_sub(1);
        }
    }
}

fn current() -> Option<(Arc<Shared>, u64)> {
    CURRENT.with(|c| c.borrow().as_ref().map(|(pool, id)| (Arc::clone(pool), *id)))
}

/// The plugin host's hook before a call waits in a host call
/// (`tessera_plugin_host::set_wait_hooks`): on a pool thread, the job
/// stops counting as running, so another may start. Nothing elsewhere.
pub fn wait_begins() {
    if let Some((pool, thread)) = current() {
        Shared::wait_begins(&pool, thread);
    }
}

/// The plugin host's hook after the wait: the job counts as running again
/// (until it finishes, the pool may briefly run one job more than `base`).
pub fn wait_ends() {
    if let Some((pool, thread)) = current() {
        pool.wait_ends(thread);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    /// Waits up to 10 s for `cond`; the tests' timing is only an upper bound.
    fn eventually(what: &str, cond: impl Fn() -> bool) {
        let until = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < until, "timed out waiting until {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The job's outcome, failing the test if it takes 10 s.
    fn block_on<T>(f: impl Future<Output = T>) -> T {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), f).await })
            .expect("the job did not finish within 10 s")
    }

    /// Jobs that each block until released, counting how many have started.
    struct Gates {
        started: Arc<AtomicUsize>,
        release: Vec<mpsc::Sender<()>>,
    }

    impl Gates {
        fn started(&self) -> usize {
            self.started.load(Ordering::SeqCst)
        }

        /// Waits until `n` jobs have started, then checks that no more start
        /// within 50 ms (`more` says what that would mean).
        fn settle_at(&self, n: usize, what: &str, more: &str) {
            eventually(what, || self.started() == n);
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!(self.started(), n, "{more}");
        }
    }

    fn blocked_jobs(pool: &CpuPool, n: usize, inside_wait: bool) -> Gates {
        let started = Arc::new(AtomicUsize::new(0));
        let mut release = Vec::new();
        for _ in 0..n {
            let (tx, rx) = mpsc::channel::<()>();
            release.push(tx);
            let started = Arc::clone(&started);
            drop(pool.run(move || {
                started.fetch_add(1, Ordering::SeqCst);
                if inside_wait {
                    wait_begins();
                    let _ = rx.recv();
                    wait_ends();
                } else {
                    let _ = rx.recv();
                }
            }));
        }
        Gates { started, release }
    }

    const NEVER: Duration = Duration::from_secs(3600);

    #[test]
    fn runs_jobs_and_returns_their_results() {
        let pool = CpuPool::with_limits(2, 8, NEVER);
        let answers: Vec<_> = (0..20).map(|i| pool.run(move || i * 2)).collect();
        let got: Vec<i32> = answers.into_iter().map(|a| block_on(a).unwrap()).collect();
        assert_eq!(got, (0..20).map(|i| i * 2).collect::<Vec<_>>());
    }

    #[test]
    fn a_panicking_job_is_canceled_and_the_pool_goes_on() {
        let pool = CpuPool::with_limits(1, 4, NEVER);
        let panicked = pool.run(|| -> u8 { panic!("a job that panics") });
        assert_eq!(block_on(panicked), Err(Canceled));
        assert_eq!(block_on(pool.run(|| 7)), Ok(7));
    }

    #[test]
    fn no_more_than_base_jobs_run_while_none_waits() {
        let pool = CpuPool::with_limits(2, 8, NEVER);
        let gates = blocked_jobs(&pool, 5, false);
        gates.settle_at(2, "two jobs run", "a third job started beside two running ones");
        assert_eq!(pool.stats(), PoolStats { running: 2, waiting: 0, idle: 0, queued: 3 });
        gates.release[0].send(()).unwrap();
        gates.settle_at(3, "a third job runs after one finished", "a fourth job started beside two running ones");
        for tx in &gates.release {
            let _ = tx.send(());
        }
        eventually("all ran", || gates.started() == 5);
    }

    #[test]
    fn a_job_that_waits_in_a_host_call_lets_the_next_start() {
        let pool = CpuPool::with_limits(1, 8, NEVER);
        let gates = blocked_jobs(&pool, 4, true);
        // Each job waits at once, so each lets the next one start: all
        // four wait side by side on one running place.
        eventually("every waiting job started", || gates.started() == 4);
        eventually("the stats show four waiting", || pool.stats().waiting == 4);
        assert_eq!((pool.stats().running, pool.stats().queued), (0, 0));
        drop(gates.release);
        assert_eq!(block_on(pool.run(|| "after")), Ok("after"));
    }

    #[test]
    fn a_job_that_runs_long_stops_counting_after_stall_after() {
        let pool = CpuPool::with_limits(1, 8, Duration::from_millis(20));
        let gates = blocked_jobs(&pool, 1, false);
        eventually("the long job runs", || gates.started() == 1);
        // The long job holds the only running place until the monitor
        // marks it stalled; then this one runs on a second thread.
        assert_eq!(block_on(pool.run(|| 42)), Ok(42));
        drop(gates.release);
    }

    #[test]
    fn threads_stop_at_max_threads_and_the_queue_waits() {
        let pool = CpuPool::with_limits(1, 2, NEVER);
        let gates = blocked_jobs(&pool, 3, true);
        gates.settle_at(2, "two jobs run", "a third thread started past max_threads");
        gates.release[0].send(()).unwrap();
        eventually("the third job runs on a freed thread", || gates.started() == 3);
        drop(gates.release);
    }

    #[test]
    fn wait_hooks_do_nothing_off_the_pool() {
        wait_begins();
        wait_ends();
    }

    #[test]
    fn dropping_the_pool_ends_its_threads_after_the_queue() {
        let pool = CpuPool::with_limits(1, 4, NEVER);
        let shared = Arc::downgrade(&pool.shared);
        let last = pool.run(|| 5);
        drop(pool);
        assert_eq!(block_on(last), Ok(5), "a job queued before the drop still runs");
        eventually("every thread let go of the pool", || shared.strong_count() == 0);
    }
}
