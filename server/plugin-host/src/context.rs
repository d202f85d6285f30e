//! [`TokenContext`]: what a plugin learns about the token being issued, as
//! the server builds it and as `tessera plugin run --context FILE.json` reads
//! it (snake_case JSON, structured values rather than JSON-in-strings). It is
//! converted to the WIT record only at call time.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::bindings::wit;

/// The context handed to a plugin for one token issuance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenContext {
    /// The grant type as sent on the wire (`client_credentials`, ...).
    pub grant_type: String,
    /// The client the token is for.
    pub client: ClientContext,
    /// The user, if any (absent for client_credentials without a service account).
    #[serde(default)]
    pub user: Option<UserContext>,
    /// Scopes the client asked for, after defaults were applied.
    #[serde(default)]
    pub requested_scopes: Vec<String>,
    /// Scopes about to be granted; earlier plugins may have narrowed them.
    #[serde(default)]
    pub granted_scopes: Vec<String>,
    /// The token's audiences (API identifiers).
    #[serde(default)]
    pub audience: Vec<String>,
    /// Access-token claims computed so far, including earlier plugins' additions.
    #[serde(default)]
    pub access_token_claims: Map<String, Value>,
    /// ID-token claims computed so far, when an ID token is issued.
    #[serde(default)]
    pub id_token_claims: Option<Map<String, Value>>,
    /// The binding's configuration (`{}` when none; `null` is sent as `{}`).
    #[serde(default = "empty_object")]
    pub config: Value,
    /// The binding's secrets.
    #[serde(default)]
    pub secrets: PluginSecrets,
}

/// The client part of a [`TokenContext`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientContext {
    /// The client_id.
    pub id: String,
    /// Display name set by an admin.
    #[serde(default)]
    pub name: String,
    /// The client's metadata (`{}` when none).
    #[serde(default = "empty_object")]
    pub metadata: Value,
    /// True for confidential clients.
    #[serde(default)]
    pub confidential: bool,
}

/// The user part of a [`TokenContext`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserContext {
    /// Stable user id; the token's `sub`.
    pub id: String,
    /// Login name.
    pub username: String,
    /// E-mail address, if any.
    #[serde(default)]
    pub email: Option<String>,
    /// OIDC profile attributes (`{}` when none).
    #[serde(default = "empty_object")]
    pub profile: Value,
    /// Admin-set metadata (`{}` when none).
    #[serde(default = "empty_object")]
    pub metadata: Value,
    /// Role names.
    #[serde(default)]
    pub roles: Vec<String>,
    /// How this user came to be in the context.
    pub source: UserSource,
}

/// How the user in a context came to be there; plugins branch on this to
/// treat machine tokens differently from user tokens. Defined once in the
/// protocol crate, where the grants decide it.
pub use tessera_protocol::UserSource;

/// A binding's secrets, name to value. `Debug` shows only the names so a
/// context can be logged without leaking them.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PluginSecrets(pub BTreeMap<String, String>);

impl fmt::Debug for PluginSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.keys().map(|k| (k, "<redacted>"))).finish()
    }
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// JSON text for a free-form field; `null` becomes `{}` because the WIT
/// promises plugins an object (or value) and never the empty string.
fn json_text(v: &Value) -> String {
    match v {
        Value::Null => "{}".to_owned(),
        other => other.to_string(),
    }
}

impl TokenContext {
    /// The WIT record plus the total byte size of its strings, which the
    /// caller checks against `max_input_bytes` before running the plugin.
    pub(crate) fn to_wit(&self) -> (wit::TokenContext, usize) {
        let c = &self.client;
        let client = wit::ClientInfo {
            id: c.id.clone(),
            name: c.name.clone(),
            metadata_json: json_text(&c.metadata),
            confidential: c.confidential,
        };
        let user = self.user.as_ref().map(|u| wit::UserInfo {
            id: u.id.clone(),
            username: u.username.clone(),
            email: u.email.clone(),
            profile_json: json_text(&u.profile),
            metadata_json: json_text(&u.metadata),
            roles: u.roles.clone(),
            source: match u.source {
                UserSource::SignedIn => wit::UserSource::SignedIn,
                UserSource::ServiceAccount => wit::UserSource::ServiceAccount,
                UserSource::Impersonated => wit::UserSource::Impersonated,
            },
        });
        let ctx = wit::TokenContext {
            grant_type: self.grant_type.clone(),
            client,
            user,
            requested_scopes: self.requested_scopes.clone(),
            granted_scopes: self.granted_scopes.clone(),
            audience: self.audience.clone(),
            access_token_claims_json: Value::Object(self.access_token_claims.clone()).to_string(),
            id_token_claims_json: self.id_token_claims.as_ref().map(|m| Value::Object(m.clone()).to_string()),
            config_json: json_text(&self.config),
            // A map of strings always serializes; the fallback is unreachable.
            secrets_json: serde_json::to_string(&self.secrets.0).unwrap_or_else(|_| "{}".into()),
        };
        let size = wit_size(&ctx);
        (ctx, size)
    }
}

