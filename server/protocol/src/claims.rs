//! Claims a plugin may not set, and the type that proves a claim set was filtered.
//!
//! Reserved claims carry the token's security meaning (who, for whom, until
//! when). Only Tessera computes them; [`PluginClaims`] can only be built by
//! the filter, and the token builder accepts nothing else from plugins.

use serde::Serialize;
use serde_json::{Map, Value};

/// Claims computed by Tessera alone (plugins/README.md, "The contract").
pub const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "client_id",
    "scope",
    "azp",
    "nonce",
    "auth_time",
    "at_hash",
    "c_hash",
    "acr",
    "amr",
    "cnf",
    // OpenID Connect Back-Channel Logout §2.1: the session the RP logs out by.
    "sid",
    // RFC 8693 §4.1, §4.4: who acts, and who may; only token exchange sets them.
    "act",
    "may_act",
];

/// True if `name` is reserved.
pub fn is_reserved(name: &str) -> bool {
    RESERVED_CLAIMS.contains(&name)
}

/// A plugin tried to set this reserved claim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reserved claim {0:?}")]
pub struct ReservedClaim(pub String);

/// Claims from plugins that passed the reserved-claim filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct PluginClaims(Map<String, Value>);

impl PluginClaims {
    /// Filters a claim object; the first reserved name found is the error.
    pub fn filter(claims: Map<String, Value>) -> Result<Self, ReservedClaim> {
        match claims.keys().find(|k| is_reserved(k)) {
            Some(k) => Err(ReservedClaim(k.clone())),
            None => Ok(Self(claims)),
        }
    }

    /// Adds the claims of a later plugin, overriding earlier values.
    pub fn merge(&mut self, later: PluginClaims) {
        self.0.extend(later.0);
    }

    /// The claims, for showing to the next plugin.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// Writes the claims into a token's claim set. Reserved names cannot be
    /// present, so nothing Tessera computed is overwritten.
    pub fn apply_to(&self, target: &mut Map<String, Value>) {
        for (k, v) in &self.0 {
            target.insert(k.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reserved_claim_is_refused_with_its_name() {
        let Value::Object(m) = json!({"ok": 1, "sub": "x"}) else { unreachable!() };
        assert_eq!(PluginClaims::filter(m).unwrap_err(), ReservedClaim("sub".into()));
    }

    #[test]
    fn later_plugin_overrides_earlier() {
        let Value::Object(a) = json!({"a": 1, "b": 1}) else { unreachable!() };
        let Value::Object(b) = json!({"b": 2}) else { unreachable!() };
        let mut c = PluginClaims::filter(a).unwrap();
        c.merge(PluginClaims::filter(b).unwrap());
        assert_eq!(c.as_map()["b"], json!(2));
    }
}
