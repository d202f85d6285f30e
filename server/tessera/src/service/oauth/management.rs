//! Bearer tokens of the management API (issue #14 item 2): Tessera issues
//! them itself, by `client_credentials`, for a built-in audience
//! ([`MANAGEMENT_AUDIENCE`]), and checks them here with the rules every other
//! access token passes (`access_token.rs`), then the audience, the client
//! (it must still exist, be enabled, and name the management audience and
//! the scope itself: a client left open to "any API" is not a management
//! client) and the scope an operation needs. It takes bearer tokens only,
//! so a DPoP-bound token (RFC 9449 §7.2: never accepted as a bearer
//! token) is refused here: a management client does not use DPoP.

use super::access_token::own_access_token;
use super::issuer::Issuer;
use super::revoked::RevokedTokens;
use crate::clock::SharedClock;
use crate::service::store_failure;
use serde_json::Value;
use std::sync::Arc;
use tessera_protocol::{OAuthError, dpop};
use tessera_store::{Store, clients};

/// The audience (API identifier) of management tokens. It is fixed rather
/// than derived from the issuer URL because `tessera mgmt-client create`
/// runs on the server's machine with a configuration that may not name the
/// issuer the server answers as; a token is still bound to this server by
/// its `iss` and signature, which `own_access_token` checks first. The
/// grant rules (`tessera_protocol::grant`) give its tokens only to clients
/// that name it and their scopes.
pub use tessera_protocol::grant::MANAGEMENT_AUDIENCE;

/// A scope of the management API: one per resource and action, so a CI
/// client that uploads plugins need not be able to change clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ManagementScope {
    /// List and read clients and their secrets' hints.
    ReadClients,
    /// Create, change and delete clients; add and revoke their secrets.
    WriteClients,
    /// List and read APIs.
    ReadApis,
    /// Create, change and delete APIs.
    WriteApis,
    /// List and read plugins and their versions.
    ReadPlugins,
    /// Upload plugin versions.
    WritePlugins,
    /// List and read bindings.
    ReadBindings,
    /// Create, change and delete bindings.
    WriteBindings,
    /// List and read users (never their password hashes).
    ReadUsers,
    /// Create, change and delete users; set their passwords.
    WriteUsers,
    /// List and read signing keys (public parts only).
    ReadKeys,
    /// Rotate an algorithm's keys and retire a key.
    WriteKeys,
    /// List and read console administrators.
    ReadAdmins,
    /// Create and delete console administrators.
    WriteAdmins,
    /// List and read audit events.
    ReadAudit,
    /// List and read plugin run records.
    ReadRuns,
}

impl ManagementScope {
    /// Every scope, in the order the management API registers them.
    pub const ALL: [ManagementScope; 16] = [
        ManagementScope::ReadClients,
        ManagementScope::WriteClients,
        ManagementScope::ReadApis,
        ManagementScope::WriteApis,
        ManagementScope::ReadPlugins,
        ManagementScope::WritePlugins,
        ManagementScope::ReadBindings,
        ManagementScope::WriteBindings,
        ManagementScope::ReadUsers,
        ManagementScope::WriteUsers,
        ManagementScope::ReadKeys,
        ManagementScope::WriteKeys,
        ManagementScope::ReadAdmins,
        ManagementScope::WriteAdmins,
        ManagementScope::ReadAudit,
        ManagementScope::ReadRuns,
    ];

