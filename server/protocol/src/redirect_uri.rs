//! Redirect-URI registration rules: which URIs a client may register as a
//! redirect or post-logout redirect target (RFC 6749 §3.1.2, RFC 9700 §2.6,
//! RFC 8252 §7). Matching at request time is exact and lives with the grant.

/// Validates a redirect URI: absolute, no fragment (RFC 6749 §3.1.2), and
/// `http` only for loopback hosts (RFC 9700 §2.6, RFC 8252 §7.3).
pub fn validate_redirect_uri(uri: &str) -> Result<(), String> {
    let u = url::Url::parse(uri).map_err(|e| format!("{uri:?} is not an absolute URI: {e}"))?;
    if u.fragment().is_some() {
        return Err(format!("{uri:?} must not contain a fragment"));
    }
    match u.scheme() {
        "https" => Ok(()),
        "http" => match u.host_str() {
            Some("127.0.0.1" | "[::1]" | "localhost") => Ok(()),
            _ => Err(format!("{uri:?}: http is allowed only for loopback (127.0.0.1, [::1], localhost)")),
        },
        "javascript" | "data" | "file" | "vbscript" => Err(format!("{uri:?}: scheme not allowed")),
        // Private-use schemes of native apps (RFC 8252 §7.1), e.g. com.example.app:/cb.
        s if s.contains('.') => Ok(()),
        s => Err(format!(
            "{uri:?}: scheme {s} not allowed; use https, loopback http, or a reverse-domain private scheme"
        )),
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
}
