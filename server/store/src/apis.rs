//! APIs (resource servers): the audiences tokens are issued for.

use crate::json::{from_text, to_text};
use crate::schema::{api_resource_servers, api_scope_descriptions, apis};
use crate::{DbConn, StoreError};
use diesel::prelude::*;
use std::collections::BTreeMap;
use tessera_protocol::model::{ApiProfile, SigningAlg};
use tessera_protocol::{ApiId, Audience, ScopeSet};

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = apis)]
#[diesel(treat_none_as_null = true)]
struct Row {
    id: String,
    identifier: String,
    name: String,
    alg: String,
    token_lifetime_secs: i64,
    scopes: String,
    hs256_secret_enc: Option<Vec<u8>>,
    created_at: i64,
    updated_at: i64,
}

/// An API as stored.
#[derive(Debug, Clone)]
pub struct Api {
    /// Internal id.
    pub id: String,
    /// The identifier (audience), unique.
    pub identifier: String,
    /// Display name.
    pub name: String,
    /// Signing algorithm of its access tokens.
    pub alg: SigningAlg,
    /// Access-token lifetime.
    pub token_lifetime_secs: i64,
    /// Scopes the API defines.
    pub scopes: Vec<String>,
    /// For HS256 APIs: the shared secret, encrypted with the master key.
    pub hs256_secret_enc: Option<Vec<u8>>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl TryFrom<Row> for Api {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self, StoreError> {
        Ok(Api {
            alg: crate::parse_column("apis.alg", &r.alg)?,
            scopes: from_text("apis.scopes", &r.scopes)?,
            id: r.id,
            identifier: r.identifier,
            name: r.name,
            token_lifetime_secs: r.token_lifetime_secs,
            hs256_secret_enc: r.hs256_secret_enc,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

impl Api {
    fn to_row(&self) -> Result<Row, StoreError> {
        Ok(Row {
            id: self.id.clone(),
            identifier: self.identifier.clone(),
            name: self.name.clone(),
            alg: self.alg.as_str().to_owned(),
            token_lifetime_secs: self.token_lifetime_secs,
            scopes: to_text(&self.scopes)?,
            hs256_secret_enc: self.hs256_secret_enc.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }

    /// The protocol's view of this API.
    pub fn profile(&self) -> ApiProfile {
        ApiProfile {
            id: ApiId::new(&self.id),
            audience: Audience::new(&self.identifier),
            alg: self.alg,
            token_lifetime_secs: self.token_lifetime_secs,
            scopes: ScopeSet::from_tokens(self.scopes.iter().cloned()),
        }
    }
}

/// Inserts an API; a taken identifier is `Conflict`.
pub fn insert(conn: &mut DbConn, api: &Api) -> Result<(), StoreError> {
    match diesel::insert_into(apis::table).values(api.to_row()?).execute(conn) {
        Err(e) => match StoreError::from(e) {
            StoreError::Conflict(_) => {
                Err(StoreError::Conflict(format!("an API with identifier {:?} exists", api.identifier)))
            }
            other => Err(other),
        },
        Ok(_) => Ok(()),
    }
}

/// Replaces an API's stored fields.
pub fn update(conn: &mut DbConn, api: &Api) -> Result<(), StoreError> {
    let n = diesel::update(apis::table.find(&api.id)).set(api.to_row()?).execute(conn)?;
    if n == 0 { Err(StoreError::NotFound(format!("api {}", api.id))) } else { Ok(()) }
}

/// The API with this identifier (audience), if any.
pub fn find_by_identifier(conn: &mut DbConn, identifier: &str) -> Result<Option<Api>, StoreError> {
    apis::table
        .filter(apis::identifier.eq(identifier))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Api::try_from)
        .transpose()
}

/// The API with this id, if any.
pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<Api>, StoreError> {
    apis::table.find(id).select(Row::as_select()).first(conn).optional()?.map(Api::try_from).transpose()
}

/// Every API, ordered by identifier.
pub fn list(conn: &mut DbConn) -> Result<Vec<Api>, StoreError> {
    page(conn, 0, i64::MAX)
}

/// How many APIs exist.
pub fn count(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(apis::table.count().get_result(conn)?)
}

/// A page of APIs, ordered by identifier.
pub fn page(conn: &mut DbConn, offset: i64, limit: i64) -> Result<Vec<Api>, StoreError> {
    apis::table
        .order(apis::identifier.asc())
        .offset(offset)
        .limit(limit)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Api::try_from)
        .collect()
}

/// Deletes an API.
pub fn delete(conn: &mut DbConn, id: &str) -> Result<(), StoreError> {
    let n = diesel::delete(apis::table.find(id)).execute(conn)?;
    if n == 0 { Err(StoreError::NotFound(format!("api {id}"))) } else { Ok(()) }
}

/// The clients registered as resource servers of an API (RFC 7662 §4): they
/// may introspect tokens issued for its audience. Ordered by client id.
pub fn resource_servers(conn: &mut DbConn, api_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(api_resource_servers::table
        .filter(api_resource_servers::api_id.eq(api_id))
        .order(api_resource_servers::client_id.asc())
        .select(api_resource_servers::client_id)
        .load(conn)?)
}

/// Replaces the resource-server clients of an API. A client id that does not
/// exist is `NotFound` (the foreign key would refuse it anyway; this names it).
pub fn set_resource_servers(conn: &mut DbConn, api_id: &str, client_ids: &[String]) -> Result<(), StoreError> {
    diesel::delete(api_resource_servers::table.filter(api_resource_servers::api_id.eq(api_id))).execute(conn)?;
    let unique: std::collections::BTreeSet<&String> = client_ids.iter().collect();
    for client_id in unique {
        if crate::clients::find(conn, client_id)?.is_none() {
            return Err(StoreError::NotFound(format!("client {client_id}")));
        }
        diesel::insert_into(api_resource_servers::table)
            .values((api_resource_servers::api_id.eq(api_id), api_resource_servers::client_id.eq(client_id)))
            .execute(conn)?;
    }
    Ok(())
}

/// Every resource-server link, as (API id, client id): the token path's
/// in-memory snapshot holds them (introspection answered from memory).
pub fn all_resource_servers(conn: &mut DbConn) -> Result<Vec<(String, String)>, StoreError> {
    Ok(api_resource_servers::table
        .select((api_resource_servers::api_id, api_resource_servers::client_id))
        .load(conn)?)
}

/// True if `client_id` is registered as a resource server of the API.
pub fn is_resource_server(conn: &mut DbConn, api_id: &str, client_id: &str) -> Result<bool, StoreError> {
    Ok(api_resource_servers::table
        .find((api_id, client_id))
        .select(api_resource_servers::client_id)
        .first::<String>(conn)
        .optional()?
        .is_some())
}

/// The descriptions of an API's scopes, by scope (a scope without one is
/// absent): what the consent page shows instead of the bare scope name.
pub fn scope_descriptions(conn: &mut DbConn, api_id: &str) -> Result<BTreeMap<String, String>, StoreError> {
    let rows: Vec<(String, String)> = api_scope_descriptions::table
        .filter(api_scope_descriptions::api_id.eq(api_id))
        .select((api_scope_descriptions::scope, api_scope_descriptions::description))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Replaces the descriptions of an API's scopes with `descriptions`; blank
/// descriptions are not stored. The caller checks that each scope is one the
/// API defines. Run inside a transaction.
pub fn set_scope_descriptions(
    conn: &mut DbConn,
    api_id: &str,
    descriptions: &BTreeMap<String, String>,
) -> Result<(), StoreError> {
    diesel::delete(api_scope_descriptions::table.filter(api_scope_descriptions::api_id.eq(api_id))).execute(conn)?;
    for (scope, description) in descriptions.iter().filter(|(_, d)| !d.trim().is_empty()) {
        diesel::insert_into(api_scope_descriptions::table)
            .values((
                api_scope_descriptions::api_id.eq(api_id),
                api_scope_descriptions::scope.eq(scope),
                api_scope_descriptions::description.eq(description.trim()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Clients that may ask for tokens for `audience`: those whose allowed
/// audiences name it, and those without a list (any API), as
/// (client id, name, named explicitly), by name.
pub fn clients_allowed(conn: &mut DbConn, audience: &str) -> Result<Vec<(String, String, bool)>, StoreError> {
    use crate::schema::clients;
    let any: Vec<(String, String)> =
        clients::table.filter(clients::allowed_audiences.is_null()).select((clients::id, clients::name)).load(conn)?;
    let mut all: Vec<(String, String, bool)> = any.into_iter().map(|(id, name)| (id, name, false)).collect();
    all.extend(crate::clients::naming_audience(conn, audience)?.into_iter().map(|c| (c.id, c.name, true)));
    all.sort_by(|a, b| a.1.to_lowercase().cmp(&b.1.to_lowercase()).then(a.0.cmp(&b.0)));
    Ok(all)
}
