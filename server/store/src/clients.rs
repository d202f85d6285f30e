//! Clients and their secrets.
//!
//! Secrets are stored as SHA-256 hashes (see `tessera_protocol::secret`);
//! several may be active at once so an operator can rotate without downtime.

use crate::json::{from_text, to_text};
use crate::schema::{client_secrets, clients};
use crate::{DbConn, StoreError};
use diesel::prelude::*;
use serde_json::Value;
use tessera_protocol::grant::jwt_bearer::TrustedIssuer;
use tessera_protocol::grant::token_exchange::Policy;
use tessera_protocol::model::{ClientProfile, GrantType};
use tessera_protocol::secret::SecretHash;
use tessera_protocol::{Audience, ClientId, ScopeSet};

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = clients)]
#[diesel(treat_none_as_null = true)]
struct Row {
    id: String,
    name: String,
    confidential: bool,
    grant_types: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    allowed_scopes: Option<String>,
    allowed_audiences: Option<String>,
    metadata: String,
    service_account_user_id: Option<String>,
    created_at: i64,
    updated_at: i64,
    first_party: bool,
    disabled: bool,
    exchange_audiences: String,
    exchange_scopes: String,
    exchange_impersonation: bool,
    require_pushed_authorization_requests: bool,
    jwks: Option<String>,
    jwks_uri: Option<String>,
    jwt_bearer_issuers: String,
    dpop_bound_access_tokens: bool,
    backchannel_logout_uri: Option<String>,
    require_signed_request_object: bool,
    frontchannel_logout_uri: Option<String>,
}

