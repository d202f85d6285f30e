//! The generated WIT bindings for `tessera:plugin/token-plugin@0.1.0` and
//! `@0.2.0`, and the per-call [`HostState`] that implements the plugin's
//! imports of both: `host.log`, `http.fetch` (0.2.0, `http.rs`) and an
//! empty WASI p2 context (no files, network, environment, arguments
//! or stdio), which language runtimes need to start, with coarse clocks
//! (`clocks.rs`) and waits bounded by the call's deadline (`wait.rs`).

use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::clocks::{MonotonicClock, WallClock};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::clocks::{CoarseMonotonicClock, CoarseWallClock};
use crate::gate::RunSlot;
use crate::http::HttpCall;
use crate::limits::{LogBuffer, LogLevel, MemoryLimiter};
use crate::wait::WallDeadline;

/// Generated code; private so its undocumented items stay out of the API.
#[allow(missing_docs, clippy::all)]
pub(crate) mod generated {
    wasmtime::component::bindgen!({
        path: "../../plugins/wit",
        world: "token-plugin",
    });
}

/// The same world at 0.2.0 (`plugins/wit/0.2.0/`): 0.1.0 plus the `http`
/// import. Its `types` are 0.1.0's, field for field, so a 0.2.0 component's
/// `on-token` takes the 0.1.0 context record and returns its decision
/// (component types are structural) and `call.rs` serves both versions.
#[allow(missing_docs, clippy::all)]
pub(crate) mod generated_v0_2 {
    wasmtime::component::bindgen!({
        path: "../../plugins/wit/0.2.0",
        world: "token-plugin",
    });
}

pub(crate) use generated::tessera::plugin::{host as wit_host, types as wit};
pub(crate) use generated::{TokenPlugin, TokenPluginPre};
pub(crate) use generated_v0_2::TokenPlugin as TokenPluginV0_2;
pub(crate) use generated_v0_2::tessera::plugin::http as wit_http;
use generated_v0_2::tessera::plugin::{host as wit_host_v0_2, types as wit_v0_2};

/// WASI resources (streams, pollables) one call may hold at once.
const MAX_RESOURCES: usize = 1024;

/// Most bytes one `get-random-bytes` call may ask for. wasmtime-wasi's
/// default (64 MiB) lets one call make the host allocate as much as a
/// plugin's whole memory; runtimes ask for a few dozen bytes to seed hashes.
const MAX_RANDOM_BYTES: u64 = 1 << 20;

/// Everything a single call's [`wasmtime::Store`] owns. Built fresh per call
/// and dropped with the store, so nothing survives between token requests.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) logs: LogBuffer,
    /// When a wait in a host call must end (`wait.rs`); set by `call.rs`
    /// when the instance is made and again when the call starts.
    pub(crate) deadline: WallDeadline,
    /// What `http.fetch` may do in this call and what it did; set by
    /// `call.rs` when the call starts (an instance made ahead may do nothing).
    pub(crate) http: HttpCall,
    /// The call's run slot (`gate.rs`), given back while it waits in a host
    /// call; set by `call.rs` for the call only.
    pub(crate) slot: RunSlot,
}

impl HostState {
    pub(crate) fn new(
        memory_limit: usize,
        max_log_lines: usize,
        max_log_line_bytes: usize,
        clock_resolution: Duration,
    ) -> Self {
        // The builder's defaults already close stdin, discard stdout/stderr and
        // grant no env, args, preopens or addresses; the explicit calls keep
        // that true if a future wasmtime changes a default.
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .max_random_size(MAX_RANDOM_BYTES)
            .wall_clock(CoarseWallClock::new(WallClock::new(), clock_resolution))
            .monotonic_clock(CoarseMonotonicClock::new(MonotonicClock::new(), clock_resolution))
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        Self {
            wasi,
            table,
            limiter: MemoryLimiter::new(memory_limit),
            logs: LogBuffer::new(max_log_lines, max_log_line_bytes),
            deadline: WallDeadline::after(Duration::ZERO),
            http: HttpCall::none(),
            slot: RunSlot::none(),
        }
    }

