//! What a shadow comparison computes, without I/O: which requests are
//! sampled ([`sampled`]), what each version decided ([`Decision`]), and how
//! the two differ ([`compare`]), per claim, with the values of claims the
//! operator marked sensitive shown only as a sha256 prefix.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tessera_plugin_host::{PluginFailure, PluginVerdict};

/// How many hex digits of a sensitive value's sha256 a diff shows: enough
/// to tell values apart in the list. It hides the value, not its guess: a
/// value from a small set (a role name) can be confirmed by hashing guesses.
pub const HASH_PREFIX_LEN: usize = 12;

/// Whether a request takes part in the shadow run of `binding_id` at
/// `share`: a deterministic function of the binding and a per-request key
/// (the token's `jti`), so a test can predict it and two bindings sample
/// independently. The first 8 bytes of sha256(binding id, 0, key), read as
/// a fraction of 2^64, are compared with the share.
pub fn sampled(binding_id: &str, request_key: &str, share: f64) -> bool {
    if share >= 1.0 {
        return true;
    }
    let mut input = Vec::with_capacity(binding_id.len() + request_key.len() + 1);
    input.extend_from_slice(binding_id.as_bytes());
    input.push(0);
    input.extend_from_slice(request_key.as_bytes());
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &input);
    let mut first = [0u8; 8];
    first.copy_from_slice(&d.as_ref()[..8]);
    // u64 -> f64 rounds; the fraction stays in [0, 1].
    #[allow(clippy::cast_precision_loss)]
    let fraction = u64::from_be_bytes(first) as f64 / 18_446_744_073_709_551_616.0;
    fraction < share
}

/// What one version decided, reduced to what the comparison looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// It allowed, with these claim changes and dropped scopes.
    Allow {
        /// Access-token claims it set.
        access: Map<String, Value>,
        /// ID-token claims it set.
        id: Map<String, Value>,
        /// Scopes it dropped.
        drop_scopes: Vec<String>,
    },
    /// It denied with this OAuth error code.
    Deny(String),
    /// It failed (trap, deadline, memory, bad output...): the failure code.
    Failed(String),
}

impl Decision {
    /// The decision of a run's outcome.
    pub fn of(outcome: &Result<PluginVerdict, PluginFailure>) -> Decision {
        match outcome {
            Ok(PluginVerdict::Allow(p)) => Decision::Allow {
                access: p.access_token_claims().clone(),
                id: p.id_token_claims().clone(),
                drop_scopes: p.drop_scopes().to_vec(),
            },
            Ok(PluginVerdict::Deny { code, .. }) => Decision::Deny(code.as_str().to_owned()),
            Err(f) => Decision::Failed(f.code().to_owned()),
        }
    }

    /// `ok`, `denied` or the failure code, as run records name outcomes.
    pub fn outcome(&self) -> &str {
        match self {
            Decision::Allow { .. } => "ok",
            Decision::Deny(_) => "denied",
            Decision::Failed(code) => code,
        }
    }

    /// True if the version failed.
    pub fn failed(&self) -> bool {
        matches!(self, Decision::Failed(_))
    }

    fn verdict(&self) -> String {
        match self {
            Decision::Allow { .. } => "allow".to_owned(),
            Decision::Deny(code) => format!("deny: {code}"),
            Decision::Failed(code) => format!("error: {code}"),
        }
    }
}

/// What differs in one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// The candidate sets what the live version does not.
    Added,
    /// The live version sets what the candidate does not.
    Removed,
    /// Both set it, to different values.
    Changed,
}

/// One difference between the live version and the candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Difference {
    /// `verdict`, `access_token`, `id_token` or `drop_scopes`.
    pub place: String,
    /// The claim's name (empty for the verdict and dropped scopes).
    pub claim: String,
    /// Added, removed or changed.
    pub change: Change,
    /// The live value (JSON text, or `sha256:` and a prefix if sensitive).
    pub live: Option<String>,
    /// The candidate's value, shown the same way.
    pub shadow: Option<String>,
}

fn shown(value: &Value, sensitive: bool) -> String {
    let text = value.to_string();
    if !sensitive {
        return text;
    }
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{}", &hex[..HASH_PREFIX_LEN])
}

fn claim_diffs(
    place: &str,
    live: &Map<String, Value>,
    shadow: &Map<String, Value>,
    sensitive: &[String],
) -> Vec<Difference> {
    let mut out = Vec::new();
    let is_sensitive = |k: &str| sensitive.iter().any(|s| s == k);
    for (k, lv) in live {
        let s = is_sensitive(k);
        match shadow.get(k) {
            None => out.push(Difference {
                place: place.to_owned(),
                claim: k.clone(),
                change: Change::Removed,
                live: Some(shown(lv, s)),
                shadow: None,
            }),
            Some(sv) if sv != lv => out.push(Difference {
                place: place.to_owned(),
                claim: k.clone(),
                change: Change::Changed,
                live: Some(shown(lv, s)),
                shadow: Some(shown(sv, s)),
            }),
            Some(_) => {}
        }
    }
    for (k, sv) in shadow.iter().filter(|(k, _)| !live.contains_key(*k)) {
        out.push(Difference {
            place: place.to_owned(),
            claim: k.clone(),
            change: Change::Added,
            live: None,
            shadow: Some(shown(sv, is_sensitive(k))),
        });
    }
    out
}

