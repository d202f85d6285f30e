//! User and administrator passwords: argon2id with the crate's recommended
//! parameters (m = 19 MiB, t = 2, p = 1; docs/security-checklist.md A-3) and a random salt
//! per hash (PHC string format, so parameters can change later).
//!
//! Every hash and verification runs on one of a fixed number of worker
//! threads (issue #11 item 17): each needs 19 MiB while it runs, and the
//! allocator keeps what a thread freed for that thread, so bounding the
//! *threads* that ever run argon2 bounds both the memory in flight and the
//! memory kept afterwards to about `max_concurrent` × 19 MiB. A call that
//! finds every worker busy waits at most `queue_wait` and then fails with
//! [`Busy`], which callers answer with a retryable error (503 at the token
//! endpoint, a "try again" message on the sign-in pages).
//!
//! The bound is per process, like the memory it protects, so the pool is
//! one process-wide value: [`configure`] sets it once at start-up (`serve`);
//! commands that never call it get the default (one worker per core).

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Every hashing worker was busy for the whole wait: retry later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("password hashing is at capacity, retry later")]
pub struct Busy;

/// Hashing failed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every worker was busy.
    #[error(transparent)]
    Busy(#[from] Busy),
    /// The RNG or the parameters failed.
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// The default wait for a free worker.
pub const DEFAULT_QUEUE_WAIT: Duration = Duration::from_millis(250);

type Job = Box<dyn FnOnce() + Send>;

/// One worker thread, started on first use.
struct Worker {
    jobs: mpsc::Sender<Job>,
}

/// The workers not running a job; `None` slots have no thread yet.
struct Pool {
    idle: Mutex<Vec<Option<Worker>>>,
    freed: Condvar,
    queue_wait: Duration,
    size: usize,
}

static POOL: OnceLock<Pool> = OnceLock::new();

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn new_pool(max_concurrent: usize, queue_wait: Duration) -> Pool {
    let size = if max_concurrent == 0 { cores() } else { max_concurrent };
    Pool { idle: Mutex::new((0..size).map(|_| None).collect()), freed: Condvar::new(), queue_wait, size }
}

/// Sets the number of workers (0: one per core) and how long a call waits
/// for one. Only the first call counts; returns false if the pool was
/// already set (by an earlier call or a first use).
pub fn configure(max_concurrent: usize, queue_wait: Duration) -> bool {
    POOL.set(new_pool(max_concurrent, queue_wait)).is_ok()
}

fn pool() -> &'static Pool {
    POOL.get_or_init(|| new_pool(0, DEFAULT_QUEUE_WAIT))
}

/// The number of hashing workers in force.
pub fn max_concurrent() -> usize {
    pool().size
}

impl Pool {
    fn take(&self) -> Result<Option<Worker>, Busy> {
        let deadline = Instant::now() + self.queue_wait;
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(slot) = idle.pop() {
                return Ok(slot);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Busy);
            }
            idle = self.freed.wait_timeout(idle, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    fn give_back(&self, slot: Option<Worker>) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(slot);
        self.freed.notify_one();
    }

    /// Runs `f` on a free worker, waiting at most `queue_wait` for one.
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        let slot = self.take()?;
        let worker = match slot {
            Some(w) => w,
            None => match spawn_worker() {
                Ok(w) => w,
                Err(e) => {
                    self.give_back(None);
                    return Err(HashError::Failed(format!("cannot start a hashing thread: {e}")));
                }
            },
        };
        let (tx, rx) = mpsc::sync_channel(1);
        let sent = worker.jobs.send(Box::new(move || {
            let _ = tx.send(f());
        }));
        match sent.ok().and_then(|()| rx.recv().ok()) {
            Some(v) => {
                self.give_back(Some(worker));
                Ok(v)
            }
            None => {
                // The worker died (a panic inside argon2): replace it next time.
                self.give_back(None);
                Err(HashError::Failed("the hashing thread stopped".into()))
            }
        }
    }
}

fn spawn_worker() -> std::io::Result<Worker> {
    let (jobs, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new().name("tessera-argon2".into()).spawn(move || {
        while let Ok(job) = rx.recv() {
            job();
        }
    })?;
    Ok(Worker { jobs })
}

/// Hashes a password into an argon2id PHC string, on a hashing worker.
pub fn hash(password: &str) -> Result<String, HashError> {
    let password = Zeroizing::new(password.to_owned());
    pool().run(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h: PasswordHash| h.to_string())
            .map_err(|e| HashError::Failed(e.to_string()))
    })?
}

/// True if `password` matches the stored PHC string (constant-time inside
/// argon2), checked on a hashing worker; [`Busy`] if none was free in time.
pub fn verify(password: &str, phc: &str) -> Result<bool, Busy> {
    let password = Zeroizing::new(password.to_owned());
    let phc = phc.to_owned();
    let ok = pool().run(move || Argon2::default().verify_password(password.as_bytes(), phc.as_str()).is_ok());
    match ok {
        Ok(v) => Ok(v),
        Err(HashError::Busy(b)) => Err(b),
        // A worker that died is no answer: treat as a non-match.
        Err(HashError::Failed(e)) => {
            tracing::error!(error = %e, "password verification failed");
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_argon2id_and_verifies() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "docs/security-checklist.md A-3: {h}");
        assert_eq!(verify("correct horse", &h), Ok(true));
        assert_eq!(verify("wrong", &h), Ok(false));
    }

    /// Issue #11 item 17: with every worker busy, a call fails fast with
    /// `Busy` instead of starting another 19 MiB hash.
    #[test]
    fn a_full_pool_answers_busy_after_the_wait() {
        let p = new_pool(1, Duration::from_millis(50));
        let (started_tx, started) = mpsc::channel();
        let (release_tx, release) = mpsc::channel::<()>();
        std::thread::scope(|s| {
            s.spawn(|| {
                p.run(move || {
                    let _ = started_tx.send(());
                    let _ = release.recv();
                })
                .unwrap()
            });
            started.recv().unwrap();
            let t = Instant::now();
            assert!(matches!(p.run(|| ()), Err(HashError::Busy(_))));
            assert!(t.elapsed() < Duration::from_secs(2));
            release_tx.send(()).unwrap();
        });
        assert!(p.run(|| 7).is_ok_and(|v| v == 7), "the worker is free again");
    }
}
