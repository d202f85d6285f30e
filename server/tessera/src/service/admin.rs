//! Admin use cases: create and change users, clients, secrets and APIs, each
//! validated field by field and recorded in the audit log in the same
//! transaction (nothing half-saved, nothing unaudited).

use super::pipeline::TOKEN_TRIGGER;
use crate::clock;
use crate::crypto::MasterKey;
use crate::passwords;
use serde_json::{Value, json};
use tessera_protocol::ScopeSet;
use tessera_protocol::model::{GrantType, SigningAlg, UnknownName};
use tessera_protocol::secret::PlainSecret;
use tessera_store::apis::{self, Api};
use tessera_store::audit::{self, AuditEvent};
use tessera_store::clients::{self, Client, ClientSecret};
use tessera_store::users::{self, User};
use tessera_store::{DbConn, Store, StoreError};
use tessera_store::{grants, plugins};

/// Why an admin action was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A field is invalid; the console shows `message` next to `field`.
    #[error("{field}: {message}")]
    Invalid {
        /// The field (flag or form name).
        field: &'static str,
        /// What is wrong, for the admin.
        message: String,
    },
    /// A uniqueness rule (username, API identifier).
    #[error("{0}")]
    Conflict(String),
    /// The object does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
    /// Something internal (randomness, hashing, encryption).
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => AdminError::Conflict(m),
            StoreError::NotFound(m) => AdminError::NotFound(m),
            other => AdminError::Store(other),
        }
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> AdminError {
    AdminError::Invalid { field, message: message.into() }
}

fn internal(e: impl std::fmt::Display) -> AdminError {
    AdminError::Internal(e.to_string())
}

/// Appends an audit event inside the caller's transaction.
pub fn audit(conn: &mut DbConn, actor: &str, action: &str, target: &str, detail: Value) -> Result<(), StoreError> {
    audit::record(
        conn,
        &AuditEvent {
            id: clock::uuid(),
            at: clock::now(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            detail: detail.to_string(),
        },
    )
}

/// Parses a JSON object given as text (metadata, profile).
pub fn json_object(field: &'static str, text: Option<&str>) -> Result<Value, AdminError> {
    match text {
        None => Ok(json!({})),
        Some(t) => match serde_json::from_str::<Value>(t) {
            Ok(v @ Value::Object(_)) => Ok(v),
            Ok(_) => Err(invalid(field, "must be a JSON object")),
            Err(e) => Err(invalid(field, format!("is not valid JSON: {e}"))),
        },
    }
}

/// Splits a comma-separated LIST flag, dropping blanks.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(str::to_owned).collect()
}

/// A user to create.
#[derive(Debug, Default)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Plain password; `None` for an account that cannot sign in (service account).
    pub password: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Metadata object.
    pub metadata: Value,
    /// Profile object.
    pub profile: Value,
    /// Role names.
    pub roles: Vec<String>,
}

fn validate_user_fields(email: Option<&str>, metadata: &Value, profile: &Value) -> Result<(), AdminError> {
    if email.is_some_and(|e| !e.contains('@') || e.chars().any(char::is_whitespace)) {
        return Err(invalid("email", "is not an e-mail address"));
    }
    for (field, v) in [("metadata", metadata), ("profile", profile)] {
        if !v.is_object() {
            return Err(invalid(field, "must be a JSON object"));
        }
    }
    Ok(())
}

fn hash_user_password(p: &str) -> Result<String, AdminError> {
    if p.chars().count() < 8 {
        return Err(invalid("password", "must have at least 8 characters"));
    }
    passwords::hash(p).map_err(internal)
}

/// Creates a user.
pub fn create_user(store: &Store, actor: &str, new: NewUser) -> Result<User, AdminError> {
    let username = new.username.trim().to_owned();
    if username.is_empty() || username.len() > 255 || username.chars().any(char::is_control) {
        return Err(invalid("username", "must be 1 to 255 printable characters"));
    }
    validate_user_fields(new.email.as_deref(), &new.metadata, &new.profile)?;
    let password_hash = new.password.as_deref().map(hash_user_password).transpose()?;
    let now = clock::now();
    let user = User {
        id: clock::uuid(),
        username,
        password_hash,
        email: new.email,
        profile: new.profile,
        metadata: new.metadata,
        roles: new.roles,
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    store.tx(|conn| {
        users::insert(conn, &user)?;
        audit(conn, actor, "user.create", &user.id, json!({"username": user.username}))
    })?;
    Ok(user)
}

/// What an admin can change on a user (the username is the stable login).
#[derive(Debug, Default)]
pub struct UserEdit {
    /// E-mail; `None` clears it.
    pub email: Option<String>,
    /// Profile object.
    pub profile: Value,
    /// Metadata object.
    pub metadata: Value,
    /// Role names.
    pub roles: Vec<String>,
}

/// Whether a change to a user ends what they are signed in to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grants {
    Keep,
    End,
}