/// A client as stored.
#[derive(Debug, Clone)]
pub struct Client {
    /// The client_id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Confidential (has secrets) or public.
    pub confidential: bool,
    /// Allowed grant types.
    pub grant_types: Vec<GrantType>,
    /// Registered redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// Registered post-logout redirect URIs, matched exactly.
    pub post_logout_redirect_uris: Vec<String>,
    /// Scopes the client may request; `None`: any scope an API defines.
    pub allowed_scopes: Option<Vec<String>>,
    /// Audiences the client may request; `None`: any API.
    pub allowed_audiences: Option<Vec<String>>,
    /// Free-form metadata, a JSON object, shown to plugins.
    pub metadata: Value,
    /// The linked service-account user, for client_credentials tokens.
    pub service_account_user_id: Option<String>,
    /// First-party clients (the operator's own apps) skip the consent page.
    pub first_party: bool,
    /// A disabled client cannot authenticate or start an authorization.
    pub disabled: bool,
    /// What it may obtain by token exchange (RFC 8693); default nothing.
    pub exchange: ExchangePolicy,
    /// RFC 9126 §6: the authorization endpoint takes this client's requests
    /// only as pushed authorization requests (`request_uri`), so their
    /// parameters never travel through the browser.
    pub require_pushed_authorization_requests: bool,
    /// Public keys for `private_key_jwt` (RFC 7523 §2.2), a JWK Set object;
    /// `None`: the client cannot authenticate with an assertion.
    pub jwks: Option<Value>,
    /// Where the client publishes its `private_key_jwt` keys instead
    /// (never together with `jwks`); fetched and cached per node.
    pub jwks_uri: Option<String>,
    /// Issuers whose assertions it may trade for tokens with the JWT bearer
    /// grant (RFC 7523 §2.1); empty: none.
    pub jwt_bearer_issuers: Vec<TrustedIssuer>,
    /// RFC 9449 §5.2 `dpop_bound_access_tokens`: every token request of
    /// this client must carry a DPoP proof, so none of its access tokens is
    /// a plain bearer token.
    pub dpop_bound_access_tokens: bool,
    /// OpenID Connect Back-Channel Logout §2.2: where a Logout Token is
    /// posted when a browser session this client signed in through ends.
    pub backchannel_logout_uri: Option<String>,
    /// RFC 9101 §10.5 `require_signed_request_object`: its authorization
    /// requests count only when signed (a request object, by value or
    /// pushed).
    pub require_signed_request_object: bool,
    /// OpenID Connect Front-Channel Logout §2: the page of this client the
    /// browser loads (in an iframe) when a session it signed in through
    /// ends at the end-session endpoint.
    pub frontchannel_logout_uri: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl TryFrom<Row> for Client {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self, StoreError> {
        Ok(Client {
            grant_types: from_text("clients.grant_types", &r.grant_types)?,
            redirect_uris: from_text("clients.redirect_uris", &r.redirect_uris)?,
            post_logout_redirect_uris: from_text("clients.post_logout_redirect_uris", &r.post_logout_redirect_uris)?,
            allowed_scopes: r.allowed_scopes.as_deref().map(|s| from_text("clients.allowed_scopes", s)).transpose()?,
            allowed_audiences: r
                .allowed_audiences
                .as_deref()
                .map(|s| from_text("clients.allowed_audiences", s))
                .transpose()?,
            metadata: from_text("clients.metadata", &r.metadata)?,
            exchange: ExchangePolicy {
                audiences: from_text("clients.exchange_audiences", &r.exchange_audiences)?,
                scopes: from_text("clients.exchange_scopes", &r.exchange_scopes)?,
                impersonation: r.exchange_impersonation,
            },
            id: r.id,
            name: r.name,
            confidential: r.confidential,
            service_account_user_id: r.service_account_user_id,
            first_party: r.first_party,
            disabled: r.disabled,
            require_pushed_authorization_requests: r.require_pushed_authorization_requests,
            jwks: r.jwks.as_deref().map(|j| from_text("clients.jwks", j)).transpose()?,
            jwks_uri: r.jwks_uri,
            jwt_bearer_issuers: from_text("clients.jwt_bearer_issuers", &r.jwt_bearer_issuers)?,
            dpop_bound_access_tokens: r.dpop_bound_access_tokens,
            backchannel_logout_uri: r.backchannel_logout_uri,
            require_signed_request_object: r.require_signed_request_object,
            frontchannel_logout_uri: r.frontchannel_logout_uri,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

impl Client {
    fn to_row(&self) -> Result<Row, StoreError> {
        Ok(Row {
            id: self.id.clone(),
            name: self.name.clone(),
            confidential: self.confidential,
            grant_types: to_text(&self.grant_types)?,
            redirect_uris: to_text(&self.redirect_uris)?,
            post_logout_redirect_uris: to_text(&self.post_logout_redirect_uris)?,
            allowed_scopes: self.allowed_scopes.as_ref().map(to_text).transpose()?,
            allowed_audiences: self.allowed_audiences.as_ref().map(to_text).transpose()?,
            metadata: to_text(&self.metadata)?,
            service_account_user_id: self.service_account_user_id.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            first_party: self.first_party,
            disabled: self.disabled,
            exchange_audiences: to_text(&self.exchange.audiences)?,
            exchange_scopes: to_text(&self.exchange.scopes)?,
            exchange_impersonation: self.exchange.impersonation,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            jwks: self.jwks.as_ref().map(to_text).transpose()?,
            jwks_uri: self.jwks_uri.clone(),
            jwt_bearer_issuers: to_text(&self.jwt_bearer_issuers)?,
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            backchannel_logout_uri: self.backchannel_logout_uri.clone(),
            require_signed_request_object: self.require_signed_request_object,
            frontchannel_logout_uri: self.frontchannel_logout_uri.clone(),
        })
    }

    /// The protocol's view of this client.
    pub fn profile(&self) -> ClientProfile {
        ClientProfile {
            id: ClientId::new(&self.id),
            name: self.name.clone(),
            confidential: self.confidential,
            grant_types: self.grant_types.clone(),
            allowed_scopes: self.allowed_scopes.as_ref().map(ScopeSet::from_tokens),
            allowed_audiences: self.allowed_audiences.as_ref().map(|a| a.iter().map(Audience::new).collect()),
        }
    }
}

/// What a client may obtain by token exchange, as stored. The default
/// allows nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExchangePolicy {
    /// API identifiers it may obtain tokens for.
    pub audiences: Vec<String>,
    /// Scopes it may obtain.
    pub scopes: Vec<String>,
    /// True if it may exchange without an actor token (impersonation).
    pub impersonation: bool,
}

impl ExchangePolicy {
    /// The protocol's view of this policy.
    pub fn profile(&self) -> Policy {
        Policy {
            audiences: self.audiences.iter().map(Audience::new).collect(),
            scopes: ScopeSet::from_tokens(&self.scopes),
            impersonation: self.impersonation,
        }
    }
}

/// Inserts a client.
pub fn insert(conn: &mut DbConn, client: &Client) -> Result<(), StoreError> {
    diesel::insert_into(clients::table).values(client.to_row()?).execute(conn)?;
    Ok(())
}

/// Replaces a client's stored fields.
pub fn update(conn: &mut DbConn, client: &Client) -> Result<(), StoreError> {
    let n = diesel::update(clients::table.find(&client.id)).set(client.to_row()?).execute(conn)?;
    if n == 0 { Err(StoreError::NotFound(format!("client {}", client.id))) } else { Ok(()) }
}

/// The client with this id, if any.
pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<Client>, StoreError> {
    clients::table.find(id).select(Row::as_select()).first(conn).optional()?.map(Client::try_from).transpose()
}

/// A page of clients ordered by name.
pub fn list(conn: &mut DbConn, offset: i64, limit: i64) -> Result<Vec<Client>, StoreError> {
    clients::table
        .order((clients::name.asc(), clients::id.asc()))
        .offset(offset)
        .limit(limit)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Client::try_from)
        .collect()
}

/// Clients whose allowed audiences name `audience` exactly, so deleting an
/// API can take it out of them. The list is stored as JSON text; the LIKE
/// looks for the JSON-quoted string, which only narrows the scan (`_` and `%`
/// may over-match), and the parsed list decides.
pub fn naming_audience(conn: &mut DbConn, audience: &str) -> Result<Vec<Client>, StoreError> {
    let quoted = to_text(&audience)?;
    let rows = clients::table
        .filter(clients::allowed_audiences.like(format!("%{quoted}%")))
        .order(clients::id.asc())
        .select(Row::as_select())
        .load(conn)?;
    let mut found = Vec::new();
    for row in rows {
        let client = Client::try_from(row)?;
        if client.allowed_audiences.as_ref().is_some_and(|a| a.iter().any(|x| x == audience)) {
            found.push(client);
        }
    }
    Ok(found)
}

/// Deletes a client and (by cascade) its secrets.
pub fn delete(conn: &mut DbConn, id: &str) -> Result<(), StoreError> {
    diesel::delete(client_secrets::table.filter(client_secrets::client_id.eq(id))).execute(conn)?;
    let n = diesel::delete(clients::table.find(id)).execute(conn)?;
    if n == 0 { Err(StoreError::NotFound(format!("client {id}"))) } else { Ok(()) }
}

/// A stored client secret (never the plaintext).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = client_secrets)]
pub struct ClientSecret {
    /// Secret id, to revoke it by.
    pub id: String,
    /// Owning client.
    pub client_id: String,
    /// SHA-256 hex of the plaintext.
    pub secret_hash: String,
    /// The first characters of the plaintext, so admins can tell secrets apart.
    pub hint: String,
    /// Unix seconds.
    pub created_at: i64,
    /// When the secret stops working (rotation overlap), if ever.
    pub expires_at: Option<i64>,
    /// When an admin revoked it.
    pub revoked_at: Option<i64>,
}

impl ClientSecret {
    /// True if the secret authenticates at `now`.
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

/// Stores a new secret hash.
pub fn insert_secret(conn: &mut DbConn, secret: &ClientSecret) -> Result<(), StoreError> {
    diesel::insert_into(client_secrets::table).values(secret).execute(conn)?;
    Ok(())
}

/// Every secret of a client, newest first.
pub fn secrets(conn: &mut DbConn, client_id: &str) -> Result<Vec<ClientSecret>, StoreError> {
    Ok(client_secrets::table
        .filter(client_secrets::client_id.eq(client_id))
        .order(client_secrets::created_at.desc())
        .select(ClientSecret::as_select())
        .load(conn)?)
}

/// Hashes of the secrets that authenticate at `now`.
pub fn active_secret_hashes(conn: &mut DbConn, client_id: &str, now: i64) -> Result<Vec<SecretHash>, StoreError> {
    Ok(secrets(conn, client_id)?
        .into_iter()
        .filter(|s| s.is_active(now))
        .map(|s| SecretHash::from_stored(s.secret_hash))
        .collect())
}

/// Makes every active secret of a client expire at `expires_at` (rotation
/// overlap), except `keep`.
pub fn expire_other_secrets(
    conn: &mut DbConn,
    client_id: &str,
    keep: &str,
    expires_at: i64,
) -> Result<usize, StoreError> {
    Ok(diesel::update(
        client_secrets::table
            .filter(client_secrets::client_id.eq(client_id))
            .filter(client_secrets::id.ne(keep))
            .filter(client_secrets::revoked_at.is_null())
            .filter(client_secrets::expires_at.is_null().or(client_secrets::expires_at.gt(expires_at))),
    )
    .set(client_secrets::expires_at.eq(Some(expires_at)))
    .execute(conn)?)
}

/// Revokes one secret of a client.
pub fn revoke_secret(conn: &mut DbConn, client_id: &str, secret_id: &str, now: i64) -> Result<(), StoreError> {
    let n = diesel::update(
        client_secrets::table.filter(client_secrets::client_id.eq(client_id)).filter(client_secrets::id.eq(secret_id)),
    )
    .set(client_secrets::revoked_at.eq(Some(now)))
    .execute(conn)?;
    if n == 0 { Err(StoreError::NotFound(format!("secret {secret_id}"))) } else { Ok(()) }
}

/// How many clients exist.
pub fn count(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(clients::table.count().get_result(conn)?)
}
