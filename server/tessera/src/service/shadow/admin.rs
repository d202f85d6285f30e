//! Setting, promoting and discarding a binding's shadow candidate, each
//! audited in its own transaction, and the report of a candidate's
//! comparisons: the one set of functions the console, the CLI and the
//! management API call.

use super::diff::Difference;
use crate::service::admin::{AdminError, audit};
use crate::service::db::Db;
use serde_json::json;
use tessera_store::plugins::{self, Binding, DIFF_WINDOW, RESULT_WINDOW, ShadowCandidate, ShadowShare};
use tessera_store::{DbConn, Store, StoreError};

/// Sensitive claim names a candidate may list at most.
pub const MAX_SENSITIVE_CLAIMS: usize = 64;

fn invalid(field: &'static str, message: impl Into<String>) -> AdminError {
    AdminError::Invalid { field, message: message.into() }
}

/// A candidate to set on a binding.
#[derive(Debug, Clone, Default)]
pub struct ShadowSettings {
    /// The candidate's version number, of the binding's plugin.
    pub version: i32,
    /// The share of requests it runs on; default every request.
    pub share: Option<f64>,
    /// Claims whose values are shown only hashed.
    pub sensitive_claims: Vec<String>,
}

fn sensitive_list(names: &[String]) -> Result<Vec<String>, AdminError> {
    let mut out: Vec<String> = Vec::new();
    for n in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if n.len() > 100 || n.chars().any(char::is_control) {
            return Err(invalid("sensitive-claims", format!("{n:?} is not a claim name")));
        }
        if !out.iter().any(|o| o == n) {
            out.push(n.to_owned());
        }
    }
    if out.len() > MAX_SENSITIVE_CLAIMS {
        return Err(invalid("sensitive-claims", format!("at most {MAX_SENSITIVE_CLAIMS} names")));
    }
    Ok(out)
}

fn load(conn: &mut DbConn, id: &str) -> Result<Binding, StoreError> {
    plugins::binding(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("binding {id}")))
}

/// Sets (or replaces) the candidate of binding `id`; the comparisons of an
/// earlier candidate are dropped.
pub fn set(store: &impl Db, actor: &str, now: i64, id: &str, settings: &ShadowSettings) -> Result<Binding, AdminError> {
    let share = ShadowShare::new(settings.share.unwrap_or(1.0)).map_err(|e| invalid("share", e.to_string()))?;
    let sensitive = sensitive_list(&settings.sensitive_claims)?;
    Ok(store.tx(|conn| {
        let mut b = load(conn, id)?;
        let v = plugins::version_by_number(conn, &b.plugin_id, Some(settings.version))?
            .ok_or_else(|| StoreError::NotFound(format!("version {} of the binding's plugin", settings.version)))?;
        b.shadow =
            Some(ShadowCandidate { version_id: v.id.clone(), share, sensitive_claims: sensitive.clone(), since: now });
        b.updated_at = now;
        plugins::update_binding(conn, &b)?;
        plugins::start_totals(conn, &b.id, &v.id)?;
        audit(
            conn,
            actor,
            now,
            "binding.shadow.set",
            id,
            json!({"version": v.version, "share": share, "sensitive_claims": sensitive}),
        )?;
        Ok(b)
    })?)
}

fn end(store: &impl Db, actor: &str, now: i64, id: &str, promote: bool) -> Result<Binding, AdminError> {
    Ok(store.tx(|conn| {
        let mut b = load(conn, id)?;
        let Some(c) = b.shadow.take() else {
            return Err(StoreError::NotFound(format!("shadow candidate of binding {id}")));
        };
        let number = plugins::version(conn, &c.version_id)?.map_or(0, |v| v.version);
        let action = if promote {
            b.plugin_version_id = c.version_id;
            "binding.shadow.promote"
        } else {
            "binding.shadow.discard"
        };
        b.updated_at = now;
        plugins::update_binding(conn, &b)?;
        plugins::clear_results(conn, id)?;
        audit(conn, actor, now, action, id, json!({"version": number}))?;
        Ok(b)
    })?)
}

/// Makes the candidate the live version of binding `id` and clears the
/// shadow; `NotFound` if it has no candidate.
pub fn promote(store: &Store, actor: &str, now: i64, id: &str) -> Result<Binding, AdminError> {
    end(store, actor, now, id, true)
}

/// Clears the candidate of binding `id`, keeping the live version;
/// `NotFound` if it has no candidate.
pub fn discard(store: &impl Db, actor: &str, now: i64, id: &str) -> Result<Binding, AdminError> {
    end(store, actor, now, id, false)
}

/// A binding's candidate as binding lists show it (the comparison figures
/// are in [`ShadowReport`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ShadowSummary {
    /// The candidate's version number.
    pub version: i32,
    /// The share of requests it runs on.
    #[schema(value_type = f64)]
    pub share: ShadowShare,
    /// Claims whose values comparisons show hashed.
    pub sensitive_claims: Vec<String>,
    /// When it was set (Unix seconds).
    pub since: i64,
}

