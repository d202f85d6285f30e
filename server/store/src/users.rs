//! Users: the resource owners and service accounts tokens speak for.

use crate::json::{from_text, to_text};
use crate::schema::users;
use crate::{DbConn, StoreError};
use diesel::prelude::*;
use serde_json::Value;

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = users)]
struct Row {
    id: String,
    username: String,
    password_hash: Option<String>,
    email: Option<String>,
    profile: String,
    metadata: String,
    roles: String,
    disabled: bool,
    created_at: i64,
    updated_at: i64,
}

/// A user as stored. `password_hash` is an argon2id PHC string.
#[derive(Debug, Clone)]
pub struct User {
    /// Stable id (UUID v7), the `sub` of the user's tokens.
    pub id: String,
    /// Unique login name.
    pub username: String,
    /// argon2id PHC string; `None` for accounts that cannot sign in.
    pub password_hash: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Profile attributes (OIDC standard claims), a JSON object.
    pub profile: Value,
    /// Admin-managed metadata, a JSON object.
    pub metadata: Value,
    /// Role names.
    pub roles: Vec<String>,
    /// Disabled users cannot sign in and get no tokens.
    pub disabled: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl TryFrom<Row> for User {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self, StoreError> {
        Ok(User {
            profile: from_text("users.profile", &r.profile)?,
            metadata: from_text("users.metadata", &r.metadata)?,
            roles: from_text("users.roles", &r.roles)?,
            id: r.id,
            username: r.username,
            password_hash: r.password_hash,
            email: r.email,
            disabled: r.disabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

impl User {
    fn to_row(&self) -> Result<Row, StoreError> {
        Ok(Row {
            id: self.id.clone(),
            username: self.username.clone(),
            password_hash: self.password_hash.clone(),
            email: self.email.clone(),
            profile: to_text(&self.profile)?,
            metadata: to_text(&self.metadata)?,
            roles: to_text(&self.roles)?,
            disabled: self.disabled,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Inserts a user; a taken username is `Conflict`.
pub fn insert(conn: &mut DbConn, user: &User) -> Result<(), StoreError> {
    match diesel::insert_into(users::table).values(user.to_row()?).execute(conn) {
        Err(e) => match StoreError::from(e) {
            StoreError::Conflict(_) => Err(StoreError::Conflict(format!("username {:?} is taken", user.username))),
            other => Err(other),
        },
        Ok(_) => Ok(()),
    }
}

/// Replaces a user's stored fields.
pub fn update(conn: &mut DbConn, user: &User) -> Result<(), StoreError> {
    let n = diesel::update(users::table.find(&user.id)).set(user.to_row()?).execute(conn)?;
    if n == 0 { Err(StoreError::NotFound(format!("user {}", user.id))) } else { Ok(()) }
}

/// The user with this id, if any.
pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<User>, StoreError> {
    users::table.find(id).select(Row::as_select()).first(conn).optional()?.map(User::try_from).transpose()
}

/// The user with this username, if any.
pub fn find_by_username(conn: &mut DbConn, username: &str) -> Result<Option<User>, StoreError> {
    users::table
        .filter(users::username.eq(username))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(User::try_from)
        .transpose()
}

/// A page of users whose username contains `search`, ordered by username.
pub fn list(conn: &mut DbConn, search: &str, offset: i64, limit: i64) -> Result<Vec<User>, StoreError> {
    let pattern = format!("%{}%", search.replace('%', "\\%").replace('_', "\\_"));
    users::table
        .filter(users::username.like(pattern).escape('\\'))
        .order(users::username.asc())
        .offset(offset)
        .limit(limit)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(User::try_from)
        .collect()
}

/// Deletes a user.
pub fn delete(conn: &mut DbConn, id: &str) -> Result<(), StoreError> {
    let n = diesel::delete(users::table.find(id)).execute(conn)?;
    if n == 0 { Err(StoreError::NotFound(format!("user {id}"))) } else { Ok(()) }
}

/// How many users exist.
pub fn count(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(users::table.count().get_result(conn)?)
}
