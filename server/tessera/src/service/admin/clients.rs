//! Clients: create, edit, delete, and their secrets (added with optional
//! rotation overlap, revoked).

use super::{AdminError, audit, internal, invalid};
use crate::clock;
use crate::service::db::Db;
use crate::service::views::{self, ClientDetail, ClientSecretView, ClientView};
use serde_json::{Value, json};
use tessera_protocol::ScopeSet;
use tessera_protocol::backchannel;
use tessera_protocol::client_assertion::check_jwks_uri;
use tessera_protocol::grant::jwt_bearer::TrustedIssuer;
use tessera_protocol::model::{GrantType, UnknownName};
use tessera_protocol::redirect_uri::validate_redirect_uri;
use tessera_protocol::secret::PlainSecret;
/// What a client may obtain by token exchange: the store's type, named here
/// so the console and the CLI need not reach into the store.
pub use tessera_store::clients::ExchangePolicy;
use tessera_store::clients::{self, Client, ClientSecret};
use tessera_store::plugins::Trigger;
use tessera_store::users;
use tessera_store::{DbConn, Store, StoreError};
use tessera_store::{grants, plugins};

/// A client to create.
#[derive(Debug, Default)]
pub struct NewClient {
    /// Display name.
    pub name: String,
    /// False for public clients (SPAs, native apps).
    pub public: bool,
    /// Allowed grant types.
    pub grant_types: Vec<String>,
    /// Redirect URIs (exact match).
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs (exact match).
    pub post_logout_redirect_uris: Vec<String>,
    /// Allowed scopes; `None`: any an API defines.
    pub scopes: Option<Vec<String>>,
    /// Allowed audiences; `None`: any API.
    pub audiences: Option<Vec<String>>,
    /// Metadata object.
    pub metadata: Value,
    /// Username of the service-account user.
    pub service_account: Option<String>,
    /// The operator's own app: no consent page.
    pub first_party: bool,
    /// Disabled: cannot authenticate or start an authorization.
    pub disabled: bool,
    /// What it may obtain by token exchange (RFC 8693). `None` keeps the
    /// stored policy on update (a form without these fields cannot erase
    /// it) and allows nothing on create.
    pub exchange: Option<ExchangePolicy>,
    /// RFC 9126 §6: authorization requests only by PAR.
    pub require_pushed_authorization_requests: bool,
    /// Public keys for `private_key_jwt` (RFC 7523 §2.2), a JWK Set. `None`
    /// keeps the stored keys on update (a form without the field cannot
    /// erase them) and registers none on create; JSON `null` removes them.
    pub jwks: Option<Value>,
    /// Where the client publishes its `private_key_jwt` keys instead of
    /// `jwks`. `None` keeps the stored URL on update; an empty string
    /// removes it.
    pub jwks_uri: Option<String>,
    /// Issuers whose assertions it may trade for tokens (RFC 7523 §2.1).
    /// `None` keeps the stored list on update; an empty list removes all.
    pub jwt_bearer_issuers: Option<Vec<TrustedIssuer>>,
    /// RFC 9449 §5.2 `dpop_bound_access_tokens`: token requests without a
    /// DPoP proof are refused.
    pub dpop_bound_access_tokens: bool,
    /// OpenID Connect Back-Channel Logout: where Logout Tokens are posted.
    /// `None` keeps the stored URL on update; an empty string removes it.
    pub backchannel_logout_uri: Option<String>,
    /// RFC 9101 §10.5: authorization requests only as signed request
    /// objects. Needs keys (`jwks` or `jwks_uri`) to verify them with.
    pub require_signed_request_object: bool,
    /// OpenID Connect Front-Channel Logout: the page loaded when a session
    /// ends. `None` keeps the stored URL on update; an empty string removes it.
    pub frontchannel_logout_uri: Option<String>,
}

