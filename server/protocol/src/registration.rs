//! OAuth 2.0 Dynamic Client Registration (RFC 7591) and its management
//! protocol (RFC 7592): the client metadata a registrant sends, checked and
//! turned into what a client is; and the client information response.
//!
//! Registration is a way in for programs nobody has vetted, so the checks
//! here are the protocol's, and the server decides separately which grant
//! types an unauthenticated registrant may have ([`OPEN_GRANT_TYPES`]): only
//! those where a user signs in and consents. The client's own settings are
//! validated again by the same code as the console's (the service layer
//! hands them over), so a registered client is never laxer than one an
//! administrator creates.

use crate::model::GrantType;
use crate::redirect_uri::validate_redirect_uri;
use crate::{ErrorCode, OAuthError, ScopeSet};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// RFC 7591 §2: `token_endpoint_auth_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A public client: no secret, no key.
    None,
    /// HTTP Basic with the issued secret (the default, §2).
    ClientSecretBasic,
    /// The issued secret in the form body.
    ClientSecretPost,
    /// A JWT signed with one of the registered keys (RFC 7523 §2.2).
    PrivateKeyJwt,
}

crate::named_enum!(AuthMethod, "token endpoint authentication method", {
    None => "none",
    ClientSecretBasic => "client_secret_basic",
    ClientSecretPost => "client_secret_post",
    PrivateKeyJwt => "private_key_jwt",
});

/// The grant types a registrant without an initial access token may ask
/// for: each needs a user to sign in and (the client being third-party)
/// consent, so an anonymous client gets nothing a user did not approve.
pub const OPEN_GRANT_TYPES: [GrantType; 3] =
    [GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::DeviceCode];

/// Metadata that describes the client and changes no behaviour: kept as
/// registered and returned in the client information response.
const DESCRIPTIVE: [&str; 8] = [
    "client_uri",
    "logo_uri",
    "tos_uri",
    "policy_uri",
    "contacts",
    "software_id",
    "software_version",
    "application_type",
];

/// Of [`DESCRIPTIVE`], the fields that are URLs.
const DESCRIPTIVE_URLS: [&str; 4] = ["client_uri", "logo_uri", "tos_uri", "policy_uri"];

/// Fields only the server sets (RFC 7592 §2.2: a client's update must not
/// send them).
const SERVER_SET: [&str; 4] =
    ["registration_access_token", "registration_client_uri", "client_id_issued_at", "client_secret_expires_at"];

/// The metadata fields as they arrive; unknown fields are ignored (§2:
/// "The authorization server MUST ignore any client metadata sent by the
/// client that it does not understand").
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Wire {
    redirect_uris: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    client_name: Option<String>,
    scope: Option<String>,
    jwks: Option<Value>,
    jwks_uri: Option<String>,
    post_logout_redirect_uris: Option<Vec<String>>,
    backchannel_logout_uri: Option<String>,
    frontchannel_logout_uri: Option<String>,
    dpop_bound_access_tokens: Option<bool>,
    require_pushed_authorization_requests: Option<bool>,
    require_signed_request_object: Option<bool>,
    id_token_signed_response_alg: Option<String>,
}

/// A registration request's metadata, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientMetadata {
    /// Exact-match redirect URIs.
    pub redirect_uris: Vec<String>,
    /// How it authenticates at the token endpoint.
    pub auth_method: AuthMethod,
    /// Its grant types (default `authorization_code`).
    pub grant_types: Vec<GrantType>,
    /// Its response types (default `code`).
    pub response_types: Vec<String>,
    /// Its display name, if it gave one.
    pub client_name: Option<String>,
    /// The scopes it may ask for; `None`: any.
    pub scopes: Option<Vec<String>>,
    /// Its public keys, inline.
    pub jwks: Option<Value>,
    /// Where its public keys are published.
    pub jwks_uri: Option<String>,
    /// RP-Initiated Logout's return addresses.
    pub post_logout_redirect_uris: Vec<String>,
    /// Back-Channel Logout's address.
    pub backchannel_logout_uri: Option<String>,
    /// Front-Channel Logout's page (loaded by the browser, not the server).
    pub frontchannel_logout_uri: Option<String>,
    /// RFC 9449 §5.2.
    pub dpop_bound_access_tokens: bool,
    /// RFC 9126 §6.
    pub require_pushed_authorization_requests: bool,
    /// RFC 9101 §10.5.
    pub require_signed_request_object: bool,
    /// The descriptive fields ([`DESCRIPTIVE`]) as registered.
    pub descriptive: Map<String, Value>,
}