fn change_user(
    store: &Store,
    actor: &str,
    id: &str,
    action: &str,
    grants: Grants,
    f: impl FnOnce(&mut User) -> Result<Value, AdminError>,
) -> Result<User, AdminError> {
    let mut user = store.tx(|conn| users::find(conn, id))?.ok_or_else(|| AdminError::NotFound(format!("user {id}")))?;
    let mut detail = f(&mut user)?;
    let now = clock::now();
    user.updated_at = now;
    store.tx(|conn| {
        users::update(conn, &user)?;
        if grants == Grants::End {
            end_grants(conn, id, now, &mut detail)?;
        }
        audit(conn, actor, action, id, detail)
    })?;
    Ok(user)
}

/// Issue #11 item 9: ends the user's refresh tokens, browser sessions and
/// pending codes in the caller's transaction; the counts go to the audit detail.
fn end_grants(conn: &mut DbConn, user_id: &str, now: i64, detail: &mut Value) -> Result<(), StoreError> {
    let (refresh_tokens, sessions) = tessera_store::grants::end_user_grants(conn, user_id, now)?;
    detail["refresh_tokens_revoked"] = json!(refresh_tokens);
    detail["sessions_ended"] = json!(sessions);
    Ok(())
}

/// Changes a user's e-mail, profile, metadata and roles.
pub fn update_user(store: &Store, actor: &str, id: &str, edit: UserEdit) -> Result<User, AdminError> {
    let email = edit.email.filter(|e| !e.trim().is_empty()).map(|e| e.trim().to_owned());
    validate_user_fields(email.as_deref(), &edit.metadata, &edit.profile)?;
    change_user(store, actor, id, "user.update", Grants::Keep, |u| {
        u.email = email;
        u.profile = edit.profile;
        u.metadata = edit.metadata;
        u.roles = edit.roles;
        Ok(json!({"username": u.username}))
    })
}

/// Sets a new password (the old one stops working at once); the user's
/// refresh tokens, browser sessions and pending codes end with it.
pub fn set_user_password(store: &Store, actor: &str, id: &str, password: &str) -> Result<User, AdminError> {
    let hash = hash_user_password(password)?;
    change_user(store, actor, id, "user.password.reset", Grants::End, |u| {
        u.password_hash = Some(hash);
        Ok(json!({"username": u.username}))
    })
}

/// Disables or re-enables a user; a disabled user cannot sign in and gets
/// no tokens, and disabling ends their refresh tokens, browser sessions and
/// pending codes (re-enabling brings none of them back).
pub fn set_user_disabled(store: &Store, actor: &str, id: &str, disabled: bool) -> Result<User, AdminError> {
    let action = if disabled { "user.disable" } else { "user.enable" };
    let grants = if disabled { Grants::End } else { Grants::Keep };
    change_user(store, actor, id, action, grants, |u| {
        u.disabled = disabled;
        Ok(json!({"username": u.username}))
    })
}

/// Deletes a user with their sessions, consents and refresh tokens; a
/// client using them as its service account loses the link.
pub fn delete_user(store: &Store, actor: &str, id: &str) -> Result<(), AdminError> {
    store.tx(|conn| {
        let user = users::find(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
        let mut detail = json!({"username": user.username});
        // The rows also go with the user (ON DELETE CASCADE); ending them
        // first does not rely on the backend enforcing foreign keys.
        end_grants(conn, id, clock::now(), &mut detail)?;
        users::delete(conn, id)?;
        audit(conn, actor, "user.delete", id, detail)
    })?;
    Ok(())
}

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
}

