//! This node's copy of the revoked access tokens (issue #15 item 1), checked
//! from memory by every endpoint that accepts our access tokens
//! (`access_token::own_access_token`).
//!
//! The rows live in `tessera_store::revocations`, shared by every node. The
//! copy is brought up to date before a check when it is older than
//! [`REFRESH`]: it reads only the rows it has not seen (a larger id) and the
//! rows written in the last [`OVERLAP_SECS`] (a row with a smaller id can
//! commit late on PostgreSQL; see that module), so a revocation made on any
//! node, or by the CLI, is honoured everywhere within a second. A revocation
//! made through this node calls [`RevokedTokens::changed`], so the next check
//! here reads it at once. Entries past their `expires_at` are dropped, as
//! the tokens they cover have expired anyway.

use crate::clock::SharedClock;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};
use tessera_store::revocations::{self, Revocation, RevocationKind};
use tessera_store::{Store, StoreError};

/// The copy is refreshed before a check when it is older than this.
pub const REFRESH: Duration = Duration::from_millis(500);

/// Rows written this recently are read again at every refresh, whatever
/// their id: longer than any transaction that writes one, plus the clock
/// difference between nodes we tolerate.
pub const OVERLAP_SECS: i64 = 60;

/// The revocations known on this node.
#[derive(Debug, Default)]
struct Known {
    /// Revoked `jti`s and when each token expires.
    tokens: HashMap<String, i64>,
    /// Client and user cut-offs: tokens with an `iat` before the first
    /// number are revoked; the second is when the entry ends.
    cut_offs: HashMap<(RevocationKind, String), (i64, i64)>,
}

impl Known {
    fn learn(&mut self, r: Revocation) {
        match r.kind {
            RevocationKind::Token => {
                self.tokens.insert(r.subject, r.expires_at);
            }
            RevocationKind::Client | RevocationKind::User => {
                let e = self.cut_offs.entry((r.kind, r.subject)).or_insert((r.issued_before, r.expires_at));
                *e = (e.0.max(r.issued_before), e.1.max(r.expires_at));
            }
        }
    }

    fn forget_expired(&mut self, now: i64) {
        self.tokens.retain(|_, exp| *exp > now);
        self.cut_offs.retain(|_, (_, exp)| *exp > now);
    }

    fn cut_off(&self, kind: RevocationKind, subject: Option<&str>) -> Option<i64> {
        subject.and_then(|s| self.cut_offs.get(&(kind, s.to_owned()))).map(|(before, _)| *before)
    }

    /// Whether an access token with these claims is revoked. A token
    /// without `iat` counts as issued before any cut-off.
    fn covers(&self, claims: &Map<String, Value>) -> bool {
        let str_claim = |name: &str| claims.get(name).and_then(Value::as_str);
        if str_claim("jti").is_some_and(|j| self.tokens.contains_key(j)) {
            return true;
        }
        let iat = claims.get("iat").and_then(Value::as_i64).unwrap_or(i64::MIN);
        [(RevocationKind::Client, "client_id"), (RevocationKind::User, "sub")]
            .into_iter()
            .any(|(kind, claim)| self.cut_off(kind, str_claim(claim)).is_some_and(|before| iat < before))
    }
}

/// Where the last refresh got to.
#[derive(Debug, Default)]
struct Poll {
    /// The largest id read so far.
    last_id: i64,
    /// When the copy was last refreshed; `None` forces a refresh.
    at: Option<Instant>,
}

/// The revoked access tokens, as this node knows them.
pub struct RevokedTokens {
    store: Store,
    clock: SharedClock,
    known: RwLock<Known>,
    poll: Mutex<Poll>,
}

impl RevokedTokens {
    /// An empty copy over `store`; the first check reads every live row.
    pub fn new(store: Store, clock: SharedClock) -> RevokedTokens {
        RevokedTokens { store, clock, known: RwLock::new(Known::default()), poll: Mutex::new(Poll::default()) }
    }

    /// Whether the access token with these (verified) claims is revoked.
    /// Only a storage failure while refreshing the copy is an error: a
    /// revocation must not be skipped because the database was away.
    pub fn is_revoked(&self, claims: &Map<String, Value>) -> Result<bool, StoreError> {
        self.refresh_if_stale()?;
        let known = self.known.read().map_err(|_| poisoned())?;
        Ok(known.covers(claims))
    }

