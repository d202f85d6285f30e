//! What this node reports to Prometheus (`/metrics` on the admin listener,
//! `web::metrics`), and the per-plugin figures the console's dashboard shows.
//!
//! The `metrics` crate's recorder is global to the process and can be
//! installed once: [`install`] does it lazily, the first time an
//! `AppState` is built, so the many states an in-process test binary builds
//! share one recorder (series are then summed over them; tests read the
//! series of the ids they made). Recording before it is installed is a no-op.
//!
//! Every series is named once here, with its unit in the name (Prometheus
//! conventions), and its labels take values from bounded sets: route
//! patterns, known methods, grant types, error codes, plugin and binding ids,
//! outcome codes. Never a raw path, a client-supplied string or free text.
//!
//! Prometheus histograms are not readable back from the recorder, so the
//! dashboard's p50/p99 and error rate come from [`PluginFigures`]: a window
//! of the latest runs per plugin version, fed by the same call
//! ([`plugin_run`]) that records the histogram.

use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tessera_protocol::OAuthError;

/// Every request, by route pattern, method and status.
pub const HTTP_REQUESTS: &str = "tessera_http_requests_total";
/// Request latency by route pattern.
pub const HTTP_DURATION: &str = "tessera_http_request_duration_seconds";
/// Token requests by grant type and outcome (`ok` or the OAuth error code).
pub const TOKEN_REQUESTS: &str = "tessera_token_requests_total";
/// Token request latency by grant type, from parsing to the signed response.
pub const TOKEN_DURATION: &str = "tessera_token_request_duration_seconds";
/// Plugin runs by plugin, version, binding and outcome.
pub const PLUGIN_RUNS: &str = "tessera_plugin_runs_total";
/// Plugin run latency by plugin, version and binding.
pub const PLUGIN_DURATION: &str = "tessera_plugin_run_duration_seconds";
/// Plugin calls in flight (each holds one instance pool slot).
pub const PLUGIN_SLOTS: &str = "tessera_plugin_pool_slots_in_use";
/// Plugin instances made ahead of time and waiting for a call.
pub const PLUGIN_STANDBY: &str = "tessera_plugin_standby_instances";
/// Gauge: bindings this node suspended for running out their deadline
/// (`service::suspensions`), so an alert can fire on more than zero.
pub const BINDINGS_SUSPENDED: &str = "tessera_plugin_bindings_suspended";
/// Requests plugins made through `http.fetch` (`tessera:plugin@0.2.0`), by
/// plugin, binding and outcome: `2xx`..`5xx`, `cached`, or the refusal
/// (`not_allowed`, `timeout`, `too_large`, `network`, `bad_response`).
pub const PLUGIN_HTTP_REQUESTS: &str = "tessera_plugin_http_requests_total";
/// Threads of the CPU pool that runs tokens with a plugin bound
/// (`crate::cpu_pool`), by state: `running`, `waiting` (in a plugin's host
/// call, or past 5 ms), `idle`.
pub const CPU_POOL_THREADS: &str = "tessera_cpu_pool_threads";
/// Token requests queued for the CPU pool.
pub const CPU_POOL_QUEUED: &str = "tessera_cpu_pool_queued_jobs";
/// Run records the asynchronous run log could not write.
pub const RUN_RECORDS_DROPPED: &str = "tessera_plugin_run_records_dropped_total";
/// Database pool connections by state (`in_use`, `idle`).
pub const DB_CONNECTIONS: &str = "tessera_db_pool_connections";
/// Seconds since the configuration snapshot was last checked against the database.
pub const SNAPSHOT_AGE: &str = "tessera_snapshot_age_seconds";
/// The configuration generation the snapshot in force was loaded at.
pub const SNAPSHOT_GENERATION: &str = "tessera_snapshot_generation";
/// Requests refused by a throttle lock, by kind (`sign_in`, `client_auth`).
pub const THROTTLE_HITS: &str = "tessera_throttle_hits_total";
/// Counter of requests refused by a rate limit, by endpoint class and scope
/// (`address` or `client`); read from the limiter at scrape time.
pub const RATE_LIMIT_REFUSALS: &str = "tessera_rate_limit_refusals_total";
/// Counter: Logout Tokens (OpenID Connect Back-Channel Logout), by
/// `outcome`: `delivered` (the client answered 2xx), `failed` (it did not,
/// or could not be reached), `dropped` (the send queue was full).
pub const BACKCHANNEL_LOGOUTS: &str = "tessera_backchannel_logouts_total";

