//! [`HostConfig`]: every limit the plugin host enforces, in one plain struct
//! the server's configuration embeds (`[plugins]` in the TOML file).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::HostError;

/// Limits and locations for the plugin host.
///
/// Plain data with defaults so the server's typed configuration can embed it
/// and an operator only overrides what they need. None of these values changes
/// the machine code Cranelift produces, so changing a limit never invalidates
/// the compile cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostConfig {
    /// Directory for compiled artefacts (`<sha256>-<engine>.cwasm` + `.mac`)
    /// and compile scratch files. Per node, never shared: artefacts are
    /// authenticated with this node's key. Default `plugin-cache` (the server
    /// places it under its data directory).
    pub cache_dir: PathBuf,
    /// Wall-clock budget of one plugin call, in milliseconds. Default 100.
    pub deadline_ms: u64,
    /// Cap on the total linear memory of one call's instance, in bytes.
    /// Default 64 MiB (Python components peak around 12 MiB).
    pub memory_limit_bytes: u64,
    /// Cap on the total size of the strings in the context handed to a
    /// plugin, in bytes. Default 128 KiB (Shopify's input limit).
    pub max_input_bytes: usize,
    /// Cap on the total size of the strings a plugin returns (claims JSON,
    /// dropped scopes, denial description), in bytes. Default 20 KiB.
    pub max_output_bytes: usize,
    /// Log lines kept per call; later lines are counted, not stored. Default 32.
    pub max_log_lines: usize,
    /// Bytes kept per log line; longer lines are cut on a char boundary. Default 1024.
    pub max_log_line_bytes: usize,
    /// Largest accepted upload, in bytes. Default 32 MiB (JS and Python
    /// components are 2–18 MiB).
    pub max_upload_bytes: usize,
    /// Wall-clock limit for compiling one component in the compile child,
    /// in milliseconds. Default 60 000 (Python/JS take 6–8 s).
    pub compile_timeout_ms: u64,
    /// Address-space limit (`RLIMIT_AS`) of the compile child, in bytes.
    /// Default 2 GiB.
    pub compile_memory_bytes: u64,
    /// Concurrent plugin instances the pooling allocator provides slots for.
    /// Calls beyond it fail fast as `unavailable`. Default 64.
    pub pool_instances: u32,
    /// The share of `pool_instances`, in percent, that the calls of one
    /// plugin version may hold at once (rounded down, at least one call).
    /// A call over it fails at once as `busy` instead of taking a slot, so a
    /// plugin that is slow, sleeps or loops until its deadline under load
    /// cannot starve the others: with the defaults one plugin runs at most
    /// 16 calls at a time and the others keep at least 31 slots (standby
    /// instances hold at most a quarter of the pool plus their queue).
    /// 1 to 100. Default 25.
    pub max_pool_share_percent: u32,
    /// How long a call over its plugin's share waits for one of that
    /// plugin's calls to finish before it fails as `busy`, in milliseconds.
    /// Under a burst (32 connections on one core briefly put more than 16
    /// calls of one plugin in flight) the wait absorbs it instead of
    /// answering 503; a plugin that holds its share to the deadline makes
    /// its callers wait at most this long. 0 refuses at once. At most 1000.
    /// Default 10.
    pub share_wait_ms: u64,
    /// Resolution of the clocks a plugin reads, in milliseconds: the WASI
    /// monotonic clock (which starts at zero with the instance) and the
    /// wall clock only move in steps of this size, so a plugin in the
    /// process that holds the signing keys gets no fine-grained timer.
    /// At least 1. Default 1.
    pub clock_resolution_ms: u64,
    /// Bytes of each pool slot's linear memory (and tables) kept resident
    /// between calls and reset by copying the original contents back rather
    /// than given back with `madvise`. A plugin whose memory fits then runs
    /// without a page fault or cross-CPU TLB flush: the JavaScript example
    /// uses a few MiB, the Python one about 13 MiB, and CPython writes all
    /// over its image. With `reset_written_pages_only`, only the pages a
    /// call wrote are copied back. The reset itself happens off the request
    /// path for plugins on standby. The price is up to this much resident
    /// memory per slot that has been used. Default 16 MiB (BENCHMARKS.md,
    /// run 4).
    pub keep_resident_bytes: usize,
    /// Where Linux has `PAGEMAP_SCAN` (6.7 and later), reset a slot by
    /// copying back only the pages the call wrote, in at most 32 runs, and
    /// giving back the rest (wasmtime's `pagemap_scan`), instead of copying
    /// back all of `keep_resident_bytes`. Under load this is cheaper: the
    /// Python example's 13 MiB image was copied back whole on every call, a
    /// third of its CPU per token on one core, and each used slot kept all of
    /// it resident. The price is on an idle server with standby instances:
    /// CPython writes more than 32 runs of pages, so the pages given back are
    /// faulted in again during the next call (the Python example's standby
    /// call went from about 0.1 to 0.45 ms p50). Elsewhere the setting does
    /// nothing. Default true (BENCHMARKS.md, "JavaScript and Python under
    /// load").
    pub reset_written_pages_only: bool,
    /// Instances made ahead of their call, one per recently called plugin
    /// version, so a call only runs `on-token` (`standby.rs`). Each still
    /// serves one call. Capped at a quarter of `pool_instances`: standbys
    /// and the one spent instance waiting to be dropped then hold at most a
    /// quarter of the pool plus two slots. 0 turns it off. Default 8.
    pub standby_instances: u32,
    /// Plugins whose fastest instantiation so far is below this many
    /// microseconds get no standby: for them the hand-off to the background
    /// thread costs more than it saves (compiled languages instantiate in
    /// 10–20 µs, the JavaScript example about 60). Default 40.
    pub standby_threshold_us: u64,
    /// Calls of heavy plugins (those that instantiate no faster than
    /// `standby_threshold_us`: interpreters such as the JavaScript and
    /// Python runtimes) that run at once, over all plugins; one plugin gets
    /// at most half. Others wait in line, at most ten deadlines (`gate.rs`).
    /// A call waiting in `http.fetch` or a WASI wait, or one that has run
    /// for 10 ms, does not count. 0 means four times the CPUs this process
    /// may use (two per CPU for one plugin: one more than the CPU runs, so
    /// a call is ready when another blocks or ends). Default 0.
    pub running_calls: u32,
    /// Largest response body `http.fetch` (WIT 0.2.0) hands a plugin, in
    /// bytes; a larger one is the `too-large` error and is not kept.
    /// Default 64 KiB.
    pub http_max_response_bytes: usize,
    /// Largest JSON body a plugin may POST, in bytes. Default 16 KiB.
    pub http_max_request_bytes: usize,
    /// Requests one plugin call may make (cache hits and refused requests
    /// count); later ones are refused as `not-allowed`. Default 4.
    pub http_max_requests: usize,
    /// Answers each binding's response cache keeps (bindings with a cache
    /// TTL only). Default 256.
    pub http_cache_entries: usize,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            cache_dir: PathBuf::from("plugin-cache"),
            deadline_ms: 100,
            memory_limit_bytes: 64 << 20,
            max_input_bytes: 128 << 10,
            max_output_bytes: 20 << 10,
            max_log_lines: 32,
            max_log_line_bytes: 1024,
            max_upload_bytes: 32 << 20,
            compile_timeout_ms: 60_000,
            compile_memory_bytes: 2 << 30,
            pool_instances: 64,
            max_pool_share_percent: 25,
            share_wait_ms: 10,
            clock_resolution_ms: 1,
            keep_resident_bytes: 16 << 20,
            reset_written_pages_only: true,
            standby_instances: 8,
            standby_threshold_us: 40,
            running_calls: 0,
            http_max_response_bytes: 64 << 10,
            http_max_request_bytes: 16 << 10,
            http_max_requests: 4,
            http_cache_entries: 256,
        }
    }
}

