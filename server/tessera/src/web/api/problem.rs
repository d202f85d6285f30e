//! The management API's one error renderer: `application/problem+json`
//! (RFC 9457) with a stable `type` URI per kind of error, the wrong fields
//! in `invalid-params`, and for 401 and 403 the RFC 6750 §3 challenge.
//! Internal failures say nothing of their cause (the log gets it).

use crate::service::admin::AdminError;
use crate::service::oauth::management::BearerError;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use tessera_protocol::OAuthError;
use tessera_store::StoreError;
use utoipa::{IntoResponses, ToSchema};

/// The media type of every error body (RFC 9457 §3).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Every kind of error the management API answers with. Its `type` URI
/// ([`ProblemKind::type_uri`]) is stable: clients may match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// The body is not JSON, not an object, or not of the declared type.
    InvalidBody,
    /// A field (or query parameter) is missing, unknown or invalid;
    /// `invalid-params` names it.
    InvalidField,
    /// No bearer token, or one that is invalid, expired or for another audience.
    Unauthorized,
    /// A valid management token without the operation's scope.
    InsufficientScope,
    /// The resource does not exist.
    NotFound,
    /// The change contradicts the stored state (a name taken, a type that
    /// cannot change).
    Conflict,
    /// `If-Match` names another version than the current one.
    PreconditionFailed,
    /// The body exceeds its limit.
    PayloadTooLarge,
    /// The body's `Content-Type` is not one the operation takes.
    UnsupportedMediaType,
    /// A change needs `If-Match`.
    PreconditionRequired,
    /// Something failed inside the server.
    Internal,
    /// The database is unavailable; retry later.
    Unavailable,
}

impl ProblemKind {
    /// Every kind, for the reference page's table of error types.
    pub const ALL: [ProblemKind; 12] = [
        ProblemKind::InvalidBody,
        ProblemKind::InvalidField,
        ProblemKind::Unauthorized,
        ProblemKind::InsufficientScope,
        ProblemKind::NotFound,
        ProblemKind::Conflict,
        ProblemKind::PreconditionFailed,
        ProblemKind::PayloadTooLarge,
        ProblemKind::UnsupportedMediaType,
        ProblemKind::PreconditionRequired,
        ProblemKind::Internal,
        ProblemKind::Unavailable,
    ];

    /// The last segment of the `type` URI: the one table of names.
    pub fn slug(self) -> &'static str {
        match self {
            ProblemKind::InvalidBody => "invalid-body",
            ProblemKind::InvalidField => "invalid-field",
            ProblemKind::Unauthorized => "unauthorized",
            ProblemKind::InsufficientScope => "insufficient-scope",
            ProblemKind::NotFound => "not-found",
            ProblemKind::Conflict => "conflict",
            ProblemKind::PreconditionFailed => "precondition-failed",
            ProblemKind::PayloadTooLarge => "payload-too-large",
            ProblemKind::UnsupportedMediaType => "unsupported-media-type",
            ProblemKind::PreconditionRequired => "precondition-required",
            ProblemKind::Internal => "internal",
            ProblemKind::Unavailable => "unavailable",
        }
    }

    /// The `type` URI: a URN, so it names the error without a web page
    /// having to exist at a URL.
    pub fn type_uri(self) -> String {
        format!("urn:tessera:problem:{}", self.slug())
    }

    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            ProblemKind::InvalidBody | ProblemKind::InvalidField => StatusCode::BAD_REQUEST,
            ProblemKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ProblemKind::InsufficientScope => StatusCode::FORBIDDEN,
            ProblemKind::NotFound => StatusCode::NOT_FOUND,
            ProblemKind::Conflict => StatusCode::CONFLICT,
            ProblemKind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ProblemKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemKind::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            ProblemKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ProblemKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The short, fixed summary (RFC 9457 §3.1.4).
    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::InvalidBody => "The request body is invalid",
            ProblemKind::InvalidField => "A field is invalid",
            ProblemKind::Unauthorized => "A valid management token is required",
            ProblemKind::InsufficientScope => "The token lacks the scope this operation needs",
            ProblemKind::NotFound => "Not found",
            ProblemKind::Conflict => "The change conflicts with the current state",
            ProblemKind::PreconditionFailed => "The resource changed since it was read",
            ProblemKind::PayloadTooLarge => "The request body is too large",
            ProblemKind::UnsupportedMediaType => "Unsupported content type",
            ProblemKind::PreconditionRequired => "If-Match is required",
            ProblemKind::Internal => "Internal error",
            ProblemKind::Unavailable => "Temporarily unavailable",
        }
    }
}

/// One wrong field (RFC 9457 §3 example extension `invalid-params`).
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct InvalidParam {
    /// The field as the body or query names it.
    pub name: String,
    /// What is wrong with it.
    pub reason: String,
}