/// Histogram buckets, seconds: from 0.5 ms (a warm plugin call) to 10 s (a
/// connect timeout), so both plugin runs and slow requests fall inside.
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// How often recorded histogram samples are folded in when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

fn build() -> Result<PrometheusHandle, BuildError> {
    PrometheusBuilder::new().set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)?.install_recorder()
}

/// Installs the process's Prometheus recorder the first time it is called,
/// and returns its handle on every call; `None` when it could not be
/// installed (another recorder was set first), which is logged once and
/// leaves the node serving without metrics. The first call also starts the
/// thread that folds histogram samples in, so memory stays bounded when
/// nothing scrapes.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let handle = build()
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed; /metrics answers 503"))
                .ok()?;
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_INTERVAL);
                    upkeep.run_upkeep();
                }
            });
            if let Err(e) = spawned {
                // Scrapes still fold samples in (`web::metrics`).
                tracing::warn!(error = %e, "cannot start the metrics upkeep thread");
            }
            Some(handle)
        })
        .as_ref()
}

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// The method label: the standard methods by name, anything else `other`
/// (a client can send any token as a method).
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// The endpoint label: the route pattern that matched (`/admin/clients/{id}`),
/// or `unmatched` for a path no route knows (raw paths would make a series
/// per probe of a scanner).
pub fn endpoint_label(pattern: Option<String>) -> String {
    pattern.unwrap_or_else(|| "unmatched".to_owned())
}

/// Records one HTTP request.
pub fn http_request(endpoint: String, method: &str, status: u16, took: Duration) {
    http_duration(&endpoint).record(seconds(took));
    http_requests(&endpoint, method, status).increment(1);
}

/// The latency series of requests to `endpoint` (a route pattern or
/// `unmatched`): a handle to keep, so a hot route finds its series without
/// building the labels again (`web::metrics`).
pub fn http_duration(endpoint: &str) -> Histogram {
    metrics::histogram!(HTTP_DURATION, "endpoint" => endpoint.to_owned())
}

/// The request counter of `endpoint`, `method` and `status`, as
/// [`http_request`] counts; a handle to keep, like [`http_duration`].
pub fn http_requests(endpoint: &str, method: &str, status: u16) -> Counter {
    metrics::counter!(HTTP_REQUESTS, "endpoint" => endpoint.to_owned(), "method" => method_label(method), "status" => status.to_string())
}

/// Records one request's duration on a kept handle.
pub fn record_duration(histogram: &Histogram, took: Duration) {
    histogram.record(seconds(took));
}

/// The outcome label of a token request: `ok`, or its OAuth error code.
pub fn token_outcome<T>(result: &Result<T, OAuthError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => e.code.as_str(),
    }
}

/// Records one token request; `grant_type` is a known grant's name,
/// `unsupported` or `missing`.
pub fn token_request(grant_type: &'static str, outcome: &'static str, took: Duration) {
    metrics::histogram!(TOKEN_DURATION, "grant_type" => grant_type).record(seconds(took));
    metrics::counter!(TOKEN_REQUESTS, "grant_type" => grant_type, "outcome" => outcome).increment(1);
}

/// Records a request refused by a throttle lock; `kind` says which
/// (`sign_in`: a user's or address's failed passwords; `client_auth`: a
/// client's failed secrets from one address).
pub fn throttle_hit(kind: &'static str) {
    metrics::counter!(THROTTLE_HITS, "kind" => kind).increment(1);
}

