//! A binding's shadow candidate (`service::shadow`) in the console: set it
//! (version, share, sensitive claims), promote it or discard it, each a
//! CSRF-checked form on the binding's page (`console/binding_shadow.html`),
//! through the same `service::shadow::admin` functions as the CLI and API.

use super::{Admin, Page, Posted, bindings, blocking, see_other};
use crate::service::admin::{AdminError, split_list};
use crate::service::shadow::admin::{self as svc, ShadowSettings};
use crate::web::routes::console as paths;
use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::relative(paths::BINDING_SHADOW), web::post().to(set))
        .route(paths::relative(paths::BINDING_SHADOW_PROMOTE), web::post().to(promote))
        .route(paths::relative(paths::BINDING_SHADOW_DISCARD), web::post().to(discard));
}

/// The candidate form's fields as typed.
#[derive(serde::Deserialize, Default)]
pub(super) struct ShadowForm {
    #[serde(default)]
    pub(super) version: String,
    #[serde(default)]
    pub(super) share: String,
    #[serde(default)]
    pub(super) sensitive_claims: String,
}

impl ShadowForm {
    fn settings(&self) -> Result<ShadowSettings, AdminError> {
        let version = self
            .version
            .trim()
            .parse()
            .map_err(|_| AdminError::Invalid { field: "shadow-version", message: "choose a version".into() })?;
        let share = match self.share.trim().trim_end_matches('%').trim() {
            "" => None,
            s => {
                let n: f64 = s.parse().map_err(|_| AdminError::Invalid {
                    field: "share",
                    message: "a fraction such as 0.1, or a percentage such as 10%".into(),
                })?;
                // "10%" or "10" mean a tenth; "0.1" too.
                Some(if self.share.trim().ends_with('%') || n > 1.0 { n / 100.0 } else { n })
            }
        };
        Ok(ShadowSettings { version, share, sensitive_claims: split_list(&self.sensitive_claims) })
    }
}

async fn set(p: Posted<ShadowForm>, id: web::Path<String>) -> Page {
    let Posted { admin, form, .. } = p;
    let id = id.into_inner();
    let settings = match form.settings() {
        Ok(s) => s,
        Err(e) => return bindings::with_shadow_errors(&admin, id, form, e.into()).await,
    };
    let (store, actor, bid, now) = (admin.state.store.clone(), admin.actor(), id.clone(), admin.now());
    match blocking(move || svc::set(&store, &actor, now, &bid, &settings)).await? {
        Ok(_) => Ok(see_other(&format!("{}#shadow", paths::done(&paths::binding(&id), "shadow-set")))),
        Err(e) => bindings::with_shadow_errors(&admin, id, form, e.into()).await,
    }
}

async fn end(admin: &Admin, id: String, promote: bool) -> Page {
    let (store, actor, bid, now) = (admin.state.store.clone(), admin.actor(), id.clone(), admin.now());
    blocking(
        move || if promote { svc::promote(&store, &actor, now, &bid) } else { svc::discard(&store, &actor, now, &bid) },
    )
    .await??;
    let done = if promote { "promoted" } else { "discarded" };
    Ok(see_other(&paths::done(&paths::binding(&id), done)))
}

async fn promote(p: Posted<super::Empty>, id: web::Path<String>) -> Page {
    end(&p.admin, id.into_inner(), true).await
}

async fn discard(p: Posted<super::Empty>, id: web::Path<String>) -> Page {
    end(&p.admin, id.into_inner(), false).await
}
