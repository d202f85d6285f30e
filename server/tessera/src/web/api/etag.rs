//! Optimistic concurrency (RFC 9110 §8.8.3, §13.1.1): every read carries an
//! `ETag`, the sha256 of the representation it returns, and every change
//! must send it back in `If-Match`. Missing is 428 (RFC 6585 §3), another
//! version is 412, checked in the change's own transaction
//! (`service::precondition::guarded`).

use super::problem::{Problem, ProblemKind};
use crate::service::precondition;
use actix_web::HttpRequest;
use actix_web::http::header;
use serde::Serialize;

/// The strong entity tag of `view` (quoted, as the header carries it).
pub fn etag_of<T: Serialize>(view: &T) -> Result<String, Problem> {
    precondition::etag_of(view).map_err(Problem::internal)
}

/// The `If-Match` header's text, or 428 if the request has none.
pub fn required_if_match(req: &HttpRequest) -> Result<String, Problem> {
    match req.headers().get(header::IF_MATCH).map(|v| v.to_str()) {
        Some(Ok(v)) => Ok(v.to_owned()),
        Some(Err(_)) => Err(Problem::field("If-Match", "is not a valid header value")),
        None => Err(Problem::new(
            ProblemKind::PreconditionRequired,
            "send the ETag of your last read as If-Match, so a concurrent change is not overwritten",
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_version_is_412() {
        let stale = Problem::from(tessera_store::StoreError::Stale("user u".into()));
        assert_eq!((stale.status(), stale.kind), (412, ProblemKind::PreconditionFailed));
    }

    #[test]
    fn a_missing_if_match_is_428() {
        let req = actix_web::test::TestRequest::default().to_http_request();
        assert_eq!(required_if_match(&req).unwrap_err().status(), 428);
        let req = actix_web::test::TestRequest::default().insert_header(("If-Match", "\"x\"")).to_http_request();
        assert_eq!(required_if_match(&req).unwrap(), "\"x\"");
    }
}
