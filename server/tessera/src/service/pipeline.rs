//! The binding pipeline: the plugins bound to the `token` trigger for this
//! grant and client run in order just before signing; each sees the claims
//! and scopes left by the ones before it.
//!
//! Bindings and the metadata of the versions they run come from the node's
//! in-memory snapshot (`service::snapshot`), which follows a change made
//! anywhere (console, API, CLI, another node) within one second; compiled
//! code is cached by the host. Run records go to the asynchronous run log
//! (`service::run_log`): no database access on the way to a signature once
//! a version is compiled. Beside each record, the run is counted and timed
//! for `/metrics` and the dashboard (`service::metrics::plugin_run`).
//!
//! A binding with a shadow candidate offers each live run to
//! `service::shadow`, which runs the candidate later on its own workers; its
//! result never reaches `HookOutput`.
//!
//! No lock is held across a plugin call: the snapshot is an `Arc` cloned
//! once per request. A plugin of `tessera:plugin@0.2.0` may make HTTP
//! requests during its call ([`http_grant`]: the binding's allow-list, cache
//! TTL and secrets); they are bounded by the call's deadline and recorded
//! in the run record, and no database connection is held while they run.
//!
//! A plugin failure (trap, deadline, memory, bad output, ...) is mapped by the
//! binding's failure policy in one place, [`apply_policy`]: `deny` answers
//! `server_error` without saying why; `skip` logs and goes on. A binding
//! whose plugin keeps running out its deadline is suspended on this node
//! (`service::suspensions`): its plugin is not called, and the policy
//! decides as it would have for the deadline.

use super::metrics::{self, PluginFigures, RunLabels};
use super::oauth::issuer::{HookInput, HookOutput, TokenHooks};
use super::run_log::RunLog;
use super::shadow::{Offer, ShadowRunner};
use super::snapshot::Snapshots;
use super::store_failure;
use super::suspensions::{Recorded, SUSPENDED, Suspensions};
use crate::clock::{self, SharedClock};
use crate::crypto::MasterKey;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_plugin_host::{
    AllowedPrefix, ClientContext, DenialCode, HttpGrant, PluginFailure, PluginHost, PluginRun, PluginSecrets,
    PluginVerdict, TokenContext, UserContext,
};
use tessera_protocol::claims::PluginClaims;
use tessera_protocol::grant::MANAGEMENT_AUDIENCE;
use tessera_protocol::model::GrantType;
use tessera_protocol::{ErrorCode, OAuthError, UserSource};
use tessera_store::clients::Client;
use tessera_store::plugins::{self, Binding, FailurePolicy, PluginRunRecord, Trigger};
use tessera_store::users::User;
use tessera_store::{Store, StoreError};

/// The trigger that runs just before a token is signed.
pub const TOKEN_TRIGGER: Trigger = Trigger::Token;

/// Why a binding gave no answer: its plugin failed, or the binding is
/// suspended and its plugin was not called (`service::suspensions`).
#[derive(Debug, Clone, Copy)]
pub enum NoAnswer<'a> {
    /// The call failed.
    Failed(&'a PluginFailure),
    /// Suspended for this much longer after deadlines in a row.
    Suspended(Duration),
}

impl NoAnswer<'_> {
    /// The run record's outcome.
    pub fn code(&self) -> &'static str {
        match self {
            NoAnswer::Failed(f) => f.code(),
            NoAnswer::Suspended(_) => SUSPENDED,
        }
    }
}

impl std::fmt::Display for NoAnswer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoAnswer::Failed(failure) => failure.fmt(f),
            NoAnswer::Suspended(left) => write!(
                f,
                "suspended after running out its deadline call after call; its plugin is tried again in {} s",
                left.as_secs().max(1)
            ),
        }
    }
}

/// The one mapping from a binding's missing answer to the request's fate.
/// Under `deny`, a plugin that is over its share of the instance pool
/// (`busy`) answers `temporarily_unavailable` (503 with `Retry-After`): the
/// same request can succeed a moment later, so a client library should
/// retry. Every other failure, and a suspension (which stands for the
/// deadlines that caused it), is `server_error`.
pub fn apply_policy(policy: FailurePolicy, binding_id: &str, why: NoAnswer<'_>) -> Result<(), OAuthError> {
    let retryable = matches!(why, NoAnswer::Failed(f) if f.is_retryable());
    match policy {
        FailurePolicy::Deny if retryable => Err(OAuthError::unavailable(format!("binding {binding_id}: {why}"))),
        FailurePolicy::Deny => Err(OAuthError::server_error(format!("binding {binding_id}: {why}"))),
        FailurePolicy::Skip => {
            tracing::warn!(binding = binding_id, outcome = why.code(), error = %why, "plugin failed; skipped by policy");
            Ok(())
        }
    }
}