impl ShadowSummary {
    /// The summary of `c`, whose version has number `version`.
    pub fn of(c: &ShadowCandidate, version: i32) -> ShadowSummary {
        ShadowSummary { version, share: c.share, sensitive_claims: c.sensitive_claims.clone(), since: c.since }
    }
}

/// One recent difference, as the console, CLI and API show it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ShadowDifference {
    /// Unix seconds.
    pub at: i64,
    /// The live version's outcome (`ok`, `denied`, or a failure code).
    pub live_outcome: String,
    /// The candidate's outcome.
    pub shadow_outcome: String,
    /// The live call's duration, microseconds.
    pub live_us: i64,
    /// The candidate call's duration, microseconds.
    pub shadow_us: i64,
    /// What differed.
    pub differences: Vec<Difference>,
}

/// A candidate and how it compares with the live version.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ShadowReport {
    /// The candidate's version number.
    pub version: i32,
    /// The live version's number.
    pub live_version: i32,
    /// The share of requests it runs on.
    #[schema(value_type = f64)]
    pub share: ShadowShare,
    /// Claims shown hashed.
    pub sensitive_claims: Vec<String>,
    /// When it was set (Unix seconds).
    pub since: i64,
    /// Requests compared.
    pub compared: i64,
    /// Comparisons that differed.
    pub differed: i64,
    /// Comparisons where the live version failed.
    pub live_errors: i64,
    /// Comparisons where the candidate failed.
    pub shadow_errors: i64,
    /// Sampled requests not compared: the shadow queue or slots were full.
    pub skipped: i64,
    /// How many recent comparisons the percentiles are over.
    pub window: usize,
    /// Median live call, microseconds.
    pub live_p50_us: Option<i64>,
    /// 99th percentile live call, microseconds.
    pub live_p99_us: Option<i64>,
    /// Median candidate call, microseconds.
    pub shadow_p50_us: Option<i64>,
    /// 99th percentile candidate call, microseconds.
    pub shadow_p99_us: Option<i64>,
    /// The latest differences, newest first.
    pub recent: Vec<ShadowDifference>,
}

/// The `p`th percentile (0 to 100, nearest rank) of `values`.
pub fn percentile(values: &mut [i64], p: usize) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = (p * values.len()).div_ceil(100).clamp(1, values.len());
    values.get(rank - 1).copied()
}

/// The report of binding `id`'s candidate: `Ok(None)` if it has none,
/// `NotFound` if there is no such binding.
pub fn report(store: &Store, id: &str) -> Result<Option<ShadowReport>, StoreError> {
    let mut conn = store.conn()?;
    let conn = &mut *conn;
    let b = load(conn, id)?;
    let Some(c) = b.shadow else { return Ok(None) };
    let number = |conn: &mut DbConn, v: &str| -> Result<i32, StoreError> {
        Ok(plugins::version(conn, v)?.map_or(0, |v| v.version))
    };
    let totals = plugins::totals(conn, id)?.filter(|t| t.version_id == c.version_id).unwrap_or_default();
    let window = plugins::results(conn, id, false, RESULT_WINDOW)?;
    let (mut live, mut shadow): (Vec<i64>, Vec<i64>) = window.iter().map(|r| (r.live_us, r.shadow_us)).unzip();
    let recent = plugins::results(conn, id, true, DIFF_WINDOW)?
        .into_iter()
        .map(|r| ShadowDifference {
            differences: serde_json::from_str(&r.diff).unwrap_or_default(),
            at: r.at,
            live_outcome: r.live_outcome,
            shadow_outcome: r.shadow_outcome,
            live_us: r.live_us,
            shadow_us: r.shadow_us,
        })
        .collect();
    Ok(Some(ShadowReport {
        version: number(conn, &c.version_id)?,
        live_version: number(conn, &b.plugin_version_id)?,
        share: c.share,
        sensitive_claims: c.sensitive_claims,
        since: c.since,
        compared: totals.compared,
        differed: totals.differed,
        live_errors: totals.live_errors,
        shadow_errors: totals.shadow_errors,
        skipped: totals.skipped,
        window: window.len(),
        live_p50_us: percentile(&mut live, 50),
        live_p99_us: percentile(&mut live, 99),
        shadow_p50_us: percentile(&mut shadow, 50),
        shadow_p99_us: percentile(&mut shadow, 99),
        recent,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<i64> = (1..=100).rev().collect();
        assert_eq!(percentile(&mut v, 50), Some(50));
        assert_eq!(percentile(&mut v, 99), Some(99));
        assert_eq!(percentile(&mut [7], 99), Some(7));
        assert_eq!(percentile(&mut [], 50), None);
    }

    #[test]
    fn sensitive_claim_names_are_trimmed_deduplicated_and_bounded() {
        let l = sensitive_list(&[" email ".into(), "email".into(), String::new(), "sub2".into()]).unwrap();
        assert_eq!(l, vec!["email".to_owned(), "sub2".to_owned()]);
        assert!(sensitive_list(&["a\nb".into()]).is_err());
        let many: Vec<String> = (0..=MAX_SENSITIVE_CLAIMS).map(|i| format!("c{i}")).collect();
        assert!(sensitive_list(&many).is_err());
    }
}
