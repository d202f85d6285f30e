//! [`PluginHost`]: the engine, linker, caches and entry points the server
//! uses: [`PluginHost::inspect`] at upload, [`PluginHost::call`] per token.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::{Component, HasSelf, Linker};

use crate::bindings::{HostState, TokenPlugin, TokenPluginPre, TokenPluginV0_2};
use crate::cache::{DiskCache, Lookup};
use crate::call::{CallLimits, CallTrace, Template, call};
use crate::compile::{Compiler, check_header, compile, one_line};
use crate::config::HostConfig;
use crate::context::TokenContext;
use crate::engine::{EpochTicker, deadline_ticks, fingerprint, host_engine};
use crate::error::{HostError, PluginFailure, UploadError};
use crate::gate::{RunGate, RunSlot};
use crate::http::{HttpCall, HttpClient, HttpExchange, HttpGrant, HttpLimits};
use crate::http_cache::HttpCaches;
use crate::lift::budget_for;
use crate::limits::LogLine;
use crate::locks::{lock, read, write};
use crate::share::PoolShares;
use crate::standby::Standby;
use crate::verdict::{OutputRules, PluginVerdict, validate};
use crate::wait::bound_waits;

/// What an accepted upload is, for the plugin version record and the console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginInfo {
    /// Lowercase hex sha256 of the component; the key for every later call.
    pub sha256: String,
    /// Size of the component in bytes.
    pub size: usize,
    /// The world it implements: [`crate::WORLD`], or [`crate::WORLD_V0_2`]
    /// when it imports anything of `tessera:plugin@0.2.0`.
    pub world: String,
    /// The component's import names (WASI interfaces, `tessera:plugin/host`),
    /// so admins see what a plugin asks for.
    pub imports: Vec<String>,
    /// The component's export names.
    pub exports: Vec<String>,
}

/// The result of one call, kept whole for the plugin run record.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginRun {
    /// The validated verdict, or why there is none.
    pub outcome: Result<PluginVerdict, PluginFailure>,
    /// Lines the plugin logged, bounded by the log limits.
    pub logs: Vec<LogLine>,
    /// Wall-clock time of the whole call, including a first-time load.
    pub duration: Duration,
    /// The requests the plugin made through `http.fetch` (WIT 0.2.0), in
    /// order, allowed or not.
    pub http: Vec<HttpExchange>,
}

/// Counters for metrics and for tests that must tell a cache hit from a
/// recompile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HostStats {
    /// Components compiled by this host.
    pub compiles: u64,
    /// Components loaded from an authentic disk-cache artefact.
    pub disk_cache_hits: u64,
    /// Cached artefacts discarded (failed MAC or failed to load).
    pub disk_cache_rejects: u64,
    /// Calls served by an instance made ahead of time (`standby.rs`).
    pub standby_hits: u64,
}

