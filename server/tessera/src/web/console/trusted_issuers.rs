//! A client's trusted issuers for the JWT bearer grant (RFC 7523 §2.1),
//! listed on the client's page with a form to add one and a button to
//! remove each (`service::admin::{add,remove}_trusted_issuer`).

use super::clients::{self, SideForms};
use super::{Page, Posted, blocking, see_other};
use crate::service::admin::{self, AdminError};
use crate::web::routes::console as paths;
use actix_web::web;
use tessera_protocol::grant::jwt_bearer::{SubjectMapping, TrustedIssuer};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::relative(paths::CLIENT_ISSUERS), web::post().to(add))
        .route(paths::relative(paths::CLIENT_ISSUER_REMOVE), web::post().to(remove));
}

/// The add form: the issuer, its keys by URL or inline, what `sub` names.
#[derive(serde::Deserialize)]
struct AddForm {
    #[serde(default)]
    issuer: String,
    #[serde(default)]
    jwks_uri: String,
    #[serde(default)]
    jwks: String,
    #[serde(default)]
    subject: String,
}

impl AddForm {
    fn to_issuer(&self) -> Result<TrustedIssuer, AdminError> {
        let invalid = |message: String| AdminError::Invalid { field: "jwt-bearer-issuers", message };
        let subject = match self.subject.as_str() {
            "user_id" => SubjectMapping::UserId,
            "username" => SubjectMapping::Username,
            _ => return Err(invalid("choose what the issuer's sub names: username or user id".into())),
        };
        let jwks = match self.jwks.trim() {
            "" => None,
            text => Some(serde_json::from_str(text).map_err(|e| invalid(format!("the keys are not JSON: {e}")))?),
        };
        let jwks_uri = Some(self.jwks_uri.trim().to_owned()).filter(|u| !u.is_empty());
        Ok(TrustedIssuer { issuer: self.issuer.trim().to_owned(), jwks, jwks_uri, subject })
    }
}

/// Adds the issuer; a refused one is shown on the client's page, next to
/// the form, with what was typed.
async fn add(p: Posted<AddForm>, id: web::Path<String>) -> Page {
    let Posted { admin, form, .. } = p;
    let cid = id.into_inner();
    let refused = match form.to_issuer() {
        Err(e) => e,
        Ok(issuer) => {
            let (store, actor, c, now) = (admin.state.store.clone(), admin.actor(), cid.clone(), admin.now());
            match blocking(move || admin::add_trusted_issuer(&store, &actor, now, &c, issuer)).await? {
                Ok(c) => return Ok(see_other(&paths::done(&paths::client(&c.id), "saved"))),
                Err(e) => e,
            }
        }
    };
    let mut page = clients::full_page(&admin, cid, None).await?;
    page.side = SideForms {
        issuer: form.issuer,
        jwks_uri: form.jwks_uri,
        jwks: form.jwks,
        subject: form.subject,
        ..SideForms::default()
    };
    clients::form_again(page, refused.into())
}

#[derive(serde::Deserialize)]
struct RemoveForm {
    #[serde(default)]
    issuer: String,
}

async fn remove(p: Posted<RemoveForm>, id: web::Path<String>) -> Page {
    let Posted { admin, form, .. } = p;
    let (store, actor, cid) = (admin.state.store.clone(), admin.actor(), id.into_inner());
    let now = admin.now();
    let c = blocking(move || admin::remove_trusted_issuer(&store, &actor, now, &cid, &form.issuer)).await??;
    Ok(see_other(&paths::done(&paths::client(&c.id), "saved")))
}