/// RFC 7591 §3.2.2 `invalid_client_metadata`.
pub fn invalid_metadata(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, description)
}

/// RFC 7591 §3.2.2 `invalid_redirect_uri`.
pub fn invalid_redirect_uri(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRedirectUri, description)
}

impl ClientMetadata {
    /// Parses and checks a registration request's JSON body (RFC 7591 §3.1).
    pub fn parse(body: &[u8]) -> Result<ClientMetadata, OAuthError> {
        Self::from_object(json_object(body)?)
    }

    /// Checks an update's body (RFC 7592 §2.2): the same metadata, with
    /// `client_id` naming the client being changed and none of the fields
    /// only the server sets.
    pub fn parse_update(body: &[u8], client_id: &str) -> Result<ClientMetadata, OAuthError> {
        let object = json_object(body)?;
        if object.get("client_id").and_then(Value::as_str) != Some(client_id) {
            return Err(OAuthError::new(ErrorCode::InvalidRequest, "client_id must name the client being updated"));
        }
        if let Some(field) = SERVER_SET.iter().find(|f| object.contains_key(**f)) {
            return Err(OAuthError::new(ErrorCode::InvalidRequest, format!("{field} is set by the server")));
        }
        Self::from_object(object)
    }

    fn from_object(object: Map<String, Value>) -> Result<ClientMetadata, OAuthError> {
        let descriptive = descriptive_fields(&object)?;
        let wire: Wire = serde_json::from_value(Value::Object(object)).map_err(|e| invalid_metadata(e.to_string()))?;
        let auth_method = match wire.token_endpoint_auth_method.as_deref() {
            None => AuthMethod::ClientSecretBasic,
            Some(m) => m.parse().map_err(|e: crate::model::UnknownName| invalid_metadata(e.to_string()))?,
        };
        let grant_types = match &wire.grant_types {
            None => vec![GrantType::AuthorizationCode],
            Some(names) if names.is_empty() => return Err(invalid_metadata("grant_types must name at least one")),
            Some(names) => names
                .iter()
                .map(|g| g.parse().map_err(|e: crate::model::UnknownName| invalid_metadata(e.to_string())))
                .collect::<Result<Vec<GrantType>, _>>()?,
        };
        let response_types = wire.response_types.unwrap_or_else(|| vec!["code".to_owned()]);
        check_response_types(&response_types, &grant_types)?;
        let redirect_uris = wire.redirect_uris.unwrap_or_default();
        let redirects = grant_types.iter().any(|g| matches!(g, GrantType::AuthorizationCode | GrantType::Implicit));
        if redirects && redirect_uris.is_empty() {
            return Err(invalid_redirect_uri(
                "redirect_uris is required for the authorization_code and implicit grants",
            ));
        }
        for uri in redirect_uris.iter().chain(wire.post_logout_redirect_uris.iter().flatten()) {
            validate_redirect_uri(uri).map_err(|e| invalid_redirect_uri(format!("{uri}: {e}")))?;
        }
        let public = auth_method == AuthMethod::None;
        if public && grant_types.contains(&GrantType::ClientCredentials) {
            return Err(invalid_metadata("a client without credentials (none) cannot use client_credentials"));
        }
        let has_keys = wire.jwks.as_ref().is_some_and(|j| !j.is_null()) || wire.jwks_uri.is_some();
        if auth_method == AuthMethod::PrivateKeyJwt && !has_keys {
            return Err(invalid_metadata("private_key_jwt needs jwks or jwks_uri"));
        }
        if let Some(alg) = wire.id_token_signed_response_alg.as_deref().filter(|a| *a != "RS256") {
            return Err(invalid_metadata(format!("id_token_signed_response_alg {alg} is not supported: RS256 only")));
        }
        let scopes = match wire.scope.as_deref() {
            None => None,
            Some(s) => {
                let set = ScopeSet::parse(s).map_err(|e| invalid_metadata(format!("scope: {}", e.description)))?;
                Some(set.iter().map(str::to_owned).collect())
            }
        };
        let client_name = wire.client_name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        if client_name.as_ref().is_some_and(|n| n.chars().count() > 200) {
            return Err(invalid_metadata("client_name must be at most 200 characters"));
        }
        Ok(ClientMetadata {
            redirect_uris,
            auth_method,
            grant_types,
            response_types,
            client_name,
            scopes,
            jwks: wire.jwks.filter(|j| !j.is_null()),
            jwks_uri: wire.jwks_uri,
            post_logout_redirect_uris: wire.post_logout_redirect_uris.unwrap_or_default(),
            backchannel_logout_uri: wire.backchannel_logout_uri,
            frontchannel_logout_uri: wire.frontchannel_logout_uri,
            dpop_bound_access_tokens: wire.dpop_bound_access_tokens.unwrap_or(false),
            require_pushed_authorization_requests: wire.require_pushed_authorization_requests.unwrap_or(false),
            require_signed_request_object: wire.require_signed_request_object.unwrap_or(false),
            descriptive,
        })
    }