    /// Runs `block` (a host call that waits: a WASI wait, `http.fetch`)
    /// with the call's run slot given back (`gate.rs`), then takes one
    /// again, waiting at most until the call's deadline. The thread's pool
    /// is told of the wait (`thread_waits.rs`).
    pub(crate) fn without_slot<R>(&mut self, block: impl FnOnce(&mut ResourceTable, &mut HttpCall) -> R) -> R {
        self.slot.pause();
        let done = crate::thread_waits::waiting(|| block(&mut self.table, &mut self.http));
        self.slot.resume(self.deadline.at());
        done
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl wit::Host for HostState {}

impl wit_host::Host for HostState {
    /// Appends to the call's bounded buffer; never fails, so a chatty plugin
    /// cannot turn logging into a trap.
    fn log(&mut self, level: wit_host::Level, message: String) {
        let level = match level {
            wit_host::Level::Debug => LogLevel::Debug,
            wit_host::Level::Info => LogLevel::Info,
            wit_host::Level::Warn => LogLevel::Warn,
            wit_host::Level::Error => LogLevel::Error,
        };
        self.logs.push(level, message);
    }
}

impl wit_v0_2::Host for HostState {}

impl wit_host_v0_2::Host for HostState {
    /// `host.log` of 0.2.0: the same as 0.1.0's.
    fn log(&mut self, level: wit_host_v0_2::Level, message: String) {
        let level = match level {
            wit_host_v0_2::Level::Debug => LogLevel::Debug,
            wit_host_v0_2::Level::Info => LogLevel::Info,
            wit_host_v0_2::Level::Warn => LogLevel::Warn,
            wit_host_v0_2::Level::Error => LogLevel::Error,
        };
        self.logs.push(level, message);
    }
}

impl wit_http::Host for HostState {
    /// Checked, bounded by the call's deadline, recorded; never traps
    /// (`http.rs`).
    fn fetch(&mut self, req: wit_http::Request) -> Result<wit_http::Response, wit_http::Error> {
        let deadline = self.deadline;
        self.without_slot(|_, http| http.fetch(deadline, req))
    }
}

#[cfg(test)]
mod tests {
    use super::wit_host::{Host, Level};
    use super::*;
    use crate::limits::LogLine;

    fn state(lines: usize, bytes: usize) -> HostState {
        HostState::new(1 << 20, lines, bytes, Duration::from_millis(1))
    }

    #[test]
    fn log_keeps_level_and_message() {
        let mut s = state(4, 64);
        s.log(Level::Warn, "careful".into());
        s.log(Level::Debug, "detail".into());
        assert_eq!(
            s.logs.finish(),
            vec![
                LogLine { level: LogLevel::Warn, message: "careful".into() },
                LogLine { level: LogLevel::Debug, message: "detail".into() },
            ]
        );
    }

    #[test]
    fn log_truncates_long_lines_on_a_char_boundary() {
        let mut s = state(4, 8);
        s.log(Level::Info, "ééééé".into()); // 10 bytes
        let lines = s.logs.finish();
        assert!(lines[0].message.len() <= 8, "{:?}", lines[0].message);
        assert_eq!(lines[0].message, "éé…");
    }

    #[test]
    fn log_stops_after_max_lines_and_records_one_marker() {
        let mut s = state(3, 64);
        for i in 0..10 {
            s.log(Level::Info, format!("line {i}"));
        }
        let lines = s.logs.finish();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[2].message, "line 2");
        assert_eq!(lines[3].message, "… 7 lines dropped");
        assert_eq!(lines[3].level, LogLevel::Warn);
    }

    #[test]
    fn zero_max_lines_only_counts() {
        let mut s = state(0, 64);
        s.log(Level::Error, "x".into());
        let lines = s.logs.finish();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].message, "… 1 line dropped");
    }
}
