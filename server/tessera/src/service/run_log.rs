//! Plugin run records, written off the request path (issue #13 item 2).
//!
//! The pipeline hands each record to [`RunLog::record`], which never waits:
//! the record goes into a bounded queue (`sync_channel` + `try_send`), and
//! when the queue is full it is dropped and counted ([`RunLog::dropped`]).
//! One writer thread drains the queue and writes a batch per transaction,
//! one multi-row insert (`store::plugins::insert_runs`). After the first
//! record of a batch it waits up to [`LINGER`] for more, so under load it
//! commits up to a hundred times a second instead of once per token: on a
//! server with one core the writer competes with the requests for it. The
//! linger is short because what queues during it is written in one burst,
//! and a burst holds the core from the requests: 50 ms of records at 12,000
//! tokens a second took about 5 ms to write, and the requests of those 5 ms
//! made the p99 (BENCHMARKS.md, "The run log's linger"). It prunes
//! the table to `keep` records once a tenth of `keep` has been written
//! since the last prune (`store::plugins::prune_runs`), not per batch: the
//! prune walks `keep` index entries. A token is never delayed by the run
//! log; the price is that a record may be visible up to [`LINGER`] after
//! the response, or, under overload or a database outage, not at all
//! (counted), and that the table may hold a tenth more than `keep`
//! records between two prunes.
//!
//! [`RunLog::flush`] waits until everything queued before it is written:
//! for a graceful shutdown and for tests that read records right after a
//! token request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};
use tessera_store::plugins::{self, PluginRunRecord};
use tessera_store::{Store, StoreError};

/// Records queued at most; beyond, records are dropped and counted.
pub const QUEUE_CAPACITY: usize = 4096;

/// Records written in one transaction at most.
const BATCH: usize = 256;

/// How long the writer waits for more records once a batch has its first
/// one (a flush ends the wait at once). Long enough to write many records
/// per transaction under load, short enough that one batch's write is a
/// millisecond or so of CPU, not a stall of the requests (module docs).
pub const LINGER: Duration = Duration::from_millis(10);

enum Message {
    Run(Box<PluginRunRecord>),
    // Answered once everything queued before it is written.
    Flush(mpsc::Sender<()>),
}

/// The queue and the count of what it dropped. Dropping the last `RunLog`
/// ends the writer thread once it has written what was queued.
pub struct RunLog {
    tx: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
    /// The writer thread, unparked by a flush to end its wait.
    writer: std::thread::Thread,
}

impl RunLog {
    /// Starts the writer thread over `store`, keeping about `keep` records
    /// in the table (at most a tenth more between two prunes).
    pub fn start(store: Store, keep: i64) -> std::io::Result<RunLog> {
        let prune_every = usize::try_from(keep / 10).unwrap_or(0).max(1);
        let mut unpruned = 0usize;
        RunLog::with_writer(QUEUE_CAPACITY, move |batch| {
            unpruned += batch.len();
            let prune = unpruned >= prune_every;
            store.tx(|conn| {
                plugins::insert_runs(conn, batch)?;
                if prune { plugins::prune_runs(conn, keep) } else { Ok(()) }
            })?;
            if prune {
                unpruned = 0;
            }
            Ok(())
        })
    }