/// The client's trimmed name and its grant types, parsed.
fn validate_client(new: &NewClient) -> Result<(String, Vec<GrantType>), AdminError> {
    let name = new.name.trim().to_owned();
    if name.is_empty() || name.len() > 200 {
        return Err(invalid("name", "must be 1 to 200 characters"));
    }
    if new.grant_types.is_empty() {
        return Err(invalid("grant-types", "name at least one grant type"));
    }
    let grant_types = new
        .grant_types
        .iter()
        .map(|g| g.parse().map_err(|e: UnknownName| invalid("grant-types", e.to_string())))
        .collect::<Result<Vec<GrantType>, _>>()?;
    if new.public && grant_types.contains(&GrantType::ClientCredentials) {
        return Err(invalid("grant-types", "a public client cannot use client_credentials (RFC 6749 §4.4)"));
    }
    for uri in &new.redirect_uris {
        validate_redirect_uri(uri).map_err(|e| invalid("redirect-uri", e.to_string()))?;
    }
    for uri in &new.post_logout_redirect_uris {
        validate_redirect_uri(uri).map_err(|e| invalid("post-logout-redirect-uri", e.to_string()))?;
    }
    if let Some(scopes) = &new.scopes {
        ScopeSet::parse(&scopes.join(" ")).map_err(|e| invalid("scopes", e.description))?;
    }
    if let Some(x) = &new.exchange {
        ScopeSet::parse(&x.scopes.join(" ")).map_err(|e| invalid("exchange-scopes", e.description))?;
        if x.audiences.iter().any(|a| a.trim().is_empty() || a.trim() != a) {
            return Err(invalid("exchange-audiences", "name API identifiers, without spaces"));
        }
    }
    if let Some(jwks) = new.jwks.as_ref().filter(|j| !j.is_null()) {
        if new.public {
            return Err(invalid("jwks", "only a confidential client authenticates with a key"));
        }
        crate::service::oauth::client_assertion::parse_public_jwks(jwks).map_err(|e| invalid("jwks", e))?;
    }
    validate_key_sources(new)?;
    if let Some(uri) = new.backchannel_logout_uri.as_deref().filter(|u| !u.is_empty()) {
        backchannel::check_logout_uri(uri, !new.public).map_err(|e| invalid("backchannel-logout-uri", e))?;
    }
    if let Some(uri) = new.frontchannel_logout_uri.as_deref().filter(|u| !u.is_empty()) {
        backchannel::check_frontchannel_uri(uri, &new.redirect_uris)
            .map_err(|e| invalid("frontchannel-logout-uri", e))?;
    }
    if !new.metadata.is_object() {
        return Err(invalid("metadata", "must be a JSON object"));
    }
    if new.service_account.is_some() && new.public {
        return Err(invalid("service-account", "only a confidential client can have a service account"));
    }
    Ok((name, grant_types))
}

/// The `jwks_uri` and the trusted issuers of the JWT bearer grant: a URL
/// `check_jwks_uri` accepts; a client's keys inline or by URL, not both
/// (the stored side is checked on update); the trusted issuers by
/// `trusted_issuers::validate`.
fn validate_key_sources(new: &NewClient) -> Result<(), AdminError> {
    if let Some(uri) = new.jwks_uri.as_deref().filter(|u| !u.is_empty()) {
        if new.public {
            return Err(invalid("jwks-uri", "only a confidential client authenticates with a key"));
        }
        check_jwks_uri(uri).map_err(|e| invalid("jwks-uri", e))?;
        if new.jwks.as_ref().is_some_and(|j| !j.is_null()) {
            return Err(invalid("jwks-uri", "register the keys inline (jwks) or by URL (jwks_uri), not both"));
        }
    }
    match &new.jwt_bearer_issuers {
        Some(issuers) => super::trusted_issuers::validate(issuers),
        None => Ok(()),
    }
}

/// Resolves a service-account username to the user's id.
fn service_account_id(conn: &mut DbConn, name: Option<&str>) -> Result<Option<String>, StoreError> {
    match name {
        None => Ok(None),
        Some(name) => match users::find_by_username(conn, name)? {
            Some(u) => Ok(Some(u.id)),
            None => Err(StoreError::NotFound(format!("service-account user {name:?}"))),
        },
    }
}

