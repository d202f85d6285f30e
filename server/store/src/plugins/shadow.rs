//! Shadow runs (issue #17 item 2): a binding's candidate version, stored in
//! the binding's own row (so the snapshot and its change counter carry it),
//! and the comparisons of candidate against live, in two tables written in
//! batches by each node's shadow worker:
//!
//! - `shadow_totals`: one row of running counts per binding with a
//!   candidate. It is created when the candidate is set and deleted when the
//!   candidate is promoted, discarded or replaced; a batch only adds to the
//!   row of the same candidate, so results of a candidate no longer set are
//!   dropped instead of counted against the next one.
//! - `shadow_results`: the latest comparisons per binding, bounded: the
//!   newest [`RESULT_WINDOW`] for the percentiles, and among older ones only
//!   the newest [`DIFF_WINDOW`] differences.

use crate::json::{from_text, to_text};
use crate::schema::{shadow_results, shadow_totals};
use crate::{DbConn, StoreError};
use diesel::prelude::*;
use std::fmt;

/// How many of a binding's newest comparisons are kept (for p50/p99).
pub const RESULT_WINDOW: i64 = 500;
/// How many of a binding's newest differences are kept, even when older
/// than the window.
pub const DIFF_WINDOW: i64 = 50;

/// The share of token requests a candidate runs on: more than 0, at most 1.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, serde::Serialize)]
#[serde(transparent)]
pub struct ShadowShare(f64);

/// A share outside (0, 1].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("share must be more than 0 and at most 1, not {0}")]
pub struct InvalidShare(pub f64);

impl ShadowShare {
    /// Every request.
    pub const ALL: ShadowShare = ShadowShare(1.0);

    /// `share` if it is in (0, 1] (NaN is refused).
    pub fn new(share: f64) -> Result<ShadowShare, InvalidShare> {
        if share > 0.0 && share <= 1.0 { Ok(ShadowShare(share)) } else { Err(InvalidShare(share)) }
    }

    /// The share as a fraction.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl Default for ShadowShare {
    fn default() -> Self {
        ShadowShare::ALL
    }
}

impl fmt::Display for ShadowShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A candidate version running in shadow beside a binding's live version.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowCandidate {
    /// The candidate plugin version (of the binding's plugin).
    pub version_id: String,
    /// The share of requests it runs on.
    pub share: ShadowShare,
    /// Claims whose values the comparison shows only as a hash prefix.
    pub sensitive_claims: Vec<String>,
    /// When it was set (Unix seconds).
    pub since: i64,
}

impl ShadowCandidate {
    /// The candidate from the binding row's four columns: all set, or none.
    /// A partly set or out-of-range candidate is `Corrupt`.
    pub(crate) fn from_columns(
        version_id: Option<String>,
        share: Option<f64>,
        sensitive: Option<&str>,
        since: Option<i64>,
    ) -> Result<Option<ShadowCandidate>, StoreError> {
        match (version_id, share, sensitive, since) {
            (None, None, None, None) => Ok(None),
            (Some(version_id), Some(share), Some(sensitive), Some(since)) => Ok(Some(ShadowCandidate {
                version_id,
                share: ShadowShare::new(share)
                    .map_err(|e| StoreError::Corrupt(format!("bindings.shadow_share: {e}")))?,
                sensitive_claims: from_text("bindings.shadow_sensitive_claims", sensitive)?,
                since,
            })),
            _ => Err(StoreError::Corrupt("bindings.shadow_*: partly set".into())),
        }
    }
}

/// The running counts of one binding's candidate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = shadow_totals)]
pub struct ShadowTotals {
    /// The binding.
    pub binding_id: String,
    /// The candidate these counts are of.
    pub version_id: String,
    /// Requests on which both versions ran and were compared.
    pub compared: i64,
    /// Comparisons whose verdicts or claims differed.
    pub differed: i64,
    /// Comparisons where the live version failed.
    pub live_errors: i64,
    /// Comparisons where the candidate failed (trap, deadline, bad output...).
    pub shadow_errors: i64,
    /// Sampled requests whose shadow run was skipped (queue or shadow slots
    /// full), so the candidate never competes with live calls.
    pub skipped: i64,
}

/// One comparison of candidate against live.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = shadow_results)]
pub struct ShadowResult {
    /// Id (UUID v7, so ordered by time).
    pub id: String,
    /// The binding.
    pub binding_id: String,
    /// The candidate version.
    pub version_id: String,
    /// Unix seconds.
    pub at: i64,
    /// The live call's duration, microseconds.
    pub live_us: i64,
    /// The candidate call's duration, microseconds.
    pub shadow_us: i64,
    /// `ok`, `denied`, or the live call's failure code.
    pub live_outcome: String,
    /// `ok`, `denied`, or the candidate's failure code.
    pub shadow_outcome: String,
    /// Whether the verdicts or claims differed.
    pub differed: bool,
    /// The differences as a JSON array (sensitive values already hashed).
    pub diff: String,
}

/// Counts to add to one binding's totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TotalsDelta {
    /// Compared.
    pub compared: i64,
    /// Differed.
    pub differed: i64,
    /// Live errors.
    pub live_errors: i64,
    /// Shadow errors.
    pub shadow_errors: i64,
    /// Skipped.
    pub skipped: i64,
}