    /// A public client (`token_endpoint_auth_method` `none`).
    pub fn public(&self) -> bool {
        self.auth_method == AuthMethod::None
    }

    /// Refuses what a registrant without an initial access token may not
    /// have: a grant type outside [`OPEN_GRANT_TYPES`], and any URL the
    /// server itself would send requests to (`jwks_uri` is fetched,
    /// `backchannel_logout_uri` posted to), so that an anonymous caller
    /// cannot aim the server at hosts only it reaches.
    pub fn check_open(&self) -> Result<(), OAuthError> {
        if let Some(g) = self.grant_types.iter().find(|g| !OPEN_GRANT_TYPES.contains(g)) {
            return Err(invalid_metadata(format!(
                "open registration allows only the authorization_code, refresh_token and device_code grants, \
                 not {}: register with an initial access token",
                g.as_str()
            )));
        }
        if self.jwks_uri.is_some() {
            return Err(invalid_metadata(
                "open registration takes no jwks_uri (the server would fetch it): send the keys as jwks, \
                 or register with an initial access token",
            ));
        }
        if self.backchannel_logout_uri.is_some() {
            return Err(invalid_metadata(
                "open registration takes no backchannel_logout_uri (the server would post to it): \
                 register with an initial access token",
            ));
        }
        Ok(())
    }

    /// The name a client without `client_name` gets: the host of its first
    /// redirect URI, so the console and the consent page show something
    /// recognisable.
    pub fn display_name(&self) -> String {
        if let Some(n) = &self.client_name {
            return n.clone();
        }
        let host = self
            .redirect_uris
            .first()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_owned));
        host.map_or_else(|| "Registered client".to_owned(), |h| format!("Registered client ({h})"))
    }

    /// What the server keeps of the request beyond the client's own
    /// settings, to answer with it later: the authentication method, the
    /// response types, the name as given and the descriptive fields.
    pub fn registered(&self) -> Value {
        let mut kept = self.descriptive.clone();
        kept.insert("token_endpoint_auth_method".into(), json!(self.auth_method.as_str()));
        kept.insert("response_types".into(), json!(self.response_types));
        if let Some(n) = &self.client_name {
            kept.insert("client_name".into(), json!(n));
        }
        Value::Object(kept)
    }
}

/// A request body that must be one JSON object (`invalid_request` if not).
fn json_object(body: &[u8]) -> Result<Map<String, Value>, OAuthError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(OAuthError::new(ErrorCode::InvalidRequest, "the body must be a JSON object")),
        Err(e) => Err(OAuthError::new(ErrorCode::InvalidRequest, format!("the body is not JSON: {e}"))),
    }
}

