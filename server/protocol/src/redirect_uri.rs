//! Redirect-URI registration rules: which URIs a client may register as a
//! redirect or post-logout redirect target (RFC 6749 §3.1.2, RFC 9700 §2.6,
//! RFC 8252 §7). Matching at request time is exact and lives with the grant.

/// Why a redirect URI cannot be registered. The messages name the URI and
/// the rule, so the console can show them next to the field as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriError {
    /// Not an absolute URI (RFC 6749 §3.1.2).
    #[error("{uri:?} is not an absolute URI: {source}")]
    NotAbsolute {
        /// The URI as given.
        uri: String,
        /// Why it did not parse.
        source: url::ParseError,
    },
    /// It has a fragment (RFC 6749 §3.1.2).
    #[error("{0:?} must not contain a fragment")]
    Fragment(String),
    /// Plain http to a host that is not loopback (RFC 9700 §2.6, RFC 8252 §7.3).
    #[error("{0:?}: http is allowed only for loopback (127.0.0.1, [::1], localhost)")]
    PlainHttp(String),
    /// A scheme that runs or reads something in the browser (`javascript`,
    /// `data`, `file`, `vbscript`).
    #[error("{0:?}: scheme not allowed")]
    DangerousScheme(String),
    /// Any other scheme that is not a reverse-domain private-use scheme
    /// (RFC 8252 §7.1).
    #[error("{uri:?}: scheme {scheme} not allowed; use https, loopback http, or a reverse-domain private scheme")]
    UnknownScheme {
        /// The URI as given.
        uri: String,
        /// Its scheme.
        scheme: String,
    },
}

/// Validates a redirect URI: absolute, no fragment (RFC 6749 §3.1.2), and
/// `http` only for loopback hosts (RFC 9700 §2.6, RFC 8252 §7.3).
pub fn validate_redirect_uri(uri: &str) -> Result<(), RedirectUriError> {
    let u = url::Url::parse(uri).map_err(|source| RedirectUriError::NotAbsolute { uri: uri.to_owned(), source })?;
    if u.fragment().is_some() {
        return Err(RedirectUriError::Fragment(uri.to_owned()));
    }
    match u.scheme() {
        "https" => Ok(()),
        "http" => match u.host_str() {
            Some("127.0.0.1" | "[::1]" | "localhost") => Ok(()),
            _ => Err(RedirectUriError::PlainHttp(uri.to_owned())),
        },
        "javascript" | "data" | "file" | "vbscript" => Err(RedirectUriError::DangerousScheme(uri.to_owned())),
        // Private-use schemes of native apps (RFC 8252 §7.1), e.g. com.example.app:/cb.
        s if s.contains('.') => Ok(()),
        s => Err(RedirectUriError::UnknownScheme { uri: uri.to_owned(), scheme: s.to_owned() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/security-checklist.md O-3: no plain-http redirect URIs except loopback.
    #[test]
    fn redirect_uri_rules_follow_rfc9700() {
        assert!(validate_redirect_uri("https://app.example/cb").is_ok());
        assert!(validate_redirect_uri("http://127.0.0.1/cb").is_ok());
        assert!(validate_redirect_uri("com.example.app:/cb").is_ok());
        assert!(validate_redirect_uri("http://app.example/cb").is_err());
        assert!(validate_redirect_uri("https://app.example/cb#x").is_err());
        assert!(validate_redirect_uri("javascript:alert(1)").is_err());
        assert!(validate_redirect_uri("/relative").is_err());
    }

    /// Each rule is its own variant, and the message shown to the
    /// administrator names the URI and the rule.
    #[test]
    fn each_refusal_says_which_rule() {
        let e = |u: &str| validate_redirect_uri(u).err();
        assert!(matches!(e("/relative"), Some(RedirectUriError::NotAbsolute { .. })));
        assert_eq!(e("https://a.example/cb#x"), Some(RedirectUriError::Fragment("https://a.example/cb#x".into())));
        assert_eq!(e("http://a.example/cb"), Some(RedirectUriError::PlainHttp("http://a.example/cb".into())));
        assert_eq!(e("data:text/html,x"), Some(RedirectUriError::DangerousScheme("data:text/html,x".into())));
        assert_eq!(
            e("myapp:/cb").map(|e| e.to_string()).as_deref(),
            Some(
                "\"myapp:/cb\": scheme myapp not allowed; use https, loopback http, or a reverse-domain private scheme"
            )
        );
        assert_eq!(
            e("http://a.example/cb").map(|e| e.to_string()).as_deref(),
            Some("\"http://a.example/cb\": http is allowed only for loopback (127.0.0.1, [::1], localhost)")
        );
    }
}
