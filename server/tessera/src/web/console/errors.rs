//! How console failures become responses: field errors next to their
//! fields, a banner, or an error page with the status the failure calls for;
//! and the refusals of the extractors.

use super::{message_page, see_other};
use crate::service::admin::AdminError;
use crate::web::routes::console as paths;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use tessera_store::StoreError;

/// Field errors of a submitted form, shown next to each field.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    /// The message for `field`, if any.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.iter().find(|(f, _)| *f == field).map(|(_, m)| m.as_str())
    }

    /// One error on one field.
    pub fn one(field: &'static str, message: String) -> FieldErrors {
        FieldErrors(vec![(field, message)])
    }

    /// True when some field failed.
    pub fn any(&self) -> bool {
        !self.0.is_empty()
    }
}

/// A failed save: field errors go next to their fields, anything else to the
/// page's banner; an outage is an error page.
pub enum Failure {
    /// Show the form again with these.
    Form(FieldErrors, Option<String>),
    /// The database is away or something broke: an error response.
    Page(HttpResponse),
}

impl From<AdminError> for Failure {
    fn from(e: AdminError) -> Failure {
        match e {
            AdminError::Invalid { field, message } => Failure::Form(FieldErrors(vec![(field, message)]), None),
            AdminError::Conflict(m) => Failure::Form(FieldErrors::default(), Some(m)),
            AdminError::NotFound(m) => Failure::Form(FieldErrors::default(), Some(format!("{m} not found."))),
            AdminError::Store(e) => Failure::Page(store_page(e)),
            AdminError::Internal(m) => {
                tracing::error!(error = %m, "console action failed");
                Failure::Page(message_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong."))
            }
        }
    }
}

/// The response to a storage failure: 503 for an outage, 500 otherwise.
pub fn store_page(e: StoreError) -> HttpResponse {
    match e {
        StoreError::Unavailable(_) => {
            message_page(StatusCode::SERVICE_UNAVAILABLE, "The database is unavailable. Try again in a moment.")
        }
        StoreError::NotFound(m) => message_page(StatusCode::NOT_FOUND, &format!("{m} not found.")),
        other => {
            tracing::error!(error = %other, "console storage failure");
            message_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong.")
        }
    }
}

/// Why a console request was refused before its handler ran.
#[derive(Debug)]
pub enum Refusal {
    /// No valid session: sign in first.
    SignIn,
    /// A state-changing request without a valid CSRF token or from another site.
    Forbidden(&'static str),
    /// The form could not be read.
    BadForm(String),
    /// The database is unavailable.
    Unavailable,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl ResponseError for Refusal {
    fn status_code(&self) -> StatusCode {
        match self {
            Refusal::SignIn => StatusCode::SEE_OTHER,
            Refusal::Forbidden(_) => StatusCode::FORBIDDEN,
            Refusal::BadForm(_) => StatusCode::BAD_REQUEST,
            Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = match self {
            Refusal::SignIn => see_other(paths::LOGIN),
            Refusal::Forbidden(m) => message_page(StatusCode::FORBIDDEN, m),
            Refusal::BadForm(m) => message_page(StatusCode::BAD_REQUEST, m),
            Refusal::Unavailable => {
                message_page(StatusCode::SERVICE_UNAVAILABLE, "The database is unavailable. Try again in a moment.")
            }
        };
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

/// A failed action with no form to show again (delete, toggle): the
/// reason on a page of its own.
pub fn admin_error_page(e: AdminError) -> HttpResponse {
    match Failure::from(e) {
        Failure::Page(r) => r,
        Failure::Form(errors, banner) => {
            let text = banner.or_else(|| errors.0.first().map(|(f, m)| format!("{f}: {m}"))).unwrap_or_default();
            message_page(StatusCode::UNPROCESSABLE_ENTITY, &text)
        }
    }
}
