//! Turning untrusted wasm bytes into a loaded [`Component`].
//!
//! Compilation is the one step whose cost the guest controls before any
//! deadline applies (a "compile bomb"), and Cranelift bugs are outside
//! wasmtime's security policy, so the server compiles in a child process with
//! `RLIMIT_AS`, `RLIMIT_CPU` and a wall-clock kill ([`Compiler::Subprocess`]).
//! Tests and `tessera plugin run` compile in-process ([`Compiler::InProcess`]).

use std::ffi::OsString;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use wasmtime::component::Component;
use wasmtime::{CodeBuilder, Engine};

use crate::config::HostConfig;
use crate::engine::worker_engine;
use crate::error::{HostError, UploadError, truncate_utf8};

/// How the host compiles components it has not cached yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compiler {
    /// Compile on the calling thread with the host's engine. No memory or
    /// time bound: for tests and the local `tessera plugin run` only.
    InProcess,
    /// Run `program args.. <wasm-in> <cwasm-out>` (normally the server's own
    /// binary with a hidden subcommand calling [`compile_worker_main`]) under
    /// `compile_memory_bytes` of address space and `compile_timeout_ms` of
    /// wall-clock time. The child gets an empty environment.
    Subprocess {
        /// The executable to run.
        program: PathBuf,
        /// Arguments placed before the two file paths.
        args: Vec<OsString>,
    },
}

/// wasm binary header: magic, then a 16-bit version and a 16-bit layer.
const MAGIC: &[u8; 4] = b"\0asm";
/// Layer 1 = component; layer 0 = core module.
const COMPONENT_LAYER: u16 = 1;
/// The component binary encoding version wasmtime 48 reads.
const COMPONENT_VERSION: u16 = 0x0d;
/// Bytes of child stderr kept for error messages.
const STDERR_KEEP: u64 = 16 << 10;

/// Checks the 8-byte header so garbage and core modules get a precise message
/// (and so the WAT text format, which wasmtime would also accept, is refused).
pub(crate) fn check_header(bytes: &[u8]) -> Result<(), UploadError> {
    let not = |m: &str| Err(UploadError::NotAComponent(m.to_owned()));
    let Some((head, _)) = bytes.split_first_chunk::<8>() else {
        return not("the file is shorter than a WebAssembly header");
    };
    if &head[..4] != MAGIC {
        return not("the file does not start with the WebAssembly magic bytes");
    }
    let version = u16::from_le_bytes([head[4], head[5]]);
    let layer = u16::from_le_bytes([head[6], head[7]]);
    match (layer, version) {
        (COMPONENT_LAYER, COMPONENT_VERSION) => Ok(()),
        (0, _) => not("this is a core WebAssembly module; build a component (e.g. target wasm32-wasip2, \
             or wrap it with `wasm-tools component new`)"),
        (COMPONENT_LAYER, v) => Err(UploadError::NotAComponent(format!(
            "unsupported component encoding version {v:#x} (expected {COMPONENT_VERSION:#x})"
        ))),
        (l, _) => Err(UploadError::NotAComponent(format!("unknown WebAssembly layer {l}"))),
    }
}

/// Folds a possibly multi-line message onto one line of bounded length, so
/// every upload error stays a one-liner for admins.
pub(crate) fn one_line(s: &str, max: usize) -> String {
    let mut out = s.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate_utf8(&mut out, max);
    out
}

fn compile_error(e: &wasmtime::Error) -> UploadError {
    UploadError::CompileFailed(one_line(&format!("{e:#}"), 500))
}

/// Compiles `wasm` (header already checked) into a loaded component plus the
/// artefact bytes to cache.
pub(crate) fn compile(
    engine: &Engine,
    compiler: &Compiler,
    cfg: &HostConfig,
    wasm: &[u8],
) -> Result<(Component, Vec<u8>), UploadError> {
    match compiler {
        Compiler::InProcess => {
            let component = CodeBuilder::new(engine)
                .wasm_binary(wasm, None)
                .and_then(|b| b.compile_component())
                .map_err(|e| compile_error(&e))?;
            let artefact = component.serialize().map_err(|e| compile_error(&e))?;
            Ok((component, artefact))
        }
        Compiler::Subprocess { program, args } => {
            let artefact = run_worker(program, args, cfg, wasm)?;
            #[allow(unsafe_code)]
            // SAFETY: the bytes were just written by our own compile worker
            // from `wasm`, through a file in our private cache directory;
            // wasmtime still checks the header and engine compatibility.
            let component = unsafe { Component::deserialize(engine, &artefact) }.map_err(|e| {
                UploadError::CompileFailed(one_line(
                    &format!("the compile worker's output could not be loaded: {e:#}"),
                    500,
                ))
            })?;
            Ok((component, artefact))
        }
    }
}

fn internal(what: &str, e: &std::io::Error) -> UploadError {
    UploadError::Internal(format!("{what}: {e}"))
}

