//! The three error types of the plugin host, one per audience:
//! [`HostError`] for the operator starting the host, [`UploadError`] for the
//! admin uploading a plugin, [`PluginFailure`] for the binding's failure policy
//! when a call goes wrong. wasmtime errors stop here, rendered with `{e:#}`.

use std::path::PathBuf;

/// The host itself could not be set up, or the compile worker failed.
///
/// Start-up errors are fatal configuration problems; they carry enough text
/// for an operator to fix the config without reading the source.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A [`crate::HostConfig`] value is out of range.
    #[error("invalid plugin host configuration: {0}")]
    InvalidConfig(String),
    /// wasmtime refused the engine or linker configuration.
    #[error("could not create the WebAssembly engine: {0}")]
    Engine(String),
    /// A file or directory the host needs could not be used.
    #[error("plugin host I/O error on {path}: {message}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// The compile worker could not compile the component.
    #[error("compile failed: {0}")]
    Compile(String),
}

impl HostError {
    pub(crate) fn io(path: impl Into<PathBuf>, e: &std::io::Error) -> Self {
        Self::Io { path: path.into(), message: e.to_string() }
    }
}

/// Why an uploaded component was refused. Each message is one line an admin
/// can act on; the console and the management API show it verbatim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    /// The file is bigger than `max_upload_bytes`.
    #[error("plugin is {size} bytes, larger than the {limit}-byte upload limit")]
    TooLarge {
        /// Size of the upload.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The bytes are not a WebAssembly component (garbage, or a core module).
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    /// Cranelift rejected the component (invalid or unsupported wasm).
    #[error("plugin failed to compile: {0}")]
    CompileFailed(String),
    /// Compiling took longer than `compile_timeout_ms`.
    #[error("plugin compilation exceeded the {limit_ms} ms time limit")]
    CompileTimeout {
        /// The configured limit.
        limit_ms: u64,
    },
    /// Compiling needed more memory than `compile_memory_bytes`.
    #[error("plugin compilation exceeded the {limit} byte memory limit")]
    CompileOutOfMemory {
        /// The configured limit.
        limit: u64,
    },
    /// The component compiles but does not implement `tessera:plugin/token-plugin`.
    #[error("plugin does not implement {world}: {0}", world = crate::WORLD)]
    WrongWorld(String),
    /// The host could not read or write its compile cache (not the plugin's fault).
    #[error("plugin host error: {0}")]
    Internal(String),
}

