//! The `bindings` table: which plugin version runs for which grants and
//! clients, in what order, and what happens when it fails.

use super::shadow::ShadowCandidate;
use crate::json::{from_text, to_text};
use crate::parse_column;
use crate::schema::bindings;
use crate::{DbConn, StoreError};
use diesel::prelude::*;
use serde_json::Value;
use tessera_protocol::model::GrantType;

/// Where in request handling a binding's plugin runs; stored as its name,
/// parsed when a row is read (an unknown name is `StoreError::Corrupt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// Before a token is signed: plugins add claims or deny the grant.
    Token,
}

tessera_protocol::named_enum!(Trigger, "trigger", {
    Token => "token",
});

/// What a binding's failure (a trap, the deadline, the memory limit, a busy
/// pool) does to the request; stored as its name, parsed when a row is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FailurePolicy {
    /// Fail closed: the token request is answered with an error.
    #[default]
    Deny,
    /// Fail open: the token is issued without this binding's claims.
    Skip,
}

tessera_protocol::named_enum!(FailurePolicy, "failure policy", {
    Deny => "deny",
    Skip => "skip",
});

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = bindings)]
#[diesel(treat_none_as_null = true)]
struct BindingRow {
    id: String,
    plugin_id: String,
    plugin_version_id: String,
    trigger_name: String,
    grant_types: String,
    client_ids: Option<String>,
    position: i32,
    enabled: bool,
    config: String,
    secrets_enc: Option<Vec<u8>>,
    secret_names: String,
    failure_policy: String,
    created_at: i64,
    updated_at: i64,
    shadow_version_id: Option<String>,
    shadow_share: Option<f64>,
    shadow_sensitive_claims: Option<String>,
    shadow_since: Option<i64>,
    http_allow: String,
    http_cache_ttl_secs: Option<i64>,
}

/// A binding: which plugin version runs for which grants and clients, in what
/// order, with what configuration, and what happens when it fails.
#[derive(Debug, Clone)]
pub struct Binding {
    /// Internal id.
    pub id: String,
    /// The plugin.
    pub plugin_id: String,
    /// The version that runs.
    pub plugin_version_id: String,
    /// Where it runs.
    pub trigger: Trigger,
    /// Grant types it runs for.
    pub grant_types: Vec<GrantType>,
    /// `None`: every client (a claim rule); `Some`: only these (a client hook).
    pub client_ids: Option<Vec<String>>,
    /// Order in the pipeline, ascending.
    pub position: i32,
    /// Disabled bindings are skipped.
    pub enabled: bool,
    /// Configuration, any JSON value.
    pub config: Value,
    /// Secrets (a JSON object of strings), encrypted with the master key.
    pub secrets_enc: Option<Vec<u8>>,
    /// Names of the secrets, for display (values are write-only).
    pub secret_names: Vec<String>,
    /// What its failure does to the request.
    pub failure_policy: FailurePolicy,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// A candidate version running in shadow beside this one, if any
    /// (`shadow.rs`).
    pub shadow: Option<ShadowCandidate>,
    /// URL prefixes a `tessera:plugin@0.2.0` plugin may reach with
    /// `http.fetch` (scheme, host and port exact, path prefix); empty: none.
    /// Checked by the service when set and by the plugin host at each call.
    pub http_allow: Vec<String>,
    /// Seconds a successful `http.fetch` answer is reused; `None`: no cache.
    pub http_cache_ttl_secs: Option<i64>,
}

impl TryFrom<BindingRow> for Binding {
    type Error = StoreError;
    fn try_from(r: BindingRow) -> Result<Self, StoreError> {
        Ok(Binding {
            grant_types: from_text("bindings.grant_types", &r.grant_types)?,
            client_ids: r.client_ids.as_deref().map(|s| from_text("bindings.client_ids", s)).transpose()?,
            config: from_text("bindings.config", &r.config)?,
            secret_names: from_text("bindings.secret_names", &r.secret_names)?,
            http_allow: from_text("bindings.http_allow", &r.http_allow)?,
            http_cache_ttl_secs: r.http_cache_ttl_secs,
            id: r.id,
            plugin_id: r.plugin_id,
            plugin_version_id: r.plugin_version_id,
            trigger: parse_column("bindings.trigger_name", &r.trigger_name)?,
            failure_policy: parse_column("bindings.failure_policy", &r.failure_policy)?,
            position: r.position,
            enabled: r.enabled,
            secrets_enc: r.secrets_enc,
            created_at: r.created_at,
            updated_at: r.updated_at,
            shadow: ShadowCandidate::from_columns(
                r.shadow_version_id,
                r.shadow_share,
                r.shadow_sensitive_claims.as_deref(),
                r.shadow_since,
            )?,
        })
    }
}