/// The descriptive fields of a request, checked: strings (URLs where the
/// name says so), `contacts` a list of strings.
fn descriptive_fields(object: &Map<String, Value>) -> Result<Map<String, Value>, OAuthError> {
    let mut kept = Map::new();
    for name in DESCRIPTIVE {
        let Some(v) = object.get(name).filter(|v| !v.is_null()) else { continue };
        let ok = match (name, v) {
            ("contacts", Value::Array(items)) => items.iter().all(Value::is_string),
            ("contacts", _) => false,
            (_, Value::String(s)) if DESCRIPTIVE_URLS.contains(&name) => {
                url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "https" | "http"))
            }
            ("application_type", Value::String(s)) => matches!(s.as_str(), "web" | "native"),
            (_, Value::String(s)) => s.chars().count() <= 200,
            _ => false,
        };
        if !ok {
            return Err(invalid_metadata(format!("{name} is malformed")));
        }
        kept.insert(name.to_owned(), v.clone());
    }
    Ok(kept)
}

/// RFC 7591 §2.1: response types and grant types agree. `code` needs
/// `authorization_code`; `token` and `id_token token` need `implicit`, and
/// each of those grants needs its response type.
fn check_response_types(response_types: &[String], grant_types: &[GrantType]) -> Result<(), OAuthError> {
    for r in response_types {
        let needs = match r.as_str() {
            "code" => GrantType::AuthorizationCode,
            "token" | "id_token token" => GrantType::Implicit,
            other => return Err(invalid_metadata(format!("response type {other:?} is not supported"))),
        };
        if !grant_types.contains(&needs) {
            return Err(invalid_metadata(format!("response type {r} needs the {} grant", needs.as_str())));
        }
    }
    if grant_types.contains(&GrantType::AuthorizationCode) && !response_types.iter().any(|r| r == "code") {
        return Err(invalid_metadata("the authorization_code grant needs the code response type"));
    }
    if grant_types.contains(&GrantType::Implicit) && !response_types.iter().any(|r| r != "code") {
        return Err(invalid_metadata("the implicit grant needs the token or id_token token response type"));
    }
    Ok(())
}

/// The client's side of a client information response (RFC 7591 §3.2.1,
/// RFC 7592 §3): what the server holds now.
#[derive(Debug, Clone)]
pub struct ClientInformation<'a> {
    /// The client id.
    pub client_id: &'a str,
    /// The secret, only in the response that issued it.
    pub client_secret: Option<&'a str>,
    /// Whether the client has secrets (`client_secret_expires_at` is then
    /// present: 0, they do not expire).
    pub confidential: bool,
    /// When the client was created.
    pub issued_at: i64,
    /// Its current name.
    pub name: &'a str,
    /// Its current grant types.
    pub grant_types: &'a [GrantType],
    /// Its current redirect URIs.
    pub redirect_uris: &'a [String],
    /// Its current post-logout redirect URIs.
    pub post_logout_redirect_uris: &'a [String],
    /// The scopes it may ask for; `None`: any.
    pub scopes: Option<&'a [String]>,
    /// Its keys.
    pub jwks: Option<&'a Value>,
    /// Its key URL.
    pub jwks_uri: Option<&'a str>,
    /// Its Back-Channel Logout URL.
    pub backchannel_logout_uri: Option<&'a str>,
    /// Its Front-Channel Logout page.
    pub frontchannel_logout_uri: Option<&'a str>,
    /// RFC 9449 §5.2.
    pub dpop_bound_access_tokens: bool,
    /// RFC 9126 §6.
    pub require_pushed_authorization_requests: bool,
    /// RFC 9101 §10.5.
    pub require_signed_request_object: bool,
    /// What [`ClientMetadata::registered`] kept.
    pub registered: Option<&'a Value>,
    /// The registration access token (RFC 7592 §3).
    pub registration_access_token: &'a str,
    /// The client configuration endpoint (RFC 7592 §3).
    pub registration_client_uri: &'a str,
}