#[derive(Default)]
struct Counters {
    compiles: AtomicU64,
    disk_cache_hits: AtomicU64,
    disk_cache_rejects: AtomicU64,
    standby_hits: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// A component compiled and linked against our imports, ready to instantiate.
struct Prepared {
    template: Arc<Template>,
    info: PluginInfo,
}

/// The process-wide plugin runtime. Cheap to share (`Arc<PluginHost>`); every
/// method takes `&self` and is safe to call from many threads.
pub struct PluginHost {
    config: HostConfig,
    engine: Engine,
    linker: Linker<HostState>,
    compiler: Compiler,
    disk: DiskCache,
    prepared: RwLock<HashMap<String, Arc<Prepared>>>,
    /// One lock per sha256 being prepared, so concurrent first calls
    /// compile once while other plugins stay unaffected.
    preparing: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    limits: CallLimits,
    http_limits: HttpLimits,
    http_client: Arc<HttpClient>,
    http_caches: Arc<HttpCaches>,
    shares: PoolShares,
    gate: Arc<RunGate>,
    standby: Standby,
    counters: Counters,
    ticker: EpochTicker,
}

impl fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginHost")
            .field("config", &self.config)
            .field("compiler", &self.compiler)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl PluginHost {
    /// Builds the engine, the linker (WASI p2 + `tessera:plugin/host`), the
    /// cache directory and the epoch ticker. `node_key` authenticates this
    /// node's compiled artefacts; derive it from the node's secret material
    /// and never share it between nodes that do not trust each other.
    pub fn new(config: HostConfig, node_key: [u8; 32], compiler: Compiler) -> Result<Self, HostError> {
        config.validate()?;
        let engine = host_engine(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| HostError::Engine(format!("{e:#}")))?;
        bound_waits(&mut linker).map_err(|e| HostError::Engine(format!("{e:#}")))?;
        TokenPlugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|e| HostError::Engine(format!("{e:#}")))?;
        // 0.2.0 beside 0.1.0: for 0.x versions the minor version is the
        // compatibility boundary, so each is linked under its own name and a
        // 0.1.0 component resolves exactly what it did before.
        TokenPluginV0_2::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|e| HostError::Engine(format!("{e:#}")))?;
        let disk = DiskCache::open(&config.cache_dir, fingerprint(&engine), node_key)?;
        let limits = CallLimits {
            memory_limit: usize::try_from(config.memory_limit_bytes).unwrap_or(usize::MAX),
            max_log_lines: config.max_log_lines,
            max_log_line_bytes: config.max_log_line_bytes,
            deadline_ticks: deadline_ticks(config.deadline_ms),
            deadline: Duration::from_millis(config.deadline_ms),
            clock_resolution: Duration::from_millis(config.clock_resolution_ms),
            max_output_bytes: config.max_output_bytes,
            lift_budget: budget_for(config.max_output_bytes),
        };
        let http_limits = HttpLimits {
            max_requests: config.http_max_requests,
            max_request_bytes: config.http_max_request_bytes,
            max_response_bytes: config.http_max_response_bytes,
        };
        let http_caches = Arc::new(HttpCaches::new(config.http_cache_entries));
        let shares = PoolShares::new(config.pool_share(), Duration::from_millis(config.share_wait_ms));
        let gate = RunGate::new(config.running_calls());
        let ticker = EpochTicker::start(engine.clone())?;
        let standby = Standby::start(
            engine.clone(),
            ticker.epochs(),
            limits,
            config.standby_capacity(),
            Duration::from_micros(config.standby_threshold_us),
        )?;
        Ok(Self {
            config,
            engine,
            linker,
            compiler,
            disk,
            prepared: RwLock::default(),
            preparing: Mutex::default(),
            limits,
            http_limits,
            http_client: Arc::default(),
            http_caches,
            shares,
            gate,
            standby,
            counters: Counters::default(),
            ticker,
        })
    }

    /// The configuration this host enforces.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// Compile and cache counters since this host started.
    pub fn stats(&self) -> HostStats {
        let c = &self.counters;
        HostStats {
            compiles: c.compiles.load(Ordering::Relaxed),
            disk_cache_hits: c.disk_cache_hits.load(Ordering::Relaxed),
            disk_cache_rejects: c.disk_cache_rejects.load(Ordering::Relaxed),
            standby_hits: c.standby_hits.load(Ordering::Relaxed),
        }
    }

    /// How many instances are on standby now (at most
    /// [`HostConfig::standby_capacity`]).
    pub fn standby_len(&self) -> usize {
        self.standby.len()
    }

    /// How many calls are in flight now, each holding one instance pool
    /// slot (`share.rs`); what the `tessera_plugin_pool_slots_in_use` gauge
    /// reads.
    pub fn slots_in_use(&self) -> usize {
        self.shares.in_use()
    }

    /// Blocks until the background standby work sent so far is done: the
    /// spent instances dropped and the next ones made. Calls never need it;
    /// benchmarks and tests use it to measure or assert from a known state.
    pub fn settle(&self) {
        self.standby.settle();
    }

    /// Validates an upload: size, component header, compilation within the
    /// bounds, and that it implements [`crate::WORLD`] against our imports.
    /// On success the compiled artefact stays cached, so the first call is fast.
    pub fn inspect(&self, wasm: &[u8]) -> Result<PluginInfo, UploadError> {
        check_upload(wasm, self.config.max_upload_bytes)?;
        let sha = hex::encode(Sha256::digest(wasm));
        let mut info = self.prepare(&sha, wasm)?.info.clone();
        // Prepared from the disk cache alone, the size was not known.
        info.size = wasm.len();
        Ok(info)
    }

    /// Runs the plugin `sha256` on `ctx` in a fresh instance, with no HTTP
    /// allowed: [`Self::call_with_http`] with an empty [`HttpGrant`].
    ///
    /// `wasm` is called only when the plugin is not prepared in memory yet
    /// (first call on this node); its bytes must hash to `sha256`.
    /// `declared_claims`, when given, is the binding's allow-list of claim
    /// names. Whatever the guest does, the answer is a [`PluginRun`]: every
    /// problem is a [`PluginFailure`] in [`PluginRun::outcome`]. Blocking:
    /// call it from `spawn_blocking` or a dedicated thread.
    pub fn call<E: fmt::Display>(
        &self,
        sha256: &str,
        wasm: impl FnOnce() -> Result<Vec<u8>, E>,
        ctx: &TokenContext,
        declared_claims: Option<&[String]>,
    ) -> PluginRun {
        self.call_with_http(sha256, wasm, ctx, declared_claims, Arc::default())
    }

    /// [`Self::call`], where a 0.2.0 plugin's `http.fetch` may do what
    /// `http` (its binding's allow-list, cache TTL and secrets) allows. A
    /// 0.2.0 plugin gets `{}` as `secrets-json`: it uses the secrets by name
    /// in request headers only. A 0.1.0 plugin runs exactly as with `call`.
    pub fn call_with_http<E: fmt::Display>(
        &self,
        sha256: &str,
        wasm: impl FnOnce() -> Result<Vec<u8>, E>,
        ctx: &TokenContext,
        declared_claims: Option<&[String]>,
        http: Arc<HttpGrant>,
    ) -> PluginRun {
        let start = Instant::now();
        let (outcome, trace) = match self.call_inner(sha256, wasm, ctx, declared_claims, http) {
            Ok(done) => done,
            Err(failure) => (Err(failure), CallTrace { logs: Vec::new(), http: Vec::new() }),
        };
        PluginRun { outcome, logs: trace.logs, duration: start.elapsed(), http: trace.http }
    }

    /// Makes the plugin `sha256` ready for calls on this node as its first
    /// call would: from memory, else this node's cache artefact (without
    /// calling `wasm`), else `wasm`'s bytes, checked and compiled. What the
    /// warmer calls, so a node that compiled a version before never reads
    /// its bytes again.
    pub fn warm<E: fmt::Display>(
        &self,
        sha256: &str,
        wasm: impl FnOnce() -> Result<Vec<u8>, E>,
    ) -> Result<(), PluginFailure> {
        check_sha256(sha256)?;
        match self.lookup(sha256) {
            Some(_) => Ok(()),
            None => self.load(sha256, wasm).map(|_| ()),
        }
    }

    /// Drops the in-memory prepared plugin (e.g. after a version is deleted);
    /// the disk artefact stays for a later call.
    pub fn forget(&self, sha256: &str) {
        write(&self.prepared).remove(sha256);
        self.standby.forget(sha256);
    }

    #[allow(clippy::type_complexity)]
    fn call_inner<E: fmt::Display>(
        &self,
        sha256: &str,
        wasm: impl FnOnce() -> Result<Vec<u8>, E>,
        ctx: &TokenContext,
        declared_claims: Option<&[String]>,
        http: Arc<HttpGrant>,
    ) -> Result<(Result<PluginVerdict, PluginFailure>, CallTrace), PluginFailure> {
        check_sha256(sha256)?;
        let (mut wit_ctx, size) = ctx.to_wit();
        if size > self.config.max_input_bytes {
            return Err(PluginFailure::OversizedInput { size, limit: self.config.max_input_bytes });
        }
        let prepared = match self.lookup(sha256) {
            Some(p) => p,
            None => self.load(sha256, wasm)?,
        };
        if prepared.info.world == crate::WORLD_V0_2 {
            wit_ctx.secrets_json = "{}".to_owned();
        }
        let template = &prepared.template;
        // A heavy plugin's call (one that instantiates slowly: an
        // interpreter) runs only with a run slot (`gate.rs`), waiting in line
        // for one at most ten deadlines; a light one never waits. The line
        // comes before the plugin's share: a call in line holds no instance,
        // and calls in line holding the share made the ones behind them
        // fail as `busy` after `share_wait_ms`.
        let slot = if template.is_heavy(Duration::from_micros(self.config.standby_threshold_us)) {
            let sha: Arc<str> = Arc::from(sha256);
            self.gate
                .enter(&sha, Instant::now() + self.limits.deadline.saturating_mul(RUN_WAIT_DEADLINES))
                .ok_or(PluginFailure::Saturated { running: self.gate.cap() })?
        } else {
            RunSlot::none()
        };
        // Held until the spent store is dropped or handed to the standby
        // thread (`after_call`), i.e. as long as the call holds a pool slot.
        let _permit = self.shares.acquire(sha256).ok_or(PluginFailure::Busy { limit: self.shares.cap() })?;
        // Wasm runs from here (instantiation, then the call): the epoch
        // must advance for the deadline to interrupt it.
        let running = self.ticker.running();
        let instance = match self.standby.take(sha256) {
            Some(ready) => {
                bump(&self.counters.standby_hits);
                ready
            }
            None => match template.instantiate(&self.engine, self.limits) {
                Ok(fresh) => fresh,
                Err((failure, logs)) => return Ok((Err(failure), CallTrace { logs, http: Vec::new() })),
            },
        };
        let http = HttpCall::new(http, self.http_limits, Arc::clone(&self.http_client), Arc::clone(&self.http_caches));
        let (raw, trace, spent) = call(instance, self.limits, &wit_ctx, http, slot);
        drop(running);
        self.standby.after_call(spent, sha256, template);
        let rules = OutputRules {
            max_output_bytes: self.config.max_output_bytes,
            declared: declared_claims,
            id_token_issued: ctx.id_token_claims.is_some(),
        };
        Ok((raw.and_then(|d| validate(d, &rules)), trace))
    }

    fn load<E: fmt::Display>(
        &self,
        sha256: &str,
        wasm: impl FnOnce() -> Result<Vec<u8>, E>,
    ) -> Result<Arc<Prepared>, PluginFailure> {
        // A version this node compiled before is in the disk cache: loading
        // it needs no component bytes. Reading them anyway (17.6 MiB for the
        // Python example) beside the artefact and its executable copy was the
        // plugin's peak memory (BENCHMARKS.md, "JavaScript and Python under
        // load"). The artefact is as trusted as before: its MAC binds it to
        // this sha256, and the bytes were never compared with it.
        if let Some(prepared) = self.prepare_from_disk(sha256) {
            return prepared.map_err(|e| PluginFailure::Unavailable(e.to_string()));
        }
        let bytes = wasm()
            .map_err(|e| PluginFailure::Unavailable(one_line(&format!("could not load the plugin: {e}"), 1024)))?;
        if hex::encode(Sha256::digest(&bytes)) != sha256 {
            return Err(PluginFailure::Unavailable(format!("the loaded plugin bytes do not hash to {sha256}")));
        }
        check_upload(&bytes, self.config.max_upload_bytes)
            .and_then(|()| self.prepare(sha256, &bytes))
            .map_err(|e| PluginFailure::Unavailable(e.to_string()))
    }

    /// The plugin prepared from its disk-cache artefact alone, if there is
    /// one that loads (then linked, which may still refuse it); `None` sends
    /// the caller to the component's bytes, which compile again when the
    /// artefact is missing or refused.
    fn prepare_from_disk(&self, sha256: &str) -> Option<Result<Arc<Prepared>, UploadError>> {
        let gate = Arc::clone(lock(&self.preparing).entry(sha256.to_owned()).or_default());
        let prepared = {
            let _guard = lock(&gate);
            match self.lookup(sha256) {
                Some(p) => Some(Ok(p)),
                None => self.deserialize_cached(sha256).map(|component| {
                    // The component's size is not known without its bytes:
                    // `inspect`, the one caller that reports it, has them.
                    let prepared = Arc::new(self.link(sha256, 0, &component)?);
                    write(&self.prepared).insert(sha256.to_owned(), Arc::clone(&prepared));
                    Ok(prepared)
                }),
            }
        };
        lock(&self.preparing).remove(sha256);
        prepared
    }

    fn lookup(&self, sha256: &str) -> Option<Arc<Prepared>> {
        read(&self.prepared).get(sha256).cloned()
    }

    /// Memory map, else disk cache, else compile; then link. Serialized per
    /// sha256 so a burst of first calls compiles once.
    fn prepare(&self, sha256: &str, wasm: &[u8]) -> Result<Arc<Prepared>, UploadError> {
        if let Some(p) = self.lookup(sha256) {
            return Ok(p);
        }
        let gate = Arc::clone(lock(&self.preparing).entry(sha256.to_owned()).or_default());
        let result = {
            let _guard = lock(&gate);
            match self.lookup(sha256) {
                Some(p) => Ok(p),
                None => self.prepare_uncached(sha256, wasm),
            }
        };
        lock(&self.preparing).remove(sha256);
        result
    }

    fn prepare_uncached(&self, sha256: &str, wasm: &[u8]) -> Result<Arc<Prepared>, UploadError> {
        let component = self.load_or_compile(sha256, wasm)?;
        let prepared = Arc::new(self.link(sha256, wasm.len(), &component)?);
        write(&self.prepared).insert(sha256.to_owned(), Arc::clone(&prepared));
        Ok(prepared)
    }

    /// The component from its disk-cache artefact, if one is there and
    /// loads; a refused or broken artefact is counted and removed.
    fn deserialize_cached(&self, sha256: &str) -> Option<Component> {
        match self.disk.load(sha256) {
            Lookup::Hit(bytes) => {
                #[allow(unsafe_code)]
                // SAFETY: the MAC verified, so this node wrote these bytes
                // with `Component::serialize`/the compile worker for exactly
                // this sha256 and engine fingerprint (see cache.rs).
                let loaded = unsafe { Component::deserialize(&self.engine, &bytes) };
                match loaded {
                    Ok(c) => {
                        bump(&self.counters.disk_cache_hits);
                        Some(c)
                    }
                    Err(e) => {
                        tracing::warn!(sha256, "cached plugin artefact did not load: {e:#}");
                        bump(&self.counters.disk_cache_rejects);
                        self.disk.remove(sha256);
                        None
                    }
                }
            }
            Lookup::Rejected => {
                bump(&self.counters.disk_cache_rejects);
                None
            }
            Lookup::Missing => None,
        }
    }

    fn load_or_compile(&self, sha256: &str, wasm: &[u8]) -> Result<Component, UploadError> {
        if let Some(component) = self.deserialize_cached(sha256) {
            return Ok(component);
        }
        let (component, artefact) = compile(&self.engine, &self.compiler, &self.config, wasm)?;
        bump(&self.counters.compiles);
        if let Err(e) = self.disk.store(sha256, &artefact) {
            // Not fatal: the plugin works, the next start just recompiles.
            tracing::warn!(sha256, "could not write the plugin compile cache: {e}");
        }
        Ok(component)
    }

    /// Checks the component against the world and pre-links it.
    fn link(&self, sha256: &str, size: usize, component: &Component) -> Result<Prepared, UploadError> {
        let ty = component.component_type();
        let imports: Vec<String> = ty.imports(&self.engine).map(|(n, _)| n.to_owned()).collect();
        let exports: Vec<String> = ty.exports(&self.engine).map(|(n, _)| n.to_owned()).collect();
        let world = if imports.iter().any(|i| i.starts_with("tessera:plugin/") && i.ends_with("@0.2.0")) {
            crate::WORLD_V0_2
        } else {
            crate::WORLD
        };
        if ty.get_export(&self.engine, "on-token").is_none() {
            let found = if exports.is_empty() { "none".to_owned() } else { exports.join(", ") };
            return Err(UploadError::WrongWorld(format!("it does not export `on-token` (exports: {found})")));
        }
        let pre = self
            .linker
            .instantiate_pre(component)
            .map_err(|e| UploadError::WrongWorld(one_line(&format!("unsatisfied import: {e:#}"), 500)))?;
        let pre = TokenPluginPre::new(pre)
            .map_err(|e| UploadError::WrongWorld(one_line(&format!("`on-token` has the wrong type: {e:#}"), 500)))?;
        let template = Template::new(pre)
            .ok_or_else(|| UploadError::WrongWorld("it does not export `on-token` as a function".to_owned()))?;
        Ok(Prepared {
            template: Arc::new(template),
            info: PluginInfo { sha256: sha256.to_owned(), size, world: world.to_owned(), imports, exports },
        })
    }

    /// Forgets the HTTP response cache of `binding` (`http_cache.rs`). Its
    /// answers were fetched under an allow-list, TTL and secrets that the
    /// caller says no longer hold, or for a binding that is gone: kept, they
    /// would stay in memory until restart (bounded per binding, but not in
    /// time). Unknown ids are fine; a call in flight may still store one
    /// answer, which the next change forgets.
    pub fn forget_http_cache(&self, binding: &str) {
        self.http_caches.forget(binding);
    }
}

/// How long a heavy call may wait in line for a run slot, in deadlines
/// (`gate.rs`). Waiting in line costs a call no more than sharing the CPU
/// with the calls ahead of it would: under load the calls in line are the
/// ones that would otherwise run beside each other, each as slowly. One
/// deadline (100 ms) was too short: with 32 connections on one CPU the
/// Python example's calls in line waited longer than that and about 1 % of
/// the requests failed as `busy` (BENCHMARKS.md).
const RUN_WAIT_DEADLINES: u32 = 10;

/// A sha256 a caller names must be one before anything is looked up by it.
fn check_sha256(sha256: &str) -> Result<(), PluginFailure> {
    if is_sha256_hex(sha256) {
        Ok(())
    } else {
        Err(PluginFailure::Unavailable(format!("{sha256:?} is not a lowercase hex sha256")))
    }
}

fn check_upload(wasm: &[u8], limit: usize) -> Result<(), UploadError> {
    if wasm.len() > limit {
        return Err(UploadError::TooLarge { size: wasm.len(), limit });
    }
    check_header(wasm)
}

/// Only lowercase hex: the value becomes part of a file name.
fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
#[path = "host_tests.rs"]
mod tests;
