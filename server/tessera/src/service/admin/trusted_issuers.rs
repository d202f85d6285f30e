//! The issuers a client trusts for the JWT bearer grant (RFC 7523 §2.1):
//! the rules every list must meet ([`validate`], also applied when a whole
//! list is saved with the client in `clients.rs`), and adding or removing
//! one issuer at a time, as the console's client page does, each audited.

use super::{AdminError, audit, invalid};
use crate::service::oauth::client_assertion::parse_public_jwks;
use serde_json::json;
use tessera_protocol::client_assertion::check_jwks_uri;
use tessera_protocol::grant::jwt_bearer::TrustedIssuer;
use tessera_store::clients::{self, Client};
use tessera_store::{Store, StoreError};

/// The field errors name.
const FIELD: &str = "jwt-bearer-issuers";

/// Each issuer is named once (its exact `iss`, no spaces around it), with
/// exactly one of its keys inline (public asymmetric keys only) or a
/// `jwks_uri` that `check_jwks_uri` accepts.
pub fn validate(issuers: &[TrustedIssuer]) -> Result<(), AdminError> {
    for (i, t) in issuers.iter().enumerate() {
        if t.issuer.trim().is_empty() || t.issuer.trim() != t.issuer || t.issuer.len() > 2048 {
            return Err(invalid(FIELD, format!("issuer {}: name its iss value (no spaces around it)", i + 1)));
        }
        if issuers[..i].iter().any(|o| o.issuer == t.issuer) {
            return Err(invalid(FIELD, format!("issuer {} is listed twice", t.issuer)));
        }
        match (&t.jwks, &t.jwks_uri) {
            (Some(jwks), None) => {
                parse_public_jwks(jwks).map(|_| ()).map_err(|e| invalid(FIELD, format!("{}: {e}", t.issuer)))?
            }
            (None, Some(uri)) => {
                check_jwks_uri(uri).map(|_| ()).map_err(|e| invalid(FIELD, format!("{}: {e}", t.issuer)))?
            }
            _ => return Err(invalid(FIELD, format!("{}: give its jwks or its jwks_uri (one of them)", t.issuer))),
        };
    }
    Ok(())
}

/// Adds `issuer` to `client_id`'s trusted issuers; an issuer already there
/// is a conflict (remove it first to change it).
pub fn add_trusted_issuer(
    store: &Store,
    actor: &str,
    now: i64,
    client_id: &str,
    issuer: TrustedIssuer,
) -> Result<Client, AdminError> {
    validate(std::slice::from_ref(&issuer))?;
    Ok(store.tx(|conn| {
        let mut c =
            clients::find(conn, client_id)?.ok_or_else(|| StoreError::NotFound(format!("client {client_id}")))?;
        if c.jwt_bearer_issuers.iter().any(|t| t.issuer == issuer.issuer) {
            return Err(StoreError::Conflict(format!(
                "{} is already trusted: remove it first to change it",
                issuer.issuer
            )));
        }
        c.jwt_bearer_issuers.push(issuer.clone());
        c.updated_at = now;
        clients::update(conn, &c)?;
        audit(conn, actor, now, "client.trusted_issuer.add", client_id, json!({"issuer": issuer.issuer}))?;
        Ok(c)
    })?)
}

/// Removes the issuer named `issuer` from `client_id`'s trusted issuers;
/// its assertions are refused from the next request on.
pub fn remove_trusted_issuer(
    store: &Store,
    actor: &str,
    now: i64,
    client_id: &str,
    issuer: &str,
) -> Result<Client, AdminError> {
    Ok(store.tx(|conn| {
        let mut c =
            clients::find(conn, client_id)?.ok_or_else(|| StoreError::NotFound(format!("client {client_id}")))?;
        let before = c.jwt_bearer_issuers.len();
        c.jwt_bearer_issuers.retain(|t| t.issuer != issuer);
        if c.jwt_bearer_issuers.len() == before {
            return Err(StoreError::NotFound(format!("trusted issuer {issuer}")));
        }
        c.updated_at = now;
        clients::update(conn, &c)?;
        audit(conn, actor, now, "client.trusted_issuer.remove", client_id, json!({"issuer": issuer}))?;
        Ok(c)
    })?)
}
