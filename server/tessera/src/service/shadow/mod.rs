//! Shadow runs (issue #17 item 2): a binding's candidate version runs on a
//! sampled share of real token requests, after the live version and off the
//! request path, and the two decisions are compared.
//!
//! - [`diff`]: the sampler and the per-claim comparison (no I/O).
//! - [`admin`]: set, promote and discard a candidate (audited), and the
//!   report the console, CLI and management API show.
//! - This file: [`ShadowRunner`], the bounded queue and its workers.
//!
//! The pipeline offers each live run of a binding with a candidate
//! ([`ShadowRunner::offer`]); the offer never waits. A sampled request's
//! context (the same one the live version saw) goes into a queue of
//! [`QUEUE_CAPACITY`] jobs, drained by [`SHADOW_WORKERS`] threads: that is
//! the most shadow calls in flight at once, whatever the traffic, so
//! candidates hold at most that many plugin pool slots. A worker also skips
//! its job when the live path already uses half the pool. A full queue, or a
//! busy pool, skips the shadow run and counts it (`skipped`). The
//! candidate's result only ever reaches the comparison: the token was signed
//! before it ran.
//!
//! Comparisons are kept in memory per (binding, candidate) and written every
//! [`FLUSH_INTERVAL`] by one thread, one transaction per binding
//! (`store::plugins::record_batch`, which keeps the tables bounded), so the
//! console of any node shows them. A database outage loses the pending
//! batch (logged), never a token.

pub mod admin;
pub mod diff;

use crate::service::snapshot::VersionMeta;
use diff::{Decision, compare};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};
use tessera_plugin_host::{HttpGrant, PluginHost, PluginRun, TokenContext};
use tessera_store::Store;
use tessera_store::plugins::{self, Binding, RESULT_WINDOW, ShadowCandidate, ShadowResult, TotalsDelta};

/// Sampled shadow runs waiting for a worker at most; beyond, skipped.
pub const QUEUE_CAPACITY: usize = 32;
/// Worker threads, hence the most shadow calls in flight at once. One: a
/// candidate that spins until its deadline then holds at most one core,
/// and one pool slot, while the live path keeps the rest.
pub const SHADOW_WORKERS: usize = 1;
/// How often pending comparisons are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(500);

/// One sampled request, waiting for its shadow run.
struct Job {
    binding_id: String,
    version_id: String,
    sha256: String,
    declared: Option<Vec<String>>,
    sensitive: Vec<String>,
    // The context the live version saw, secrets included (the candidate
    // runs for the same binding).
    ctx: TokenContext,
    // What the binding lets a 0.2.0 plugin fetch: the live version's grant,
    // so the candidate sees the same answers (and shares the binding's
    // response cache).
    http: Arc<HttpGrant>,
    live: Decision,
    live_duration: Duration,
    at: i64,
}

type Key = (String, String);

#[derive(Default)]
struct Pending {
    delta: TotalsDelta,
    results: Vec<ShadowResult>,
}

struct Shared {
    store: Store,
    host: Arc<PluginHost>,
    pending: Mutex<HashMap<Key, Pending>>,
    // Serialises writes, so `flush` returns after the flusher's batch too.
    writing: Mutex<()>,
    // Jobs queued or running.
    in_flight: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Shared {
    fn add(&self, key: Key, f: impl FnOnce(&mut Pending)) {
        let mut pending = lock(&self.pending);
        let p = pending.entry(key).or_default();
        f(p);
        // Bounded: only the newest window of results can be kept anyway.
        let window = usize::try_from(RESULT_WINDOW).unwrap_or(usize::MAX);
        if p.results.len() > window {
            let extra = p.results.len() - window;
            p.results.drain(..extra);
        }
    }

    fn skip(&self, binding_id: &str, version_id: &str) {
        self.add((binding_id.to_owned(), version_id.to_owned()), |p| p.delta.skipped += 1);
    }

    fn run(&self, job: Job) {
        let cfg = self.host.config();
        // Leave the live path at least half the pool.
        if self.host.slots_in_use().saturating_mul(2) >= cfg.pool_instances as usize {
            self.skip(&job.binding_id, &job.version_id);
            return;
        }
        let store = self.store.clone();
        let version_id = job.version_id.clone();
        let run = self.host.call_with_http(
            &job.sha256,
            move || plugins::wasm(&mut *store.conn()?, &version_id),
            &job.ctx,
            job.declared.as_deref(),
            job.http.clone(),
        );
        let shadow = Decision::of(&run.outcome);
        if let Err(f) = &run.outcome {
            tracing::info!(binding = %job.binding_id, outcome = f.code(), error = %f, "shadow candidate failed");
        }
        let differences = compare(&job.live, &shadow, &job.sensitive);
        let differed = !differences.is_empty();
        let result = ShadowResult {
            id: crate::clock::uuid(),
            binding_id: job.binding_id.clone(),
            version_id: job.version_id.clone(),
            at: job.at,
            live_us: micros(job.live_duration),
            shadow_us: micros(run.duration),
            live_outcome: job.live.outcome().to_owned(),
            shadow_outcome: shadow.outcome().to_owned(),
            differed,
            diff: plugins::diff_text(&differences).unwrap_or_else(|_| "[]".into()),
        };
        self.add((job.binding_id, job.version_id), |p| {
            p.delta.compared += 1;
            p.delta.differed += i64::from(differed);
            p.delta.live_errors += i64::from(job.live.failed());
            p.delta.shadow_errors += i64::from(shadow.failed());
            p.results.push(result);
        });
    }

    fn write(&self) {
        let _one_writer = lock(&self.writing);
        let batch = std::mem::take(&mut *lock(&self.pending));
        for ((binding_id, version_id), p) in batch {
            let written =
                self.store.tx(|conn| plugins::record_batch(conn, &binding_id, &version_id, &p.delta, &p.results));
            if let Err(e) = written {
                tracing::warn!(binding = %binding_id, error = %e, compared = p.delta.compared, "shadow comparisons lost");
            }
        }
    }
}

/// What the pipeline offers for one live run of a binding with a candidate.
pub struct Offer<'a> {
    /// The binding.
    pub binding: &'a Binding,
    /// Its candidate.
    pub candidate: &'a ShadowCandidate,
    /// The candidate's metadata from the snapshot (`None`: not loaded yet).
    pub meta: Option<&'a VersionMeta>,
    /// The context the live version saw, secrets included.
    pub ctx: &'a TokenContext,
    /// The binding's HTTP grant the live version had (allow-list, cache,
    /// secret headers): the candidate's requests go where the live
    /// version's may, within the candidate call's own deadline.
    pub http: Arc<HttpGrant>,
    /// The live run.
    pub live: &'a PluginRun,
    /// What samples the request: the token's `jti`.
    pub request_key: &'a str,
    /// Unix seconds.
    pub at: i64,
}

