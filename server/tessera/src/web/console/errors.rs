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

/// Field errors of a submitted form, the one way every console form reports
/// them: `console/macros.html` turns the list into a summary on top of the
/// form (`error_summary`: each entry names its field and links to its
/// message), the message under the field (`field_error`) and the field's own
/// attributes (`invalid`: `aria-invalid`, `aria-describedby`, and
/// `autofocus` on the first one).
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

    /// True when `field` is the first field that failed: the one the page
    /// focuses, so a keyboard or screen-reader user starts at the problem.
    pub fn is_first(&self, field: &str) -> bool {
        self.0.first().is_some_and(|(f, _)| *f == field)
    }

    /// The summary's entries, in the order the fields failed: the field's
    /// key (the message's id is `<key>-error`), a message that names the
    /// field, so the summary reads on its own.
    pub fn summary(&self) -> Vec<(&'static str, String)> {
        self.0.iter().map(|(f, m)| (*f, format!("{}: {m}", label(f)))).collect()
    }
}

/// The name a form shows for a field key of [`AdminError::Invalid`], so a
/// summary entry says which field it is about.
fn label(field: &str) -> String {
    let known = match field {
        "redirect-uri" => "Redirect URIs",
        "post-logout-redirect-uri" => "Post-logout redirect URIs",
        "service-account" => "Service-account user",
        "exchange-audiences" => "Token exchange audiences",
        "exchange-scopes" => "Token exchange scopes",
        "jwks" => "Public keys",
        "jwks-uri" => "Public keys' URL",
        "alg" => "Signing algorithm",
        "lifetime" => "Access-token lifetime",
        "file" => "Component",
        "declare-claims" => "Declared claims",
        "secret" => "Secrets",
        "failure-policy" => "When the plugin fails",
        "shadow-version" => "Candidate version",
        "share" => "Share of token requests",
        "current" => "Current password",
        "confirm" => "Repeat the new password",
        "email" => "E-mail",
        "kind" => "Type",
        "overlap" => "Keep the current secrets valid for",
        "jwt-bearer-issuers" => "Trusted issuer",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    // Anything else reads as its key: "name" is "Name", "grant-types" is
    // "Grant types".
    let words = field.replace(['-', '_'], " ");
    let mut chars = words.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// A failed save: field errors go next to their fields, anything else to the
/// page's banner; an outage is an error page.
pub enum Failure {
    /// Show the form again with these.
    Form(FieldErrors, Option<String>),
    /// The database is away or something broke: an error page.
    Page(ConsoleError),
}

/// The banner of a form saved over someone else's change.
pub const STALE: &str = "This was changed (in another tab, by another administrator or through the API) after you opened this page. Nothing was saved: your edits are still in the form; reload the page to see the current version, then make them again.";

impl From<AdminError> for Failure {
    fn from(e: AdminError) -> Failure {
        match e {
            AdminError::Invalid { field, message } => Failure::Form(FieldErrors(vec![(field, message)]), None),
            AdminError::Conflict(m) => Failure::Form(FieldErrors::default(), Some(m)),
            AdminError::NotFound(m) => Failure::Form(FieldErrors::default(), Some(format!("{m} not found."))),
            // A guarded save whose form was filled from an older version
            // (`service::precondition::form_version`).
            AdminError::Store(StoreError::Stale(_)) => Failure::Form(FieldErrors::default(), Some(STALE.to_owned())),
            other => Failure::Page(ConsoleError::Action(other)),
        }
    }
}

impl Failure {
    /// The form shown again by `render` with these errors, or the error page.
    pub fn show_form(
        self,
        render: impl FnOnce(FieldErrors, Option<String>) -> HttpResponse,
    ) -> Result<HttpResponse, ConsoleError> {
        match self {
            Failure::Form(errors, banner) => Ok(render(errors, banner)),
            Failure::Page(e) => Err(e),
        }
    }
}

/// Why a console handler failed: every handler returns
/// `Result<HttpResponse, ConsoleError>` and uses `?`, and this type alone
/// decides the status and page of each failure.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// Storage failed: 503 for an outage, 404 for a missing row, 500 otherwise.
    #[error(transparent)]
    Store(StoreError),
    /// An action with no form to show its failure on (delete, toggle,
    /// rotate): 422 with the reason, or the page of an outage or an internal
    /// failure.
    #[error(transparent)]
    Action(AdminError),
    /// The object a path names does not exist: 404 with this message.
    #[error("{0}")]
    NotFound(&'static str),
    /// Something broke (a blocking task, the random number generator): 500.
    #[error("internal console failure")]
    Internal,
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> Self {
        ConsoleError::Store(e)
    }
}

impl From<AdminError> for ConsoleError {
    fn from(e: AdminError) -> Self {
        ConsoleError::Action(e)
    }
}

const SOMETHING_WRONG: &str = "Something went wrong.";
const DATABASE_AWAY: &str = "The database is unavailable. Try again in a moment.";

impl ConsoleError {
    /// The status and the message the page shows.
    fn page(&self) -> (StatusCode, String) {
        match self {
            ConsoleError::Store(StoreError::Unavailable(_))
            | ConsoleError::Action(AdminError::Store(StoreError::Unavailable(_))) => {
                (StatusCode::SERVICE_UNAVAILABLE, DATABASE_AWAY.into())
            }
            ConsoleError::Store(StoreError::NotFound(m))
            | ConsoleError::Action(AdminError::Store(StoreError::NotFound(m))) => {
                (StatusCode::NOT_FOUND, format!("{m} not found."))
            }
            ConsoleError::Store(_) | ConsoleError::Action(AdminError::Store(_)) => {
                (StatusCode::INTERNAL_SERVER_ERROR, SOMETHING_WRONG.into())
            }
            ConsoleError::Action(AdminError::Invalid { field, message }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, format!("{field}: {message}"))
            }
            ConsoleError::Action(AdminError::Conflict(m)) => (StatusCode::UNPROCESSABLE_ENTITY, m.clone()),
            ConsoleError::Action(AdminError::NotFound(m)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, format!("{m} not found."))
            }
            ConsoleError::Action(AdminError::Internal(_)) | ConsoleError::Internal => {
                (StatusCode::INTERNAL_SERVER_ERROR, SOMETHING_WRONG.into())
            }
            ConsoleError::NotFound(m) => (StatusCode::NOT_FOUND, (*m).to_owned()),
        }
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        self.page().0
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ConsoleError::Store(e) | ConsoleError::Action(AdminError::Store(e))
                if !matches!(e, StoreError::Unavailable(_) | StoreError::NotFound(_)) =>
            {
                tracing::error!(error = %e, "console storage failure");
            }
            ConsoleError::Action(AdminError::Internal(m)) => tracing::error!(error = %m, "console action failed"),
            _ => {}
        }
        let (status, message) = self.page();
        message_page(status, &message)
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
            Refusal::Unavailable => message_page(StatusCode::SERVICE_UNAVAILABLE, DATABASE_AWAY),
        };
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(e: ConsoleError) -> u16 {
        e.error_response().status().as_u16()
    }

    /// Each failure keeps the status the handlers answered with before they
    /// used `?`: an outage 503, a missing object 404, a refused action 422,
    /// anything else 500.
    #[test]
    fn console_errors_keep_their_statuses() {
        assert_eq!(status(ConsoleError::Store(StoreError::Unavailable("down".into()))), 503);
        assert_eq!(status(ConsoleError::Store(StoreError::NotFound("client x".into()))), 404);
        assert_eq!(status(ConsoleError::Store(StoreError::Conflict("taken".into()))), 500);
        assert_eq!(status(ConsoleError::NotFound("No such user.")), 404);
        assert_eq!(status(ConsoleError::Internal), 500);
        let invalid = AdminError::Invalid { field: "overlap", message: "must be a number".into() };
        assert_eq!(status(ConsoleError::from(invalid)), 422);
        assert_eq!(status(ConsoleError::from(AdminError::Conflict("in use".into()))), 422);
        assert_eq!(status(ConsoleError::from(AdminError::NotFound("user u".into()))), 422);
        assert_eq!(status(ConsoleError::from(AdminError::Store(StoreError::Unavailable("down".into())))), 503);
        assert_eq!(status(ConsoleError::from(AdminError::Internal("rng".into()))), 500);
        let e = ConsoleError::from(AdminError::Invalid { field: "overlap", message: "must be a number".into() });
        assert_eq!(e.page().1, "overlap: must be a number");
    }

    /// The summary keeps the order the fields failed in, names each field
    /// as its form labels it, and only the first failed field is focused.
    #[test]
    fn field_errors_summary_names_each_field_and_focuses_the_first() {
        let mut errors = FieldErrors::one("redirect-uri", "http is allowed only for loopback".into());
        errors.0.push(("name", "is required".into()));
        assert_eq!(
            errors.summary(),
            vec![
                ("redirect-uri", "Redirect URIs: http is allowed only for loopback".to_owned()),
                ("name", "Name: is required".to_owned()),
            ]
        );
        assert!(errors.is_first("redirect-uri"));
        assert!(!errors.is_first("name"));
        assert!(!FieldErrors::default().is_first("name"));
        assert_eq!(label("shadow-version"), "Candidate version");
        assert_eq!(label("username"), "Username");
        assert_eq!(label("grant-types"), "Grant types");
    }
}
