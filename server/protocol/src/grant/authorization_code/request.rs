//! The authorization request (RFC 6749 §4.1.1, §4.2.1) with PKCE (RFC 7636)
//! and the OpenID Connect request parameters (OIDC Core §3.1.2.1).
//!
//! Validation runs in the order RFC 6749 §4.1.2.1 requires: while the client
//! or redirect URI is in doubt, errors are shown on a page and never
//! redirected; after that, errors go back to the client's redirect URI.

use crate::dpop;
use crate::error::{ErrorCode, OAuthError};
use crate::ids::{Audience, Jkt};
use crate::model::{ClientProfile, GrantType};
use crate::params::Params;
use crate::pkce;
use crate::scope::ScopeSet;

/// How the response reaches the client (OAuth 2.0 Multiple Response Types §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// `?code=...` (the default for `code`).
    Query,
    /// `#code=...`.
    Fragment,
    /// An auto-submitted HTML form POSTed to the redirect URI (OAuth 2.0 Form
    /// Post Response Mode): nothing lands in URLs or browser history.
    FormPost,
}

/// What the authorization endpoint returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    /// `code`: an authorization code (RFC 6749 §4.1).
    Code,
    /// `token`: an access token, the implicit grant (RFC 6749 §4.2).
    Token,
    /// `id_token token`: an ID token and an access token (OIDC Core §3.2).
    IdTokenToken,
}

/// A validated authorization request.
#[derive(Debug, Clone)]
pub struct Request {
    /// The client.
    pub client_id: String,
    /// The exact registered redirect URI to answer at.
    pub redirect_uri: String,
    /// Requested scopes.
    pub scope: ScopeSet,
    /// Echoed unchanged.
    pub state: Option<String>,
    /// OIDC nonce, echoed in the ID token.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// `prompt=none`: never show a page.
    pub prompt_none: bool,
    /// `prompt=login`: sign in again even with a session.
    pub prompt_login: bool,
    /// `prompt=consent`: ask for consent again.
    pub prompt_consent: bool,
    /// Maximum age of the sign-in, in seconds.
    pub max_age: Option<i64>,
    /// `acr_values` names the multi-factor policy (`oidc::ACR_MFA`): a
    /// session signed in with the password alone signs in again, with a
    /// second factor. Other values are voluntary (OIDC Core §3.1.2.1) and
    /// ignored.
    pub require_mfa: bool,
    /// The API the access token is for, if any.
    pub audience: Option<Audience>,
    /// Where the response goes.
    pub response_mode: ResponseMode,
    /// What is returned.
    pub response: ResponseKind,
    /// RFC 9449 §10: the thumbprint of the DPoP key the code is bound to;
    /// only a token request with a proof of that key can redeem it.
    pub dpop_jkt: Option<Jkt>,
}

/// A refused authorization request.
#[derive(Debug)]
pub enum Refusal {
    /// Shown to the user; the redirect URI cannot be trusted.
    Page(String),
    /// Sent to the client at its redirect URI.
    Redirect {
        /// The registered redirect URI.
        redirect_uri: String,
        /// The request's state.
        state: Option<String>,
        /// How to send it.
        mode: ResponseMode,
        /// The error.
        error: OAuthError,
    },
}

/// RFC 8252 §7.3 / RFC 9700 §4.1.3: loopback redirect URIs match with any
/// port; everything else by simple string comparison.
pub fn redirect_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(r), Ok(q)) = (url::Url::parse(registered), url::Url::parse(requested)) else { return false };
    let loopback = |u: &url::Url| u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1" | "[::1]"));
    loopback(&r)
        && loopback(&q)
        && r.host_str() == q.host_str()
        && r.path() == q.path()
        && r.query() == q.query()
        && r.fragment().is_none()
        && q.fragment().is_none()
        && r.username() == q.username()
        && r.password().is_none()
        && q.password().is_none()
}