/// Records one Logout Token's fate (see [`BACKCHANNEL_LOGOUTS`]).
pub fn backchannel_logout(outcome: &'static str) {
    metrics::counter!(BACKCHANNEL_LOGOUTS, "outcome" => outcome).increment(1);
}

/// Which plugin run [`plugin_run`] records: ids only.
#[derive(Debug, Clone, Copy)]
pub struct RunLabels<'a> {
    /// The plugin's id.
    pub plugin: &'a str,
    /// The version's number (1, 2, ...).
    pub version: i32,
    /// The binding's id.
    pub binding: &'a str,
}

/// Records one plugin run in the Prometheus series and in `figures`.
/// `outcome` is the run record's (`ok`, `denied`, or a failure code).
pub fn plugin_run(figures: &PluginFigures, labels: RunLabels<'_>, outcome: &str, took: Duration) {
    let (plugin, version, binding) = (labels.plugin.to_owned(), labels.version.to_string(), labels.binding.to_owned());
    metrics::histogram!(PLUGIN_DURATION, "plugin" => plugin.clone(), "version" => version.clone(), "binding" => binding.clone())
        .record(seconds(took));
    metrics::counter!(PLUGIN_RUNS, "plugin" => plugin, "version" => version, "binding" => binding, "outcome" => outcome.to_owned())
        .increment(1);
    figures.record(labels.plugin, labels.version, took, outcome);
}

/// Counts a call a suspension kept from running (`service::suspensions`):
/// in `tessera_plugin_runs_total` with the outcome `suspended`, but not in
/// the duration histogram or the dashboard's figures, which describe calls
/// that ran.
pub fn plugin_suspended(labels: RunLabels<'_>) {
    metrics::counter!(PLUGIN_RUNS, "plugin" => labels.plugin.to_owned(), "version" => labels.version.to_string(),
        "binding" => labels.binding.to_owned(), "outcome" => super::suspensions::SUSPENDED)
    .increment(1);
}

/// Counts the requests one plugin run made (its run record's `http`), so an
/// operator sees a service that refuses or times out before tokens fail.
pub fn plugin_http(labels: RunLabels<'_>, exchanges: &[tessera_plugin_host::HttpExchange]) {
    for x in exchanges {
        metrics::counter!(PLUGIN_HTTP_REQUESTS, "plugin" => labels.plugin.to_owned(),
            "binding" => labels.binding.to_owned(), "outcome" => http_outcome(x))
        .increment(1);
    }
}

/// The outcome label of one plugin request, from a bounded set: the
/// error's code (the text after it is free), else `cached`, else the
/// status class.
fn http_outcome(x: &tessera_plugin_host::HttpExchange) -> &'static str {
    const CODES: [&str; 5] = ["not_allowed", "timeout", "too_large", "network", "bad_response"];
    if let Some(e) = &x.error {
        let code = e.split(':').next().unwrap_or_default();
        return CODES.into_iter().find(|c| *c == code).unwrap_or("error");
    }
    if x.cached {
        return "cached";
    }
    match x.status {
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        _ => "other",
    }
}

/// What the gauges show, read from the node's parts at scrape time.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    /// Plugin calls in flight.
    pub plugin_slots_in_use: usize,
    /// Plugin instances on standby.
    pub plugin_standby: usize,
    /// Bindings suspended on this node.
    pub bindings_suspended: usize,
    /// The CPU pool's threads and queue.
    pub cpu_pool: crate::cpu_pool::PoolStats,
    /// Run records dropped since start.
    pub run_records_dropped: u64,
    /// Database connections handed out.
    pub db_in_use: u32,
    /// Database connections open and idle in the pool.
    pub db_idle: u32,
    /// Since the snapshot was last checked against the database.
    pub snapshot_age: Duration,
    /// The snapshot's configuration generation.
    pub snapshot_generation: i64,
    /// Rate-limit refusals since start: (endpoint class, scope, count).
    pub rate_limit_refusals: Vec<(&'static str, &'static str, u64)>,
}