/// Why a plugin call produced no verdict. One closed enum so the binding's
/// failure policy (deny the request or skip the plugin) is applied in one
/// place, and so run records carry a stable [`PluginFailure::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginFailure {
    /// The guest trapped (unreachable, out-of-bounds access, stack overflow, ...).
    #[error("plugin trapped: {0}")]
    Trap(String),
    /// The call ran past `deadline_ms` and was interrupted.
    #[error("plugin exceeded its time limit")]
    Deadline,
    /// The guest hit the memory cap, then trapped or returned an error.
    #[error("plugin exceeded its memory limit")]
    Memory,
    /// The output is not what the contract allows (claims not a JSON object,
    /// invalid scope token, ...).
    #[error("plugin returned invalid output: {0}")]
    InvalidOutput(String),
    /// The plugin tried to set a claim only Tessera may set.
    #[error("plugin tried to set reserved claim `{0}`")]
    ReservedClaim(String),
    /// The plugin set a claim its binding did not declare.
    #[error("plugin set undeclared claim `{0}`")]
    UndeclaredClaim(String),
    /// The output strings exceed `max_output_bytes`.
    #[error("plugin output is {size} bytes, over the {limit}-byte limit")]
    OversizedOutput {
        /// Total size of the returned strings.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The context exceeds `max_input_bytes`; the plugin was not run.
    #[error("plugin input is {size} bytes, over the {limit}-byte limit")]
    OversizedInput {
        /// Total size of the context strings.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The guest returned `err(text)`: it reports that it broke.
    #[error("plugin reported an error: {0}")]
    PluginError(String),
    /// The plugin could not be loaded, compiled or instantiated.
    #[error("plugin unavailable: {0}")]
    Unavailable(String),
    /// The plugin already had its share of the instance pool in flight
    /// (`max_pool_share_percent`); the call was refused at once, not queued.
    #[error("plugin busy: it already runs {limit} calls, its share of the instance pool")]
    Busy {
        /// The calls one plugin may have in flight ([`crate::HostConfig::pool_share`]).
        limit: usize,
    },
    /// The calls of heavy plugins that may run at once were all running,
    /// and none made room for this one before its deadline (`gate.rs`,
    /// [`crate::HostConfig::running_calls`]).
    #[error("plugin host saturated: {running} calls of heavy plugins were running and none ended before the deadline")]
    Saturated {
        /// The calls that may run at once.
        running: usize,
    },
}

impl PluginFailure {
    /// Whether the same call may well succeed a moment later: the host was
    /// at a bound of its own, and the plugin did nothing wrong. Callers
    /// answer these with a retryable error (503).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Busy { .. } | Self::Saturated { .. })
    }

    /// A stable machine-readable code for run records, metrics and audit
    /// events; never changes once released.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Trap(_) => "trap",
            Self::Deadline => "deadline",
            Self::Memory => "memory",
            Self::InvalidOutput(_) => "invalid_output",
            Self::ReservedClaim(_) => "reserved_claim",
            Self::UndeclaredClaim(_) => "undeclared_claim",
            Self::OversizedOutput { .. } => "oversized_output",
            Self::OversizedInput { .. } => "oversized_input",
            Self::PluginError(_) => "plugin_error",
            Self::Unavailable(_) => "unavailable",
            Self::Busy { .. } | Self::Saturated { .. } => "busy",
        }
    }
}

/// Cuts `s` to at most `max` bytes on a char boundary, ending it with `…`
/// when cut (the marker counts toward `max`), so guest-controlled text stored
/// in run records stays bounded.
pub(crate) fn truncate_utf8(s: &mut String, max: usize) {
    const MARK: char = '…';
    if s.len() <= max {
        return;
    }
    let room = max.checked_sub(MARK.len_utf8());
    let mut end = room.unwrap_or(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    if room.is_some() {
        s.push(MARK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_codes_are_distinct_snake_case() {
        let all = [
            PluginFailure::Trap(String::new()),
            PluginFailure::Deadline,
            PluginFailure::Memory,
            PluginFailure::InvalidOutput(String::new()),
            PluginFailure::ReservedClaim(String::new()),
            PluginFailure::UndeclaredClaim(String::new()),
            PluginFailure::OversizedOutput { size: 0, limit: 0 },
            PluginFailure::OversizedInput { size: 0, limit: 0 },
            PluginFailure::PluginError(String::new()),
            PluginFailure::Unavailable(String::new()),
            PluginFailure::Busy { limit: 0 },
        ];
        let mut codes: Vec<_> = all.iter().map(PluginFailure::code).collect();
        assert!(codes.iter().all(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_')));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn upload_errors_are_one_line() {
        let e = UploadError::WrongWorld("missing export `on-token`".into());
        let text = e.to_string();
        assert!(text.contains("tessera:plugin/token-plugin@0.1.0"), "{text}");
        assert!(!text.contains('\n'));
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        let mut s = "ééé".to_owned(); // 6 bytes
        truncate_utf8(&mut s, 5);
        assert_eq!(s, "é…");
        let mut tiny = "ééé".to_owned();
        truncate_utf8(&mut tiny, 1);
        assert_eq!(tiny, "");
        let mut short = "ok".to_owned();
        truncate_utf8(&mut short, 3);
        assert_eq!(short, "ok");
    }
}