    /// A run log whose writer thread hands each batch to `write` (tests
    /// pass a writer they can hold up).
    pub fn with_writer(
        capacity: usize,
        write: impl FnMut(&[PluginRunRecord]) -> Result<(), StoreError> + Send + 'static,
    ) -> std::io::Result<RunLog> {
        let (tx, rx) = mpsc::sync_channel(capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let lost = dropped.clone();
        let handle =
            std::thread::Builder::new().name("plugin-run-log".into()).spawn(move || writer(rx, write, &lost))?;
        Ok(RunLog { tx, dropped, writer: handle.thread().clone() })
    }

    /// Queues a record without waiting; a full queue drops it and counts it.
    pub fn record(&self, run: PluginRunRecord) {
        match self.tx.try_send(Message::Run(Box::new(run))) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// How many records were dropped since start (queue full, or a batch
    /// the database refused): what the metrics export reads.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits until every record queued before this call is written (or
    /// dropped by a failed batch). Blocks while the queue is full, so call
    /// it at shutdown or in tests, never on a request path.
    pub fn flush(&self) {
        let (done, wait) = mpsc::channel();
        if self.tx.send(Message::Flush(done)).is_ok() {
            // The writer may be waiting out its linger: end the wait.
            self.writer.unpark();
            // An error means the writer ended: nothing is left to wait for.
            let _ = wait.recv();
        }
    }
}

fn writer(
    rx: Receiver<Message>,
    mut write: impl FnMut(&[PluginRunRecord]) -> Result<(), StoreError>,
    dropped: &AtomicU64,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut flushes = Vec::new();
    // Blocks for the first message of a batch, then takes what arrives
    // within `LINGER`, until the batch is full or someone waits on a flush.
    // It waits parked, not in `recv`: a record queued meanwhile does not
    // wake it (one wake-up per batch, not per record, on a core the
    // requests need); a flush unparks it. A full batch is written at once,
    // so the linger never caps how many records a second are written.
    while let Ok(first) = rx.recv() {
        let until = Instant::now() + LINGER;
        let mut next = Some(first);
        loop {
            while let Some(m) = next.take() {
                match m {
                    Message::Run(r) => batch.push(*r),
                    Message::Flush(done) => flushes.push(done),
                }
                if batch.len() < BATCH && flushes.is_empty() {
                    next = rx.try_recv().ok();
                }
            }
            let left = until.saturating_duration_since(Instant::now());
            if batch.len() >= BATCH || !flushes.is_empty() || left.is_zero() {
                break;
            }
            std::thread::park_timeout(left);
            next = rx.try_recv().ok();
        }
        if !batch.is_empty() {
            if let Err(e) = write(&batch) {
                dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
                tracing::error!(error = %e, records = batch.len(), "could not record plugin runs");
            }
            batch.clear();
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::{Duration, Instant};

    fn record(n: usize) -> PluginRunRecord {
        PluginRunRecord {
            id: format!("r{n}"),
            binding_id: "b".into(),
            plugin_version_id: "v".into(),
            grant_type: "client_credentials".into(),
            client_id: "c".into(),
            at: 0,
            duration_us: 1,
            outcome: "ok".into(),
            detail: String::new(),
            logs: "[]".into(),
            http: "[]".into(),
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        let (started_tx, started) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let written = Arc::new(AtomicU64::new(0));
        let count = written.clone();
        let log = RunLog::with_writer(4, move |batch| {
            let _ = started_tx.send(());
            // The first batch waits until the test lets it go.
            let _ = released.recv();
            count.fetch_add(batch.len() as u64, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
        log.record(record(0));
        started.recv_timeout(Duration::from_secs(5)).unwrap();
        let t = Instant::now();
        for n in 1..=7 {
            log.record(record(n));
        }
        assert!(t.elapsed() < Duration::from_secs(1), "recording never waits for the writer");
        assert_eq!(log.dropped(), 3, "4 queued behind the stuck batch, 3 dropped");
        drop(release);
        log.flush();
        assert_eq!(written.load(Ordering::SeqCst), 5, "the stuck record and the 4 queued ones");
    }

    #[test]
    fn records_are_written_in_batches_and_flush_waits_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&dir.path().join("t.db").display().to_string(), 2, Duration::from_secs(5)).unwrap();
        store.migrate().unwrap();
        let log = RunLog::start(store.clone(), 3).unwrap();
        for n in 0..5 {
            log.record(record(n));
        }
        log.flush();
        let runs = plugins::recent_runs(&mut store.conn().unwrap(), None, 0, 10).unwrap();
        assert_eq!(runs.len(), 3, "written, and the table kept at its bound");
        assert_eq!(log.dropped(), 0);
    }

    #[test]
    fn records_arriving_within_the_linger_share_one_batch() {
        let (sizes_tx, sizes) = mpsc::channel();
        let log = RunLog::with_writer(16, move |batch| {
            let _ = sizes_tx.send(batch.len());
            Ok(())
        })
        .unwrap();
        log.record(record(0));
        // Well inside `LINGER`: without it the first record would be
        // written alone as soon as the writer woke.
        std::thread::sleep(LINGER / 10);
        log.record(record(1));
        log.record(record(2));
        log.flush();
        assert_eq!(sizes.try_iter().collect::<Vec<_>>(), [3], "one batch, one transaction");
    }

    #[test]
    fn the_table_is_pruned_every_tenth_of_keep_not_every_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&dir.path().join("t.db").display().to_string(), 2, Duration::from_secs(5)).unwrap();
        store.migrate().unwrap();
        let log = RunLog::start(store.clone(), 100).unwrap();
        let count = || plugins::recent_runs(&mut store.conn().unwrap(), None, 0, 1000).unwrap().len();
        // A flush after each record: one record per batch.
        let one = |n| {
            log.record(record(n));
            log.flush();
        };
        (0..100).for_each(one);
        assert_eq!(count(), 100, "pruned at every tenth record: nothing to delete yet");
        (100..109).for_each(one);
        assert_eq!(count(), 109, "nine batches since the last prune: none pruned");
        one(109);
        assert_eq!(count(), 100);
    }

    #[test]
    fn a_failed_batch_is_counted_as_dropped() {
        let log = RunLog::with_writer(8, |_| Err(StoreError::Unavailable("down".into()))).unwrap();
        log.record(record(0));
        log.record(record(1));
        log.flush();
        assert_eq!(log.dropped(), 2);
    }
}