/// Validates a redirect URI: absolute, no fragment (RFC 6749 §3.1.2), and
/// `http` only for loopback hosts (RFC 9700 §2.6, RFC 8252 §7.3).
pub fn validate_redirect_uri(uri: &str) -> Result<(), String> {
    let u = url::Url::parse(uri).map_err(|e| format!("{uri:?} is not an absolute URI: {e}"))?;
    if u.fragment().is_some() {
        return Err(format!("{uri:?} must not contain a fragment"));
    }
    match u.scheme() {
        "https" => Ok(()),
        "http" => match u.host_str() {
            Some("127.0.0.1" | "[::1]" | "localhost") => Ok(()),
            _ => Err(format!("{uri:?}: http is allowed only for loopback (127.0.0.1, [::1], localhost)")),
        },
        "javascript" | "data" | "file" | "vbscript" => Err(format!("{uri:?}: scheme not allowed")),
        // Private-use schemes of native apps (RFC 8252 §7.1), e.g. com.example.app:/cb.
        s if s.contains('.') => Ok(()),
        s => Err(format!(
            "{uri:?}: scheme {s} not allowed; use https, loopback http, or a reverse-domain private scheme"
        )),
    }
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
        validate_redirect_uri(uri).map_err(|m| invalid("redirect-uri", m))?;
    }
    for uri in &new.post_logout_redirect_uris {
        validate_redirect_uri(uri).map_err(|m| invalid("post-logout-redirect-uri", m))?;
    }
    if let Some(scopes) = &new.scopes {
        ScopeSet::parse(&scopes.join(" ")).map_err(|e| invalid("scopes", e.description))?;
    }
    if !new.metadata.is_object() {
        return Err(invalid("metadata", "must be a JSON object"));
    }
    if new.service_account.is_some() && new.public {
        return Err(invalid("service-account", "only a confidential client can have a service account"));
    }
    Ok((name, grant_types))
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
pub fn create_client(store: &Store, actor: &str, new: NewClient) -> Result<(Client, Option<PlainSecret>), AdminError> {
    let (name, grant_types) = validate_client(&new)?;
    let now = clock::now();
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
            created_at: now,
            updated_at: now,
        };
        clients::insert(conn, &client)?;
        if let Some(s) = &secret {
            clients::insert_secret(conn, &secret_row(&secret_id, &id, s, now))?;
        }
        audit(
            conn,
            actor,
            "client.create",
            &id,
            json!({"name": name, "confidential": !new.public, "grant_types": new.grant_types}),
        )?;
        Ok(client)
    })?;
    Ok((client, secret))
}

