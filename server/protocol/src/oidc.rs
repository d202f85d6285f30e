//! OpenID Connect Core: the standard scopes, the claims they release, and
//! the ID token's claim set (§2, §3.1.3.6, §5.4).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The scopes OpenID Connect defines; they need no API.
pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// What an OpenID Connect scope lets the client see or do, in words for the
/// consent page (§5.4, §11). `None` for other scopes: an API's own scopes
/// are shown by name, as APIs define no descriptions.
pub fn scope_description(scope: &str) -> Option<&'static str> {
    match scope {
        "openid" => Some("Know who you are when you sign in"),
        "profile" => Some("Your name and other profile details"),
        "email" => Some("Your e-mail address"),
        "offline_access" => Some("Keep this access while you are not using it"),
        _ => None,
    }
}

/// Profile claims released by the `profile` scope (§5.4), read from the
/// user's profile object.
pub const PROFILE_CLAIMS: &[&str] = &[
    "name",
    "family_name",
    "given_name",
    "middle_name",
    "nickname",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "updated_at",
];

/// What the user claims are built from.
pub struct UserClaimsSource<'a> {
    /// The login name (`preferred_username`).
    pub username: &'a str,
    /// The e-mail address.
    pub email: Option<&'a str>,
    /// The profile object (OIDC standard claims by name).
    pub profile: &'a Value,
}

/// The user claims released for `scopes` (§5.4): `profile` and `email`.
pub fn user_claims<'a>(
    scopes: impl IntoIterator<Item = &'a str> + Clone,
    user: &UserClaimsSource<'_>,
) -> Map<String, Value> {
    let mut m = Map::new();
    let has = |s: &str| scopes.clone().into_iter().any(|x| x == s);
    if has("profile") {
        m.insert("preferred_username".into(), json!(user.username));
        for c in PROFILE_CLAIMS {
            if let Some(v) = user.profile.get(*c) {
                m.insert((*c).into(), v.clone());
            }
        }
    }
    if has("email")
        && let Some(e) = user.email
    {
        m.insert("email".into(), json!(e));
        m.insert("email_verified".into(), user.profile.get("email_verified").cloned().unwrap_or(json!(false)));
    }
    m
}

/// `at_hash` / `c_hash` (§3.1.3.6): base64url of the left half of the
/// SHA-256 of the value (for the SHA-256 based algorithms we sign with).
pub fn half_hash(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// The `acr` of a sign-in with more than one factor, and the `acr_values`
/// an application sends to ask for one (OpenID Provider Authentication
/// Policy Extension 1.0 §4, as Auth0 takes it): the PAPE multi-factor
/// policy.
pub const ACR_MFA: &str = "http://schemas.openid.net/pape/policies/2007/06/multi-factor";

/// Whether an `amr` (RFC 8176 values, space-separated) says several
/// factors were used.
pub fn amr_is_mfa(amr: &str) -> bool {
    amr.split_whitespace().any(|a| a == "mfa")
}

/// The ID token's own claims (§2); user claims and plugin claims are added
/// by the caller.
pub struct IdTokenInput<'a> {
    /// The issuer.
    pub issuer: &'a str,
    /// The user id.
    pub sub: &'a str,
    /// The client (the ID token's audience and `azp`).
    pub client_id: &'a str,
    /// Unix seconds.
    pub now: i64,
    /// Lifetime in seconds.
    pub lifetime_secs: i64,
    /// When the user authenticated.
    pub auth_time: i64,
    /// The request's nonce, echoed.
    pub nonce: Option<&'a str>,
    /// The access token issued with it, for `at_hash`.
    pub access_token: Option<&'a str>,
    /// The browser session it was issued in (`sid`, OpenID Connect
    /// Back-Channel Logout §2.1), when there is one.
    pub sid: Option<&'a str>,
    /// How the user authenticated: RFC 8176 values, space-separated (`pwd`,
    /// `pwd otp mfa`); the `amr` claim (OpenID Connect Core §2) when known.
    pub amr: Option<&'a str>,
}

/// Builds the ID token claims.
pub fn id_token_claims(input: &IdTokenInput<'_>, user: Map<String, Value>) -> Map<String, Value> {
    let mut m = user;
    m.insert("iss".into(), json!(input.issuer));
    m.insert("sub".into(), json!(input.sub));
    m.insert("aud".into(), json!(input.client_id));
    m.insert("azp".into(), json!(input.client_id));
    m.insert("exp".into(), json!(input.now + input.lifetime_secs));
    m.insert("iat".into(), json!(input.now));
    m.insert("auth_time".into(), json!(input.auth_time));
    if let Some(n) = input.nonce {
        m.insert("nonce".into(), json!(n));
    }
    if let Some(t) = input.access_token {
        m.insert("at_hash".into(), json!(half_hash(t)));
    }
    if let Some(sid) = input.sid {
        m.insert("sid".into(), json!(sid));
    }
    if let Some(amr) = input.amr.filter(|a| !a.trim().is_empty()) {
        m.insert("amr".into(), json!(amr.split_whitespace().collect::<Vec<_>>()));
        // §2 `acr`: said only of a sign-in that meets the one policy offered.
        if amr_is_mfa(amr) {
            m.insert("acr".into(), json!(ACR_MFA));
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_release_only_their_claims() {
        let profile = json!({"name": "Alice", "secret": "x"});
        let src = UserClaimsSource { username: "alice", email: Some("a@example.com"), profile: &profile };
        let none = user_claims(["openid"], &src);
        assert!(none.is_empty());
        let both = user_claims(["openid", "profile", "email"], &src);
        assert_eq!(both["name"], "Alice");
        assert_eq!(both["preferred_username"], "alice");
        assert_eq!(both["email"], "a@example.com");
        assert_eq!(both["email_verified"], false);
        assert!(both.get("secret").is_none(), "only standard claims");
    }

    /// OpenID Connect Core §2: `amr` is a JSON array of strings (RFC 8176
    /// values); left out when how the user signed in was not recorded.
    #[test]
    fn amr_is_an_array_and_only_when_known() {
        let input = |amr| IdTokenInput {
            issuer: "https://idp.example",
            sub: "u1",
            client_id: "c1",
            now: 100,
            lifetime_secs: 60,
            auth_time: 90,
            nonce: None,
            access_token: None,
            sid: None,
            amr,
        };
        let claims = id_token_claims(&input(Some("pwd otp mfa")), Map::new());
        assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
        assert_eq!(claims["acr"], ACR_MFA, "several factors: the multi-factor policy");
        assert!(id_token_claims(&input(Some("pwd")), Map::new()).get("acr").is_none(), "no acr for a password alone");
        assert!(id_token_claims(&input(None), Map::new()).get("amr").is_none());
        assert!(id_token_claims(&input(Some(" ")), Map::new()).get("amr").is_none());
    }

    #[test]
    fn at_hash_is_the_left_half_of_sha256() {
        // 16 bytes -> 22 base64url characters.
        assert_eq!(half_hash("token").len(), 22);
    }
}