/// Starts the totals of a newly set candidate, replacing any earlier
/// totals and results of the binding. Call it in the transaction that sets
/// the candidate.
pub fn start_totals(conn: &mut DbConn, binding_id: &str, version_id: &str) -> Result<(), StoreError> {
    clear_results(conn, binding_id)?;
    let row =
        ShadowTotals { binding_id: binding_id.to_owned(), version_id: version_id.to_owned(), ..Default::default() };
    diesel::insert_into(shadow_totals::table).values(&row).execute(conn)?;
    Ok(())
}

/// Deletes a binding's totals and results (its candidate was promoted,
/// discarded or replaced).
pub fn clear_results(conn: &mut DbConn, binding_id: &str) -> Result<(), StoreError> {
    diesel::delete(shadow_totals::table.find(binding_id)).execute(conn)?;
    diesel::delete(shadow_results::table.filter(shadow_results::binding_id.eq(binding_id))).execute(conn)?;
    Ok(())
}

/// Adds a batch to the totals of `(binding_id, version_id)` and stores its
/// results, then trims the binding's results to the windows. Returns false
/// and writes nothing when that candidate is no longer set (no totals row
/// of that version): its results would be counted against the wrong one.
pub fn record_batch(
    conn: &mut DbConn,
    binding_id: &str,
    version_id: &str,
    delta: &TotalsDelta,
    results: &[ShadowResult],
) -> Result<bool, StoreError> {
    use shadow_totals::dsl as t;
    let n = diesel::update(t::shadow_totals.filter(t::binding_id.eq(binding_id)).filter(t::version_id.eq(version_id)))
        .set((
            t::compared.eq(t::compared + delta.compared),
            t::differed.eq(t::differed + delta.differed),
            t::live_errors.eq(t::live_errors + delta.live_errors),
            t::shadow_errors.eq(t::shadow_errors + delta.shadow_errors),
            t::skipped.eq(t::skipped + delta.skipped),
        ))
        .execute(conn)?;
    if n == 0 {
        return Ok(false);
    }
    // One statement per row: batch inserts are not portable across MultiConnection backends.
    for r in results {
        diesel::insert_into(shadow_results::table).values(r).execute(conn)?;
    }
    trim(conn, binding_id)?;
    Ok(true)
}

fn trim(conn: &mut DbConn, binding_id: &str) -> Result<(), StoreError> {
    use shadow_results::dsl as r;
    let of_binding = || r::shadow_results.filter(r::binding_id.eq(binding_id));
    // The oldest row of the window; none: every row is in the window.
    let window_start: Option<String> =
        of_binding().order(r::id.desc()).offset(RESULT_WINDOW - 1).select(r::id).first(conn).optional()?;
    let Some(w) = window_start else { return Ok(()) };
    diesel::delete(of_binding().filter(r::id.lt(&w)).filter(r::differed.eq(false))).execute(conn)?;
    // Differences before the window, beyond the newest DIFF_WINDOW ones.
    let diff_cutoff: Option<String> = of_binding()
        .filter(r::differed.eq(true))
        .order(r::id.desc())
        .offset(DIFF_WINDOW)
        .select(r::id)
        .first(conn)
        .optional()?;
    if let Some(c) = diff_cutoff {
        diesel::delete(of_binding().filter(r::id.le(c)).filter(r::id.lt(&w)).filter(r::differed.eq(true)))
            .execute(conn)?;
    }
    Ok(())
}

/// A binding's totals, if it has a candidate.
pub fn totals(conn: &mut DbConn, binding_id: &str) -> Result<Option<ShadowTotals>, StoreError> {
    Ok(shadow_totals::table.find(binding_id).select(ShadowTotals::as_select()).first(conn).optional()?)
}

/// A binding's stored comparisons, newest first, at most `limit`,
/// optionally only the differences.
pub fn results(
    conn: &mut DbConn,
    binding_id: &str,
    differed_only: bool,
    limit: i64,
) -> Result<Vec<ShadowResult>, StoreError> {
    let mut q = shadow_results::table.filter(shadow_results::binding_id.eq(binding_id)).into_boxed();
    if differed_only {
        q = q.filter(shadow_results::differed.eq(true));
    }
    Ok(q.order(shadow_results::id.desc()).limit(limit).select(ShadowResult::as_select()).load(conn)?)
}

/// The JSON text of a diff list, for [`ShadowResult::diff`].
pub fn diff_text<T: serde::Serialize>(diff: &T) -> Result<String, StoreError> {
    to_text(diff)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_share_is_more_than_zero_and_at_most_one() {
        assert!(ShadowShare::new(0.0).is_err());
        assert!(ShadowShare::new(-0.5).is_err());
        assert!(ShadowShare::new(1.01).is_err());
        assert!(ShadowShare::new(f64::NAN).is_err());
        assert_eq!(ShadowShare::new(1.0).unwrap(), ShadowShare::ALL);
        assert_eq!(ShadowShare::new(0.5).unwrap().get(), 0.5);
    }

    #[test]
    fn a_candidate_is_all_four_columns_or_none() {
        assert_eq!(ShadowCandidate::from_columns(None, None, None, None).unwrap(), None);
        let c = ShadowCandidate::from_columns(Some("v2".into()), Some(0.5), Some("[\"email\"]"), Some(7)).unwrap();
        assert_eq!(c.unwrap().sensitive_claims, vec!["email".to_owned()]);
        assert!(matches!(
            ShadowCandidate::from_columns(Some("v2".into()), None, None, None),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            ShadowCandidate::from_columns(Some("v2".into()), Some(2.0), Some("[]"), Some(7)),
            Err(StoreError::Corrupt(_))
        ));
    }
}
