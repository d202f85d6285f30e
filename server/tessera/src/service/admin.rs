//! Admin use cases: create and change users, clients, secrets and APIs, each
//! validated field by field and recorded in the audit log in the same
//! transaction (nothing half-saved, nothing unaudited).

use crate::clock;
use crate::crypto::MasterKey;
use crate::passwords;
use serde_json::{Value, json};
use tessera_protocol::ScopeSet;
use tessera_protocol::model::{SigningAlg, grant_types};
use tessera_protocol::secret::PlainSecret;
use tessera_store::apis::{self, Api};
use tessera_store::audit::{self, AuditEvent};
use tessera_store::clients::{self, Client, ClientSecret};
use tessera_store::users::{self, User};
use tessera_store::{DbConn, Store, StoreError};

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

/// Creates a user.
pub fn create_user(store: &Store, actor: &str, new: NewUser) -> Result<User, AdminError> {
    let username = new.username.trim().to_owned();
    if username.is_empty() || username.len() > 255 || username.chars().any(char::is_control) {
        return Err(invalid("username", "must be 1 to 255 printable characters"));
    }
    if new.email.as_ref().is_some_and(|e| !e.contains('@') || e.chars().any(char::is_whitespace)) {
        return Err(invalid("email", "is not an e-mail address"));
    }
    for (field, v) in [("metadata", &new.metadata), ("profile", &new.profile)] {
        if !v.is_object() {
            return Err(invalid(field, "must be a JSON object"));
        }
    }
    let password_hash = match new.password.as_deref() {
        Some(p) if p.chars().count() < 8 => {
            return Err(invalid("password", "must have at least 8 characters"));
        }
        Some(p) => Some(passwords::hash(p).map_err(internal)?),
        None => None,
    };
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

/// Creates a client; a confidential client gets its first secret, returned
/// here in plaintext for the one time it is shown.
pub fn create_client(store: &Store, actor: &str, new: NewClient) -> Result<(Client, Option<PlainSecret>), AdminError> {
    let name = new.name.trim().to_owned();
    if name.is_empty() || name.len() > 200 {
        return Err(invalid("name", "must be 1 to 200 characters"));
    }
    if new.grant_types.is_empty() {
        return Err(invalid("grant-types", "name at least one grant type"));
    }
    for g in &new.grant_types {
        if !grant_types::is_known(g) {
            return Err(invalid(
                "grant-types",
                format!("unknown grant type {g:?}; known: {}", grant_types::ALL.join(", ")),
            ));
        }
    }
    if new.public && new.grant_types.iter().any(|g| g == grant_types::CLIENT_CREDENTIALS) {
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
    let now = clock::now();
    let id = clock::random_id(24).map_err(internal)?;
    let secret =
        if new.public { None } else { Some(PlainSecret::from_random(clock::random::<32>().map_err(internal)?)) };
    let secret_id = clock::uuid();
    let client = store.tx(|conn| {
        let service_account_user_id = match &new.service_account {
            None => None,
            Some(_) if new.public => {
                return Err(StoreError::Conflict(
                    "service-account: only a confidential client can have a service account".into(),
                ));
            }
            Some(name) => match users::find_by_username(conn, name)? {
                Some(u) => Some(u.id),
                None => {
                    return Err(StoreError::NotFound(format!("service-account user {name:?}")));
                }
            },
        };
        let client = Client {
            id: id.clone(),
            name: name.clone(),
            confidential: !new.public,
            grant_types: new.grant_types.clone(),
            redirect_uris: new.redirect_uris.clone(),
            post_logout_redirect_uris: new.post_logout_redirect_uris.clone(),
            allowed_scopes: new.scopes.clone(),
            allowed_audiences: new.audiences.clone(),
            metadata: new.metadata.clone(),
            service_account_user_id,
            first_party: new.first_party,
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
        Some(s) => Some(master.seal(&hs256_purpose(&id), s.expose().as_bytes()).map_err(internal)?),
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
    store.tx(|conn| {
        apis::insert(conn, &api)?;
        audit(conn, actor, "api.create", &api.id, json!({"identifier": api.identifier, "alg": api.alg.as_str()}))
    })?;
    Ok((api, secret.map(|s| s.expose().to_owned())))
}

/// The AEAD purpose of an API's HS256 secret.
pub fn hs256_purpose(api_id: &str) -> String {
    format!("api-hs256:{api_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

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
