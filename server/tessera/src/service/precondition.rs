//! Optimistic concurrency checked with the change (RFC 9110 §13.1.1, the
//! management API's `If-Match`): [`guarded`] runs a change in one
//! transaction that locks the resource's row (`tessera_store::row_lock`),
//! reads the resource's view, and refuses the change unless its entity tag
//! is the one the client sent. Two changes made against the same version
//! cannot both pass: the second waits for the first's lock, then reads
//! the new version and fails with `StoreError::Stale` (412).

use super::admin::AdminError;
use super::db::InTx;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use tessera_store::row_lock;
use tessera_store::{Store, StoreError};

/// Which row a guarded change locks: the web layer names it through here.
pub use tessera_store::row_lock::Row;

/// The strong entity tag of `view` (quoted, as the `ETag` header carries
/// it): the sha256 of its JSON, so any change to what a read shows changes
/// it.
pub fn etag_of<T: Serialize>(view: &T) -> Result<String, serde_json::Error> {
    let json = serde_json::to_vec(view)?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &json);
    Ok(format!("\"{}\"", URL_SAFE_NO_PAD.encode(digest.as_ref())))
}

/// Whether `if_match` (a list of tags, or `*`) names `current` by strong
/// comparison: a weak tag (`W/"..."`) never matches (RFC 9110 §13.1.1).
pub fn matches(if_match: &str, current: &str) -> bool {
    if_match.trim() == "*" || if_match.split(',').map(str::trim).any(|t| t == current)
}

/// The version an edit form of the console carries in a hidden field: the
/// entity tag of the view the form was filled from. Saved with
/// [`form_if_match`] through [`guarded`], a form opened before someone
/// else's change (another tab, administrator, node or the API) is refused
/// instead of silently undoing that change.
pub fn form_version<T: Serialize>(view: &T) -> String {
    // Without the quotes of the header form: nothing to escape in HTML.
    etag_of(view).map(|t| t.trim_matches('"').to_owned()).unwrap_or_default()
}

/// Why a console edit form posted without its version is refused.
pub const FORM_WITHOUT_VERSION: &str = "This form was sent without the version of the page it was filled from, so it could undo a change made since. Nothing was saved: reload the page, then make your edits again.";

/// The `if_match` of a form's version. A form posted without one (by a
/// script, not the console's page, which always sends it) is refused as
/// the management API refuses a change without `If-Match` (428): a
/// missing version must not mean "whatever the current one is".
pub fn form_if_match(version: &str) -> Result<String, AdminError> {
    match version.trim() {
        "" => Err(AdminError::Conflict(FORM_WITHOUT_VERSION.to_owned())),
        v => Ok(format!("\"{v}\"")),
    }
}

/// Runs `change` if the resource is still the version `if_match` names:
/// in one transaction that first locks `row`, then reads the resource as
/// `view` (what a read of it shows, whose [`etag_of`] the client sent),
/// and fails with `StoreError::Stale` unless `if_match` [`matches`] it.
/// `view` and `change` run inside that transaction ([`InTx`]); any error
/// of theirs rolls it all back and is returned as is.
pub fn guarded<T, V: Serialize, E: From<StoreError>>(
    store: &Store,
    row: Row<'_>,
    if_match: &str,
    view: impl FnOnce(&InTx<'_>) -> Result<V, E>,
    change: impl FnOnce(&InTx<'_>) -> Result<T, E>,
) -> Result<T, E> {
    let mut failed: Option<E> = None;
    let done = store.tx(|conn| {
        match row_lock::lock(conn, row) {
            // No row: `view` says "not found" in its own words.
            Ok(()) | Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let tx = InTx::new(conn);
        let run = || {
            let current = view(&tx)?;
            let tag = etag_of(&current).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            if !matches(if_match, &tag) {
                return Err(StoreError::Stale(format!("{row:?}")).into());
            }
            change(&tx)
        };
        // The transaction rolls back on any error; the caller's error is
        // kept to be returned as it was.
        run().map_err(|e| {
            failed = Some(e);
            StoreError::Backend("rolled back: the guarded change failed".into())
        })
    });
    match (done, failed) {
        (_, Some(e)) => Err(e),
        (Ok(v), None) => Ok(v),
        (Err(e), None) => Err(e.into()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_form_version_is_the_tag_without_quotes_and_a_missing_one_is_refused() {
        let view = json!({"name": "a"});
        let version = form_version(&view);
        assert!(!version.is_empty() && !version.contains('"'));
        assert!(matches(&form_if_match(&version).unwrap(), &etag_of(&view).unwrap()));
        assert!(!matches(&form_if_match(&version).unwrap(), &etag_of(&json!({"name": "b"})).unwrap()));
        for missing in ["", "  "] {
            assert!(matches!(form_if_match(missing), Err(AdminError::Conflict(m)) if m == FORM_WITHOUT_VERSION));
        }
    }

    #[test]
    fn tags_follow_the_content_and_are_quoted() {
        let a = etag_of(&json!({"name": "a"})).unwrap();
        assert!(a.starts_with('"') && a.ends_with('"'));
        assert_eq!(a, etag_of(&json!({"name": "a"})).unwrap());
        assert_ne!(a, etag_of(&json!({"name": "b"})).unwrap());
    }

    #[test]
    fn if_match_uses_strong_comparison() {
        assert!(matches("\"x\"", "\"x\""));
        assert!(matches("\"y\", \"x\"", "\"x\""));
        assert!(matches("*", "\"x\""));
        assert!(!matches("W/\"x\"", "\"x\""));
        assert!(!matches("\"y\"", "\"x\""));
    }
}