fn denial(code: DenialCode, description: String) -> OAuthError {
    let code = match code {
        DenialCode::AccessDenied => ErrorCode::AccessDenied,
        DenialCode::InvalidScope => ErrorCode::InvalidScope,
        DenialCode::InvalidRequest => ErrorCode::InvalidRequest,
        DenialCode::InvalidGrant => ErrorCode::InvalidGrant,
        DenialCode::UnauthorizedClient => ErrorCode::UnauthorizedClient,
    };
    OAuthError::new(code, description)
}

/// Runs bindings through the plugin host.
pub struct Pipeline {
    store: Store,
    host: Arc<PluginHost>,
    master: Arc<MasterKey>,
    clock: SharedClock,
    snapshots: Arc<Snapshots>,
    runs: Arc<RunLog>,
    figures: Arc<PluginFigures>,
    shadows: Arc<ShadowRunner>,
    suspensions: Arc<Suspensions>,
}

impl Pipeline {
    /// A pipeline reading its bindings from `snapshots` and recording runs
    /// in `runs` and `figures`, timed by `clock`, offering the runs of
    /// bindings with a candidate to `shadows`, and suspending bindings as
    /// `suspensions` says. `store` only serves a component's bytes the first
    /// time this node compiles it.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        host: Arc<PluginHost>,
        master: Arc<MasterKey>,
        clock: SharedClock,
        snapshots: Arc<Snapshots>,
        runs: Arc<RunLog>,
        figures: Arc<PluginFigures>,
        shadows: Arc<ShadowRunner>,
        suspensions: Arc<Suspensions>,
    ) -> Pipeline {
        Pipeline { store, host, master, clock, snapshots, runs, figures, shadows, suspensions }
    }

    fn secrets(&self, b: &Binding) -> Result<PluginSecrets, OAuthError> {
        let Some(sealed) = &b.secrets_enc else {
            return Ok(PluginSecrets::default());
        };
        let plain = self
            .master
            .open(&crate::crypto::purpose::binding_secrets(&b.id), sealed)
            .map_err(|e| OAuthError::server_error(format!("binding {}: {e}", b.id)))?;
        serde_json::from_slice(&plain).map_err(|e| OAuthError::server_error(format!("binding {} secrets: {e}", b.id)))
    }
}

/// The bindings that run for a token of `grant_type` for the client
/// `client_id`, in the order they run (`bindings` in the trigger's pipeline
/// order, as the snapshot holds them): enabled, bound to that grant type, and
/// a claim rule (every client) or a hook naming the client. The one
/// selection: [`Pipeline::before_sign`] runs it, the console's client page
/// shows it (`service::client_page`).
pub fn selected<'a>(bindings: &'a [Binding], grant_type: GrantType, client_id: &str) -> Vec<&'a Binding> {
    bindings.iter().filter(|b| b.applies_to(grant_type, client_id)).collect()
}

/// False for tokens of the management API (`/api/v1`): no plugin runs for
/// them, not even a claim rule bound for every client. A rule that denies,
/// traps or loops would otherwise lock out the very API (and the remote
/// CLI) that rolls the rule back; management tokens carry only Tessera's
/// own claims, which no plugin needs to shape.
pub fn runs_for(audience: &str) -> bool {
    audience != MANAGEMENT_AUDIENCE
}

/// The client as a plugin sees it.
pub fn client_context(c: &Client) -> ClientContext {
    ClientContext { id: c.id.clone(), name: c.name.clone(), metadata: c.metadata.clone(), confidential: c.confidential }
}

/// The user as a plugin sees it.
pub fn user_context(u: &User, source: UserSource) -> UserContext {
    UserContext {
        id: u.id.clone(),
        username: u.username.clone(),
        email: u.email.clone(),
        profile: u.profile.clone(),
        metadata: u.metadata.clone(),
        roles: u.roles.clone(),
        source,
    }
}

/// Builds the context a plugin sees from what the token service knows.
pub fn context(input: &HookInput<'_>) -> TokenContext {
    let client = input.client;
    TokenContext {
        grant_type: input.plan.grant_type.as_str().to_owned(),
        client: client_context(client),
        user: input.user.map(|(u, source)| user_context(u, source)),
        requested_scopes: input.plan.requested_scopes.to_vec(),
        granted_scopes: input.plan.scopes.to_vec(),
        audience: vec![input.plan.audience.to_string()],
        access_token_claims: input.access_claims.clone(),
        id_token_claims: input.id_claims.cloned(),
        config: json!({}),
        secrets: PluginSecrets::default(),
    }
}

