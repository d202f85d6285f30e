//! Admin use cases: create and change users, clients, secrets and APIs, each
//! validated field by field and recorded in the audit log in the same
//! transaction (nothing half-saved, nothing unaudited). One file per kind of
//! object; this module holds what they share (the error, the audit helper,
//! form parsing).

mod apis;
mod clients;
mod keys;
mod master_key;
pub mod names;
mod overview;
mod trusted_issuers;
mod user_factors;
mod users;

pub use apis::{
    ApiEdit, MAX_SCOPE_DESCRIPTION, NewApi, api_clients, check_scope_descriptions, create_api, delete_api,
    describe_scopes, find_api, list_apis, update_api,
};
pub use clients::{
    ExchangePolicy, NewClient, add_client_secret, client_detail, create_client, create_client_with, delete_client,
    list_clients, revoke_client_secret, update_client,
};
pub use keys::{find_key, list_keys, retire_key, rotate_alg_keys, rotate_keys};
pub use master_key::{SealedCounts, SealedReport, rewrap_sealed, sealed_status};
#[cfg(test)]
pub use overview::audit_events;
pub use overview::{Dashboard, NamedFigure, audit_log, dashboard, sign_in_filter};
pub use trusted_issuers::{add_trusted_issuer, remove_trusted_issuer};
pub use user_factors::{FactorChange, change_user_second_factor, user_second_factor};
pub use users::{
    NewUser, UserEdit, create_user, delete_user, find_user, import_password_hash, list_users, set_user_disabled,
    set_user_password, sign_out_user, update_user,
};

use crate::clock;
use serde_json::{Value, json};
use tessera_store::audit::{self, AuditEvent};
use tessera_store::{DbConn, StoreError};

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
pub fn audit(
    conn: &mut DbConn,
    actor: &str,
    now: i64,
    action: &str,
    target: &str,
    detail: Value,
) -> Result<(), StoreError> {
    audit::record(
        conn,
        &AuditEvent {
            id: clock::uuid(),
            at: now,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_object_rejects_arrays_and_garbage() {
        assert!(json_object("metadata", Some("[1]")).is_err());
        assert!(json_object("metadata", Some("{")).is_err());
        assert_eq!(json_object("metadata", None).unwrap(), json!({}));
    }
}
