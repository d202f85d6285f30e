//! Tessera's WebAssembly plugin host.
//!
//! Token customizations are WebAssembly components implementing the WIT world
//! `tessera:plugin/token-plugin@0.1.0` (`plugins/wit/tessera.wit`) or its
//! successor `@0.2.0` (`plugins/wit/0.2.0/`), which adds outbound HTTP made
//! by the host (`http.rs`); both are linked side by side. This crate
//! owns everything between an uploaded `.wasm` file and a validated
//! [`PluginVerdict`]:
//!
//! * one [`wasmtime::Engine`] per process (pooling allocator, epoch deadline),
//!   see [`PluginHost::new`];
//! * compiling each component once, keyed by its sha256, optionally in a child
//!   process with CPU, memory and wall-clock limits ([`Compiler`]), and caching
//!   the artefact on disk behind an HMAC only this node can produce;
//! * validating uploads ([`PluginHost::inspect`]);
//! * running a plugin on a fresh instance per call with memory, time, input,
//!   output and log limits ([`PluginHost::call`]), and turning every way it can
//!   go wrong into one closed enum ([`PluginFailure`]); the next instance of a
//!   called plugin is made ahead, off the request path (`standby.rs`);
//! * what a call may cost the server beyond that: waits in host calls end at
//!   the deadline (`wait.rs`), one plugin holds at most its share of the
//!   instance pool (`share.rs`), heavy plugins' calls run at most a few per
//!   CPU at once (`gate.rs`), the result is lifted within a budget
//!   (`lift.rs`), and the clocks a plugin reads are coarse (`clocks.rs`);
//! * telling the server's thread pool when a call waits in a host call
//!   ([`set_wait_hooks`]), so it can run another call meanwhile.
//!
//! The crate knows nothing about storage or binding policy: the server
//! decides what a failure means for the token request, and hands each call
//! the binding's HTTP allow-list, cache TTL and secrets ([`HttpGrant`]).

// Test code may unwrap and panic; the library itself may not (workspace lints).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod bindings;
mod cache;
mod call;
mod clocks;
mod compile;
mod config;
mod context;
mod engine;
mod error;
mod gate;
mod host;
mod http;
mod http_cache;
mod lift;
mod limits;
mod locks;
mod share;
mod standby;
mod thread_waits;
mod verdict;
mod wait;

pub use compile::{Compiler, compile_worker_main};
pub use config::HostConfig;
pub use context::{ClientContext, PluginSecrets, TokenContext, UserContext, UserSource};
pub use error::{HostError, PluginFailure, UploadError};
pub use host::{HostStats, PluginHost, PluginInfo, PluginRun};
pub use http::{AllowListError, AllowedPrefix, HttpExchange, HttpGrant, outbound_client_builder};
pub use limits::{LogLevel, LogLine};
pub use thread_waits::{WaitHooks, set_wait_hooks};
pub use verdict::{ClaimsPatch, DenialCode, PluginVerdict, RESERVED_CLAIMS};

/// The WIT world every plugin must implement, as reported in [`PluginInfo::world`]
/// and in upload errors, so admins see exactly which contract was checked.
pub const WORLD: &str = "tessera:plugin/token-plugin@0.1.0";

/// The same world at 0.2.0, with the `http` import; reported for components
/// that import anything of that version, which get `{}` as `secrets-json`.
pub const WORLD_V0_2: &str = "tessera:plugin/token-plugin@0.2.0";