/// What a binding lets its plugin do over HTTP in one call. The allow-list
/// was checked when it was set; an entry that no longer parses (a stored row
/// edited by hand) allows nothing and is logged, never widened.
pub fn http_grant(b: &Binding, secrets: PluginSecrets) -> HttpGrant {
    let allow = b
        .http_allow
        .iter()
        .filter_map(|entry| {
            AllowedPrefix::parse(entry)
                .map_err(|e| tracing::warn!(binding = %b.id, "ignoring a stored http allow-list entry: {e}"))
                .ok()
        })
        .collect();
    HttpGrant {
        binding_id: b.id.clone(),
        allow,
        cache_ttl: b
            .http_cache_ttl_secs
            .and_then(|s| u64::try_from(s).ok())
            .filter(|s| *s > 0)
            .map(Duration::from_secs),
        secrets,
    }
}

fn merged(base: &Map<String, Value>, added: &PluginClaims) -> Map<String, Value> {
    let mut m = base.clone();
    added.apply_to(&mut m);
    m
}

fn run_record(b: &Binding, ctx: &TokenContext, run: &PluginRun, at: i64) -> PluginRunRecord {
    let (outcome, detail) = match &run.outcome {
        Ok(PluginVerdict::Allow(_)) => ("ok".to_owned(), String::new()),
        Ok(PluginVerdict::Deny { code, description }) => {
            ("denied".to_owned(), format!("{}: {description}", code.as_str()))
        }
        Err(f) => (f.code().to_owned(), f.to_string()),
    };
    record(b, ctx, at, run.duration, outcome, detail, &run.logs, &run.http)
}

/// The record of a call a suspension kept from running: no time, no logs.
fn suspended_record(b: &Binding, ctx: &TokenContext, left: Duration, at: i64) -> PluginRunRecord {
    let why = NoAnswer::Suspended(left);
    record(b, ctx, at, Duration::ZERO, why.code().to_owned(), why.to_string(), &[], &[])
}

#[allow(clippy::too_many_arguments)]
fn record(
    b: &Binding,
    ctx: &TokenContext,
    at: i64,
    duration: Duration,
    outcome: String,
    detail: String,
    logs: &[tessera_plugin_host::LogLine],
    http: &[tessera_plugin_host::HttpExchange],
) -> PluginRunRecord {
    PluginRunRecord {
        id: clock::uuid(),
        binding_id: b.id.clone(),
        plugin_version_id: b.plugin_version_id.clone(),
        grant_type: ctx.grant_type.clone(),
        client_id: ctx.client.id.clone(),
        at,
        duration_us: i64::try_from(duration.as_micros()).unwrap_or(i64::MAX),
        outcome,
        detail,
        logs: serde_json::to_string(logs).unwrap_or_else(|_| "[]".into()),
        http: serde_json::to_string(http).unwrap_or_else(|_| "[]".into()),
    }
}

