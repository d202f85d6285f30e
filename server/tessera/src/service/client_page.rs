//! What a client's console page computes beyond its settings: the plugins
//! that run for each grant type it allows, in the order they run (the
//! pipeline's own selection, [`pipeline::selected`], over this node's
//! snapshot), and a real test token for a machine-to-machine client, issued
//! by the token service and audited.

use super::admin::names::{Kind, Named, Names, Wanted};
use super::admin::{AdminError, audit};
use super::oauth::token::TokenService;
use super::pipeline;
use super::snapshot::Snapshots;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tessera_protocol::OAuthError;
use tessera_protocol::model::GrantType;
use tessera_store::plugins::FailurePolicy;
use tessera_store::{Store, StoreError, apis, clients};

/// One plugin call in a client's pipeline.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PipelineStep {
    /// The binding (named by its plugin).
    pub binding: Named,
    /// The plugin whose version runs.
    pub plugin: Named,
    /// The number of the version that runs.
    pub version: Option<i32>,
    /// A claim rule runs for every client; otherwise a hook naming this one.
    pub claim_rule: bool,
    /// What a failure does to the token request.
    pub failure_policy: FailurePolicy,
}

/// The pipeline of one grant type the client may use.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PipelineLane {
    /// The grant type.
    pub grant_type: GrantType,
    /// The plugin calls, in the order they run; empty: none.
    pub steps: Vec<PipelineStep>,
}

/// The effective pipeline of the client `client_id` for each grant type it
/// allows that issues tokens at the token endpoint or the authorization
/// endpoint, as this node's snapshot (the configuration in force) selects
/// it; `None` if the snapshot has no such client yet.
pub fn client_pipeline(
    store: &Store,
    snapshots: &Snapshots,
    client_id: &str,
) -> Result<Option<Vec<PipelineLane>>, StoreError> {
    let snapshot = snapshots.current();
    let Some(entry) = snapshot.client(client_id) else { return Ok(None) };
    // A client limited to the management API gets tokens no plugin touches.
    let plugged = entry.client.allowed_audiences.as_ref().is_none_or(|auds| auds.iter().any(|a| pipeline::runs_for(a)));
    let lanes: Vec<(GrantType, Vec<&tessera_store::plugins::Binding>)> = entry
        .client
        .grant_types
        .iter()
        .map(|g| (*g, if plugged { pipeline::selected(snapshot.token_bindings(), *g, client_id) } else { Vec::new() }))
        .collect();
    let mut wanted = Wanted::default();
    for b in lanes.iter().flat_map(|(_, bs)| bs) {
        wanted.add(Kind::Binding, &b.id);
        wanted.add_version(&b.plugin_version_id);
    }
    let names = Names::load(&mut *store.conn()?, &wanted)?;
    Ok(Some(
        lanes
            .into_iter()
            .map(|(grant_type, bindings)| PipelineLane {
                grant_type,
                steps: bindings
                    .into_iter()
                    .map(|b| {
                        let (plugin, version) = names.version(&b.plugin_version_id);
                        PipelineStep {
                            binding: names.named(Kind::Binding, &b.id),
                            plugin,
                            version,
                            claim_rule: b.client_ids.is_none(),
                            failure_policy: b.failure_policy,
                        }
                    })
                    .collect(),
            })
            .collect(),
    ))
}

/// The API identifiers the client may ask tokens for: its allowed
/// audiences, or every API's when it has no list.
pub fn client_audiences(store: &Store, client_id: &str) -> Result<Vec<String>, StoreError> {
    let mut c = store.conn()?;
    let Some(client) = clients::find(&mut c, client_id)? else { return Ok(vec![]) };
    Ok(match client.allowed_audiences {
        Some(list) => list,
        None => apis::list(&mut c)?.into_iter().map(|a| a.identifier).collect(),
    })
}

/// A test token as the console shows it.
#[derive(Debug, Clone)]
pub struct TestToken {
    /// The access token, as a client would receive it.
    pub access_token: String,
    /// Its JOSE header, pretty JSON.
    pub header: String,
    /// Its claims, pretty JSON.
    pub claims: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The granted scope.
    pub scope: Option<String>,
}

/// Why a test token was not issued.
#[derive(Debug, thiserror::Error)]
pub enum TestTokenError {
    /// The token service refused, as the token endpoint would have
    /// (`error: description`, never the log-only detail).
    #[error("{}: {}", .0.code.as_str(), .0.description)]
    Refused(OAuthError),
    /// Recording it failed (the token is not shown).
    #[error(transparent)]
    Audit(AdminError),
}

fn decode(segment: Option<&str>) -> String {
    segment
        .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_default()
}

/// Issues a client_credentials token for `client_id` and `audience` through
/// the real token service ([`TokenService::test_token`]: grant rule,
/// pipeline, signer) and records who asked, with the token's `jti`, in the
/// audit log; returns it decoded for display.
pub fn test_token(
    store: &Store,
    tokens: &TokenService,
    actor: &str,
    now: i64,
    client_id: &str,
    audience: &str,
) -> Result<TestToken, TestTokenError> {
    let issued = tokens.test_token(client_id, audience).map_err(TestTokenError::Refused)?;
    let mut parts = issued.access_token.split('.');
    let header = decode(parts.next());
    let claims = decode(parts.next());
    let jti = serde_json::from_str::<Value>(&claims).ok().and_then(|c| c["jti"].as_str().map(str::to_owned));
    store
        .tx(|conn| {
            audit(
                conn,
                actor,
                now,
                "client.test_token",
                client_id,
                json!({"audience": audience, "jti": jti, "scope": issued.scope}),
            )
        })
        .map_err(|e| TestTokenError::Audit(e.into()))?;
    Ok(TestToken {
        header,
        claims,
        expires_in: issued.expires_in,
        scope: issued.scope.clone(),
        access_token: issued.access_token,
    })
}