/// Changes a client's settings. Whether it is confidential stays as created
/// (`edit.public` must match): a public client has no secrets to turn on.
pub fn update_client(store: &Store, actor: &str, id: &str, edit: NewClient) -> Result<Client, AdminError> {
    let (name, grant_types) = validate_client(&edit)?;
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
        let now = clock::now();
        // Issue #11 item 5: disabling a client ends its refresh-token families.
        let revoked = if edit.disabled && !c.disabled { grants::revoke_client(conn, id, now)? } else { 0 };
        c.disabled = edit.disabled;
        c.updated_at = now;
        clients::update(conn, &c)?;
        audit(
            conn,
            actor,
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
pub fn delete_client(store: &Store, actor: &str, id: &str) -> Result<(), AdminError> {
    store.tx(|conn| {
        let c = clients::find(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("client {id}")))?;
        let now = clock::now();
        for mut b in plugins::bindings_for_trigger(conn, TOKEN_TRIGGER)? {
            let Some(ids) = b.client_ids.as_mut().filter(|ids| ids.iter().any(|c| c == id)) else { continue };
            ids.retain(|c| c != id);
            if ids.is_empty() {
                b.enabled = false;
            }
            b.updated_at = now;
            plugins::update_binding(conn, &b)?;
            audit(conn, actor, "binding.update", &b.id, json!({"removed_client": id, "enabled": b.enabled}))?;
        }
        clients::delete(conn, id)?;
        audit(conn, actor, "client.delete", id, json!({"name": c.name}))
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
    client_id: &str,
    overlap_secs: Option<i64>,
) -> Result<(ClientSecret, PlainSecret), AdminError> {
    if overlap_secs.is_some_and(|o| o < 0) {
        return Err(invalid("overlap", "must not be negative"));
    }
    let secret = PlainSecret::from_random(clock::random::<32>().map_err(internal)?);
    let now = clock::now();
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
        audit(conn, actor, "client.secret.add", client_id, json!({"secret_id": row.id, "overlap_secs": overlap_secs}))
    })?;
    Ok((row, secret))
}

/// Revokes one secret at once.
pub fn revoke_client_secret(store: &Store, actor: &str, client_id: &str, secret_id: &str) -> Result<(), AdminError> {
    store.tx(|conn| {
        clients::revoke_secret(conn, client_id, secret_id, clock::now())?;
        audit(conn, actor, "client.secret.revoke", client_id, json!({"secret_id": secret_id}))
    })?;
    Ok(())
}

/// An API to create.
#[derive(Debug)]
pub struct NewApi {
    /// The identifier (audience).
    pub identifier: String,
    /// Display name; defaults to the identifier.
    pub name: Option<String>,
    /// Signing algorithm.
    pub alg: SigningAlg,
    /// Token lifetime in seconds.
    pub token_lifetime_secs: i64,
    /// Scopes the API defines.
    pub scopes: Vec<String>,
    /// Client ids registered as its resource servers: they may introspect
    /// its tokens (RFC 7662 §4, issue #11 item 7).
    pub resource_servers: Vec<String>,
}

/// Checks that each resource-server client exists, so an unknown id is shown
/// next to its field (the link table's foreign key still guards a race).
fn check_resource_servers(store: &Store, client_ids: &[String]) -> Result<(), AdminError> {
    let mut conn = store.conn()?;
    for id in client_ids {
        if clients::find(&mut conn, id)?.is_none() {
            return Err(invalid("resource-servers", format!("no client with id {id:?}")));
        }
    }
    Ok(())
}

/// Creates an API. For HS256 a shared secret is generated and returned once;
/// the HMAC key is the UTF-8 bytes of that text, so any JWT library verifies
/// with the string as given.
pub fn create_api(
    store: &Store,
    master: &MasterKey,
    actor: &str,
    new: NewApi,
) -> Result<(Api, Option<String>), AdminError> {
    let identifier = new.identifier.trim().to_owned();
    if identifier.is_empty()
        || identifier.len() > 500
        || identifier.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid("identifier", "must be 1 to 500 characters without spaces (a URI is recommended)"));
    }
    if new.token_lifetime_secs <= 0 || new.token_lifetime_secs > 86_400 * 30 {
        return Err(invalid("lifetime", "must be between 1 second and 30 days"));
    }
    let scopes = ScopeSet::parse(&new.scopes.join(" ")).map_err(|e| invalid("scopes", e.description))?;
    let id = clock::uuid();
    let secret = match new.alg {
        SigningAlg::HS256 => Some(PlainSecret::from_random(clock::random::<32>().map_err(internal)?)),
        _ => None,
    };
    let hs256_secret_enc = match &secret {
        Some(s) => {
            Some(master.seal(&crate::crypto::purpose::hs256_secret(&id), s.expose().as_bytes()).map_err(internal)?)
        }
        None => None,
    };
    let now = clock::now();
    let api = Api {
        id: id.clone(),
        name: new.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| identifier.clone()),
        identifier,
        alg: new.alg,
        token_lifetime_secs: new.token_lifetime_secs,
        scopes: scopes.to_vec(),
        hs256_secret_enc,
        created_at: now,
        updated_at: now,
    };
    check_resource_servers(store, &new.resource_servers)?;
    store.tx(|conn| {
        apis::insert(conn, &api)?;
        apis::set_resource_servers(conn, &api.id, &new.resource_servers)?;
        audit(
            conn,
            actor,
            "api.create",
            &api.id,
            json!({"identifier": api.identifier, "alg": api.alg.as_str(), "resource_servers": new.resource_servers}),
        )
    })?;
    Ok((api, secret.map(|s| s.expose().to_owned())))
}

/// What an admin can change on an API. The identifier is the audience
/// tokens already carry, so it stays; HS256 and the asymmetric algorithms do
/// not interchange (one needs a shared secret, the others a key pair).
#[derive(Debug)]
pub struct ApiEdit {
    /// Display name.
    pub name: String,
    /// Signing algorithm.
    pub alg: SigningAlg,
    /// Token lifetime in seconds.
    pub token_lifetime_secs: i64,
    /// Scopes the API defines.
    pub scopes: Vec<String>,
    /// Client ids registered as its resource servers (replacing the list).
    pub resource_servers: Vec<String>,
}