/// The queue of shadow runs and its workers; see the module docs.
pub struct ShadowRunner {
    tx: SyncSender<Job>,
    shared: Arc<Shared>,
}

impl ShadowRunner {
    /// Starts [`SHADOW_WORKERS`] workers calling candidates through `host`
    /// and the thread that writes their comparisons to `store`.
    pub fn start(store: Store, host: Arc<PluginHost>) -> std::io::Result<ShadowRunner> {
        let (tx, rx) = mpsc::sync_channel::<Job>(QUEUE_CAPACITY);
        let shared = Arc::new(Shared {
            store,
            host,
            pending: Mutex::default(),
            writing: Mutex::default(),
            in_flight: AtomicUsize::new(0),
        });
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..SHADOW_WORKERS {
            let (rx, weak) = (rx.clone(), Arc::downgrade(&shared));
            std::thread::Builder::new().name(format!("shadow-{i}")).spawn(move || worker(&rx, &weak))?;
        }
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new().name("shadow-writer".into()).spawn(move || flusher(&weak))?;
        Ok(ShadowRunner { tx, shared })
    }

    /// Queues the shadow run of `offer` if its request is sampled; never
    /// waits. A full queue, or a candidate not in the snapshot yet, counts
    /// as skipped.
    pub fn offer(&self, offer: Offer<'_>) {
        let c = offer.candidate;
        if !diff::sampled(&offer.binding.id, offer.request_key, c.share.get()) {
            return;
        }
        let Some(meta) = offer.meta else {
            self.shared.skip(&offer.binding.id, &c.version_id);
            return;
        };
        let job = Job {
            binding_id: offer.binding.id.clone(),
            version_id: c.version_id.clone(),
            sha256: meta.sha256.clone(),
            declared: meta.declared.clone(),
            sensitive: c.sensitive_claims.clone(),
            ctx: offer.ctx.clone(),
            http: offer.http,
            live: Decision::of(&offer.live.outcome),
            live_duration: offer.live.duration,
            at: offer.at,
        };
        self.shared.in_flight.fetch_add(1, Ordering::SeqCst);
        if let Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) = self.tx.try_send(job) {
            self.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.shared.skip(&job.binding_id, &job.version_id);
        }
    }

    /// Waits (at most `timeout`) until the queued shadow runs are done, then
    /// writes every pending comparison: for a graceful shutdown and for
    /// tests that read comparisons right after their token requests.
    pub fn flush(&self, timeout: Duration) {
        let end = Instant::now() + timeout;
        while self.shared.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.shared.write();
    }
}

fn worker(rx: &Mutex<Receiver<Job>>, shared: &Weak<Shared>) {
    loop {
        // One idle worker waits on the queue at a time; the others wait for the lock.
        let job = lock(rx).recv();
        let Ok(job) = job else { return };
        let Some(shared) = shared.upgrade() else { return };
        shared.run(job);
        shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn flusher(shared: &Weak<Shared>) {
    loop {
        std::thread::sleep(FLUSH_INTERVAL);
        let Some(shared) = shared.upgrade() else { return };
        shared.write();
    }
}