/// The differences between the live version's decision and the
/// candidate's: one `verdict` difference when they decided differently
/// (allow, deny with which code, failure with which code), else, when both
/// allowed, one per claim that differs and one if the dropped scopes
/// differ. Empty: they agreed.
pub fn compare(live: &Decision, shadow: &Decision, sensitive: &[String]) -> Vec<Difference> {
    match (live, shadow) {
        (
            Decision::Allow { access: la, id: li, drop_scopes: ld },
            Decision::Allow { access: sa, id: si, drop_scopes: sd },
        ) => {
            let mut out = claim_diffs("access_token", la, sa, sensitive);
            out.extend(claim_diffs("id_token", li, si, sensitive));
            let (mut ld, mut sd) = (ld.clone(), sd.clone());
            ld.sort();
            sd.sort();
            if ld != sd {
                out.push(Difference {
                    place: "drop_scopes".to_owned(),
                    claim: String::new(),
                    change: Change::Changed,
                    live: Some(ld.join(" ")),
                    shadow: Some(sd.join(" ")),
                });
            }
            out
        }
        (l, s) if l.verdict() == s.verdict() => Vec::new(),
        (l, s) => vec![Difference {
            place: "verdict".to_owned(),
            claim: String::new(),
            change: Change::Changed,
            live: Some(l.verdict()),
            shadow: Some(s.verdict()),
        }],
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn allow(access: Value) -> Decision {
        Decision::Allow { access: access.as_object().unwrap().clone(), id: Map::new(), drop_scopes: vec![] }
    }

    #[test]
    fn claims_added_removed_and_changed_are_each_one_difference() {
        let live = allow(json!({"tier": "gold", "region": "eu", "same": 1}));
        let shadow = allow(json!({"tier": "silver", "team": "ops", "same": 1}));
        let d = compare(&live, &shadow, &[]);
        assert_eq!(d.len(), 3, "{d:?}");
        let by = |c: &str| d.iter().find(|x| x.claim == c).unwrap().clone();
        assert_eq!(by("tier").change, Change::Changed);
        assert_eq!(by("tier").live.as_deref(), Some("\"gold\""));
        assert_eq!(by("tier").shadow.as_deref(), Some("\"silver\""));
        assert_eq!(by("region").change, Change::Removed);
        assert_eq!(by("team").change, Change::Added);
        assert_eq!(by("team").place, "access_token");
        assert!(compare(&live, &live, &[]).is_empty());
    }

    #[test]
    fn sensitive_claim_values_show_only_a_hash_prefix() {
        let live = allow(json!({"email": "a@example.com"}));
        let shadow = allow(json!({"email": "b@example.com"}));
        let d = compare(&live, &shadow, &["email".to_owned()]);
        let (l, s) = (d[0].live.clone().unwrap(), d[0].shadow.clone().unwrap());
        assert!(l.starts_with("sha256:") && l.len() == 7 + HASH_PREFIX_LEN, "{l}");
        assert_ne!(l, s, "different values keep different hashes");
        assert!(!l.contains("example") && !s.contains("example"));
        let again = compare(&live, &shadow, &["email".to_owned()]);
        assert_eq!(again[0].live.as_deref(), Some(l.as_str()), "the same value hashes the same");
    }

    #[test]
    fn a_different_verdict_is_one_verdict_difference() {
        let d = compare(&allow(json!({"a": 1})), &Decision::Deny("access_denied".into()), &[]);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].place, "verdict");
        assert_eq!(d[0].live.as_deref(), Some("allow"));
        assert_eq!(d[0].shadow.as_deref(), Some("deny: access_denied"));
        let e = compare(&allow(json!({})), &Decision::Failed("deadline".into()), &[]);
        assert_eq!(e[0].shadow.as_deref(), Some("error: deadline"));
        assert!(compare(&Decision::Failed("trap".into()), &Decision::Failed("trap".into()), &[]).is_empty());
    }

    #[test]
    fn different_dropped_scopes_are_a_difference() {
        let live = Decision::Allow { access: Map::new(), id: Map::new(), drop_scopes: vec!["a".into(), "b".into()] };
        let same = Decision::Allow { access: Map::new(), id: Map::new(), drop_scopes: vec!["b".into(), "a".into()] };
        let other = Decision::Allow { access: Map::new(), id: Map::new(), drop_scopes: vec![] };
        assert!(compare(&live, &same, &[]).is_empty());
        assert_eq!(compare(&live, &other, &[])[0].place, "drop_scopes");
    }

    #[test]
    fn the_sampler_is_deterministic_and_takes_about_its_share() {
        assert!(sampled("b", "any", 1.0));
        assert_eq!(sampled("b", "jti-1", 0.5), sampled("b", "jti-1", 0.5));
        let taken = (0..10_000).filter(|i| sampled("b", &format!("jti-{i}"), 0.5)).count();
        assert!((4_700..=5_300).contains(&taken), "{taken} of 10000 at 0.5");
        let tenth = (0..10_000).filter(|i| sampled("b", &format!("jti-{i}"), 0.1)).count();
        assert!((800..=1_200).contains(&tenth), "{tenth} of 10000 at 0.1");
        let other = (0..1_000)
            .filter(|i| sampled("b", &format!("jti-{i}"), 0.5) != sampled("c", &format!("jti-{i}"), 0.5))
            .count();
        assert!(other > 300, "bindings sample independently: {other}");
    }
}