/// Validates an authorization request for `client` (`None`: unknown client);
/// `pkce` says which clients must send a PKCE challenge.
pub fn validate(
    params: &Params,
    client: Option<(&ClientProfile, &[String])>,
    pkce: pkce::Requirement,
) -> Result<Request, Refusal> {
    let page = |m: &str| Refusal::Page(m.to_owned());
    let Some(client_id) = params.get("client_id") else { return Err(page("The request has no client_id.")) };
    let Some((client, registered)) = client else { return Err(page("The application is not known.")) };
    let redirect_uri = match params.get("redirect_uri") {
        Some(r) => match registered.iter().find(|reg| redirect_matches(reg, r)) {
            Some(_) => r.to_owned(),
            None => return Err(page("The redirect URI is not registered for this application.")),
        },
        None if registered.len() == 1 => registered[0].clone(),
        None => return Err(page("The request has no redirect_uri, and the application registered several.")),
    };
    let state = params.get("state").map(str::to_owned);
    // The response type decides the default response mode: tokens never
    // travel in a query string (OAuth 2.0 Multiple Response Types §2.1).
    let response = match params.get("response_type").map(|r| {
        let mut parts: Vec<&str> = r.split(' ').filter(|p| !p.is_empty()).collect();
        parts.sort_unstable();
        parts.join(" ")
    }) {
        Some(r) if r == "code" => Some(ResponseKind::Code),
        Some(r) if r == "token" => Some(ResponseKind::Token),
        Some(r) if r == "id_token token" => Some(ResponseKind::IdTokenToken),
        _ => None,
    };
    let default_mode = match response {
        Some(ResponseKind::Token | ResponseKind::IdTokenToken) => ResponseMode::Fragment,
        _ => ResponseMode::Query,
    };
    let mode = match params.get("response_mode") {
        Some("query") => ResponseMode::Query,
        Some("fragment") => ResponseMode::Fragment,
        Some("form_post") => ResponseMode::FormPost,
        _ => default_mode,
    };
    let refuse =
        |error: OAuthError| Refusal::Redirect { redirect_uri: redirect_uri.clone(), state: state.clone(), mode, error };
    if let Some(m) = params.get("response_mode")
        && !matches!(m, "query" | "fragment" | "form_post")
    {
        return Err(refuse(OAuthError::invalid_request("response_mode must be query, fragment or form_post")));
    }
    let response = match (params.get("response_type"), response) {
        (None, _) => return Err(refuse(OAuthError::invalid_request("missing parameter: response_type"))),
        (Some(_), None) => {
            return Err(refuse(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "supported response types: code, and token or id_token token for clients with the implicit grant",
            )));
        }
        (Some(_), Some(r)) => r,
    };
    let needed = match response {
        ResponseKind::Code => GrantType::AuthorizationCode,
        _ => GrantType::Implicit,
    };
    if !client.allows_grant(needed) {
        return Err(refuse(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("{needed} is not enabled for this client"),
        )));
    }
    if response != ResponseKind::Code {
        if mode == ResponseMode::Query {
            return Err(refuse(OAuthError::invalid_request("tokens are never returned in the query: use fragment")));
        }
        // OIDC Core §3.2.2.1: nonce is REQUIRED when an ID token comes from the authorization endpoint.
        if response == ResponseKind::IdTokenToken && params.get("nonce").is_none() {
            return Err(refuse(OAuthError::invalid_request("nonce is required for response_type=id_token token")));
        }
    }
    let scope = params.get("scope").map(ScopeSet::parse).transpose().map_err(&refuse)?.unwrap_or_default();
    let code_challenge = match params.get("code_challenge") {
        Some(c) => {
            pkce::check_challenge(c, params.get("code_challenge_method")).map_err(&refuse)?;
            Some(c.to_owned())
        }
        None if response == ResponseKind::Code && pkce.applies_to(client.confidential) => {
            let who = if client.confidential { "this server requires every client" } else { "public clients must" };
            return Err(refuse(OAuthError::invalid_request(format!("{who} to use PKCE (code_challenge with S256)"))));
        }
        None => None,
    };
    let prompts: Vec<&str> =
        params.get("prompt").map(|p| p.split(' ').filter(|s| !s.is_empty()).collect()).unwrap_or_default();
    if prompts.contains(&"none") && prompts.len() > 1 {
        return Err(refuse(OAuthError::invalid_request("prompt=none cannot be combined with other values")));
    }
    let max_age = match params.get("max_age") {
        Some(m) => Some(
            m.parse::<i64>()
                .ok()
                .filter(|v| *v >= 0)
                .ok_or_else(|| refuse(OAuthError::invalid_request("max_age must be a non-negative integer")))?,
        ),
        None => None,
    };
    let audience = match (params.get("audience"), params.get("resource")) {
        (None, None) => None,
        _ => Some(crate::grant::client_credentials::target(params).map_err(&refuse)?),
    };
    let dpop_jkt = params.get("dpop_jkt").map(dpop::parse_dpop_jkt).transpose().map_err(&refuse)?;
    Ok(Request {
        client_id: client_id.to_owned(),
        redirect_uri,
        scope,
        state,
        nonce: params.get("nonce").map(str::to_owned),
        code_challenge,
        prompt_none: prompts.contains(&"none"),
        prompt_login: prompts.contains(&"login"),
        prompt_consent: prompts.contains(&"consent"),
        max_age,
        require_mfa: params.get("acr_values").is_some_and(|v| v.split(' ').any(|a| a == crate::oidc::ACR_MFA)),
        audience,
        response_mode: mode,
        response,
        dpop_jkt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ClientId;

    fn client(confidential: bool) -> ClientProfile {
        ClientProfile {
            id: ClientId::new("c"),
            name: "c".into(),
            confidential,
            grant_types: vec![GrantType::AuthorizationCode],
            allowed_scopes: None,
            allowed_audiences: None,
        }
    }

    const CB: &str = "https://app.example/cb";
    const CH: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn params(extra: &[(&'static str, &'static str)]) -> Params {
        let mut p = vec![("client_id", "c"), ("redirect_uri", CB), ("response_type", "code")];
        p.extend_from_slice(extra);
        Params::from_pairs(p)
    }

    /// docs/security-checklist.md O-1 (exact match), O-2 (no port leniency for https), O-4
    /// (never redirected while the URI is in doubt).
    #[test]
    fn redirect_uri_variants_are_refused_on_a_page() {
        let c = client(true);
        let reg = [CB.to_owned()];
        for bad in [
            "https://app.example/cb/",
            "HTTPS://APP.EXAMPLE/cb",
            "https://app.example:443/cb",
            "https://app.example/cb?x=1",
            "https://app.example.evil.example/cb",
            "https://app.example@evil.example/cb",
            "https://app.example/cb/../cb",
            "https://app.example/cb%2F..",
            "https://app.example/cb#frag",
            "http://app.example/cb",
        ] {
            let p = Params::from_pairs([("client_id", "c"), ("redirect_uri", bad), ("response_type", "code")]);
            assert!(
                matches!(validate(&p, Some((&c, &reg)), pkce::Requirement::Public), Err(Refusal::Page(_))),
                "{bad}"
            );
        }
    }

    /// docs/security-checklist.md O-5: with several registered redirect URIs, a request
    /// without one gets a page; with exactly one, that one is used.
    #[test]
    fn several_registered_uris_and_none_sent_is_refused_on_a_page() {
        let c = client(true);
        let p = Params::from_pairs([("client_id", "c"), ("response_type", "code")]);
        let two = [CB.to_owned(), "https://app.example/other".to_owned()];
        assert!(matches!(validate(&p, Some((&c, &two)), pkce::Requirement::Public), Err(Refusal::Page(_))));
        assert_eq!(validate(&p, Some((&c, &two[..1])), pkce::Requirement::Public).unwrap().redirect_uri, CB);
    }

    /// docs/security-checklist.md O-2: loopback redirect URIs match with any port; nothing else does.
    #[test]
    fn loopback_redirect_matches_any_port_only_for_loopback() {
        assert!(redirect_matches("http://127.0.0.1/cb", "http://127.0.0.1:51234/cb"));
        assert!(!redirect_matches("http://127.0.0.1/cb", "http://127.0.0.1:51234/other"));
        assert!(!redirect_matches("https://app.example/cb", "https://app.example:8443/cb"));
    }

    /// docs/security-checklist.md O-15 (public clients need PKCE) and O-18 (`plain` is refused).
    #[test]
    fn public_client_without_pkce_gets_invalid_request_at_its_redirect_uri() {
        let c = client(false);
        let reg = [CB.to_owned()];
        match validate(&params(&[]), Some((&c, &reg)), pkce::Requirement::Public) {
            Err(Refusal::Redirect { error, redirect_uri, .. }) => {
                assert_eq!(error.code, ErrorCode::InvalidRequest);
                assert_eq!(redirect_uri, CB);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            validate(
                &params(&[("code_challenge", CH), ("code_challenge_method", "S256")]),
                Some((&c, &reg)),
                pkce::Requirement::Public
            )
            .is_ok()
        );
        assert!(
            validate(
                &params(&[("code_challenge", CH), ("code_challenge_method", "plain")]),
                Some((&c, &reg)),
                pkce::Requirement::Public
            )
            .is_err()
        );
    }

    /// docs/security-checklist.md O-15: with `[tokens] pkce = "all"` a
    /// confidential client needs PKCE too; by default it does not.
    #[test]
    fn confidential_clients_need_pkce_only_when_the_server_requires_it_of_all() {
        let c = client(true);
        let reg = [CB.to_owned()];
        assert!(validate(&params(&[]), Some((&c, &reg)), pkce::Requirement::Public).is_ok());
        match validate(&params(&[]), Some((&c, &reg)), pkce::Requirement::All) {
            Err(Refusal::Redirect { error, redirect_uri, .. }) => {
                assert_eq!(error.code, ErrorCode::InvalidRequest);
                assert!(error.description.contains("every client"), "{}", error.description);
                assert_eq!(redirect_uri, CB);
            }
            other => panic!("{other:?}"),
        }
        let with = params(&[("code_challenge", CH), ("code_challenge_method", "S256")]);
        assert!(validate(&with, Some((&c, &reg)), pkce::Requirement::All).is_ok());
        // Implicit responses carry no code, so no challenge either way.
        let mut implicit = c.clone();
        implicit.grant_types.push(GrantType::Implicit);
        let mut p = params(&[("nonce", "n")]);
        p.insert("response_type", "id_token token");
        assert!(validate(&p, Some((&implicit, &reg)), pkce::Requirement::All).is_ok());
    }

    /// docs/security-checklist.md O-25, as far as Tessera follows it: tokens from the
    /// authorization endpoint only for clients an admin enabled implicit for,
    /// never in the query; `code token` is unsupported.
    #[test]
    fn implicit_needs_the_client_toggle_and_hybrid_code_token_is_unsupported() {
        let c = client(true);
        let reg = [CB.to_owned()];
        let p = Params::from_pairs([("client_id", "c"), ("redirect_uri", CB), ("response_type", "token")]);
        match validate(&p, Some((&c, &reg)), pkce::Requirement::Public) {
            Err(Refusal::Redirect { error, mode, .. }) => {
                assert_eq!(error.code, ErrorCode::UnauthorizedClient);
                assert_eq!(mode, ResponseMode::Fragment);
            }
            other => panic!("{other:?}"),
        }
        let p = Params::from_pairs([("client_id", "c"), ("redirect_uri", CB), ("response_type", "code token")]);
        match validate(&p, Some((&c, &reg)), pkce::Requirement::Public) {
            Err(Refusal::Redirect { error, .. }) => assert_eq!(error.code, ErrorCode::UnsupportedResponseType),
            other => panic!("{other:?}"),
        }
        let mut with_implicit = client(false);
        with_implicit.grant_types.push(GrantType::Implicit);
        let p = Params::from_pairs([("client_id", "c"), ("redirect_uri", CB), ("response_type", "token id_token")]);
        assert!(validate(&p, Some((&with_implicit, &reg)), pkce::Requirement::Public).is_err(), "nonce required");
        let p = Params::from_pairs([
            ("client_id", "c"),
            ("redirect_uri", CB),
            ("response_type", "token id_token"),
            ("nonce", "n"),
        ]);
        assert_eq!(
            validate(&p, Some((&with_implicit, &reg)), pkce::Requirement::Public).unwrap().response,
            ResponseKind::IdTokenToken
        );
    }

    /// RFC 9449 §10: `dpop_jkt` is kept when it is a thumbprint, and a
    /// malformed one is `invalid_request` at the client's redirect URI.
    #[test]
    fn dpop_jkt_is_kept_when_well_formed() {
        let c = client(true);
        let reg = [CB.to_owned()];
        const JKT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
        assert_eq!(validate(&params(&[]), Some((&c, &reg)), pkce::Requirement::Public).unwrap().dpop_jkt, None);
        let bound = validate(&params(&[("dpop_jkt", JKT)]), Some((&c, &reg)), pkce::Requirement::Public).unwrap();
        assert_eq!(bound.dpop_jkt, Some(Jkt::new(JKT)));
        match validate(&params(&[("dpop_jkt", "not-a-thumbprint")]), Some((&c, &reg)), pkce::Requirement::Public) {
            Err(Refusal::Redirect { error, redirect_uri, .. }) => {
                assert_eq!(error.code, ErrorCode::InvalidRequest);
                assert_eq!(redirect_uri, CB);
            }
            other => panic!("{other:?}"),
        }
    }
}
