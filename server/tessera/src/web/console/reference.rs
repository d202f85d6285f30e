//! The management API's reference page: the OpenAPI document the API
//! serves, rendered on the server (`web/api/reference.rs` reads it into
//! plain views), for administrators writing scripts against the API.

use super::{Admin, Layout, Page, render};
use crate::web::api::{openapi_document, reference};
use crate::web::routes::console as paths;
use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::relative(paths::API_REFERENCE), web::get().to(page));
}

#[derive(Template)]
#[template(path = "console/api_reference.html")]
struct ReferencePage {
    l: Layout,
    r: reference::Reference,
    document: &'static str,
}

async fn page(admin: Admin) -> Page {
    let doc = serde_json::to_value(openapi_document()).map_err(|_| super::ConsoleError::Internal)?;
    let l = Layout::new(&admin, "api", "Management API reference");
    let page = ReferencePage { l, r: reference::reference(&doc), document: crate::web::routes::api::OPENAPI };
    Ok(render(StatusCode::OK, &page))
}