/// An error response body (RFC 9457), as it is sent and documented.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemBody {
    /// A stable URI naming the kind of error (`urn:tessera:problem:<name>`).
    #[serde(rename = "type")]
    pub type_uri: String,
    /// The kind's fixed summary.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong in this request.
    pub detail: String,
    /// The wrong fields, for `invalid-field`.
    #[serde(rename = "invalid-params", skip_serializing_if = "Vec::is_empty")]
    pub invalid_params: Vec<InvalidParam>,
}

/// The refusals every operation documents (its scope is in its `security`):
/// one list in `responses(...)` instead of two tuples per handler.
#[derive(IntoResponses)]
pub enum GuardProblems {
    /// 401.
    #[response(status = 401, description = "No valid management token", content_type = "application/problem+json")]
    Unauthorized(ProblemBody),
    /// 403.
    #[response(
        status = 403,
        description = "The token lacks the operation's scope (its `security`)",
        content_type = "application/problem+json"
    )]
    Forbidden(ProblemBody),
}

/// The refusals of an operation that reads a JSON body (`body.rs`).
#[derive(IntoResponses)]
pub enum BodyProblems {
    /// 413.
    #[response(status = 413, description = "The body exceeds 256 KiB", content_type = "application/problem+json")]
    TooLarge(ProblemBody),
    /// 415.
    #[response(
        status = 415,
        description = "The body is not JSON by its Content-Type",
        content_type = "application/problem+json"
    )]
    NotJson(ProblemBody),
}

/// The refusals of an operation that needs `If-Match` (`etag.rs`).
#[derive(IntoResponses)]
pub enum PreconditionProblems {
    /// 412.
    #[response(
        status = 412,
        description = "The resource changed since the ETag",
        content_type = "application/problem+json"
    )]
    Stale(ProblemBody),
    /// 428.
    #[response(status = 428, description = "If-Match is missing", content_type = "application/problem+json")]
    Missing(ProblemBody),
}

/// A refused or failed management request; rendered as a [`ProblemBody`].
#[derive(Debug, Clone)]
pub struct Problem {
    /// The kind (type, title, status).
    pub kind: ProblemKind,
    /// What went wrong in this request.
    pub detail: String,
    /// The wrong fields.
    pub invalid_params: Vec<InvalidParam>,
    /// The `WWW-Authenticate` challenge of a 401 or 403.
    pub challenge: Option<String>,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.kind.title(), self.status(), self.detail)
    }
}

impl Problem {
    /// A problem of `kind` with `detail`.
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Problem {
        Problem { kind, detail: detail.into(), invalid_params: vec![], challenge: None }
    }

    /// `field` is wrong because of `reason`.
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Problem {
        let (name, reason) = (field.into(), reason.into());
        let mut p = Problem::new(ProblemKind::InvalidField, format!("{name}: {reason}"));
        p.invalid_params.push(InvalidParam { name, reason });
        p
    }

    /// An internal failure: logged here, said nowhere else.
    pub fn internal(detail: impl std::fmt::Display) -> Problem {
        tracing::error!(detail = %detail, "management API request failed");
        Problem::new(ProblemKind::Internal, "the request could not be completed")
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.kind.status().as_u16()
    }

    /// The body as it is sent.
    pub fn body(&self) -> ProblemBody {
        ProblemBody {
            type_uri: self.kind.type_uri(),
            title: self.kind.title().to_owned(),
            status: self.status(),
            detail: self.detail.clone(),
            invalid_params: self.invalid_params.clone(),
        }
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.kind.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        res.content_type(PROBLEM_JSON).insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(c) = self.challenge.as_deref().and_then(|c| HeaderValue::from_str(c).ok()) {
            res.insert_header((header::WWW_AUTHENTICATE, c));
        }
        res.json(self.body())
    }
}

/// The body field a service's field name (a console form or CLI flag name)
/// stands for, so `invalid-params` names what the API client sent.
pub fn body_field(service_field: &str) -> String {
    match service_field {
        "grant-types" => "grant_types".into(),
        "redirect-uri" => "redirect_uris".into(),
        "post-logout-redirect-uri" => "post_logout_redirect_uris".into(),
        "lifetime" => "token_lifetime_secs".into(),
        "secret" => "secrets".into(),
        "declare-claims" => "declared_claims".into(),
        "file" => "component".into(),
        "overlap" => "overlap_secs".into(),
        other => other.replace('-', "_"),
    }
}

impl Problem {
    /// `e`, with a field error named as a resource's body names it where that
    /// differs from the shared names of [`body_field`] (`renames`: service
    /// field, body field).
    pub fn renamed(e: AdminError, renames: &[(&str, &str)]) -> Problem {
        match e {
            AdminError::Invalid { field, message } => match renames.iter().find(|(from, _)| *from == field) {
                Some((_, to)) => Problem::field(*to, message),
                None => Problem::field(body_field(field), message),
            },
            other => other.into(),
        }
    }
}