    /// [`Self::is_revoked`] for a caller that must not block (an HTTP
    /// worker): `None` when the copy is due for a refresh, or one is under
    /// way; only [`Self::is_revoked`] refreshes it.
    pub fn is_revoked_from_memory(&self, claims: &Map<String, Value>) -> Option<bool> {
        let fresh = self.poll.try_lock().ok()?.at.is_some_and(|at| at.elapsed() < REFRESH);
        if !fresh {
            return None;
        }
        Some(self.known.try_read().ok()?.covers(claims))
    }

    /// Tells the copy that this node just wrote a revocation, so the next
    /// check reads it instead of waiting for [`REFRESH`].
    pub fn changed(&self) {
        if let Ok(mut poll) = self.poll.lock() {
            poll.at = None;
        }
    }

    fn refresh_if_stale(&self) -> Result<(), StoreError> {
        // One refresh at a time; checks on other threads wait for it rather
        // than answer from a copy that may miss a revocation.
        let mut poll = self.poll.lock().map_err(|_| poisoned())?;
        if poll.at.is_some_and(|at| at.elapsed() < REFRESH) {
            return Ok(());
        }
        let now = self.clock.now();
        let rows = revocations::since(&mut *self.store.conn()?, poll.last_id, now - OVERLAP_SECS, now)?;
        let mut known = self.known.write().map_err(|_| poisoned())?;
        for r in rows {
            poll.last_id = poll.last_id.max(r.id);
            known.learn(r);
        }
        known.forget_expired(now);
        poll.at = Some(Instant::now());
        Ok(())
    }
}

fn poisoned() -> StoreError {
    StoreError::Backend("the revoked-token cache is poisoned".into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn row(id: i64, kind: RevocationKind, subject: &str, issued_before: i64, expires_at: i64) -> Revocation {
        Revocation { id, kind, subject: subject.into(), issued_before, expires_at }
    }

    #[test]
    fn a_revoked_jti_covers_that_token_only() {
        let mut k = Known::default();
        k.learn(row(1, RevocationKind::Token, "j1", 200, 200));
        assert!(k.covers(&claims(json!({"jti": "j1", "iat": 100, "sub": "u", "client_id": "c"}))));
        assert!(!k.covers(&claims(json!({"jti": "j2", "iat": 100, "sub": "u", "client_id": "c"}))));
    }

    #[test]
    fn a_cut_off_covers_tokens_issued_before_it_and_not_after() {
        let mut k = Known::default();
        k.learn(row(1, RevocationKind::Client, "c", 101, 1000));
        k.learn(row(2, RevocationKind::User, "u", 51, 1000));
        let t = |iat: i64, sub: &str, client: &str| {
            claims(json!({"jti": "x", "iat": iat, "sub": sub, "client_id": client}))
        };
        assert!(k.covers(&t(100, "other", "c")), "issued at the cut-off second");
        assert!(!k.covers(&t(101, "other", "c")), "issued after the client was re-enabled");
        assert!(k.covers(&t(50, "u", "other")));
        assert!(!k.covers(&t(51, "u", "other")));
        assert!(k.covers(&claims(json!({"jti": "x", "sub": "u"}))), "no iat counts as before any cut-off");
        assert!(!k.covers(&t(10, "a client id is no user id", "u")), "kinds do not mix");
    }

    #[test]
    fn the_latest_cut_off_wins_and_expired_entries_are_forgotten() {
        let mut k = Known::default();
        k.learn(row(1, RevocationKind::User, "u", 300, 1000));
        k.learn(row(2, RevocationKind::User, "u", 100, 900));
        k.learn(row(3, RevocationKind::Token, "j", 500, 500));
        assert_eq!(k.cut_off(RevocationKind::User, Some("u")), Some(300));
        k.forget_expired(500);
        assert!(k.tokens.is_empty());
        assert_eq!(k.cut_offs.len(), 1);
        k.forget_expired(1000);
        assert!(k.cut_offs.is_empty());
    }
}