impl HostConfig {
    /// The number of standby instances in force: the configured count, at
    /// most a quarter of the pool so calls always find free slots.
    pub fn standby_capacity(&self) -> usize {
        self.standby_instances.min(self.pool_instances / 4) as usize
    }

    /// [`Self::running_calls`] in force: as configured, or four times the
    /// CPUs this process may run on (its affinity mask) when 0.
    pub fn running_calls(&self) -> usize {
        match self.running_calls {
            0 => 4 * std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n as usize,
        }
    }

    /// The most calls one plugin version may have in flight:
    /// `max_pool_share_percent` of `pool_instances`, rounded down, at least 1.
    pub fn pool_share(&self) -> usize {
        let share = u64::from(self.pool_instances) * u64::from(self.max_pool_share_percent) / 100;
        usize::try_from(share).unwrap_or(usize::MAX).max(1)
    }

    /// Rejects values the engine cannot honour, so a typo in the config file
    /// fails at start-up instead of at the first token request.
    pub(crate) fn validate(&self) -> Result<(), HostError> {
        let bad = |msg: &str| Err(HostError::InvalidConfig(msg.to_owned()));
        if self.deadline_ms == 0 {
            return bad("deadline_ms must be at least 1");
        }
        // One wasm page is the smallest memory a component can have; the
        // pooling allocator reserves 4 GiB per slot, which is the ceiling.
        if self.memory_limit_bytes < 64 << 10 || self.memory_limit_bytes > 4 << 30 {
            return bad("memory_limit_bytes must be between 64 KiB and 4 GiB");
        }
        if self.max_input_bytes == 0 || self.max_output_bytes == 0 {
            return bad("max_input_bytes and max_output_bytes must be at least 1");
        }
        if self.max_log_line_bytes == 0 {
            return bad("max_log_line_bytes must be at least 1");
        }
        if self.max_upload_bytes < 8 {
            return bad("max_upload_bytes must be at least 8");
        }
        if self.compile_timeout_ms == 0 {
            return bad("compile_timeout_ms must be at least 1");
        }
        if self.pool_instances == 0 || self.pool_instances > 10_000 {
            return bad("pool_instances must be between 1 and 10000");
        }
        if !(1..=100).contains(&self.max_pool_share_percent) {
            return bad("max_pool_share_percent must be between 1 and 100");
        }
        if self.running_calls > 10_000 {
            return bad("running_calls must be at most 10000");
        }
        if self.share_wait_ms > 1000 {
            return bad("share_wait_ms must be at most 1000");
        }
        if self.clock_resolution_ms == 0 {
            return bad("clock_resolution_ms must be at least 1");
        }
        if self.http_max_response_bytes == 0 || self.http_max_response_bytes > 16 << 20 {
            return bad("http_max_response_bytes must be between 1 and 16 MiB");
        }
        if self.cache_dir.as_os_str().is_empty() {
            return bad("cache_dir must not be empty");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let c = HostConfig::default();
        assert!(c.validate().is_ok());
        assert_eq!(c.deadline_ms, 100);
        assert_eq!(c.memory_limit_bytes, 64 * 1024 * 1024);
        assert_eq!(c.max_input_bytes, 128 * 1024);
        assert_eq!(c.max_output_bytes, 20 * 1024);
        assert_eq!(c.compile_memory_bytes, 2 * 1024 * 1024 * 1024);
        assert_eq!(c.max_pool_share_percent, 25);
        assert_eq!(c.pool_share(), 16);
        assert_eq!(c.clock_resolution_ms, 1);
        assert_eq!(c.http_max_response_bytes, 64 * 1024);
        assert_eq!(c.http_max_requests, 4);
    }

    #[test]
    fn pool_share_rounds_down_to_at_least_one_call() {
        let share = |pool_instances, max_pool_share_percent| {
            HostConfig { pool_instances, max_pool_share_percent, ..HostConfig::default() }.pool_share()
        };
        assert_eq!(share(8, 25), 2);
        assert_eq!(share(10, 25), 2);
        assert_eq!(share(1, 25), 1);
        assert_eq!(share(3, 100), 3);
    }

    #[test]
    fn out_of_range_share_and_clock_settings_are_rejected() {
        for c in [
            HostConfig { max_pool_share_percent: 0, ..HostConfig::default() },
            HostConfig { max_pool_share_percent: 101, ..HostConfig::default() },
            HostConfig { clock_resolution_ms: 0, ..HostConfig::default() },
        ] {
            assert!(matches!(c.validate(), Err(HostError::InvalidConfig(_))), "{c:?}");
        }
    }

    #[test]
    fn partial_config_fills_defaults_and_unknown_fields_are_rejected() {
        let c: HostConfig = serde_json::from_str(r#"{"deadline_ms": 50, "cache_dir": "/x"}"#).unwrap();
        assert_eq!(c.deadline_ms, 50);
        assert_eq!(c.cache_dir, PathBuf::from("/x"));
        assert_eq!(c.max_log_lines, 32);
        assert!(serde_json::from_str::<HostConfig>(r#"{"deadline": 50}"#).is_err());
    }

    #[test]
    fn zero_deadline_is_rejected() {
        let c = HostConfig { deadline_ms: 0, ..HostConfig::default() };
        assert!(matches!(c.validate(), Err(HostError::InvalidConfig(_))));
    }
}