fn list_size(l: &[String]) -> usize {
    l.iter().map(String::len).sum()
}

fn wit_size(c: &wit::TokenContext) -> usize {
    let client = c.client.id.len() + c.client.name.len() + c.client.metadata_json.len();
    let user = c.user.as_ref().map_or(0, |u| {
        u.id.len()
            + u.username.len()
            + u.email.as_ref().map_or(0, String::len)
            + u.profile_json.len()
            + u.metadata_json.len()
            + list_size(&u.roles)
    });
    c.grant_type.len()
        + client
        + user
        + list_size(&c.requested_scopes)
        + list_size(&c.granted_scopes)
        + list_size(&c.audience)
        + c.access_token_claims_json.len()
        + c.id_token_claims_json.as_ref().map_or(0, String::len)
        + c.config_json.len()
        + c.secrets_json.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> TokenContext {
        serde_json::from_value(json!({
            "grant_type": "authorization_code",
            "client": {"id": "app", "name": "App", "metadata": {"tier": "gold"}, "confidential": true},
            "user": {
                "id": "u1", "username": "alice", "email": "a@example.com",
                "profile": {"name": "Alice"}, "metadata": {"groups": ["x"]},
                "roles": ["admin"], "source": "signed-in"
            },
            "requested_scopes": ["openid", "profile"],
            "granted_scopes": ["openid"],
            "audience": ["https://api.example.com"],
            "access_token_claims": {"sub": "u1"},
            "id_token_claims": {"sub": "u1"},
            "config": {"tenant": "t1"},
            "secrets": {"api_key": "s3cret"}
        }))
        .unwrap()
    }

    #[test]
    fn json_round_trip_is_lossless() {
        let ctx = sample();
        let text = serde_json::to_string_pretty(&ctx).unwrap();
        assert!(text.contains("\"source\": \"signed-in\""), "{text}");
        let back: TokenContext = serde_json::from_str(&text).unwrap();
        assert_eq!(back, ctx);
    }

    #[test]
    fn minimal_file_gets_defaults() {
        let ctx: TokenContext =
            serde_json::from_str(r#"{"grant_type":"client_credentials","client":{"id":"svc"}}"#).unwrap();
        assert_eq!(ctx.config, json!({}));
        assert!(ctx.user.is_none());
        let (wit, _) = ctx.to_wit();
        assert_eq!(wit.config_json, "{}");
        assert_eq!(wit.client.metadata_json, "{}");
        assert_eq!(wit.secrets_json, "{}");
        assert_eq!(wit.access_token_claims_json, "{}");
        assert_eq!(wit.id_token_claims_json, None);
    }

    #[test]
    fn unknown_fields_are_rejected_so_typos_surface() {
        let r = serde_json::from_str::<TokenContext>(r#"{"grant_type":"x","client":{"id":"c"},"scopes":[]}"#);
        assert!(r.is_err());
    }

    #[test]
    fn service_account_source_is_kebab_case() {
        assert_eq!(serde_json::to_value(UserSource::ServiceAccount).unwrap(), json!("service-account"));
    }

    #[test]
    fn wit_record_carries_json_text_and_counts_every_string() {
        let ctx = sample();
        let (wit, size) = ctx.to_wit();
        assert_eq!(wit.config_json, r#"{"tenant":"t1"}"#);
        assert_eq!(wit.secrets_json, r#"{"api_key":"s3cret"}"#);
        let user = wit.user.as_ref().unwrap();
        assert_eq!(user.source, wit::UserSource::SignedIn);
        assert_eq!(user.metadata_json, r#"{"groups":["x"]}"#);
        assert_eq!(size, wit_size(&wit));
        assert!(size > wit.config_json.len() + wit.secrets_json.len());
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let text = format!("{:?}", sample());
        assert!(text.contains("api_key"));
        assert!(!text.contains("s3cret"));
    }
}