/// Changes an API.
pub fn update_api(store: &Store, actor: &str, id: &str, edit: ApiEdit) -> Result<Api, AdminError> {
    if edit.token_lifetime_secs <= 0 || edit.token_lifetime_secs > 86_400 * 30 {
        return Err(invalid("lifetime", "must be between 1 second and 30 days"));
    }
    let scopes = ScopeSet::parse(&edit.scopes.join(" ")).map_err(|e| invalid("scopes", e.description))?;
    check_resource_servers(store, &edit.resource_servers)?;
    let api = store.tx(|conn| {
        let mut api = apis::find(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("api {id}")))?;
        if (api.alg == SigningAlg::HS256) != (edit.alg == SigningAlg::HS256) {
            return Err(StoreError::Conflict(
                "alg: HS256 and the asymmetric algorithms cannot replace each other; create a new API".into(),
            ));
        }
        api.name = if edit.name.trim().is_empty() { api.identifier.clone() } else { edit.name.trim().to_owned() };
        api.alg = edit.alg;
        api.token_lifetime_secs = edit.token_lifetime_secs;
        api.scopes = scopes.to_vec();
        api.updated_at = clock::now();
        apis::update(conn, &api)?;
        apis::set_resource_servers(conn, id, &edit.resource_servers)?;
        audit(
            conn,
            actor,
            "api.update",
            id,
            json!({"identifier": api.identifier, "alg": api.alg.as_str(), "resource_servers": edit.resource_servers}),
        )?;
        Ok(api)
    })?;
    Ok(api)
}

/// Deletes an API and takes it out of every client limited to it; tokens
/// already issued for it stay valid until they expire.
pub fn delete_api(store: &Store, actor: &str, id: &str) -> Result<(), AdminError> {
    store.tx(|conn| {
        let api = apis::find(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("api {id}")))?;
        // A client limited to this API loses it (an empty list allows no
        // API, never every one), so an API created later under the same
        // identifier does not inherit the old clients' access.
        let now = clock::now();
        for mut c in clients::naming_audience(conn, &api.identifier)? {
            if let Some(audiences) = c.allowed_audiences.as_mut() {
                audiences.retain(|a| *a != api.identifier);
            }
            c.updated_at = now;
            clients::update(conn, &c)?;
            audit(conn, actor, "client.update", &c.id, json!({"removed_audience": api.identifier}))?;
        }
        apis::delete(conn, id)?;
        audit(conn, actor, "api.delete", id, json!({"identifier": api.identifier}))
    })?;
    Ok(())
}

/// Rotates every algorithm's keys (next becomes current, current retired,
/// a new next) and records it; returns the report per algorithm.
pub fn rotate_keys(
    store: &Store,
    master: &MasterKey,
    actor: &str,
    retired_publish_secs: i64,
) -> Result<Vec<Value>, AdminError> {
    let report = crate::keys::rotate(store, master, clock::now(), retired_publish_secs)
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    store.tx(|conn| audit(conn, actor, "keys.rotate", "signing-keys", json!({"rotated": report})))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/security-checklist.md O-3: no plain-http redirect URIs except loopback.
    #[test]
    fn redirect_uri_rules_follow_rfc9700() {
        assert!(validate_redirect_uri("https://app.example/cb").is_ok());
        assert!(validate_redirect_uri("http://127.0.0.1/cb").is_ok());
        assert!(validate_redirect_uri("com.example.app:/cb").is_ok());
        assert!(validate_redirect_uri("http://app.example/cb").is_err());
        assert!(validate_redirect_uri("https://app.example/cb#x").is_err());
        assert!(validate_redirect_uri("javascript:alert(1)").is_err());
        assert!(validate_redirect_uri("/relative").is_err());
    }

    #[test]
    fn json_object_rejects_arrays_and_garbage() {
        assert!(json_object("metadata", Some("[1]")).is_err());
        assert!(json_object("metadata", Some("{")).is_err());
        assert_eq!(json_object("metadata", None).unwrap(), json!({}));
    }
}
