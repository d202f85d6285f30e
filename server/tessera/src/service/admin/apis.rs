//! APIs (resource servers): create, edit, delete; an HS256 API's shared
//! secret is generated, sealed and shown once.

use super::{AdminError, audit, internal, invalid};
use crate::clock;
use crate::crypto::MasterKey;
use crate::service::db::Db;
use crate::service::oauth::management::MANAGEMENT_AUDIENCE;
use crate::service::views::{AllowedClientView, ApiView};
use serde_json::json;
use std::collections::BTreeMap;
use tessera_protocol::ScopeSet;
use tessera_protocol::model::SigningAlg;
use tessera_protocol::secret::PlainSecret;
use tessera_store::apis::{self, Api};
use tessera_store::clients;
use tessera_store::{Store, StoreError};

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
fn check_resource_servers(store: &impl Db, client_ids: &[String]) -> Result<(), AdminError> {
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
    now: i64,
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
            now,
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
pub fn update_api(store: &impl Db, actor: &str, now: i64, id: &str, edit: ApiEdit) -> Result<Api, AdminError> {
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
        api.updated_at = now;
        apis::update(conn, &api)?;
        // A scope taken away takes its description with it.
        let mut described = apis::scope_descriptions(conn, id)?;
        let before = described.len();
        described.retain(|scope, _| api.scopes.contains(scope));
        if described.len() != before {
            apis::set_scope_descriptions(conn, id, &described)?;
        }
        apis::set_resource_servers(conn, id, &edit.resource_servers)?;
        audit(
            conn,
            actor,
            now,
            "api.update",
            id,
            json!({"identifier": api.identifier, "alg": api.alg.as_str(), "resource_servers": edit.resource_servers}),
        )?;
        Ok(api)
    })?;
    Ok(api)
}

/// Deletes an API and takes it out of every client limited to it; tokens
/// already issued for it stay valid until they expire. The management API
/// (`tessera mgmt-client create` makes it) cannot be deleted: automation
/// would lose its audience with no way back but the CLI.
pub fn delete_api(store: &impl Db, actor: &str, now: i64, id: &str) -> Result<(), AdminError> {
    store.tx(|conn| {
        let api = apis::find(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("api {id}")))?;
        if api.identifier == MANAGEMENT_AUDIENCE {
            return Err(StoreError::Conflict(
                "the management API is built in; delete or disable its clients to end access".into(),
            ));
        }
        // A client limited to this API loses it (an empty list allows no
        // API, never every one), so an API created later under the same
        // identifier does not inherit the old clients' access.
        for mut c in clients::naming_audience(conn, &api.identifier)? {
            if let Some(audiences) = c.allowed_audiences.as_mut() {
                audiences.retain(|a| *a != api.identifier);
            }
            c.updated_at = now;
            clients::update(conn, &c)?;
            audit(conn, actor, now, "client.update", &c.id, json!({"removed_audience": api.identifier}))?;
        }
        apis::delete(conn, id)?;
        audit(conn, actor, now, "api.delete", id, json!({"identifier": api.identifier}))
    })?;
    Ok(())
}

/// A page of APIs, each with its resource servers.
pub fn list_apis(store: &Store, offset: i64, limit: i64) -> Result<Vec<ApiView>, StoreError> {
    let mut conn = store.conn()?;
    apis::page(&mut conn, offset, limit)?
        .into_iter()
        .map(|a| {
            let rs = apis::resource_servers(&mut conn, &a.id)?;
            let described = apis::scope_descriptions(&mut conn, &a.id)?;
            Ok(ApiView::of(a, rs, described))
        })
        .collect()
}

/// One API with its resource servers, if it exists.
pub fn find_api(store: &impl Db, id: &str) -> Result<Option<ApiView>, StoreError> {
    let mut conn = store.conn()?;
    match apis::find(&mut conn, id)? {
        Some(a) => {
            let rs = apis::resource_servers(&mut conn, &a.id)?;
            let described = apis::scope_descriptions(&mut conn, &a.id)?;
            Ok(Some(ApiView::of(a, rs, described)))
        }
        None => Ok(None),
    }
}

/// The longest scope description, in characters: the consent page shows it
/// beside a checkbox, not as a page of text.
pub const MAX_SCOPE_DESCRIPTION: usize = 200;

/// Replaces the descriptions of API `id`'s scopes (what the consent page
/// shows instead of the bare scope names) and records it. Each key must be
/// a scope the API defines; a blank description removes that scope's.
pub fn describe_scopes(
    store: &impl Db,
    actor: &str,
    now: i64,
    id: &str,
    descriptions: BTreeMap<String, String>,
) -> Result<(), AdminError> {
    check_scope_descriptions(&descriptions)?;
    store.tx(|conn| {
        let api = apis::find(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("api {id}")))?;
        if let Some(unknown) = descriptions.keys().find(|s| !api.scopes.contains(s)) {
            return Ok(Err(invalid("scope-descriptions", format!("{unknown} is not a scope of this API"))));
        }
        apis::set_scope_descriptions(conn, id, &descriptions)?;
        let stored = apis::scope_descriptions(conn, id)?;
        audit(conn, actor, now, "api.scopes.describe", id, json!({"identifier": api.identifier, "described": stored}))?;
        Ok(Ok(()))
    })?
}

/// Checks each description's length and characters (the scopes they name
/// are checked against the API's when stored), so a create can refuse bad
/// descriptions before it makes the API.
pub fn check_scope_descriptions(descriptions: &BTreeMap<String, String>) -> Result<(), AdminError> {
    for (scope, text) in descriptions {
        if text.trim().chars().count() > MAX_SCOPE_DESCRIPTION {
            return Err(invalid(
                "scope-descriptions",
                format!("the description of {scope} is longer than {MAX_SCOPE_DESCRIPTION} characters"),
            ));
        }
        if text.chars().any(char::is_control) {
            return Err(invalid("scope-descriptions", format!("the description of {scope} has control characters")));
        }
    }
    Ok(())
}

/// The clients that may get tokens for the API `id`: named in their allowed
/// audiences, or allowing any API. `None` if there is no such API.
pub fn api_clients(store: &Store, id: &str) -> Result<Option<Vec<AllowedClientView>>, StoreError> {
    let mut conn = store.conn()?;
    let Some(api) = apis::find(&mut conn, id)? else { return Ok(None) };
    Ok(Some(
        apis::clients_allowed(&mut conn, &api.identifier)?
            .into_iter()
            .map(|(id, name, named)| AllowedClientView { id, name, named })
            .collect(),
    ))
}
