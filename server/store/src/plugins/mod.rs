//! Plugins, their numbered versions, bindings, and run records: one module
//! per table, re-exported here so callers name `plugins::…` only.
//!
//! A version is immutable once uploaded (its bytes, sha256 and declared
//! claims); rollback means pointing bindings at an older version. A change of
//! versions or bindings moves the change counter of `generation` (database
//! triggers), which every node polls to reload its in-memory copy.

mod bindings;
mod names;
mod runs;
mod shadow;
mod versions;

pub use bindings::{
    Binding, FailurePolicy, Trigger, binding, binding_count, bindings_for_trigger, delete_binding, insert_binding,
    max_position, update_binding,
};
pub use names::{Plugin, count, find, find_by_name, list, page};
pub use runs::{
    PluginRunRecord, RunFilter, find_run, insert_runs, prune_runs, recent_runs, record_runs, run_page, runs,
};
pub use shadow::{
    DIFF_WINDOW, InvalidShare, RESULT_WINDOW, ShadowCandidate, ShadowResult, ShadowShare, ShadowTotals, TotalsDelta,
    clear_results, diff_text, record_batch, results, start_totals, totals,
};
pub use versions::{
    NewVersion, VersionInfo, VersionSignature, add_version, delete_version, version, version_by_number, version_users,
    versions, wasm,
};