/// Creates a client; a confidential client gets its first secret, returned
/// here in plaintext for the one time it is shown.
pub fn create_client(
    store: &Store,
    actor: &str,
    now: i64,
    new: NewClient,
) -> Result<(Client, Option<PlainSecret>), AdminError> {
    create_client_with(store, actor, now, new, |_, _| Ok(()))
}

/// [`create_client`], with `also` run in the same transaction once the
/// client is stored (Dynamic Client Registration stores the client's
/// registration there, `service::registration`).
pub fn create_client_with(
    store: &Store,
    actor: &str,
    now: i64,
    new: NewClient,
    also: impl FnOnce(&mut DbConn, &Client) -> Result<(), StoreError>,
) -> Result<(Client, Option<PlainSecret>), AdminError> {
    let (name, grant_types) = validate_client(&new)?;
    let has_keys =
        new.jwks.as_ref().is_some_and(|j| !j.is_null()) || new.jwks_uri.as_ref().is_some_and(|u| !u.is_empty());
    if new.require_signed_request_object && !has_keys {
        return Err(invalid(
            "require-signed-request-object",
            "a client that must sign its requests needs keys to verify them: register jwks or jwks_uri",
        ));
    }
    within_actor(store, actor, &new)?;
    let id = clock::random_id(24).map_err(internal)?;
    let secret =
        if new.public { None } else { Some(PlainSecret::from_random(clock::random::<32>().map_err(internal)?)) };
    let secret_id = clock::uuid();
    let client = store.tx(|conn| {
        let client = Client {
            id: id.clone(),
            name: name.clone(),
            confidential: !new.public,
            grant_types: grant_types.clone(),
            redirect_uris: new.redirect_uris.clone(),
            post_logout_redirect_uris: new.post_logout_redirect_uris.clone(),
            allowed_scopes: new.scopes.clone(),
            allowed_audiences: new.audiences.clone(),
            metadata: new.metadata.clone(),
            service_account_user_id: service_account_id(conn, new.service_account.as_deref())?,
            first_party: new.first_party,
            disabled: new.disabled,
            exchange: new.exchange.clone().unwrap_or_default(),
            require_pushed_authorization_requests: new.require_pushed_authorization_requests,
            jwks: new.jwks.clone().filter(|j| !j.is_null()),
            jwks_uri: new.jwks_uri.clone().filter(|u| !u.is_empty()),
            jwt_bearer_issuers: new.jwt_bearer_issuers.clone().unwrap_or_default(),
            dpop_bound_access_tokens: new.dpop_bound_access_tokens,
            backchannel_logout_uri: new.backchannel_logout_uri.clone().filter(|u| !u.is_empty()),
            require_signed_request_object: new.require_signed_request_object,
            frontchannel_logout_uri: new.frontchannel_logout_uri.clone().filter(|u| !u.is_empty()),
            created_at: now,
            updated_at: now,
        };
        clients::insert(conn, &client)?;
        if let Some(s) = &secret {
            clients::insert_secret(conn, &secret_row(&secret_id, &id, s, now))?;
        }
        also(conn, &client)?;
        audit(
            conn,
            actor,
            now,
            "client.create",
            &id,
            json!({"name": name, "confidential": !new.public, "grant_types": new.grant_types}),
        )?;
        Ok(client)
    })?;
    Ok((client, secret))
}

/// Refuses a management client with scopes the actor does not hold itself
/// (issue #18 item 2, `service::roles::scopes_beyond_actor`).
fn within_actor(store: &impl Db, actor: &str, new: &NewClient) -> Result<(), AdminError> {
    let beyond =
        crate::service::roles::scopes_beyond_actor(store, actor, new.audiences.as_deref(), new.scopes.as_deref())?;
    if beyond.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = beyond.iter().map(|s| s.as_str()).collect();
    Err(invalid("scopes", format!("a management client cannot get scopes you do not hold: {}", names.join(", "))))
}

