//! What the console shows and the management API serializes (`web/api/`): read-only
//! views of users, clients, APIs, keys, administrators, bindings, plugin runs and audit
//! events. A view carries no hash, no sealed secret and no private key, so a
//! template or a JSON body cannot leak one; it knows nothing of HTML.
//!
//! Services build views from store rows; handlers never read the store.

use crate::plugin_signatures::SignatureForm;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use tessera_plugin_host::{HttpExchange, LogLine};
use tessera_protocol::grant::jwt_bearer::TrustedIssuer;
use tessera_protocol::model::GrantType;
use tessera_store::admins::Admin;
use tessera_store::apis::Api;
use tessera_store::audit::ChainedEvent;
use tessera_store::clients::{Client, ClientSecret};
use tessera_store::keys::{KeyState, SigningKey};
use tessera_store::plugins::{Binding, FailurePolicy, Plugin, PluginRunRecord, Trigger, VersionInfo};
use tessera_store::users::User;
use utoipa::ToSchema;

/// A user, without the password hash.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    /// Row id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// E-mail.
    pub email: Option<String>,
    /// Profile object (OIDC standard claims).
    #[schema(value_type = Object)]
    pub profile: Value,
    /// Metadata object.
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// Role names.
    pub roles: Vec<String>,
    /// Cannot sign in or get tokens.
    pub disabled: bool,
    /// Whether a password is set (a service account has none).
    pub has_password: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl From<User> for UserView {
    fn from(u: User) -> UserView {
        UserView {
            id: u.id,
            username: u.username,
            email: u.email,
            profile: u.profile,
            metadata: u.metadata,
            roles: u.roles,
            disabled: u.disabled,
            has_password: u.password_hash.is_some(),
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// A client's settings (its secrets are separate views without hashes).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientView {
    /// `client_id`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Has secrets (false: a public client).
    pub confidential: bool,
    /// Allowed grant types.
    #[schema(value_type = Vec<String>)]
    pub grant_types: Vec<GrantType>,
    /// Redirect URIs (exact match).
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs (exact match).
    pub post_logout_redirect_uris: Vec<String>,
    /// Allowed scopes; `None`: any an API defines.
    pub allowed_scopes: Option<Vec<String>>,
    /// Allowed audiences; `None`: any API.
    pub allowed_audiences: Option<Vec<String>>,
    /// Metadata object.
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// The service-account user's id.
    pub service_account_user_id: Option<String>,
    /// The operator's own app: no consent page.
    pub first_party: bool,
    /// Cannot authenticate or start an authorization.
    pub disabled: bool,
    /// API identifiers it may obtain by token exchange (RFC 8693).
    pub exchange_audiences: Vec<String>,
    /// Scopes it may obtain by token exchange.
    pub exchange_scopes: Vec<String>,
    /// It may exchange without an actor token (impersonation).
    pub exchange_impersonation: bool,
    /// Authorization requests only by PAR (RFC 9126 §6).
    pub require_pushed_authorization_requests: bool,
    /// Public keys for `private_key_jwt`, a JWK Set.
    pub jwks: Option<Value>,
    /// Where its `private_key_jwt` keys are fetched from instead.
    pub jwks_uri: Option<String>,
    /// Issuers whose assertions it may trade with the JWT bearer grant
    /// (RFC 7523 §2.1): `issuer`, `jwks` or `jwks_uri`, and `subject`
    /// (`user_id` or `username`: what the assertion's `sub` names).
    #[schema(value_type = Vec<Object>)]
    pub jwt_bearer_issuers: Vec<TrustedIssuer>,
    /// Every token request must carry a DPoP proof (RFC 9449 §5.2).
    pub dpop_bound_access_tokens: bool,
    /// Where Logout Tokens are posted (OpenID Connect Back-Channel Logout).
    pub backchannel_logout_uri: Option<String>,
    /// Authorization requests only as signed request objects (RFC 9101 §10.5).
    pub require_signed_request_object: bool,
    /// The page loaded in an iframe when a session it signed in through
    /// ends (OpenID Connect Front-Channel Logout).
    pub frontchannel_logout_uri: Option<String>,
    /// It registered itself (RFC 7591): runtime data, not configuration,
    /// so `tessera export` and `apply` leave it out.
    pub self_registered: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl From<Client> for ClientView {
    fn from(c: Client) -> ClientView {
        ClientView {
            id: c.id,
            name: c.name,
            confidential: c.confidential,
            grant_types: c.grant_types,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            allowed_scopes: c.allowed_scopes,
            allowed_audiences: c.allowed_audiences,
            metadata: c.metadata,
            service_account_user_id: c.service_account_user_id,
            first_party: c.first_party,
            disabled: c.disabled,
            exchange_audiences: c.exchange.audiences,
            exchange_scopes: c.exchange.scopes,
            exchange_impersonation: c.exchange.impersonation,
            require_pushed_authorization_requests: c.require_pushed_authorization_requests,
            jwks: c.jwks,
            jwks_uri: c.jwks_uri,
            jwt_bearer_issuers: c.jwt_bearer_issuers,
            dpop_bound_access_tokens: c.dpop_bound_access_tokens,
            backchannel_logout_uri: c.backchannel_logout_uri,
            require_signed_request_object: c.require_signed_request_object,
            frontchannel_logout_uri: c.frontchannel_logout_uri,
            self_registered: false,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// One client secret as an administrator may see it: its first characters,
/// never its hash.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientSecretView {
    /// Row id (to revoke it).
    pub id: String,
    /// The owning client.
    pub client_id: String,
    /// The first characters of the secret, to tell secrets apart.
    pub hint: String,
    /// Unix seconds.
    pub created_at: i64,
    /// When a rotation's overlap ends it, Unix seconds.
    pub expires_at: Option<i64>,
    /// When it was revoked, Unix seconds.
    pub revoked_at: Option<i64>,
    /// Whether it authenticates the client at the time the view was made.
    pub active: bool,
}

impl ClientSecretView {
    /// The view of `s` at `now`.
    pub fn of(s: ClientSecret, now: i64) -> ClientSecretView {
        ClientSecretView {
            active: s.is_active(now),
            id: s.id,
            client_id: s.client_id,
            hint: s.hint,
            created_at: s.created_at,
            expires_at: s.expires_at,
            revoked_at: s.revoked_at,
        }
    }
}

/// A client with what its page shows alongside it.
#[derive(Debug, Clone, Serialize)]
pub struct ClientDetail {
    /// The client.
    pub client: ClientView,
    /// Its secrets, newest first.
    pub secrets: Vec<ClientSecretView>,
    /// The token hooks that name it.
    pub hooks: Vec<BindingView>,
    /// The service-account user's name.
    pub service_account: Option<String>,
    /// When the client registered itself (RFC 7591), what it registered.
    pub registration: Option<RegistrationView>,
}

/// A client's own registration (RFC 7591), as its console page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RegistrationView {
    /// When it registered (Unix seconds).
    pub created_at: i64,
    /// When it last replaced its metadata through RFC 7592.
    pub updated_at: i64,
    /// The descriptive metadata it gave (`client_uri`, `contacts`, ...),
    /// each as a name and its text.
    pub fields: Vec<(String, String)>,
}

impl RegistrationView {
    /// The view of a stored registration: its descriptive fields as text
    /// (lists joined with commas); the token's hash is never shown.
    pub fn of(r: &tessera_store::registrations::Registration) -> RegistrationView {
        let fields = r.registered.as_object().into_iter().flatten().map(|(k, v)| (k.clone(), text_of(v))).collect();
        RegistrationView { created_at: r.created_at, updated_at: r.updated_at, fields }
    }
}

/// A registered metadata value as the console writes it: a string as it
/// is, a list's items joined with commas, anything else as JSON.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text_of).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// An API (resource server), without its sealed HS256 secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiView {
    /// Row id.
    pub id: String,
    /// The audience its tokens carry.
    pub identifier: String,
    /// Display name.
    pub name: String,
    /// The JWS algorithm of its tokens.
    pub alg: String,
    /// Access-token lifetime, seconds.
    pub token_lifetime_secs: i64,
    /// Scopes it defines.
    pub scopes: Vec<String>,
    /// Client ids of its resource servers (they may introspect its tokens).
    pub resource_servers: Vec<String>,
    /// What each described scope lets a client do, by scope: the consent
    /// page shows it instead of the bare name. Scopes without one are absent.
    pub scope_descriptions: BTreeMap<String, String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl ApiView {
    /// The view of `a` with its resource servers and scope descriptions.
    pub fn of(a: Api, resource_servers: Vec<String>, scope_descriptions: BTreeMap<String, String>) -> ApiView {
        ApiView {
            scope_descriptions,
            id: a.id,
            identifier: a.identifier,
            name: a.name,
            alg: a.alg.as_str().to_owned(),
            token_lifetime_secs: a.token_lifetime_secs,
            scopes: a.scopes,
            resource_servers,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// A client allowed to get tokens for an API.
#[derive(Debug, Clone, Serialize)]
pub struct AllowedClientView {
    /// `client_id`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Its allowed audiences name the API (false: it allows any API).
    pub named: bool,
}

/// A signing key's public facts, without the sealed private key.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SigningKeyView {
    /// Key id (`kid`).
    pub kid: String,
    /// JWS algorithm.
    pub alg: String,
    /// Where it is in its life cycle (serialized as `next`, `current` or `retired`).
    #[schema(value_type = String)]
    pub state: KeyState,
    /// The public JWK as published, JSON text.
    pub public_jwk: String,
    /// Unix seconds.
    pub created_at: i64,
    /// When it became current, Unix seconds.
    pub activated_at: Option<i64>,
    /// When it was retired, Unix seconds.
    pub retired_at: Option<i64>,
}

impl From<SigningKey> for SigningKeyView {
    fn from(k: SigningKey) -> SigningKeyView {
        SigningKeyView {
            kid: k.kid,
            alg: k.alg,
            state: k.state,
            public_jwk: k.public_jwk,
            created_at: k.created_at,
            activated_at: k.activated_at,
            retired_at: k.retired_at,
        }
    }
}

/// A plugin binding, without its sealed secrets (their names only).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BindingView {
    /// Row id.
    pub id: String,
    /// The bound plugin.
    pub plugin_id: String,
    /// The bound version.
    pub plugin_version_id: String,
    /// When it runs.
    #[schema(value_type = String)]
    pub trigger: Trigger,
    /// The grant types it runs for.
    #[schema(value_type = Vec<String>)]
    pub grant_types: Vec<GrantType>,
    /// The clients it runs for; `None`: every client.
    pub client_ids: Option<Vec<String>>,
    /// Order within a lane.
    pub position: i32,
    /// Whether it runs.
    pub enabled: bool,
    /// Configuration object passed to the plugin.
    #[schema(value_type = Object)]
    pub config: Value,
    /// Names of its secrets (the values are never shown again).
    pub secret_names: Vec<String>,
    /// URL prefixes a `tessera:plugin@0.2.0` plugin may reach with
    /// `http.fetch` (scheme, host and port exact, path prefix).
    pub http_allow: Vec<String>,
    /// Seconds a successful `http.fetch` answer is reused; absent: no cache.
    pub http_cache_ttl_secs: Option<i64>,
    /// What a failure does to the token request.
    #[schema(value_type = String)]
    pub failure_policy: FailurePolicy,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl From<Binding> for BindingView {
    fn from(b: Binding) -> BindingView {
        BindingView {
            id: b.id,
            plugin_id: b.plugin_id,
            plugin_version_id: b.plugin_version_id,
            trigger: b.trigger,
            grant_types: b.grant_types,
            client_ids: b.client_ids,
            position: b.position,
            enabled: b.enabled,
            config: b.config,
            secret_names: b.secret_names,
            http_allow: b.http_allow,
            http_cache_ttl_secs: b.http_cache_ttl_secs,
            failure_policy: b.failure_policy,
            created_at: b.created_at,
            updated_at: b.updated_at,
        }
    }
}

/// One plugin run, its log lines parsed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunView {
    /// Row id.
    pub id: String,
    /// The binding that ran.
    pub binding_id: String,
    /// The version that ran.
    pub plugin_version_id: String,
    /// The token request's grant type.
    pub grant_type: String,
    /// The token request's client.
    pub client_id: String,
    /// Unix seconds.
    pub at: i64,
    /// How long it took, microseconds.
    pub duration_us: i64,
    /// `ok` or the failure.
    pub outcome: String,
    /// What failed, for the administrator.
    pub detail: String,
    /// The plugin's log lines, formatted.
    pub logs: Vec<String>,
    /// The HTTP requests the run made (`http.fetch`, WIT 0.2.0), in order;
    /// empty for plugins that made none.
    pub http: Vec<HttpRequestView>,
}

/// One HTTP request a plugin run made, as recorded: never a header value,
/// never a query value.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HttpRequestView {
    /// `GET` or `POST`.
    pub method: String,
    /// The URL, query values replaced by `…`.
    pub url: String,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// Bytes of the response body.
    pub bytes: u64,
    /// Microseconds the request took.
    pub duration_us: u64,
    /// True when the binding's response cache answered.
    pub cached: bool,
    /// `not_allowed`, `timeout`, `too_large`, `network` or `bad_response`,
    /// with a detail, when the request failed.
    pub error: Option<String>,
}

impl From<HttpExchange> for HttpRequestView {
    fn from(x: HttpExchange) -> HttpRequestView {
        HttpRequestView {
            method: x.method,
            url: x.url,
            status: x.status,
            bytes: x.bytes,
            duration_us: x.duration_us,
            cached: x.cached,
            error: x.error,
        }
    }
}

impl RunView {
    /// True when the run succeeded.
    pub fn ok(&self) -> bool {
        self.outcome == "ok"
    }
}

impl From<PluginRunRecord> for RunView {
    fn from(r: PluginRunRecord) -> RunView {
        let logs =
            serde_json::from_str::<Vec<LogLine>>(&r.logs).unwrap_or_default().iter().map(ToString::to_string).collect();
        RunView {
            id: r.id,
            binding_id: r.binding_id,
            plugin_version_id: r.plugin_version_id,
            grant_type: r.grant_type,
            client_id: r.client_id,
            at: r.at,
            duration_us: r.duration_us,
            outcome: r.outcome,
            detail: r.detail,
            logs,
            http: serde_json::from_str::<Vec<HttpExchange>>(&r.http)
                .unwrap_or_default()
                .into_iter()
                .map(HttpRequestView::from)
                .collect(),
        }
    }
}

/// A console administrator, without the password hash.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminView {
    /// Row id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Unix seconds.
    pub created_at: i64,
    /// The last successful sign-in, Unix seconds.
    pub last_login_at: Option<i64>,
    /// The role: `owner`, `editor`, `plugin-author` or `viewer` (README,
    /// "What an administrator can do").
    pub role: String,
    /// A disabled administrator cannot sign in.
    pub disabled: bool,
    /// Whether they have a second factor (TOTP or a passkey) enrolled.
    pub second_factor: bool,
}

impl From<Admin> for AdminView {
    fn from(a: Admin) -> AdminView {
        AdminView {
            id: a.id,
            username: a.username,
            created_at: a.created_at,
            last_login_at: a.last_login_at,
            role: a.role,
            disabled: a.disabled,
            second_factor: a.totp_secret_enc.is_some(),
        }
    }
}

/// One audit-log entry.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEventView {
    /// Row id.
    pub id: String,
    /// Unix seconds.
    pub at: i64,
    /// Who (`admin:NAME`, `cli`, `unauthenticated`).
    pub actor: String,
    /// What (`client.create`, ...).
    pub action: String,
    /// The object's id.
    pub target: String,
    /// JSON detail, as recorded.
    pub detail: String,
    /// Its place in the audit log's hash chain, from 1 (server/store/src/audit.rs
    /// documents the chain); null only on a row written around the
    /// application, which `tessera audit verify` reports.
    pub seq: Option<i64>,
    /// The hash of the event before it in the chain (64 zeros for the first).
    pub prev_hash: Option<String>,
    /// Its own hash, over `prev_hash`, `id`, `at`, `actor`, `action`,
    /// `target` and `detail`: an auditor recomputes it.
    pub hash: Option<String>,
}

impl From<ChainedEvent> for AuditEventView {
    fn from(row: ChainedEvent) -> AuditEventView {
        let e = row.event;
        AuditEventView {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            detail: e.detail,
            seq: row.seq,
            prev_hash: row.prev_hash,
            hash: row.hash,
        }
    }
}

/// Where the audit log's hash chain ends, and the oldest event outside it:
/// with the events in `seq` order, all a client needs to verify the chain
/// the way `tessera audit verify` does on the server's machine.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditChainView {
    /// The last event's `seq` (0: the log is empty).
    pub seq: i64,
    /// The last event's hash (64 zeros when the log is empty): worth
    /// keeping elsewhere as an anchor.
    pub hash: String,
    /// The oldest event that is not in the chain (no `seq` or hashes: it
    /// was inserted around the application), if any.
    pub unchained: Option<AuditEventView>,
}

/// A plugin (its versions are separate views).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PluginView {
    /// Row id.
    pub id: String,
    /// The name bindings and the CLI use.
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<Plugin> for PluginView {
    fn from(p: Plugin) -> PluginView {
        PluginView { id: p.id, name: p.name, created_at: p.created_at }
    }
}

/// One uploaded version of a plugin, with the interface it imports and
/// exports (the component itself stays in the store).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PluginVersionView {
    /// Row id.
    pub id: String,
    /// 1, 2, ... per plugin.
    pub version: i32,
    /// sha256 of the component, hex.
    pub sha256: String,
    /// Component size, bytes.
    pub size: i64,
    /// The WIT world it targets.
    pub world: String,
    /// The claims it declared it may set (JSON list), if it declared any.
    pub declared_claims: Option<String>,
    /// Interfaces it imports.
    pub imports: Vec<String>,
    /// Interfaces it exports.
    pub exports: Vec<String>,
    /// Who uploaded it.
    pub uploaded_by: String,
    /// Unix seconds.
    pub uploaded_at: i64,
    /// The trusted signer whose key verified this version's signature, or
    /// `None` for an unsigned upload (the signature itself is not shown).
    pub signed_by: Option<String>,
    /// The form of that signature (`detached` or `sigstore_bundle`), so a
    /// reader can tell a cosign bundle from a `plugin sign` file; `None`
    /// for an unsigned upload.
    pub signature_form: Option<SignatureForm>,
}

