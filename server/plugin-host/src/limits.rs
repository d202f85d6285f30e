//! Per-call resource accounting: the [`MemoryLimiter`] wasmtime consults
//! before growing a memory or table, and the bounded [`LogBuffer`] behind the
//! `host.log` import. Both live in one call's store and die with it.

use serde::{Deserialize, Serialize};
use wasmtime::ResourceLimiter;

use crate::error::truncate_utf8;

/// Core and component instances one store may create. Python and JS
/// components instantiate a dozen or so core modules; 100 leaves headroom
/// without letting a component fan out.
pub(crate) const MAX_INSTANCES: usize = 100;
/// Tables one store may create.
pub(crate) const MAX_TABLES: usize = 100;
/// Linear memories one store may create.
pub(crate) const MAX_MEMORIES: usize = 16;
/// Elements one table may hold (CPython's function table is ~20k).
pub(crate) const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Caps the *total* linear memory of all memories in one store and records
/// whether the cap was hit, so a trap or `err` that follows a refused
/// `memory.grow` is reported as [`crate::PluginFailure::Memory`] rather than a
/// plain trap.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    limit: usize,
    total: usize,
    last_grant: usize,
    peak: usize,
    hit: bool,
}

impl MemoryLimiter {
    pub(crate) fn new(limit: usize) -> Self {
        Self { limit, total: 0, last_grant: 0, peak: 0, hit: false }
    }

    /// True once a memory or table growth was refused in this store.
    pub(crate) fn hit(&self) -> bool {
        self.hit
    }

    /// Highest total linear memory seen in this store, in bytes.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn peak(&self) -> usize {
        self.peak
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let grant = desired.saturating_sub(current);
        let new_total = self.total.saturating_add(grant);
        if new_total > self.limit {
            self.hit = true;
            // Ok(false) makes `memory.grow` return -1 inside the guest (or
            // instantiation fail), never a host error.
            return Ok(false);
        }
        self.total = new_total;
        self.last_grant = grant;
        self.peak = self.peak.max(new_total);
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        // We allowed it but the pool's per-memory maximum or the OS refused.
        self.total = self.total.saturating_sub(self.last_grant);
        self.hit = true;
        Ok(())
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.hit = true;
        Ok(())
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// Severity of a plugin log line, mirroring the WIT `host.level` enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Detail for plugin authors.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected the plugin handled.
    Warn,
    /// Something the plugin could not handle.
    Error,
}

impl LogLevel {
    /// The lowercase name stored in run records and shown in the console.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// One line a plugin logged during a call, already truncated to the limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Severity chosen by the plugin.
    pub level: LogLevel,
    /// The text, at most `max_log_line_bytes` bytes.
    pub message: String,
}

impl std::fmt::Display for LogLine {
    /// `level message`, as the console shows a line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.level.as_str(), self.message)
    }
}

/// The per-call log buffer: keeps the first `max_lines` lines, each cut to
/// `max_line_bytes`, and counts the rest so a flooding plugin costs a counter
/// increment per call and never an error.
#[derive(Debug)]
pub(crate) struct LogBuffer {
    lines: Vec<LogLine>,
    dropped: usize,
    max_lines: usize,
    max_line_bytes: usize,
}

impl LogBuffer {
    pub(crate) fn new(max_lines: usize, max_line_bytes: usize) -> Self {
        Self { lines: Vec::new(), dropped: 0, max_lines, max_line_bytes }
    }

    pub(crate) fn push(&mut self, level: LogLevel, mut message: String) {
        if self.lines.len() >= self.max_lines {
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        truncate_utf8(&mut message, self.max_line_bytes);
        self.lines.push(LogLine { level, message });
    }

    /// Hands over the lines so far and leaves the buffer empty, for a store
    /// that is dropped later, elsewhere.
    pub(crate) fn take(&mut self) -> Vec<LogLine> {
        let rest = Self::new(self.max_lines, self.max_line_bytes);
        std::mem::replace(self, rest).finish()
    }

    /// The kept lines, plus one marker line when some were dropped.
    pub(crate) fn finish(mut self) -> Vec<LogLine> {
        if self.dropped > 0 {
            self.lines.push(LogLine {
                level: LogLevel::Warn,
                message: format!("… {} {} dropped", self.dropped, if self.dropped == 1 { "line" } else { "lines" }),
            });
        }
        self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/security-checklist.md W-6: one cap on the total memory of a store.
    #[test]
    fn limiter_caps_the_total_across_memories_and_records_the_hit() {
        let mut l = MemoryLimiter::new(100);
        assert!(l.memory_growing(0, 60, None).unwrap());
        assert!(l.memory_growing(0, 40, None).unwrap()); // a second memory
        assert!(!l.hit());
        assert!(!l.memory_growing(40, 41, None).unwrap());
        assert!(l.hit());
        assert_eq!(l.peak(), 100);
    }

    #[test]
    fn failed_grow_is_not_counted() {
        let mut l = MemoryLimiter::new(100);
        assert!(l.memory_growing(0, 80, None).unwrap());
        l.memory_grow_failed(wasmtime::format_err!("os said no")).unwrap();
        assert!(l.memory_growing(0, 90, None).unwrap());
    }

    /// docs/security-checklist.md W-6 (c): `table.grow` past the element cap is refused.
    #[test]
    fn huge_tables_are_refused() {
        let mut l = MemoryLimiter::new(100);
        assert!(l.table_growing(0, 10, None).unwrap());
        assert!(!l.table_growing(0, MAX_TABLE_ELEMENTS + 1, None).unwrap());
        assert!(l.hit());
    }

    #[test]
    fn log_buffer_without_overflow_adds_no_marker() {
        let mut b = LogBuffer::new(2, 10);
        b.push(LogLevel::Info, "one".into());
        let lines = b.finish();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].message, "one");
    }
}