/// Sets the gauges (and the dropped-records counter) to `g`; called just
/// before a scrape renders, so they are read only when someone looks.
pub fn set_gauges(g: &Gauges) {
    metrics::gauge!(PLUGIN_SLOTS).set(g.plugin_slots_in_use as f64);
    metrics::gauge!(PLUGIN_STANDBY).set(g.plugin_standby as f64);
    metrics::gauge!(BINDINGS_SUSPENDED).set(g.bindings_suspended as f64);
    for (state, n) in [("running", g.cpu_pool.running), ("waiting", g.cpu_pool.waiting), ("idle", g.cpu_pool.idle)] {
        metrics::gauge!(CPU_POOL_THREADS, "state" => state).set(n as f64);
    }
    metrics::gauge!(CPU_POOL_QUEUED).set(g.cpu_pool.queued as f64);
    metrics::counter!(RUN_RECORDS_DROPPED).absolute(g.run_records_dropped);
    metrics::gauge!(DB_CONNECTIONS, "state" => "in_use").set(f64::from(g.db_in_use));
    metrics::gauge!(DB_CONNECTIONS, "state" => "idle").set(f64::from(g.db_idle));
    metrics::gauge!(SNAPSHOT_AGE).set(seconds(g.snapshot_age));
    metrics::gauge!(SNAPSHOT_GENERATION).set(g.snapshot_generation as f64);
    for &(class, scope, count) in &g.rate_limit_refusals {
        metrics::counter!(RATE_LIMIT_REFUSALS, "class" => class, "scope" => scope).absolute(count);
    }
}

/// Runs kept per plugin version for the dashboard's figures.
pub const WINDOW: usize = 1000;

/// The latest runs of each plugin version on this node (at most [`WINDOW`]
/// each): what the dashboard's percentiles and error rates are computed
/// from. In memory only; a restart starts them again, as it does the
/// Prometheus series.
#[derive(Debug, Default)]
pub struct PluginFigures {
    windows: Mutex<HashMap<(String, i32), VecDeque<Sample>>>,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    took: Duration,
    failed: bool,
}

/// One plugin version's figures over its window.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PluginFigure {
    /// The plugin's id.
    pub plugin_id: String,
    /// The version's number.
    pub version: i32,
    /// Runs in the window.
    pub runs: usize,
    /// Median duration, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile duration, milliseconds.
    pub p99_ms: f64,
    /// Share of runs that failed (trap, deadline, memory, busy, bad
    /// output...), 0 to 1. A deny is the plugin's answer, not a failure.
    pub error_rate: f64,
}

impl PluginFigure {
    /// The figures of one plugin version's runs, given as (duration,
    /// outcome): how the dashboard reads the run log when this node has
    /// run no plugin since it started. Same percentiles and failure rule
    /// as the node's own window.
    pub fn of_runs(plugin_id: String, version: i32, runs: &[(Duration, &str)]) -> PluginFigure {
        let samples: Vec<Sample> =
            runs.iter().map(|(took, outcome)| Sample { took: *took, failed: is_failure(outcome) }).collect();
        figure(plugin_id, version, samples.iter())
    }
}

/// The figures of `samples`.
fn figure<'a>(plugin_id: String, version: i32, samples: impl Iterator<Item = &'a Sample>) -> PluginFigure {
    let (mut took, mut failed) = (Vec::new(), 0usize);
    for s in samples {
        took.push(s.took);
        failed += usize::from(s.failed);
    }
    took.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    PluginFigure {
        plugin_id,
        version,
        runs: took.len(),
        p50_ms: ms(percentile(&took, 0.5)),
        p99_ms: ms(percentile(&took, 0.99)),
        error_rate: if took.is_empty() { 0.0 } else { failed as f64 / took.len() as f64 },
    }
}

/// Whether a run outcome counts as a failure for the error rate.
fn is_failure(outcome: &str) -> bool {
    !matches!(outcome, "ok" | "denied")
}

