//! Optimistic concurrency (RFC 9110 §8.8.3, §13.1.1): every read carries an
//! `ETag`, the sha256 of the representation it returns, and every change
//! must send it back in `If-Match`. Missing is 428 (RFC 6585 §3), another
//! version is 412.

use super::problem::{Problem, ProblemKind};
use actix_web::HttpRequest;
use actix_web::http::header;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

/// The strong entity tag of `view` (quoted, as the header carries it).
pub fn etag_of<T: Serialize>(view: &T) -> Result<String, Problem> {
    let json = serde_json::to_vec(view).map_err(Problem::internal)?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &json);
    Ok(format!("\"{}\"", URL_SAFE_NO_PAD.encode(digest.as_ref())))
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

/// Whether `if_match` (a list of tags, or `*`) names `current` by strong
/// comparison: a weak tag (`W/"..."`) never matches (RFC 9110 §13.1.1).
pub fn matches(if_match: &str, current: &str) -> bool {
    if_match.trim() == "*" || if_match.split(',').map(str::trim).any(|t| t == current)
}

/// 412 unless `if_match` names `current`.
pub fn check(if_match: &str, current: &str) -> Result<(), Problem> {
    if matches(if_match, current) {
        Ok(())
    } else {
        Err(Problem::new(
            ProblemKind::PreconditionFailed,
            "the resource changed since the ETag you sent; read it again",
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tags_follow_the_content_and_are_quoted() {
        let a = etag_of(&json!({"name": "a"})).unwrap();
        assert!(a.starts_with('"') && a.ends_with('"'));
        assert_eq!(a, etag_of(&json!({"name": "a"})).unwrap());
        assert_ne!(a, etag_of(&json!({"name": "b"})).unwrap());
    }

    #[test]
    fn if_match_uses_strong_comparison() {
        assert!(matches("\"x\"", "\"x\""));
        assert!(matches("\"y\", \"x\"", "\"x\""));
        assert!(matches("*", "\"x\""));
        assert!(!matches("W/\"x\"", "\"x\""));
        assert!(!matches("\"y\"", "\"x\""));
        assert_eq!(check("\"y\"", "\"x\"").unwrap_err().status(), 412);
    }

    #[test]
    fn a_missing_if_match_is_428() {
        let req = actix_web::test::TestRequest::default().to_http_request();
        assert_eq!(required_if_match(&req).unwrap_err().status(), 428);
        let req = actix_web::test::TestRequest::default().insert_header(("If-Match", "\"x\"")).to_http_request();
        assert_eq!(required_if_match(&req).unwrap(), "\"x\"");
    }
}