impl Binding {
    fn to_row(&self) -> Result<BindingRow, StoreError> {
        let shadow = self.shadow.as_ref();
        Ok(BindingRow {
            id: self.id.clone(),
            plugin_id: self.plugin_id.clone(),
            plugin_version_id: self.plugin_version_id.clone(),
            trigger_name: self.trigger.as_str().to_owned(),
            grant_types: to_text(&self.grant_types)?,
            client_ids: self.client_ids.as_ref().map(to_text).transpose()?,
            position: self.position,
            enabled: self.enabled,
            config: to_text(&self.config)?,
            secrets_enc: self.secrets_enc.clone(),
            secret_names: to_text(&self.secret_names)?,
            failure_policy: self.failure_policy.as_str().to_owned(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            shadow_version_id: shadow.map(|c| c.version_id.clone()),
            shadow_share: shadow.map(|c| c.share.get()),
            shadow_sensitive_claims: shadow.map(|c| to_text(&c.sensitive_claims)).transpose()?,
            shadow_since: shadow.map(|c| c.since),
            http_allow: to_text(&self.http_allow)?,
            http_cache_ttl_secs: self.http_cache_ttl_secs,
        })
    }

    /// True if this binding runs for `grant_type` and `client_id`.
    pub fn applies_to(&self, grant_type: GrantType, client_id: &str) -> bool {
        self.enabled
            && self.grant_types.contains(&grant_type)
            && self.client_ids.as_ref().is_none_or(|ids| ids.iter().any(|c| c == client_id))
    }
}

/// Inserts a binding.
pub fn insert_binding(conn: &mut DbConn, b: &Binding) -> Result<(), StoreError> {
    diesel::insert_into(bindings::table).values(b.to_row()?).execute(conn)?;
    Ok(())
}

/// Replaces a binding's stored fields.
pub fn update_binding(conn: &mut DbConn, b: &Binding) -> Result<(), StoreError> {
    let n = diesel::update(bindings::table.find(&b.id)).set(b.to_row()?).execute(conn)?;
    if n == 0 { Err(StoreError::NotFound(format!("binding {}", b.id))) } else { Ok(()) }
}

/// Deletes a binding.
pub fn delete_binding(conn: &mut DbConn, id: &str) -> Result<(), StoreError> {
    let n = diesel::delete(bindings::table.find(id)).execute(conn)?;
    if n == 0 { Err(StoreError::NotFound(format!("binding {id}"))) } else { Ok(()) }
}

/// A binding by id.
pub fn binding(conn: &mut DbConn, id: &str) -> Result<Option<Binding>, StoreError> {
    bindings::table.find(id).select(BindingRow::as_select()).first(conn).optional()?.map(Binding::try_from).transpose()
}

/// Every binding of a trigger in pipeline order (position, then creation).
pub fn bindings_for_trigger(conn: &mut DbConn, trigger: Trigger) -> Result<Vec<Binding>, StoreError> {
    bindings::table
        .filter(bindings::trigger_name.eq(trigger.as_str()))
        .order((bindings::position.asc(), bindings::created_at.asc(), bindings::id.asc()))
        .select(BindingRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Binding::try_from)
        .collect()
}

/// How many bindings a trigger has.
pub fn binding_count(conn: &mut DbConn, trigger: Trigger) -> Result<i64, StoreError> {
    Ok(bindings::table.filter(bindings::trigger_name.eq(trigger.as_str())).count().get_result(conn)?)
}

/// The highest position in use for a trigger (new bindings go after it).
pub fn max_position(conn: &mut DbConn, trigger: Trigger) -> Result<i32, StoreError> {
    let m: Option<i32> = bindings::table
        .filter(bindings::trigger_name.eq(trigger.as_str()))
        .select(diesel::dsl::max(bindings::position))
        .first(conn)?;
    Ok(m.unwrap_or(0))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn triggers_and_policies_parse_from_their_stored_names() {
        for t in Trigger::ALL {
            assert_eq!(t.as_str().parse::<Trigger>(), Ok(t));
        }
        for p in FailurePolicy::ALL {
            assert_eq!(p.as_str().parse::<FailurePolicy>(), Ok(p));
        }
        assert_eq!(FailurePolicy::default(), FailurePolicy::Deny, "fail closed unless told otherwise");
        let e = "open".parse::<FailurePolicy>().unwrap_err();
        assert_eq!(e.to_string(), "unknown failure policy \"open\"; known: deny, skip");
        assert!("before_sign".parse::<Trigger>().is_err());
    }
}