impl ClientInformation<'_> {
    /// The response body: the registered metadata as the server holds it
    /// (settings an administrator changed since are shown as they are now).
    pub fn to_json(&self) -> Value {
        let mut out = match self.registered {
            Some(Value::Object(kept)) => kept.clone(),
            _ => Map::new(),
        };
        let default_method = if self.confidential { "client_secret_basic" } else { "none" };
        out.entry("token_endpoint_auth_method").or_insert_with(|| json!(default_method));
        out.insert("client_id".into(), json!(self.client_id));
        if let Some(s) = self.client_secret {
            out.insert("client_secret".into(), json!(s));
        }
        if self.confidential {
            out.insert("client_secret_expires_at".into(), json!(0));
        }
        out.insert("client_id_issued_at".into(), json!(self.issued_at));
        out.insert("client_name".into(), json!(self.name));
        out.insert("grant_types".into(), json!(self.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>()));
        out.insert("redirect_uris".into(), json!(self.redirect_uris));
        if !self.post_logout_redirect_uris.is_empty() {
            out.insert("post_logout_redirect_uris".into(), json!(self.post_logout_redirect_uris));
        }
        if let Some(s) = self.scopes {
            out.insert("scope".into(), json!(s.join(" ")));
        }
        if let Some(j) = self.jwks {
            out.insert("jwks".into(), j.clone());
        }
        if let Some(u) = self.jwks_uri {
            out.insert("jwks_uri".into(), json!(u));
        }
        if let Some(u) = self.backchannel_logout_uri {
            out.insert("backchannel_logout_uri".into(), json!(u));
        }
        if let Some(u) = self.frontchannel_logout_uri {
            out.insert("frontchannel_logout_uri".into(), json!(u));
        }
        out.insert("dpop_bound_access_tokens".into(), json!(self.dpop_bound_access_tokens));
        out.insert("require_pushed_authorization_requests".into(), json!(self.require_pushed_authorization_requests));
        out.insert("require_signed_request_object".into(), json!(self.require_signed_request_object));
        out.insert("registration_access_token".into(), json!(self.registration_access_token));
        out.insert("registration_client_uri".into(), json!(self.registration_client_uri));
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<ClientMetadata, OAuthError> {
        ClientMetadata::parse(v.to_string().as_bytes())
    }

    fn code(v: Value) -> ErrorCode {
        parse(v).unwrap_err().code
    }

    #[test]
    fn defaults_are_rfc_7591s_and_unknown_fields_are_ignored() {
        let m = parse(json!({"redirect_uris": ["https://app.example/cb"], "frobnicate": true})).unwrap();
        assert_eq!(m.auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(m.grant_types, vec![GrantType::AuthorizationCode]);
        assert_eq!(m.response_types, vec!["code".to_owned()]);
        assert_eq!(m.display_name(), "Registered client (app.example)");
        assert!(!m.public());
        m.check_open().unwrap();
    }

    #[test]
    fn redirect_uris_are_required_for_redirecting_grants_and_checked() {
        assert_eq!(code(json!({})), ErrorCode::InvalidRedirectUri);
        assert_eq!(code(json!({"redirect_uris": ["https://app.example/cb#frag"]})), ErrorCode::InvalidRedirectUri);
        assert_eq!(code(json!({"redirect_uris": ["not a url"]})), ErrorCode::InvalidRedirectUri);
        let m = parse(json!({"grant_types": ["client_credentials"], "response_types": []})).unwrap();
        assert!(m.redirect_uris.is_empty(), "client_credentials needs none");
    }

    #[test]
    fn each_inconsistency_is_invalid_client_metadata() {
        let cb = json!(["https://app.example/cb"]);
        for bad in [
            json!({"redirect_uris": cb, "token_endpoint_auth_method": "tls_client_auth"}),
            json!({"redirect_uris": cb, "grant_types": ["authorization_code", "magic"]}),
            json!({"redirect_uris": cb, "grant_types": []}),
            json!({"redirect_uris": cb, "response_types": ["code id_token"]}),
            json!({"redirect_uris": cb, "response_types": ["token"]}),
            json!({"redirect_uris": cb, "grant_types": ["refresh_token"], "response_types": ["code"]}),
            json!({"grant_types": ["client_credentials"], "response_types": [], "token_endpoint_auth_method": "none"}),
            json!({"redirect_uris": cb, "token_endpoint_auth_method": "private_key_jwt"}),
            json!({"redirect_uris": cb, "id_token_signed_response_alg": "none"}),
            json!({"redirect_uris": cb, "scope": "bad\"scope"}),
            json!({"redirect_uris": cb, "logo_uri": "javascript:alert(1)"}),
            json!({"redirect_uris": cb, "contacts": "ops@app.example"}),
            json!({"redirect_uris": "https://app.example/cb"}),
        ] {
            assert_eq!(code(bad.clone()), ErrorCode::InvalidClientMetadata, "{bad}");
        }
        assert_eq!(ClientMetadata::parse(b"[1]").unwrap_err().code, ErrorCode::InvalidRequest);
        assert_eq!(ClientMetadata::parse(b"{").unwrap_err().code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn open_registration_allows_only_grants_a_user_approves() {
        let cb = json!(["https://app.example/cb"]);
        let ok = parse(json!({"redirect_uris": cb, "grant_types": ["authorization_code", "refresh_token"]})).unwrap();
        ok.check_open().unwrap();
        for g in ["client_credentials", "password", "urn:ietf:params:oauth:grant-type:token-exchange"] {
            let m = parse(json!({"redirect_uris": cb, "grant_types": ["authorization_code", g]})).unwrap();
            assert_eq!(m.check_open().unwrap_err().code, ErrorCode::InvalidClientMetadata, "{g}");
        }
        // Nothing the server would send a request to.
        for (field, url) in [("jwks_uri", "https://10.0.0.5/keys"), ("backchannel_logout_uri", "https://10.0.0.5/bye")]
        {
            let m = parse(json!({"redirect_uris": cb, field: url})).unwrap();
            assert_eq!(m.check_open().unwrap_err().code, ErrorCode::InvalidClientMetadata, "{field}");
        }
    }

    #[test]
    fn an_update_names_its_client_and_sets_nothing_the_server_sets() {
        let body = |v: Value| v.to_string().into_bytes();
        let cb = json!(["https://app.example/cb"]);
        ClientMetadata::parse_update(&body(json!({"client_id": "c1", "redirect_uris": cb})), "c1").unwrap();
        let other = ClientMetadata::parse_update(&body(json!({"client_id": "c2", "redirect_uris": cb})), "c1");
        assert_eq!(other.unwrap_err().code, ErrorCode::InvalidRequest);
        let sneaky = json!({"client_id": "c1", "redirect_uris": cb, "registration_access_token": "mine"});
        assert_eq!(ClientMetadata::parse_update(&body(sneaky), "c1").unwrap_err().code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn the_information_response_shows_what_the_server_holds() {
        let m = parse(json!({"redirect_uris": ["https://app.example/cb"], "client_uri": "https://app.example",
            "token_endpoint_auth_method": "client_secret_post", "client_name": "App"}))
        .unwrap();
        let registered = m.registered();
        let info = ClientInformation {
            client_id: "c1",
            client_secret: Some("s3cret"),
            confidential: true,
            issued_at: 7,
            name: "App renamed",
            grant_types: &[GrantType::AuthorizationCode],
            redirect_uris: &["https://app.example/cb".to_owned()],
            post_logout_redirect_uris: &[],
            scopes: None,
            jwks: None,
            jwks_uri: None,
            backchannel_logout_uri: None,
            frontchannel_logout_uri: None,
            dpop_bound_access_tokens: false,
            require_pushed_authorization_requests: false,
            require_signed_request_object: false,
            registered: Some(&registered),
            registration_access_token: "rat",
            registration_client_uri: "https://id.example/oauth/register/c1",
        };
        let j = info.to_json();
        assert_eq!(j["client_name"], "App renamed", "the current name, not the registered one");
        assert_eq!(j["token_endpoint_auth_method"], "client_secret_post");
        assert_eq!(j["client_uri"], "https://app.example");
        assert_eq!((j["client_secret"].as_str(), j["client_secret_expires_at"].as_i64()), (Some("s3cret"), Some(0)));
        assert_eq!(j["client_id_issued_at"], 7);
        assert_eq!(j["response_types"], json!(["code"]));
        assert!(j.get("scope").is_none());
    }
}