/// Changes a client's settings. Whether it is confidential stays as created
/// (`edit.public` must match): a public client has no secrets to turn on.
pub fn update_client(store: &impl Db, actor: &str, now: i64, id: &str, edit: NewClient) -> Result<Client, AdminError> {
    let (name, grant_types) = validate_client(&edit)?;
    within_actor(store, actor, &edit)?;
    let client = store.tx(|conn| {
        let mut c = clients::find(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("client {id}")))?;
        if c.confidential == edit.public {
            return Err(StoreError::Conflict("a client's type (confidential or public) cannot change".into()));
        }
        c.name = name.clone();
        c.grant_types = grant_types.clone();
        c.redirect_uris = edit.redirect_uris.clone();
        c.post_logout_redirect_uris = edit.post_logout_redirect_uris.clone();
        c.allowed_scopes = edit.scopes.clone();
        c.allowed_audiences = edit.audiences.clone();
        c.metadata = edit.metadata.clone();
        c.service_account_user_id = service_account_id(conn, edit.service_account.as_deref())?;
        c.first_party = edit.first_party;
        c.require_pushed_authorization_requests = edit.require_pushed_authorization_requests;
        c.dpop_bound_access_tokens = edit.dpop_bound_access_tokens;
        c.require_signed_request_object = edit.require_signed_request_object;
        if let Some(x) = &edit.exchange {
            c.exchange = x.clone();
        }
        if let Some(j) = &edit.jwks {
            c.jwks = Some(j.clone()).filter(|j| !j.is_null());
        }
        if let Some(u) = &edit.jwks_uri {
            c.jwks_uri = Some(u.clone()).filter(|u| !u.is_empty());
        }
        if let Some(u) = &edit.backchannel_logout_uri {
            c.backchannel_logout_uri = Some(u.clone()).filter(|u| !u.is_empty());
        }
        if let Some(u) = &edit.frontchannel_logout_uri {
            c.frontchannel_logout_uri = Some(u.clone()).filter(|u| !u.is_empty());
        }
        if c.require_signed_request_object && c.jwks.is_none() && c.jwks_uri.is_none() {
            return Err(StoreError::Conflict(
                "a client that must sign its requests needs keys to verify them: register jwks or jwks_uri".into(),
            ));
        }
        if c.jwks.is_some() && c.jwks_uri.is_some() {
            return Err(StoreError::Conflict(
                "register the keys inline (jwks) or by URL (jwks_uri), not both: remove one".into(),
            ));
        }
        if let Some(list) = &edit.jwt_bearer_issuers {
            c.jwt_bearer_issuers = list.clone();
        }
        // Issue #11 item 5: disabling a client ends its refresh-token
        // families; issue #15 item 1: and its access tokens.
        let revoked = if edit.disabled && !c.disabled { grants::revoke_client(conn, id, now)? } else { 0 };
        c.disabled = edit.disabled;
        c.updated_at = now;
        clients::update(conn, &c)?;
        audit(conn, actor, now,
            "client.update",
            id,
            json!({"name": name, "grant_types": edit.grant_types, "disabled": c.disabled, "revoked_refresh_tokens": revoked}),
        )?;
        Ok(c)
    })?;
    Ok(client)
}

/// Deletes a client with its secrets and grants, and takes it out of the
/// client hooks that name it; a hook left with no client is disabled (an
/// empty list never runs, and must not turn into a rule for every client).
/// The access tokens issued to it are revoked (issue #15 item 1).
pub fn delete_client(store: &impl Db, actor: &str, now: i64, id: &str) -> Result<(), AdminError> {
    store.tx(|conn| {
        let c = clients::find(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("client {id}")))?;
        for mut b in plugins::bindings_for_trigger(conn, Trigger::Token)? {
            let Some(ids) = b.client_ids.as_mut().filter(|ids| ids.iter().any(|c| c == id)) else { continue };
            ids.retain(|c| c != id);
            if ids.is_empty() {
                b.enabled = false;
            }
            b.updated_at = now;
            plugins::update_binding(conn, &b)?;
            audit(conn, actor, now, "binding.update", &b.id, json!({"removed_client": id, "enabled": b.enabled}))?;
        }
        grants::revoke_client(conn, id, now)?;
        clients::delete(conn, id)?;
        audit(conn, actor, now, "client.delete", id, json!({"name": c.name}))
    })?;
    Ok(())
}