/// Runs the compile child and returns the `.cwasm` bytes it wrote.
fn run_worker(program: &Path, args: &[OsString], cfg: &HostConfig, wasm: &[u8]) -> Result<Vec<u8>, UploadError> {
    let dir = &cfg.cache_dir;
    let mut input = tempfile::Builder::new()
        .prefix("compile-")
        .suffix(".wasm")
        .tempfile_in(dir)
        .map_err(|e| internal("could not create a compile input file", &e))?;
    input
        .write_all(wasm)
        .and_then(|()| input.flush())
        .map_err(|e| internal("could not write the compile input file", &e))?;
    let output = tempfile::Builder::new()
        .prefix("compile-")
        .suffix(".cwasm")
        .tempfile_in(dir)
        .map_err(|e| internal("could not create a compile output file", &e))?
        .into_temp_path();
    let mut stderr = tempfile::tempfile_in(dir).map_err(|e| internal("could not create a compile log file", &e))?;
    let stderr_for_child = stderr.try_clone().map_err(|e| internal("could not create a compile log file", &e))?;

    let mut cmd = Command::new(program);
    cmd.args(args)
        .arg(input.path())
        .arg(&output)
        .env_clear()
        // Fewer glibc malloc arenas: each reserves 64 MiB of the address
        // space RLIMIT_AS caps, without using it.
        .env("MALLOC_ARENA_MAX", "2")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(stderr_for_child))
        .process_group(0);
    set_child_limits(&mut cmd, cfg);

    let timeout = Duration::from_millis(cfg.compile_timeout_ms);
    let status = wait_with_timeout(&mut cmd, timeout).map_err(|e| match e {
        WaitError::Spawn(e) => internal(&format!("could not start {}", program.display()), &e),
        WaitError::TimedOut => UploadError::CompileTimeout { limit_ms: cfg.compile_timeout_ms },
    })?;

    let mut log = String::new();
    // Best effort: a missing log only makes the error message less specific.
    let _ = stderr.seek(SeekFrom::Start(0)).and_then(|_| (&mut stderr).take(STDERR_KEEP).read_to_string(&mut log));
    if !status.success() {
        return Err(classify_exit(status, &log, cfg));
    }
    std::fs::read(&output).map_err(|e| internal("could not read the compile output", &e))
}

/// Maps a failed child to the admin-facing reason.
fn classify_exit(status: ExitStatus, log: &str, cfg: &HostConfig) -> UploadError {
    let oom = ["memory allocation of", "out of memory", "Cannot allocate memory"].iter().any(|m| log.contains(m));
    if oom {
        return UploadError::CompileOutOfMemory { limit: cfg.compile_memory_bytes };
    }
    if status.signal() == Some(libc::SIGXCPU) {
        return UploadError::CompileTimeout { limit_ms: cfg.compile_timeout_ms };
    }
    let last = log.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    let how = match (status.code(), status.signal()) {
        (Some(c), _) => format!("compile worker exited with status {c}"),
        (None, Some(s)) => format!("compile worker was killed by signal {s}"),
        _ => "compile worker failed".to_owned(),
    };
    let msg = if last.is_empty() { how } else { format!("{how}: {last}") };
    UploadError::CompileFailed(one_line(&msg, 500))
}

/// Installs the rlimits in the child between fork and exec.
fn set_child_limits(cmd: &mut Command, cfg: &HostConfig) {
    let address_space = cfg.compile_memory_bytes as libc::rlim_t;
    // CPU seconds across all compiler threads: the wall-clock budget times
    // the cores it may use, plus one second; the wall clock is the real bound.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let cpu_secs = cfg.compile_timeout_ms.div_ceil(1000).saturating_mul(cores).saturating_add(1);
    let limits = [
        (libc::RLIMIT_AS, address_space, address_space),
        (libc::RLIMIT_CPU, cpu_secs as libc::rlim_t, cpu_secs.saturating_add(1) as libc::rlim_t),
        (libc::RLIMIT_CORE, 0, 0),
    ];
    let hook = move || -> std::io::Result<()> {
        for (resource, soft, hard) in limits {
            let lim = libc::rlimit { rlim_cur: soft, rlim_max: hard };
            #[allow(unsafe_code)]
            // SAFETY: setrlimit is async-signal-safe and reads only `lim`,
            // a valid stack value.
            let rc = unsafe { libc::setrlimit(resource, &lim) };
            if rc != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    };
    #[allow(unsafe_code)]
    // SAFETY: the hook runs in the forked child before exec and only calls
    // setrlimit (async-signal-safe); it allocates nothing and takes no locks.
    unsafe {
        cmd.pre_exec(hook);
    }
}

enum WaitError {
    Spawn(std::io::Error),
    TimedOut,
}

/// Spawns `cmd` and waits at most `timeout`, killing its process group after.
fn wait_with_timeout(cmd: &mut Command, timeout: Duration) -> Result<ExitStatus, WaitError> {
    let mut child = cmd.spawn().map_err(WaitError::Spawn)?;
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) => {}
            Err(e) => return Err(WaitError::Spawn(e)),
        }
        let now = Instant::now();
        if now >= deadline {
            if let Ok(pgid) = i32::try_from(child.id()) {
                #[allow(unsafe_code)]
                // SAFETY: plain syscall; the group was created for this child
                // by `process_group(0)`, so it contains only its processes.
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
            }
            let _ = child.kill();
            let _ = child.wait();
            return Err(WaitError::TimedOut);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// The compile child's entry point: reads `wasm_in`, compiles it with the
/// host's code settings and writes the artefact to `cwasm_out`.
///
/// The server binary exposes this as a hidden subcommand and exits non-zero,
/// printing the error to stderr, when it fails; running out of memory aborts
/// the process, which the parent reports as
/// [`UploadError::CompileOutOfMemory`].
pub fn compile_worker_main(wasm_in: &Path, cwasm_out: &Path) -> Result<(), HostError> {
    let wasm = std::fs::read(wasm_in).map_err(|e| HostError::io(wasm_in, &e))?;
    check_header(&wasm).map_err(|e| HostError::Compile(e.to_string()))?;
    let engine = worker_engine()?;
    let artefact = CodeBuilder::new(&engine)
        .wasm_binary(&wasm, None)
        .and_then(|b| b.compile_component_serialized())
        .map_err(|e| HostError::Compile(one_line(&format!("{e:#}"), 2000)))?;
    std::fs::write(cwasm_out, artefact).map_err(|e| HostError::io(cwasm_out, &e))
}

#[cfg(test)]
#[path = "compile_tests.rs"]
mod tests;