impl PluginVersionView {
    /// Whether its signature came as a Sigstore bundle (the console says so
    /// beside the signer).
    pub fn signed_with_bundle(&self) -> bool {
        self.signature_form == Some(SignatureForm::SigstoreBundle)
    }
}

impl From<VersionInfo> for PluginVersionView {
    fn from(v: VersionInfo) -> PluginVersionView {
        let interface: Value = serde_json::from_str(&v.interface).unwrap_or_default();
        let names = |key: &str| -> Vec<String> {
            interface[key]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                .unwrap_or_default()
        };
        PluginVersionView {
            imports: names("imports"),
            exports: names("exports"),
            id: v.id,
            version: v.version,
            sha256: v.sha256,
            size: v.size,
            world: v.world,
            declared_claims: v.declared_claims,
            uploaded_by: v.uploaded_by,
            uploaded_at: v.uploaded_at,
            signed_by: v.signed_by,
            signature_form: v.signature.as_deref().map(SignatureForm::of),
        }
    }
}

/// Lists of rows become lists of views.
pub fn all<R, V: From<R>>(rows: Vec<R>) -> Vec<V> {
    rows.into_iter().map(V::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The views that reach a template or a JSON body carry no hash and no
    /// sealed secret.
    #[test]
    fn views_carry_no_hashes_or_sealed_secrets() {
        let secret = ClientSecret {
            id: "s1".into(),
            client_id: "c1".into(),
            secret_hash: "HASH-VALUE".into(),
            hint: "abcd".into(),
            created_at: 1,
            expires_at: None,
            revoked_at: None,
        };
        let text = serde_json::to_string(&ClientSecretView::of(secret, 2)).unwrap_or_default();
        assert!(!text.contains("HASH-VALUE") && !text.contains("secret_hash"), "{text}");
        assert!(text.contains("\"active\":true"), "{text}");
        let user = User {
            id: "u1".into(),
            username: "dana".into(),
            password_hash: Some("$argon2id$PHC".into()),
            email: None,
            profile: json!({}),
            metadata: json!({}),
            roles: vec![],
            disabled: false,
            created_at: 1,
            updated_at: 1,
        };
        let text = serde_json::to_string(&UserView::from(user)).unwrap_or_default();
        assert!(!text.contains("argon2") && text.contains("\"has_password\":true"), "{text}");
    }
}