    /// The scope's wire name (`action:resource`), the one table of names.
    pub fn as_str(self) -> &'static str {
        match self {
            ManagementScope::ReadClients => "read:clients",
            ManagementScope::WriteClients => "write:clients",
            ManagementScope::ReadApis => "read:apis",
            ManagementScope::WriteApis => "write:apis",
            ManagementScope::ReadPlugins => "read:plugins",
            ManagementScope::WritePlugins => "write:plugins",
            ManagementScope::ReadBindings => "read:bindings",
            ManagementScope::WriteBindings => "write:bindings",
            ManagementScope::ReadUsers => "read:users",
            ManagementScope::WriteUsers => "write:users",
            ManagementScope::ReadKeys => "read:keys",
            ManagementScope::WriteKeys => "write:keys",
            ManagementScope::ReadAdmins => "read:admins",
            ManagementScope::WriteAdmins => "write:admins",
            ManagementScope::ReadAudit => "read:audit",
            ManagementScope::ReadRuns => "read:runs",
        }
    }

    /// What the scope allows, for the OpenAPI document, the console's API
    /// reference and `tessera mgmt-client create --help`.
    pub fn description(self) -> &'static str {
        match self {
            ManagementScope::ReadClients => "List and read clients and the metadata of their secrets (never a secret)",
            ManagementScope::WriteClients => "Create, change and delete clients; add and revoke their secrets",
            ManagementScope::ReadApis => "List and read APIs",
            ManagementScope::WriteApis => "Create, change and delete APIs",
            ManagementScope::ReadPlugins => "List and read plugins and their versions",
            ManagementScope::WritePlugins => "Upload plugin versions",
            ManagementScope::ReadBindings => "List and read plugin bindings",
            ManagementScope::WriteBindings => "Create, change and delete plugin bindings",
            ManagementScope::ReadKeys => "List and read signing keys (public JWK, algorithm, state, dates)",
            ManagementScope::WriteKeys => "Rotate the signing keys of one algorithm; retire a key",
            ManagementScope::ReadAdmins => "List and read console administrators",
            ManagementScope::WriteAdmins => "Create and delete console administrators",
            ManagementScope::ReadAudit => "List and read audit events",
            ManagementScope::ReadRuns => "List and read plugin run records",
            ManagementScope::ReadUsers => "List and read users (never their password hashes)",
            ManagementScope::WriteUsers => "Create, change and delete users; set their passwords",
        }
    }

    /// The scope named `name`, if there is one.
    pub fn parse(name: &str) -> Option<ManagementScope> {
        ManagementScope::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// Why a management request was refused (RFC 6750 §3.1).
#[derive(Debug)]
pub enum BearerError {
    /// No bearer token: 401 with a bare challenge.
    Missing,
    /// Invalid, expired, foreign, for another audience, or its client is
    /// gone or disabled: 401 `invalid_token`.
    InvalidToken,
    /// A valid management token without the scope: 403 `insufficient_scope`.
    InsufficientScope(ManagementScope),
    /// Storage or keys failed.
    Internal(OAuthError),
}

/// Who made a management request: the client its token was issued to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagementActor {
    /// The management client's id.
    pub client_id: String,
}

impl ManagementActor {
    /// The actor recorded in the audit log (`client:<id>`, so it cannot be
    /// mistaken for an administrator's name or `cli`).
    pub fn audit_name(&self) -> String {
        format!("client:{}", self.client_id)
    }
}

/// Checks management tokens.
pub struct ManagementAuth {
    store: Store,
    clock: SharedClock,
    issuer: Arc<Issuer>,
    revoked: Arc<RevokedTokens>,
}

impl ManagementAuth {
    /// Tokens are checked against `issuer`; their audience must be
    /// [`MANAGEMENT_AUDIENCE`], and must not be revoked (`revoked`).
    pub(crate) fn new(
        store: Store,
        clock: SharedClock,
        issuer: Arc<Issuer>,
        revoked: Arc<RevokedTokens>,
    ) -> ManagementAuth {
        ManagementAuth { store, clock, issuer, revoked }
    }

    /// The time of a management request's changes, from the services'
    /// clock (the admin services take it rather than reading a clock).
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The actor behind `token` if it is a valid management token whose
    /// `scope` claim holds `needed`.
    pub fn authorize(&self, token: Option<&str>, needed: ManagementScope) -> Result<ManagementActor, BearerError> {
        let token = token.ok_or(BearerError::Missing)?;
        let own = own_access_token(&self.issuer, &self.store, &self.revoked, token, self.clock.now())
            .map_err(BearerError::Internal)?
            .ok_or(BearerError::InvalidToken)?;
        if own.api.audience.as_str() != MANAGEMENT_AUDIENCE {
            return Err(BearerError::InvalidToken);
        }
        if dpop::bound_jkt(&own.claims).is_some() {
            tracing::info!("a DPoP-bound token was presented as a bearer token to the management API");
            return Err(BearerError::InvalidToken);
        }
        let client_id = own.client_id().to_owned();
        let mut conn = self.store.conn().map_err(|e| BearerError::Internal(store_failure(e)))?;
        let client = clients::find(&mut conn, &client_id).map_err(|e| BearerError::Internal(store_failure(e)))?;
        // A client whose audiences or scopes are left open ("any API", "any
        // scope") may be issued a token for this audience like for any API;
        // only a client that names the management API, and the scope, is a
        // management client.
        let Some(client) = client.filter(|c| !c.disabled) else { return Err(BearerError::InvalidToken) };
        if !client.allowed_audiences.as_ref().is_some_and(|a| a.iter().any(|x| x == MANAGEMENT_AUDIENCE)) {
            return Err(BearerError::InvalidToken);
        }
        let allowed = client.allowed_scopes.as_ref().is_some_and(|s| s.iter().any(|x| x == needed.as_str()));
        let granted = own.claims.get("scope").and_then(Value::as_str).unwrap_or("");
        if !allowed || !granted.split(' ').any(|s| s == needed.as_str()) {
            return Err(BearerError::InsufficientScope(needed));
        }
        Ok(ManagementActor { client_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_names_round_trip_and_are_unique() {
        let names: std::collections::HashSet<&str> = ManagementScope::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names.len(), ManagementScope::ALL.len());
        for s in ManagementScope::ALL {
            assert_eq!(ManagementScope::parse(s.as_str()), Some(s));
        }
        assert_eq!(ManagementScope::parse("write:everything"), None);
    }
}