impl TokenHooks for Pipeline {
    fn before_sign(&self, input: HookInput<'_>) -> Result<HookOutput, OAuthError> {
        if !runs_for(input.plan.audience.as_str()) {
            return Ok(HookOutput::default());
        }
        let snapshot = self.snapshots.current();
        let active = selected(snapshot.token_bindings(), input.plan.grant_type, &input.client.id);
        let mut out = HookOutput::default();
        if active.is_empty() {
            return Ok(out);
        }
        let mut ctx = context(&input);
        let result = (|| {
            for b in active {
                let meta = snapshot.version(&b.plugin_version_id).ok_or_else(|| {
                    store_failure(StoreError::NotFound(format!("plugin version {}", b.plugin_version_id)))
                })?;
                let labels = RunLabels { plugin: &meta.plugin_id, version: meta.number, binding: &b.id };
                if let Some(left) = self.suspensions.check(&b.id, Instant::now()) {
                    let record = suspended_record(b, &ctx, left, self.clock.now());
                    metrics::plugin_suspended(labels);
                    self.runs.record(record);
                    apply_policy(b.failure_policy, &b.id, NoAnswer::Suspended(left))?;
                    continue;
                }
                ctx.config = b.config.clone();
                ctx.secrets = self.secrets(b)?;
                // Most bindings allow no request: skip parsing and the
                // secrets' copy (an empty grant refuses every request alike).
                let grant =
                    if b.http_allow.is_empty() { Arc::default() } else { Arc::new(http_grant(b, ctx.secrets.clone())) };
                ctx.access_token_claims = merged(input.access_claims, &out.access);
                ctx.id_token_claims = input.id_claims.map(|c| merged(c, &out.id));
                let store = self.store.clone();
                let version_id = b.plugin_version_id.clone();
                // Ids only: the context holds claims and secrets.
                let span = tracing::info_span!(
                    "plugin_call",
                    plugin_id = %meta.plugin_id,
                    plugin_version = meta.number,
                    binding_id = %b.id,
                    outcome = tracing::field::Empty,
                );
                let run = span.in_scope(|| {
                    self.host.call_with_http(
                        &meta.sha256,
                        move || plugins::wasm(&mut *store.conn()?, &version_id),
                        &ctx,
                        meta.declared.as_deref(),
                        grant.clone(),
                    )
                });
                let now = self.clock.now();
                if let Some(candidate) = &b.shadow {
                    // Never waits: the candidate runs on the shadow workers,
                    // after this token is signed (`service::shadow`).
                    self.shadows.offer(Offer {
                        binding: b,
                        candidate,
                        meta: snapshot.version(&candidate.version_id),
                        ctx: &ctx,
                        http: grant,
                        live: &run,
                        request_key: input.access_claims.get("jti").and_then(Value::as_str).unwrap_or_default(),
                        at: now,
                    });
                }
                let record = run_record(b, &ctx, &run, now);
                span.record("outcome", record.outcome.as_str());
                let deadline = matches!(run.outcome, Err(PluginFailure::Deadline));
                match self.suspensions.record(&b.id, deadline, Instant::now()) {
                    Recorded::Suspended => tracing::warn!(
                        binding = %b.id,
                        plugin_id = %meta.plugin_id,
                        plugin_version = meta.number,
                        cooldown_secs = self.suspensions.cooldown().as_secs(),
                        "binding suspended on this node: its plugin ran out its deadline call after call"
                    ),
                    Recorded::Resumed => tracing::info!(binding = %b.id, "suspended binding answers again"),
                    Recorded::Nothing => {}
                }
                metrics::plugin_run(&self.figures, labels, &record.outcome, run.duration);
                metrics::plugin_http(labels, &run.http);
                self.runs.record(record);
                ctx.secrets = PluginSecrets::default();
                let policy = b.failure_policy;
                match run.outcome {
                    Ok(PluginVerdict::Allow(patch)) => {
                        // The host filtered reserved claims (`ClaimsPatch`
                        // holds `PluginClaims`): nothing to check again here.
                        let (access, id, drops) = patch.into_parts();
                        out.access.merge(access);
                        out.id.merge(id);
                        // Scopes only narrow: dropping what was never granted changes nothing.
                        ctx.granted_scopes.retain(|s| !drops.contains(s));
                        out.drop_scopes.extend(drops);
                    }
                    Ok(PluginVerdict::Deny { code, description }) => {
                        return Err(denial(code, description));
                    }
                    Err(failure) => apply_policy(policy, &b.id, NoAnswer::Failed(&failure))?,
                }
            }
            Ok(())
        })();
        result.map(|()| out)
    }
}

#[cfg(test)]
mod policy_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn busy_is_retryable_and_other_failures_are_server_errors() {
        let busy = PluginFailure::Busy { limit: 2 };
        let denied = apply_policy(FailurePolicy::Deny, "b", NoAnswer::Failed(&busy)).unwrap_err();
        assert_eq!(denied.code, ErrorCode::TemporarilyUnavailable);
        let trap = PluginFailure::Trap("x".into());
        let denied = apply_policy(FailurePolicy::Deny, "b", NoAnswer::Failed(&trap)).unwrap_err();
        assert_eq!(denied.code, ErrorCode::ServerError);
        assert!(apply_policy(FailurePolicy::Skip, "b", NoAnswer::Failed(&busy)).is_ok());
        let suspended = NoAnswer::Suspended(Duration::from_secs(12));
        let denied = apply_policy(FailurePolicy::Deny, "b", suspended).unwrap_err();
        assert_eq!(denied.code, ErrorCode::ServerError, "a suspension stands for the deadlines behind it");
        assert!(denied.detail.as_deref().is_some_and(|d| d.contains("12 s")), "{denied:?}");
        assert!(apply_policy(FailurePolicy::Skip, "b", suspended).is_ok());
    }
}

#[cfg(test)]
mod http_grant_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn binding(allow: &[&str], ttl: Option<i64>) -> Binding {
        crate::service::snapshot::test_binding("b1", allow, ttl, b"")
    }

    /// Issue #17 item 4: a stored entry that no longer parses allows
    /// nothing (never something wider); a TTL of 0 or below is no cache.
    #[test]
    fn a_grant_keeps_only_valid_prefixes_and_a_positive_ttl() {
        let g = http_grant(
            &binding(&["https://dir.example/u/", "http://dir.example/"], Some(30)),
            PluginSecrets::default(),
        );
        assert_eq!(g.allow, vec![AllowedPrefix::parse("https://dir.example/u/").unwrap()]);
        assert_eq!(g.cache_ttl, Some(Duration::from_secs(30)));
        assert_eq!(g.binding_id, "b1");
        for ttl in [None, Some(0), Some(-5)] {
            assert_eq!(http_grant(&binding(&[], ttl), PluginSecrets::default()).cache_ttl, None, "{ttl:?}");
        }
    }
}