impl From<AdminError> for Problem {
    fn from(e: AdminError) -> Problem {
        match e {
            AdminError::Invalid { field, message } => Problem::field(body_field(field), message),
            AdminError::Conflict(m) => Problem::new(ProblemKind::Conflict, m),
            AdminError::NotFound(m) => Problem::new(ProblemKind::NotFound, format!("{m} not found")),
            AdminError::Store(s) => s.into(),
            AdminError::Internal(m) => Problem::internal(m),
        }
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Problem {
        match e {
            StoreError::Unavailable(d) => {
                tracing::warn!(detail = %d, "database unavailable");
                Problem::new(ProblemKind::Unavailable, "the database is unavailable; retry later")
            }
            StoreError::NotFound(m) => Problem::new(ProblemKind::NotFound, format!("{m} not found")),
            StoreError::Conflict(m) => Problem::new(ProblemKind::Conflict, m),
            StoreError::Stale(_) => Problem::new(
                ProblemKind::PreconditionFailed,
                "the resource changed since the ETag you sent; read it again",
            ),
            other => Problem::internal(other),
        }
    }
}

impl From<OAuthError> for Problem {
    fn from(e: OAuthError) -> Problem {
        if e.status() == 503 {
            Problem::new(ProblemKind::Unavailable, "retry later")
        } else {
            Problem::internal(format!("{}: {}", e.description, e.detail.unwrap_or_default()))
        }
    }
}

impl From<BearerError> for Problem {
    fn from(e: BearerError) -> Problem {
        const REALM: &str = "Bearer realm=\"tessera-management\"";
        match e {
            BearerError::Missing => Problem {
                challenge: Some(REALM.into()),
                ..Problem::new(ProblemKind::Unauthorized, "send a management access token as Authorization: Bearer")
            },
            BearerError::InvalidToken => Problem {
                challenge: Some(format!(
                    "{REALM}, error=\"invalid_token\", error_description=\"the token is invalid, expired or not for this API\""
                )),
                ..Problem::new(ProblemKind::Unauthorized, "the token is invalid, expired or not for the management API")
            },
            BearerError::InsufficientScope(s) => Problem {
                challenge: Some(format!("{REALM}, error=\"insufficient_scope\", scope=\"{}\"", s.as_str())),
                ..Problem::new(ProblemKind::InsufficientScope, format!("this operation needs the scope {}", s.as_str()))
            },
            BearerError::Internal(e) => e.into(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::service::oauth::management::ManagementScope;
    use actix_web::body::MessageBody;

    fn body(p: &Problem) -> serde_json::Value {
        let bytes = p.error_response().into_body().try_into_bytes().unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn every_kind_has_its_own_type_and_an_error_status() {
        let kinds = ProblemKind::ALL;
        let uris: std::collections::HashSet<String> = kinds.iter().map(|k| k.type_uri()).collect();
        assert_eq!(uris.len(), kinds.len());
        assert!(kinds.iter().all(|k| k.status().as_u16() >= 400));
    }

    #[test]
    fn a_field_error_names_the_body_field() {
        let p: Problem = AdminError::Invalid { field: "grant-types", message: "unknown".into() }.into();
        let res = p.error_response();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.headers().get(header::CONTENT_TYPE).unwrap(), PROBLEM_JSON);
        let b = body(&p);
        assert_eq!(b["type"], "urn:tessera:problem:invalid-field");
        assert_eq!(b["invalid-params"][0]["name"], "grant_types");
        assert_eq!(b["status"], 400);
    }

    #[test]
    fn bearer_refusals_carry_the_rfc_6750_challenge() {
        let missing = Problem::from(BearerError::Missing).error_response();
        assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
        let c = missing.headers().get(header::WWW_AUTHENTICATE).unwrap().to_str().unwrap().to_owned();
        assert!(c.starts_with("Bearer ") && !c.contains("error="), "{c}");
        let invalid = Problem::from(BearerError::InvalidToken).error_response();
        let c = invalid.headers().get(header::WWW_AUTHENTICATE).unwrap().to_str().unwrap().to_owned();
        assert!(c.contains("error=\"invalid_token\""), "{c}");
        let scope = Problem::from(BearerError::InsufficientScope(ManagementScope::WritePlugins)).error_response();
        assert_eq!(scope.status(), StatusCode::FORBIDDEN);
        let c = scope.headers().get(header::WWW_AUTHENTICATE).unwrap().to_str().unwrap().to_owned();
        assert!(c.contains("error=\"insufficient_scope\"") && c.contains("scope=\"write:plugins\""), "{c}");
    }

    #[test]
    fn internal_failures_do_not_say_why() {
        let p: Problem = AdminError::Internal("the master key is gone".into()).into();
        assert_eq!(p.status(), 500);
        assert!(!p.detail.contains("master"), "{}", p.detail);
    }
}