fn secret_row(secret_id: &str, client_id: &str, s: &PlainSecret, now: i64) -> ClientSecret {
    ClientSecret {
        id: secret_id.to_owned(),
        client_id: client_id.to_owned(),
        secret_hash: s.hash().as_str().to_owned(),
        hint: s.expose().chars().take(4).collect(),
        created_at: now,
        expires_at: None,
        revoked_at: None,
    }
}

/// Adds a new secret to a confidential client. With `overlap_secs`, every
/// other active secret expires that many seconds from now (rotation);
/// without it, the old secrets stay active.
pub fn add_client_secret(
    store: &Store,
    actor: &str,
    now: i64,
    client_id: &str,
    overlap_secs: Option<i64>,
) -> Result<(ClientSecret, PlainSecret), AdminError> {
    if overlap_secs.is_some_and(|o| o < 0) {
        return Err(invalid("overlap", "must not be negative"));
    }
    let secret = PlainSecret::from_random(clock::random::<32>().map_err(internal)?);
    let row = secret_row(&clock::uuid(), client_id, &secret, now);
    store.tx(|conn| {
        let client =
            clients::find(conn, client_id)?.ok_or_else(|| StoreError::NotFound(format!("client {client_id}")))?;
        if !client.confidential {
            return Err(StoreError::Conflict("a public client has no secrets".into()));
        }
        clients::insert_secret(conn, &row)?;
        if let Some(o) = overlap_secs {
            clients::expire_other_secrets(conn, client_id, &row.id, now + o)?;
        }
        audit(
            conn,
            actor,
            now,
            "client.secret.add",
            client_id,
            json!({"secret_id": row.id, "overlap_secs": overlap_secs}),
        )
    })?;
    Ok((row, secret))
}

/// Revokes one secret at once.
pub fn revoke_client_secret(
    store: &impl Db,
    actor: &str,
    now: i64,
    client_id: &str,
    secret_id: &str,
) -> Result<(), AdminError> {
    store.tx(|conn| {
        clients::revoke_secret(conn, client_id, secret_id, now)?;
        audit(conn, actor, now, "client.secret.revoke", client_id, json!({"secret_id": secret_id}))
    })?;
    Ok(())
}

/// A page of clients.
pub fn list_clients(store: &Store, offset: i64, limit: i64) -> Result<Vec<ClientView>, StoreError> {
    let mut conn = store.conn()?;
    let registered = tessera_store::registrations::client_ids(&mut conn)?;
    let mut all: Vec<ClientView> = views::all(clients::list(&mut conn, offset, limit)?);
    for c in &mut all {
        c.self_registered = registered.contains(&c.id);
    }
    Ok(all)
}

/// A client with its secrets (as of `now`), the token hooks that name it
/// and its service account's name; `None` if it does not exist.
pub fn client_detail(store: &impl Db, id: &str, now: i64) -> Result<Option<ClientDetail>, StoreError> {
    let mut c = store.conn()?;
    let Some(client) = clients::find(&mut c, id)? else { return Ok(None) };
    let secrets = clients::secrets(&mut c, id)?.into_iter().map(|s| ClientSecretView::of(s, now)).collect();
    let hooks = plugins::bindings_for_trigger(&mut c, Trigger::Token)?
        .into_iter()
        .filter(|b| b.client_ids.as_ref().is_some_and(|ids| ids.iter().any(|x| x == id)))
        .map(views::BindingView::from)
        .collect();
    let service_account = match &client.service_account_user_id {
        Some(uid) => users::find(&mut c, uid)?.map(|u| u.username),
        None => None,
    };
    let registration = tessera_store::registrations::find(&mut c, id)?.as_ref().map(views::RegistrationView::of);
    let mut client = ClientView::from(client);
    client.self_registered = registration.is_some();
    Ok(Some(ClientDetail { client, secrets, hooks, service_account, registration }))
}