/// The nearest-rank percentile `q` (0 to 1) of sorted `values`.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl PluginFigures {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, i32), VecDeque<Sample>>> {
        // A panic while holding it leaves whole samples behind: still valid.
        self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn record(&self, plugin: &str, version: i32, took: Duration, outcome: &str) {
        let mut windows = self.lock();
        let window = windows.entry((plugin.to_owned(), version)).or_default();
        if window.len() == WINDOW {
            window.pop_front();
        }
        window.push_back(Sample { took, failed: is_failure(outcome) });
    }

    /// Each plugin version's figures, by plugin id then version.
    pub fn figures(&self) -> Vec<PluginFigure> {
        let windows = self.lock();
        let mut out: Vec<PluginFigure> =
            windows.iter().map(|((plugin_id, version), w)| figure(plugin_id.clone(), *version, w.iter())).collect();
        out.sort_by(|a, b| (&a.plugin_id, a.version).cmp(&(&b.plugin_id, b.version)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_protocol::ErrorCode;

    #[test]
    fn labels_stay_in_bounded_sets() {
        assert_eq!(method_label("POST"), "POST");
        assert_eq!(method_label("BREW"), "other");
        assert_eq!(method_label("post"), "other");
        assert_eq!(endpoint_label(Some("/admin/clients/{id}".into())), "/admin/clients/{id}");
        assert_eq!(endpoint_label(None), "unmatched");
        assert_eq!(token_outcome::<()>(&Ok(())), "ok");
        assert_eq!(token_outcome::<()>(&Err(OAuthError::new(ErrorCode::InvalidGrant, "x"))), "invalid_grant");
    }

    /// A plugin request's label never carries the error's free text.
    #[test]
    fn plugin_request_outcomes_are_codes_or_status_classes() {
        let x = |status: Option<u16>, cached: bool, error: Option<&str>| tessera_plugin_host::HttpExchange {
            method: "GET".into(),
            url: "https://dir.example/users/…".into(),
            status,
            bytes: 0,
            duration_us: 0,
            cached,
            error: error.map(str::to_owned),
        };
        assert_eq!(http_outcome(&x(Some(200), false, None)), "2xx");
        assert_eq!(http_outcome(&x(Some(200), true, None)), "cached");
        assert_eq!(http_outcome(&x(Some(503), false, None)), "5xx");
        assert_eq!(
            http_outcome(&x(None, false, Some("not_allowed: https://evil.example/ is not allowed"))),
            "not_allowed"
        );
        assert_eq!(http_outcome(&x(None, false, Some("timeout"))), "timeout");
        assert_eq!(http_outcome(&x(None, false, Some("something: new"))), "error");
    }

    #[test]
    fn figures_give_percentiles_and_error_rate_per_version() {
        let f = PluginFigures::default();
        for ms in 1..=100u64 {
            let outcome = match ms {
                1..=3 => "trap",
                4 => "denied",
                _ => "ok",
            };
            f.record("p1", 2, Duration::from_millis(ms), outcome);
        }
        f.record("p1", 1, Duration::from_millis(7), "deadline");
        let figures = f.figures();
        assert_eq!(figures.len(), 2);
        assert_eq!((figures[0].version, figures[0].runs, figures[0].error_rate), (1, 1, 1.0));
        let v2 = &figures[1];
        assert_eq!((v2.runs, v2.p50_ms, v2.p99_ms), (100, 50.0, 99.0));
        assert!((v2.error_rate - 0.03).abs() < 1e-9, "denied is not a failure: {}", v2.error_rate);
    }

    #[test]
    fn a_window_keeps_the_latest_runs_only() {
        let f = PluginFigures::default();
        for _ in 0..WINDOW {
            f.record("p", 1, Duration::from_secs(1), "trap");
        }
        for _ in 0..WINDOW {
            f.record("p", 1, Duration::from_millis(1), "ok");
        }
        let fig = &f.figures()[0];
        assert_eq!((fig.runs, fig.p99_ms, fig.error_rate), (WINDOW, 1.0, 0.0));
    }
}
