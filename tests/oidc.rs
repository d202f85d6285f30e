//! OpenID Connect authorization code flow with PKCE, driven by the
//! `openidconnect` crate as the relying party and a cookie-keeping HTTP
//! client as the browser (submitting the hosted login form), plus the error
//! paths of RFC 6749 §4.1.2.1, RFC 7636 and RFC 9700.

use crate::on_both_backends;
use crate::support::{Backend, Options, TestServer};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use reqwest::redirect::Policy;
use serde_json::Value;
use tessera::web::routes;

const CB: &str = "https://app.example/cb";
const PASSWORD: &str = "alice's long password";
const SIGNED_OUT: &str = "https://app.example/signed-out";

/// The relying party's HTTP client: redirects are not followed.
pub fn http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A browser: keeps cookies, follows no redirect (the tests do).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap()
}

/// The value of a hidden input in the login page (askama escapes HTML).
pub fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no {name} field in:\n{page}")) + marker.len();
    let raw = &page[start..start + page[start..].find('"').unwrap()];
    raw.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
}

struct Setup {
    server: TestServer,
    id: String,
    secret: String,
    user_id: String,
}

fn setup(grants: &str) -> Setup {
    setup_on(Backend::Sqlite, grants)
}

fn setup_on(backend: Backend, grants: &str) -> Setup {
    setup_with(backend, grants, Options::default())
}

fn setup_with(backend: Backend, grants: &str, opts: Options) -> Setup {
    let server = TestServer::start_with(backend, opts);
    let user = server.create_user(
        "alice",
        PASSWORD,
        &["--email", "alice@example.com", "--profile", r#"{"name":"Alice Example"}"#],
    );
    let c = server.cli_json(&[
        "client",
        "create",
        "--name",
        "Web App",
        "--grant-types",
        grants,
        "--redirect-uri",
        CB,
        "--post-logout-redirect-uri",
        SIGNED_OUT,
        "--first-party",
    ]);
    Setup {
        id: c["client_id"].as_str().unwrap().into(),
        secret: c["client_secret"].as_str().unwrap().into(),
        user_id: user["id"].as_str().unwrap().into(),
        server,
    }
}

/// Signs `username` in on the hosted login page `authorize_url` leads to
/// and returns the answer to the resumed authorization request (a
/// redirect to the client, or the consent page): for tests whose client is
/// not a [`Setup`]'s.
pub async fn sign_in_as(
    base: &str,
    browser: &reqwest::Client,
    authorize_url: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let page = browser.get(authorize_url).send().await.unwrap();
    assert_eq!(page.status(), 200, "the login page");
    let login = page.text().await.unwrap();
    resume_after_login(base, browser, &login, username, password).await
}

/// Submits the login form found in `login_html` as `username` and returns
/// the response to the resumed authorization request.
async fn resume_after_login(
    base: &str,
    browser: &reqwest::Client,
    login_html: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let form = [
        ("username", username.to_owned()),
        ("password", password.to_owned()),
        ("csrf", hidden(login_html, "csrf")),
        ("authorize", hidden(login_html, "authorize")),
    ];
    let posted = browser.post(format!("{base}{}", routes::LOGIN)).form(&form).send().await.unwrap();
    assert_eq!(posted.status(), 303, "RFC 9700 §4.12: 303 after the credential POST");
    let resume = posted.headers()["location"].to_str().unwrap().to_owned();
    browser.get(format!("{base}{resume}")).send().await.unwrap()
}

/// Submits the login form found in `login_html` as alice and returns the
/// response to the resumed authorization request.
async fn submit_login(s: &Setup, browser: &reqwest::Client, login_html: &str) -> reqwest::Response {
    resume_after_login(&s.server.base, browser, login_html, "alice", PASSWORD).await
}

/// POSTs the login form found in `login_html` as alice with `password`
/// and `authorize` (the form's resume field) and returns the answer as is.
async fn post_login(
    s: &Setup,
    browser: &reqwest::Client,
    login_html: &str,
    password: &str,
    authorize: &str,
) -> reqwest::Response {
    let form = [
        ("username", "alice"),
        ("password", password),
        ("csrf", &hidden(login_html, "csrf")),
        ("authorize", authorize),
    ];
    browser.post(format!("{}{}", s.server.base, routes::LOGIN)).form(&form).send().await.unwrap()
}

/// Signs in through the login form and follows the browser redirects until
/// the client's redirect URI; returns that final Location.
async fn sign_in(s: &Setup, browser: &reqwest::Client, authorize_url: &str) -> String {
    let page = browser.get(authorize_url).send().await.unwrap();
    assert_eq!(page.status(), 200, "login page");
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    // docs/security-checklist.md O-9: no referrer leaves the login page.
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    let done = submit_login(s, browser, &html).await;
    assert_eq!(done.status(), 302);
    done.headers()["location"].to_str().unwrap().to_owned()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The `openidconnect` crate's client for `s`'s app, configured from the
/// server's discovery document, redirecting to [`CB`].
async fn relying_party(s: &Setup) -> RelyingParty {
    relying_party_of(&s.server.base, &s.id, &s.secret, CB).await
}

/// The `openidconnect` crate's client `id` (with `secret`) of the server at
/// `base`, configured from its discovery document, redirecting to `redirect`.
pub async fn relying_party_of(base: &str, id: &str, secret: &str, redirect: &str) -> RelyingParty {
    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(base.to_owned()).unwrap(), &http())
        .await
        .expect("discovery");
    CoreClient::from_provider_metadata(meta, ClientId::new(id.to_owned()), Some(ClientSecret::new(secret.to_owned())))
        .set_redirect_uri(RedirectUrl::new(redirect.into()).unwrap())
}

/// [`CoreClient`] as discovery configures it (authorization endpoint set,
/// token and userinfo endpoints as discovered).
pub type RelyingParty = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// docs/security-checklist.md O-8 (303 after the login POST), O-9 and O-10 (no referrer;
/// frame-ancestors and X-Frame-Options on the login page), O-12 (`iss` in the response), O-19
/// (a valid code replay revokes the refresh token), O-20 (an invalid one
/// does not), O-24 (code and refresh token length), O-35 (no bearer token
/// in the query), J-7 (an ID token is no
/// access token at userinfo), J-17 (RS256 ID tokens verify).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_flow_with_pkce_gives_a_verified_id_token_and_userinfo() {
    let s = setup("authorization_code,refresh_token");
    let client = relying_party(&s).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let verifier_text = verifier.secret().clone();
    let location = sign_in(&s, &browser(), url.as_str()).await;
    assert!(location.starts_with(CB), "{location}");
    assert_eq!(query_param(&location, "state").as_deref(), Some(state.secret().as_str()), "state echoed");
    assert_eq!(query_param(&location, "iss").as_deref(), Some(s.server.base.as_str()), "RFC 9207 iss");
    let code = query_param(&location, "code").unwrap();
    assert!(code.len() >= 43, "O-24: 256 random bits, base64url");

    let token = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .expect("code exchange");
    let id_token = token.id_token().expect("id_token for the openid scope");
    let verifier = client.id_token_verifier();
    let claims = id_token.claims(&verifier, &nonce).expect("ID token verifies: signature, iss, aud, exp, nonce");
    assert_eq!(claims.subject().as_str(), s.user_id);
    assert_eq!(claims.email().map(|e| e.as_str()), Some("alice@example.com"));
    let at_hash = claims.access_token_hash().expect("at_hash");
    let expected = AccessTokenHash::from_token(
        token.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(*at_hash, expected);
    assert!(token.refresh_token().is_some(), "offline_access gives a refresh token");
    assert!(token.refresh_token().unwrap().secret().len() >= 43, "O-24");

    let info: CoreUserInfoClaims =
        client.user_info(token.access_token().clone(), None).unwrap().request_async(&http()).await.expect("userinfo");
    assert_eq!(info.subject().as_str(), s.user_id);
    assert_eq!(info.preferred_username().map(|u| u.as_str()), Some("alice"));
    // J-7: an ID token (typ JWT) is no access token.
    let raw_id_token = serde_json::to_value(id_token).unwrap().as_str().unwrap().to_owned();
    let r = reqwest::Client::new()
        .get(format!("{}{}", s.server.base, routes::USERINFO))
        .bearer_auth(raw_id_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "an ID token replayed as a bearer token");

    // The code is single use. An invalid replay (no verifier) changes nothing;
    // a valid replay also revokes the refresh token issued from the code.
    let (_, body) = exchange_raw(&s, &code, None).await;
    assert_eq!(body["error"], "invalid_grant");
    let r = reqwest::Client::new()
        .post(s.server.token_url())
        .basic_auth(&s.id, Some(&s.secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token.refresh_token().unwrap().secret().as_str())])
        .send()
        .await
        .unwrap();
    let rotated: Value = r.json().await.unwrap();
    assert!(rotated["refresh_token"].is_string(), "an invalid replay is no denial-of-service lever: {rotated}");
    let (_, body) = exchange_raw(&s, &code, Some(&verifier_text)).await;
    assert_eq!(body["error"], "invalid_grant");
    let r = reqwest::Client::new()
        .post(s.server.token_url())
        .basic_auth(&s.id, Some(&s.secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", rotated["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant", "tokens from a reused code are revoked");

    // Userinfo refuses the query string (RFC 9700 §4.3.2) and missing tokens.
    let q =
        reqwest::get(format!("{}{}?access_token={}", s.server.base, routes::USERINFO, token.access_token().secret()))
            .await
            .unwrap();
    assert_eq!(q.status(), 401);
    assert_eq!(q.headers()["www-authenticate"], "Bearer realm=\"tessera\"");
}

/// OpenID Connect Core §12.2: a refresh gives a new ID token for the
/// original sign-in, as Keycloak, Hydra and Auth0 do: same `sub`, `aud`,
/// `auth_time` and `sid` (Back-Channel Logout §2.4), no nonce, an
/// `at_hash` of the new access token, verified by the `openidconnect`
/// crate; a refresh whose scope leaves `openid` out gives none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_gives_a_new_id_token_for_the_original_sign_in() {
    let s = setup("authorization_code,refresh_token");
    let client = relying_party(&s).await;
    let (challenge, pkce) = PkceCodeChallenge::new_random_sha256();
    let (url, _, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let location = sign_in(&s, &browser(), url.as_str()).await;
    let code = query_param(&location, "code").unwrap();
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(pkce)
        .request_async(&http())
        .await
        .expect("code exchange");
    let verifier = client.id_token_verifier();
    let first = token.id_token().unwrap().claims(&verifier, &nonce).expect("first ID token").clone();
    let first_raw = jwt_claims(serde_json::to_value(token.id_token().unwrap()).unwrap().as_str().unwrap());
    assert!(first_raw["sid"].is_string(), "a browser sign-in's ID token names its session: {first_raw}");

    let refreshed = client
        .exchange_refresh_token(token.refresh_token().unwrap())
        .unwrap()
        .request_async(&http())
        .await
        .expect("refresh");
    let id_token = refreshed.id_token().expect("OpenID Connect Core §12.2: a new ID token");
    let no_nonce = |n: Option<&Nonce>| match n {
        None => Ok(()),
        Some(_) => Err("a refreshed ID token carries no nonce".to_owned()),
    };
    let claims = id_token.claims(&verifier, no_nonce).expect("the refreshed ID token verifies");
    assert_eq!(claims.subject(), first.subject());
    assert_eq!(claims.audiences(), first.audiences());
    assert_eq!(claims.issuer(), first.issuer());
    assert_eq!(claims.auth_time(), first.auth_time(), "the time of the original sign-in, not of the refresh");
    assert!(claims.auth_time().is_some());
    let expected = AccessTokenHash::from_token(
        refreshed.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected), "at_hash of the new access token");
    let raw = jwt_claims(serde_json::to_value(id_token).unwrap().as_str().unwrap());
    assert_eq!(raw["sid"], first_raw["sid"], "the same session, for Back-Channel Logout");
    assert!(raw.get("nonce").is_none(), "{raw}");

    // Rotation keeps the sign-in; a scope without `openid` gives no ID token,
    // and the rotated refresh token keeps the whole scope (RFC 6749 §6).
    let r = reqwest::Client::new()
        .post(s.server.token_url())
        .basic_auth(&s.id, Some(&s.secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refreshed.refresh_token().unwrap().secret().as_str()),
            ("scope", "profile offline_access"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let narrowed: Value = r.json().await.unwrap();
    assert!(narrowed["access_token"].is_string(), "{narrowed}");
    assert!(narrowed.get("id_token").is_none(), "no openid, no ID token: {narrowed}");
    let r = reqwest::Client::new()
        .post(s.server.token_url())
        .basic_auth(&s.id, Some(&s.secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", narrowed["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["scope"], "offline_access openid profile", "RFC 6749 §6: the refresh token's scope is kept");
    let again_claims = jwt_claims(again["id_token"].as_str().expect("openid is back in the family's scope"));
    assert_eq!((&again_claims["sid"], &again_claims["auth_time"]), (&first_raw["sid"], &first_raw["auth_time"]));
}

async fn exchange_raw(s: &Setup, code: &str, verifier: Option<&str>) -> (u16, Value) {
    let mut form = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", CB)];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    let r = reqwest::Client::new()
        .post(s.server.token_url())
        .basic_auth(&s.id, Some(&s.secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn authorize_url(s: &Setup, extra: &str) -> String {
    format!(
        "{}{}?response_type=code&client_id={}&redirect_uri={}&scope=openid&state=s1{extra}",
        s.server.base,
        routes::AUTHORIZE,
        s.id,
        urlenc(CB)
    )
}

fn urlenc(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// docs/security-checklist.md O-1 and O-4 (unregistered URIs and unknown clients get a
/// page, never a redirect), O-7 (`prompt=none` without a session:
/// `login_required` at the registered URI), O-12 (`iss` on error redirects), O-18 (`plain` refused), O-25
/// (`code token` unsupported), O-36 (a repeated parameter is refused), O-11 (no CORS), O-44
/// (the login form needs its CSRF token).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_errors_never_redirect_to_an_unregistered_uri() {
    let s = setup("authorization_code");
    let b = browser();
    for bad in [
        "https://app.example/cb/",
        "https://app.example/cb?x=1",
        "https://evil.example/cb",
        "https://app.example.evil.example/cb",
    ] {
        let url = format!(
            "{}{}?response_type=code&client_id={}&redirect_uri={}&scope=openid",
            s.server.base,
            routes::AUTHORIZE,
            s.id,
            urlenc(bad)
        );
        let r = b.get(url).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        assert!(r.headers().get("location").is_none(), "{bad}: no redirect");
    }
    let r = b
        .get(format!(
            "{}{}?response_type=code&client_id=unknown&redirect_uri={}",
            s.server.base,
            routes::AUTHORIZE,
            urlenc(CB)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), r.headers().get("location").is_none()), (400, true));

    // Once the redirect URI is trusted, errors go back to it with state and iss.
    let r =
        b.get(authorize_url(&s, "").replace("response_type=code", "response_type=code%20token")).send().await.unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(query_param(&loc, "error").as_deref(), Some("unsupported_response_type"));
    assert_eq!(query_param(&loc, "state").as_deref(), Some("s1"));
    assert_eq!(query_param(&loc, "iss").as_deref(), Some(s.server.base.as_str()), "O-12: iss on errors too");
    let r = b.get(authorize_url(&s, "&code_challenge=abc&code_challenge_method=plain")).send().await.unwrap();
    assert_eq!(
        query_param(r.headers()["location"].to_str().unwrap(), "error").as_deref(),
        Some("invalid_request"),
        "plain PKCE refused"
    );
    let r = b.get(authorize_url(&s, "&prompt=none")).send().await.unwrap();
    assert_eq!(query_param(r.headers()["location"].to_str().unwrap(), "error").as_deref(), Some("login_required"));
    let r = b.get(authorize_url(&s, "&scope=reports")).send().await.unwrap();
    assert_eq!(r.status(), 400, "a repeated parameter is refused on a page");

    // O-11: no CORS on the authorization endpoint.
    for method in [reqwest::Method::GET, reqwest::Method::OPTIONS] {
        let r = b
            .request(method.clone(), authorize_url(&s, ""))
            .header("Origin", "https://evil.example")
            .header("Access-Control-Request-Method", "GET")
            .send()
            .await
            .unwrap();
        assert!(r.headers().get("access-control-allow-origin").is_none(), "{method}");
    }

    // A form POST to /login without the CSRF cookie is refused.
    let r = reqwest::Client::new()
        .post(format!("{}{}", s.server.base, routes::LOGIN))
        .form(&[("username", "alice"), ("password", PASSWORD), ("csrf", "forged"), ("authorize", "client_id=x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none(), "no session");
}

/// docs/security-checklist.md O-15: by default a confidential client may
/// leave PKCE out (its secret authenticates the exchange); a server set to
/// `[tokens] pkce = "all"` (here through the environment) refuses it at the
/// authorization endpoint, with the error at the redirect URI, and at the
/// PAR endpoint, and takes the same request with a challenge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_requiring_pkce_of_every_client_refuses_confidential_requests_without_it() {
    let lenient = setup("authorization_code");
    let r = browser().get(authorize_url(&lenient, "")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the default: the login page, no PKCE needed of a confidential client");

    let opts = Options { env: vec![("TESSERA_TOKENS__PKCE".into(), "all".into())], ..Options::default() };
    let s = setup_with(Backend::Sqlite, "authorization_code", opts);
    let r = browser().get(authorize_url(&s, "")).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(loc.starts_with(CB), "{loc}");
    assert_eq!(query_param(&loc, "error").as_deref(), Some("invalid_request"));
    assert!(query_param(&loc, "error_description").unwrap().contains("every client"), "{loc}");
    assert_eq!(query_param(&loc, "state").as_deref(), Some("s1"));

    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let challenge = challenge.as_str().to_owned();
    let extra = format!("&code_challenge={challenge}&code_challenge_method=S256");
    let r = browser().get(authorize_url(&s, &extra)).send().await.unwrap();
    assert_eq!(r.status(), 200, "with a challenge: the login page");

    let par = format!("{}{}", s.server.base, routes::PAR);
    let mut form = vec![("response_type", "code"), ("redirect_uri", CB), ("scope", "openid"), ("state", "s1")];
    let r = reqwest::Client::new().post(&par).basic_auth(&s.id, Some(&s.secret)).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 400, "a pushed request without a challenge");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    form.extend([("code_challenge", challenge.as_str()), ("code_challenge_method", "S256")]);
    let r = reqwest::Client::new().post(&par).basic_auth(&s.id, Some(&s.secret)).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 201, "with one");
}

/// docs/security-checklist.md O-16 (verifier required and checked), O-17 (a verifier
/// without a challenge is a downgrade), O-13 (a long state is echoed), O-36
/// (an unknown parameter is ignored).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkce_is_enforced_at_the_token_endpoint() {
    let s = setup("authorization_code");
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let extra = format!("&code_challenge={}&code_challenge_method=S256", challenge.as_str());
    let b = browser();
    let loc = sign_in(&s, &b, &authorize_url(&s, &extra)).await;
    let code = query_param(&loc, "code").unwrap();
    assert_eq!(exchange_raw(&s, &code, None).await.1["error"], "invalid_grant", "missing verifier");
    assert_eq!(exchange_raw(&s, &code, Some(&"x".repeat(43))).await.1["error"], "invalid_grant", "wrong verifier");
    let (status, ok) = exchange_raw(&s, &code, Some(verifier.secret())).await;
    assert_eq!(status, 200, "a wrong verifier does not burn the code: {ok}");
    assert!(ok["id_token"].is_string());

    // The session is reused: no second login, straight to the client.
    let r = b.get(authorize_url(&s, "")).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let code = query_param(r.headers()["location"].to_str().unwrap(), "code").unwrap();
    assert_eq!(
        exchange_raw(&s, &code, Some(verifier.secret())).await.1["error"],
        "invalid_grant",
        "downgrade: verifier without challenge"
    );
    // O-36: an unknown parameter is ignored.
    let r = b.get(authorize_url(&s, "&foo=bar")).send().await.unwrap();
    assert!(query_param(r.headers()["location"].to_str().unwrap(), "code").is_some());
    // O-13: a 384-character state comes back byte for byte.
    let long: String = "Az09-._~".chars().cycle().take(384).collect();
    let r = b.get(authorize_url(&s, "").replace("state=s1", &format!("state={long}"))).send().await.unwrap();
    assert_eq!(query_param(r.headers()["location"].to_str().unwrap(), "state").as_deref(), Some(long.as_str()));
    // prompt=login asks again even with a session.
    let r = b.get(authorize_url(&s, "&prompt=login")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // max_age: a recent sign-in passes; one older than max_age must be redone.
    assert_eq!(b.get(authorize_url(&s, "&max_age=3600")).send().await.unwrap().status(), 302);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(b.get(authorize_url(&s, "&max_age=0")).send().await.unwrap().status(), 200, "sign in again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rp_initiated_logout_ends_the_session_and_returns_only_to_registered_uris() {
    let s = setup("authorization_code");
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let b = browser();
    let loc = sign_in(
        &s,
        &b,
        &authorize_url(&s, &format!("&code_challenge={}&code_challenge_method=S256", challenge.as_str())),
    )
    .await;
    let (_, tokens) = exchange_raw(&s, &query_param(&loc, "code").unwrap(), Some(verifier.secret())).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let disco: Value =
        reqwest::get(format!("{}{}", s.server.base, routes::OPENID_CONFIGURATION)).await.unwrap().json().await.unwrap();
    let end = disco["end_session_endpoint"].as_str().unwrap().to_owned();

    // An unregistered return address is never followed.
    let r = b
        .get(format!("{end}?id_token_hint={id_token}&post_logout_redirect_uri={}", urlenc("https://evil.example/")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());

    // Sign in again, then log out properly.
    let _ = sign_in(&s, &b, &authorize_url(&s, "")).await;
    let r = b
        .get(format!("{end}?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye", urlenc(SIGNED_OUT)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], format!("{SIGNED_OUT}?state=bye").as_str());
    let again = b.get(authorize_url(&s, "")).send().await.unwrap();
    assert_eq!(again.status(), 200, "the session is gone: the login page again");
}

/// OpenID Connect Front-Channel Logout 1.0: signing out at the end-session
/// endpoint shows a page that loads, hidden, the logout page of each client
/// of the session that registered one, with `iss` and the session's `sid`
/// (the ID token's), under a CSP that frames only those origins, then goes
/// on to the registered return address. Only a page of the client's own
/// origin can be registered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_loads_each_applications_front_channel_logout_page() {
    let s = setup("authorization_code");
    let shown =
        s.server.cli_json(&["client", "update", &s.id, "--frontchannel-logout-uri", "https://app.example/fcl?v=1"]);
    assert_eq!(shown["frontchannel_logout_uri"], "https://app.example/fcl?v=1");
    let out = s
        .server
        .cli_output(&["client", "update", &s.id, "--frontchannel-logout-uri", "https://evil.example/fcl"], None);
    assert!(!out.status.success(), "another origin than the redirect URIs'");
    let disco: Value =
        reqwest::get(format!("{}{}", s.server.base, routes::OPENID_CONFIGURATION)).await.unwrap().json().await.unwrap();
    assert_eq!(
        (&disco["frontchannel_logout_supported"], &disco["frontchannel_logout_session_supported"]),
        (&Value::Bool(true), &Value::Bool(true))
    );

    let b = browser();
    let loc = sign_in(&s, &b, &authorize_url(&s, "")).await;
    let (_, tokens) = exchange_raw(&s, &query_param(&loc, "code").unwrap(), None).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let sid = jwt_claims(id_token)["sid"].as_str().unwrap().to_owned();
    let end = disco["end_session_endpoint"].as_str().unwrap().to_owned();
    let r = b
        .get(format!("{end}?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye", urlenc(SIGNED_OUT)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a page that loads the applications' logout pages first");
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-src https://app.example;") && csp.contains("script-src 'self'"), "{csp}");
    let html = r.text().await.unwrap();
    let expected = format!("https://app.example/fcl?v=1&#38;iss={}&#38;sid={sid}", urlenc(&s.server.base));
    assert!(html.replace("&amp;", "&#38;").contains(&expected), "{expected} in {html}");
    assert!(html.contains(&format!("id=\"continue\" href=\"{SIGNED_OUT}?state=bye\"")), "{html}");
    assert!(html.contains("/static/frontchannel_logout.js"));
    let again = b.get(authorize_url(&s, "")).send().await.unwrap();
    assert_eq!(again.status(), 200, "the session is gone: the login page again");
}

/// Issue #11 item 11 (OpenID RP-Initiated Logout 1.0 §2): without an
/// `id_token_hint` for the signed-in user, GET /oauth/logout does not sign
/// out; it asks, with a form that needs its CSRF token. Only the confirmed
/// POST ends the session, then returns to the registered URI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_without_an_id_token_hint_asks_first() {
    let s = setup("authorization_code");
    let b = browser();
    let _ = sign_in(&s, &b, &authorize_url(&s, "")).await;
    let end = format!("{}{}", s.server.base, routes::END_SESSION);
    let query = format!("client_id={}&post_logout_redirect_uri={}&state=bye", s.id, urlenc(SIGNED_OUT));
    let r = b.get(format!("{end}?{query}")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("location").is_none());
    let page = r.text().await.unwrap();
    assert!(page.contains("Sign out?") && page.contains("Web App"), "{page}");
    assert_eq!(b.get(authorize_url(&s, "")).send().await.unwrap().status(), 302, "still signed in");

    // A cross-site auto-submitted confirmation lacks the CSRF pair: refused.
    let forged = [("confirm", "yes"), ("csrf", "guess"), ("logout", query.as_str())];
    assert_eq!(b.post(&end).form(&forged).send().await.unwrap().status(), 403);
    assert_eq!(b.get(authorize_url(&s, "")).send().await.unwrap().status(), 302, "still signed in");

    let form = [("confirm", "yes".to_owned()), ("csrf", hidden(&page, "csrf")), ("logout", hidden(&page, "logout"))];
    let r = b.post(&end).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], format!("{SIGNED_OUT}?state=bye").as_str());
    assert_eq!(b.get(authorize_url(&s, "")).send().await.unwrap().status(), 200, "signed out: the login page");
}

/// docs/security-checklist.md A-14: nothing secret reaches the server's log,
/// even at `debug`: a whole code flow with PKCE, a refresh and a failed
/// sign-in leave the password, the client secret, the code, the verifier
/// and every token out of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_the_log_even_at_debug() {
    // Every crate at debug, ours and the HTTP stack's (RUST_LOG wins over
    // `log.level`; the test harness sets it to info otherwise).
    let opts = Options { env: vec![("RUST_LOG".into(), "debug".into())], ..Options::default() };
    let s = setup_with(Backend::Sqlite, "authorization_code,refresh_token", opts);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let extra = format!("&code_challenge={}&code_challenge_method=S256", challenge.as_str());
    let url = authorize_url(&s, &extra).replace("scope=openid", "scope=openid%20offline_access");
    let b = browser();
    // A wrong password first: the typed password must not be logged either.
    let page = b.get(&url).send().await.unwrap().text().await.unwrap();
    let r = post_login(&s, &b, &page, "a wrong password 7f3c", &hidden(&page, "authorize")).await;
    assert_eq!(r.status(), 401, "the form again, for a wrong password");
    let loc = sign_in(&s, &b, &url).await;
    let code = query_param(&loc, "code").unwrap();
    let (status, tokens) = exchange_raw(&s, &code, Some(verifier.secret())).await;
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().expect("a refresh token").to_owned();
    let rotated: Value = reqwest::Client::new()
        .post(s.server.token_url())
        .basic_auth(&s.id, Some(&s.secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(rotated["access_token"].is_string(), "{rotated}");
    let log = s.server.log_text();
    assert!(log.contains("DEBUG") || log.contains("\"DEBUG\""), "the server logged at debug:\n{log}");
    let secrets = [
        ("the password", PASSWORD.to_owned()),
        ("the wrong password", "a wrong password 7f3c".to_owned()),
        ("the client secret", s.secret.clone()),
        ("the code", code.clone()),
        ("the code verifier", verifier.secret().clone()),
        ("the access token", tokens["access_token"].as_str().unwrap().to_owned()),
        ("the ID token", tokens["id_token"].as_str().unwrap().to_owned()),
        ("the refresh token", refresh.clone()),
        ("the rotated refresh token", rotated["refresh_token"].as_str().unwrap().to_owned()),
        ("the rotated access token", rotated["access_token"].as_str().unwrap().to_owned()),
    ];
    for (name, secret) in secrets {
        // A token's signature alone would be enough to find it.
        let tail = &secret[secret.len().saturating_sub(24)..];
        assert!(!log.contains(tail), "{name} is in the log:\n{log}");
    }
}

/// docs/security-checklist.md O-6: the sign-in form's `authorize` field
/// (where the browser resumes) cannot send the browser to another origin:
/// whatever it holds, a successful sign-in goes back to this server's
/// authorization endpoint, which checks the client and redirect URI again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_form_resumes_only_at_this_servers_authorization_endpoint() {
    let s = setup("authorization_code");
    for resume in [
        "//evil.example/",
        "https://evil.example/cb",
        "/\\evil.example",
        "@evil.example",
        "x\r\nLocation: https://evil.example",
    ] {
        let b = browser();
        let page = b.get(authorize_url(&s, "")).send().await.unwrap().text().await.unwrap();
        let r = post_login(&s, &b, &page, PASSWORD, resume).await;
        assert_eq!(r.status(), 303, "{resume:?}: signed in");
        // The field is read as a query and encoded again: it stays a query.
        let location = r.headers()["location"].to_str().unwrap();
        assert!(location.starts_with(&format!("{}?", routes::AUTHORIZE)), "{resume:?} → {location}");
        let followed = b.get(format!("{}{location}", s.server.base)).send().await.unwrap();
        let next = followed.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
        assert!(next.as_deref().is_none_or(|n| !n.contains("evil.example")), "{resume:?} → {next:?}");
    }
}

/// docs/security-checklist.md O-9: the hosted pages a user sees during an
/// authorization (sign-in, an error, the device page, the sign-out
/// question) send no referrer, allow nothing from another origin in their
/// Content-Security-Policy, and name no other origin in their HTML.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_pages_load_nothing_from_other_origins_and_send_no_referrer() {
    let s = setup("authorization_code");
    let b = browser();
    let base = &s.server.base;
    let unknown =
        format!("{base}{}?response_type=code&client_id=nobody&redirect_uri={}", routes::AUTHORIZE, urlenc(CB));
    let device = format!("{base}{}", routes::DEVICE);
    let anonymous = browser();
    let mut pages = vec![
        ("sign-in", authorize_url(&s, ""), &anonymous),
        ("error", unknown, &anonymous),
        ("device", device, &anonymous),
    ];
    let _ = sign_in(&s, &b, &authorize_url(&s, "")).await;
    let logout =
        format!("{base}{}?client_id={}&post_logout_redirect_uri={}", routes::END_SESSION, s.id, urlenc(SIGNED_OUT));
    pages.push(("sign-out question", logout, &b));
    for (name, url, client) in pages {
        let r = client.get(&url).send().await.unwrap();
        assert!(r.status() == 200 || r.status() == 400, "{name}: {}", r.status());
        assert_eq!(r.headers()["referrer-policy"], "no-referrer", "{name}");
        let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
        for directive in csp.split(';').map(str::trim).filter(|d| !d.is_empty()) {
            let sources = directive.split_whitespace().skip(1);
            assert!(sources.into_iter().all(|v| v == "'self'" || v == "'none'"), "{name}: {directive}");
        }
        let html = r.text().await.unwrap();
        for attr in ["src=\"", "href=\""] {
            for (at, _) in html.match_indices(attr) {
                let value = &html[at + attr.len()..];
                assert!(
                    value.starts_with('/') && !value.starts_with("//"),
                    "{name}: {}",
                    &value[..value.len().min(60)]
                );
            }
        }
        assert!(!html.contains("url(http") && !html.contains("@import"), "{name}");
    }
}

fn fragment_param(url: &str, name: &str) -> Option<String> {
    let frag = url::Url::parse(url).unwrap().fragment()?.to_owned();
    url::form_urlencoded::parse(frag.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Issue 4 item 7 across the front channel: the username rule bound to every
/// grant also shapes tokens from the authorization code and implicit grants;
/// implicit stays off until an admin enables it for a client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_is_per_client_and_one_rule_covers_code_and_implicit() {
    let s = setup("authorization_code,implicit");
    s.server.cli_json(&[
        "plugin",
        "upload",
        &crate::plugins::component("examples", "rust-username"),
        "--name",
        "username",
    ]);
    s.server.cli_json(&["binding", "create", "--plugin", "username", "--grant-types", "all"]);
    let b = browser();

    // Implicit: tokens in the fragment, never the query; the claim is there.
    let url = authorize_url(&s, "&nonce=n-123").replace("response_type=code", "response_type=id_token%20token");
    let loc = sign_in(&s, &b, &url).await;
    assert!(url::Url::parse(&loc).unwrap().query().is_none(), "no tokens in the query: {loc}");
    assert_eq!(fragment_param(&loc, "state").as_deref(), Some("s1"));
    assert_eq!(fragment_param(&loc, "token_type").as_deref(), Some("Bearer"));
    let at = fragment_param(&loc, "access_token").expect("access_token");
    let id = fragment_param(&loc, "id_token").expect("id_token");
    let aud = format!("{}{}", s.server.base, routes::USERINFO);
    let claims = crate::support::verify_with_discovery(&s.server.base, &at, &aud).await;
    assert_eq!(claims["https://example.com/username"], "alice", "implicit runs the pipeline");
    let payload: Value = {
        use base64::Engine as _;
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(id.split('.').nth(1).unwrap()).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(payload["nonce"], "n-123");
    assert_eq!(payload["https://example.com/username"], "alice", "ID token claims from the plugin too");
    assert!(payload["at_hash"].is_string());

    // Code flow, same rule.
    let loc = b.get(authorize_url(&s, "")).send().await.unwrap().headers()["location"].to_str().unwrap().to_owned();
    let (_, tokens) = exchange_raw(&s, &query_param(&loc, "code").unwrap(), None).await;
    let claims =
        crate::support::verify_with_discovery(&s.server.base, tokens["access_token"].as_str().unwrap(), &aud).await;
    assert_eq!(claims["https://example.com/username"], "alice");

    // Off by default: a client without the implicit grant gets unauthorized_client, in the fragment.
    let plain = s.server.cli_json(&[
        "client",
        "create",
        "--name",
        "no-implicit",
        "--public",
        "--grant-types",
        "authorization_code",
        "--redirect-uri",
        CB,
    ]);
    let url = format!(
        "{}{}?response_type=token&client_id={}&redirect_uri={}&state=s2",
        s.server.base,
        routes::AUTHORIZE,
        plain["client_id"].as_str().unwrap(),
        urlenc(CB)
    );
    let loc = b.get(url).send().await.unwrap().headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(fragment_param(&loc, "error").as_deref(), Some("unauthorized_client"), "{loc}");
}

/// OAuth 2.0 Form Post Response Mode: the code reaches the client in a POST
/// body from an auto-submitting page, never in a URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_post_response_mode_posts_the_code_to_the_client() {
    let s = setup("authorization_code");
    let b = browser();
    let page = b.get(authorize_url(&s, "&response_mode=form_post")).send().await.unwrap();
    let html = page.text().await.unwrap();
    let r = submit_login(&s, &b, &html).await;
    assert_eq!(r.status(), 200, "a page, not a redirect");
    assert!(r.headers().get("location").is_none());
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    let html = r.text().await.unwrap();
    assert!(html.contains(&format!("action=\"{CB}\"")), "{html}");
    assert_eq!(hidden(&html, "state"), "s1");
    assert_eq!(hidden(&html, "iss"), s.server.base);
    let code = hidden(&html, "code");
    let (status, tokens) = exchange_raw(&s, &code, None).await;
    assert_eq!(status, 200, "{tokens}");
}

/// Consent (issue 4 item 1): third-party clients ask once per user and scope
/// set; deny sends `access_denied`; the form needs its CSRF token (docs/security-checklist.md
/// O-44); the decision is answered with 303 (O-8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_party_clients_ask_for_consent_once_per_scope_set() {
    let s = setup("authorization_code");
    let (third_id, _) = partner(&s);
    let third_id = third_id.as_str();
    let url = |scope: &str, extra: &str| {
        format!(
            "{}{}?response_type=code&client_id={third_id}&redirect_uri={}&scope={scope}&state=s9{extra}",
            s.server.base,
            routes::AUTHORIZE,
            urlenc(CB)
        )
    };
    let b = browser();
    let page = b.get(url("openid", "")).send().await.unwrap().text().await.unwrap();
    let consent = submit_login(&s, &b, &page).await;
    assert_eq!(consent.status(), 200, "the consent page");
    let html = consent.text().await.unwrap();
    assert!(html.contains("Partner App") && html.contains("<code>openid</code>"), "{html}");

    let decide = |html: String, decision: &'static str| {
        let b = b.clone();
        let base = s.server.base.clone();
        async move {
            let form = [
                ("csrf", hidden(&html, "csrf")),
                ("authorize", hidden(&html, "authorize")),
                ("decision", decision.to_owned()),
            ];
            b.post(format!("{base}{}", routes::CONSENT)).form(&form).send().await.unwrap()
        }
    };
    let denied = decide(html.clone(), "deny").await;
    assert_eq!(denied.status(), 303);
    let loc = denied.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&loc, "state").as_deref(), Some("s9"));

    let html = b.get(url("openid", "")).send().await.unwrap().text().await.unwrap();
    let allowed = decide(html, "allow").await;
    assert_eq!(allowed.status(), 303);
    assert!(query_param(allowed.headers()["location"].to_str().unwrap(), "code").is_some());

    // Remembered for the same scopes; asked again for more, or with prompt=consent.
    assert_eq!(b.get(url("openid", "")).send().await.unwrap().status(), 302, "remembered");
    assert_eq!(b.get(url("openid%20email", "")).send().await.unwrap().status(), 200, "new scope: asked again");
    assert_eq!(b.get(url("openid", "&prompt=consent")).send().await.unwrap().status(), 200);
    let r = b.get(url("openid%20email", "&prompt=none")).send().await.unwrap();
    assert_eq!(query_param(r.headers()["location"].to_str().unwrap(), "error").as_deref(), Some("consent_required"));

    // A forged consent POST (no CSRF cookie) grants nothing.
    let forged = reqwest::Client::new()
        .post(format!("{}{}", s.server.base, routes::CONSENT))
        .form(&[("csrf", "x"), ("authorize", "client_id=x"), ("decision", "allow")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
}

/// A third-party client (no `--first-party`): users are asked for consent.
fn partner(s: &Setup) -> (String, String) {
    let c = s.server.cli_json(&[
        "client",
        "create",
        "--name",
        "Partner App",
        "--grant-types",
        "authorization_code",
        "--redirect-uri",
        CB,
    ]);
    (c["client_id"].as_str().unwrap().to_owned(), c["client_secret"].as_str().unwrap().to_owned())
}

/// Posts the consent form found in `html` with `decision`.
async fn decide(s: &Setup, b: &reqwest::Client, html: &str, decision: &str) -> reqwest::Response {
    let form =
        [("csrf", hidden(html, "csrf")), ("authorize", hidden(html, "authorize")), ("decision", decision.to_owned())];
    b.post(format!("{}{}", s.server.base, routes::CONSENT)).form(&form).send().await.unwrap()
}

on_both_backends!(
    /// Issue #11 item 4: consent is recorded per user, client and API.
    /// Allowing `read` for the Orders API does not allow the Billing API's
    /// `read` (a page asks; `prompt=none` answers `consent_required`); the
    /// page names the API (name and identifier) and describes each scope
    /// it can.
    consent_to_one_apis_scope_does_not_cover_another_apis,
    |backend| async move {
        let s = setup_on(backend, "authorization_code");
        let (client, _) = partner(&s);
        let orders = "https://orders.example";
        let billing = "https://billing.example";
        s.server.cli_json(&["api", "create", "--identifier", orders, "--name", "Orders API", "--scopes", "read"]);
        s.server.cli_json(&["api", "create", "--identifier", billing, "--name", "Billing API", "--scopes", "read"]);
        let url = |aud: &str, extra: &str| {
            format!(
                "{}{}?response_type=code&client_id={client}&redirect_uri={}&scope=openid%20read&state=s7&audience={}{extra}",
                s.server.base, routes::AUTHORIZE,
                urlenc(CB),
                urlenc(aud)
            )
        };
        let b = browser();
        let login = b.get(url(orders, "")).send().await.unwrap().text().await.unwrap();
        let page = submit_login(&s, &b, &login).await;
        assert_eq!(page.status(), 200, "the consent page");
        let html = page.text().await.unwrap();
        assert!(html.contains("<strong id=\"consent-api\">Orders API</strong>"), "{html}");
        assert!(html.contains(&format!("<code id=\"consent-api-identifier\">{orders}</code>")), "{html}");
        assert!(html.contains("<code>read</code>") && html.contains("<code>openid</code>: Know who you are"), "{html}");
        let allowed = decide(&s, &b, &html, "allow").await;
        assert_eq!(allowed.status(), 303);
        assert!(query_param(allowed.headers()["location"].to_str().unwrap(), "code").is_some());
        let again = b.get(url(orders, "&prompt=none")).send().await.unwrap();
        assert!(query_param(again.headers()["location"].to_str().unwrap(), "code").is_some(), "remembered for Orders");

        let silent = b.get(url(billing, "&prompt=none")).send().await.unwrap();
        let loc = silent.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(query_param(&loc, "error").as_deref(), Some("consent_required"), "{loc}");
        assert_eq!(query_param(&loc, "code"), None);
        let asked = b.get(url(billing, "")).send().await.unwrap();
        assert_eq!(asked.status(), 200, "Billing's read needs its own consent");
        let html = asked.text().await.unwrap();
        assert!(html.contains("Billing API") && html.contains(billing), "{html}");
    }
);

/// Issue #11 item 16: `prompt=login consent` (two values, OIDC Core
/// §3.1.2.1) used to send the browser back to the login page after every
/// sign-in. Now the user signs in again, sees the consent page, and the
/// client gets its code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_login_consent_signs_in_then_asks_consent_then_issues_the_code() {
    let s = setup("authorization_code");
    let (client, secret) = partner(&s);
    let url = format!(
        "{}{}?response_type=code&client_id={client}&redirect_uri={}&scope=openid&state=s8&prompt=login%20consent",
        s.server.base,
        routes::AUTHORIZE,
        urlenc(CB)
    );
    let b = browser();
    // A session exists already: prompt=login must still ask for the password.
    let first = b.get(authorize_url(&s, "")).send().await.unwrap().text().await.unwrap();
    assert_eq!(submit_login(&s, &b, &first).await.status(), 302);
    let login = b.get(&url).send().await.unwrap();
    assert_eq!(login.status(), 200);
    let html = login.text().await.unwrap();
    assert!(html.contains("name=\"password\""), "prompt=login: the login form first");
    let consent = submit_login(&s, &b, &html).await;
    assert_eq!(consent.status(), 200);
    let html = consent.text().await.unwrap();
    assert!(html.contains("id=\"allow\""), "after a fresh sign-in, the consent page: {html}");
    let done = decide(&s, &b, &html, "allow").await;
    assert_eq!(done.status(), 303);
    let loc = done.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(query_param(&loc, "state").as_deref(), Some("s8"));
    let code = query_param(&loc, "code").expect("a code");
    let r = reqwest::Client::new()
        .post(s.server.token_url())
        .basic_auth(&client, Some(&secret))
        .form(&[("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", CB)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// One POST a [`LogoutReceiver`] got: its path, content type and body.
struct Posted {
    path: String,
    content_type: String,
    body: String,
}

/// A relying party's back-channel logout endpoint: answers 200 to every
/// request on its port and hands what was posted to the test.
struct LogoutReceiver {
    base: String,
    posts: std::sync::mpsc::Receiver<Posted>,
}

impl LogoutReceiver {
    fn start() -> LogoutReceiver {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, posts) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let (mut length, mut content_type) = (0usize, String::new());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    let (name, value) = line.split_once(':').unwrap_or(("", ""));
                    match name.to_ascii_lowercase().as_str() {
                        "content-length" => length = value.trim().parse().unwrap_or(0),
                        "content-type" => content_type = value.trim().to_owned(),
                        _ => {}
                    }
                    line.clear();
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let path = request_line.split_whitespace().nth(1).unwrap_or("").to_owned();
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                let _ = tx.send(Posted { path, content_type, body: String::from_utf8_lossy(&body).into_owned() });
            }
        });
        LogoutReceiver { base, posts }
    }

    /// The next POST, if one comes within `secs`.
    fn next(&self, secs: u64) -> Option<Posted> {
        self.posts.recv_timeout(std::time::Duration::from_secs(secs)).ok()
    }
}

/// OpenID Connect Back-Channel Logout 1.0: the ID token names its browser
/// session (`sid`); ending that session posts a Logout Token (§2.4: typed
/// `logout+jwt`, signed with the published keys, `iss`, `aud`, `sub`, `sid`,
/// the event, a `jti`, no `nonce`) to every client that signed in through
/// it and registered a `backchannel_logout_uri`, and to no other. Discovery
/// says so; a public client cannot register a plain http URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_a_session_posts_a_logout_token_to_each_client_signed_in_through_it() {
    let s = setup("authorization_code");
    let rp = LogoutReceiver::start();
    s.server.cli(&["client", "update", &s.id, "--backchannel-logout-uri", &format!("{}/web/logout", rp.base)]);
    let client = |name: &str, extra: &[&str]| {
        let mut args = vec!["client", "create", "--name", name, "--grant-types", "authorization_code"];
        args.extend_from_slice(&["--redirect-uri", CB, "--first-party"]);
        args.extend_from_slice(extra);
        s.server.cli_json(&args)["client_id"].as_str().unwrap().to_owned()
    };
    let other = client("Other App", &["--backchannel-logout-uri", &format!("{}/other/logout?x=1", rp.base)]);
    let silent = client("Silent App", &[]);
    // A client whose endpoint is gone: its notice fails, and is counted.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let gone = client("Gone App", &["--backchannel-logout-uri", &format!("http://{closed}/logout")]);
    let refused = s.server.cli_output(
        &["client", "create", "--name", "SPA", "--public", "--grant-types", "authorization_code"]
            .into_iter()
            .chain(["--redirect-uri", CB, "--backchannel-logout-uri", "http://spa.example/logout"])
            .collect::<Vec<_>>(),
        None,
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("must use https"), "{refused:?}");
    let disco: Value =
        reqwest::get(format!("{}{}", s.server.base, routes::OPENID_CONFIGURATION)).await.unwrap().json().await.unwrap();
    assert_eq!(disco["backchannel_logout_supported"], true);
    assert_eq!(disco["backchannel_logout_session_supported"], true);
    assert!(disco["claims_supported"].as_array().unwrap().iter().any(|c| c == "sid"));

    // Sign in to the web app, then to the two others in the same browser.
    let b = browser();
    let loc = sign_in(&s, &b, &authorize_url(&s, "")).await;
    let (status, tokens) = exchange_raw(&s, &query_param(&loc, "code").unwrap(), None).await;
    assert_eq!(status, 200, "{tokens}");
    let id_token = tokens["id_token"].as_str().unwrap();
    let id_claims = jwt_claims(id_token);
    let sid = id_claims["sid"].as_str().expect("the ID token names its session").to_owned();
    for id in [&other, &silent, &gone] {
        let url = format!(
            "{}{}?response_type=code&client_id={id}&redirect_uri={}&scope=openid&state=s2",
            s.server.base,
            routes::AUTHORIZE,
            urlenc(CB)
        );
        let r = b.get(url).send().await.unwrap();
        assert_eq!(r.status(), 302, "signed in already: a code at once");
    }
    assert!(rp.next(0).is_none(), "nothing is posted before the session ends");

    let end = disco["end_session_endpoint"].as_str().unwrap();
    let r = b.get(format!("{end}?id_token_hint={id_token}")).send().await.unwrap();
    assert!(r.status().is_success(), "signed out: {}", r.status());
    let jwks: jsonwebtoken::jwk::JwkSet =
        reqwest::get(disco["jwks_uri"].as_str().unwrap()).await.unwrap().json().await.unwrap();
    let mut got = Vec::new();
    for _ in 0..2 {
        let post = rp.next(10).expect("a Logout Token for each client with a back-channel URL");
        assert_eq!(post.content_type, "application/x-www-form-urlencoded");
        let form: Vec<(String, String)> = url::form_urlencoded::parse(post.body.as_bytes()).into_owned().collect();
        assert_eq!(form.len(), 1, "only logout_token: {form:?}");
        assert_eq!(form[0].0, "logout_token");
        let token = &form[0].1;
        let header = jsonwebtoken::decode_header(token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
        assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
        let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("signed with a published key");
        let aud = if post.path.starts_with("/web/") { s.id.clone() } else { other.clone() };
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&[&aud]);
        v.set_issuer(&[disco["issuer"].as_str().unwrap()]);
        v.set_required_spec_claims(&["iss", "aud", "iat", "exp"]);
        let claims = jsonwebtoken::decode::<Value>(token, &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(), &v)
            .expect("the Logout Token verifies")
            .claims;
        assert_eq!(claims["sub"], s.user_id.as_str());
        assert_eq!(claims["sid"], sid.as_str());
        assert_eq!(claims["events"], serde_json::json!({"http://schemas.openid.net/event/backchannel-logout": {}}));
        assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
        assert!(claims.get("nonce").is_none(), "§2.4: a Logout Token has no nonce");
        got.push(post.path);
    }
    got.sort();
    assert_eq!(got, ["/other/logout?x=1", "/web/logout"]);
    assert!(rp.next(1).is_none(), "nothing for the client without a URL, nothing twice");
    let outcome =
        |text: &str, o: &str| crate::metrics::sample(text, "tessera_backchannel_logouts_total", &[("outcome", o)]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let metrics = loop {
        let text = reqwest::get(format!("{}{}", s.server.base, routes::METRICS)).await.unwrap().text().await.unwrap();
        if text.contains("outcome=\"failed\"") || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!((outcome(&metrics, "delivered"), outcome(&metrics, "failed")), (2.0, 1.0), "{metrics}");
    assert!(s.server.log_text().contains("back-channel logout not delivered"));
    let again = b.get(authorize_url(&s, "")).send().await.unwrap();
    assert_eq!(again.status(), 200, "the session is gone: the login page again");
}

/// The claims of a JWT, unverified (its signature is checked elsewhere).
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Back-Channel Logout when an administrator ends the sessions: disabling
/// a user through the CLI (another process than the server) queues a
/// notice in the same transaction, and the running server posts the
/// Logout Token, with the user's `sub` and the session's `sid`, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_user_posts_a_logout_token_for_each_of_their_sessions() {
    let s = setup_on(Backend::Postgres, "authorization_code");
    let rp = LogoutReceiver::start();
    s.server.cli(&["client", "update", &s.id, "--backchannel-logout-uri", &format!("{}/web/logout", rp.base)]);
    let mut sids = Vec::new();
    for _ in 0..2 {
        // Two browsers, two sessions of the same user.
        let b = browser();
        let loc = sign_in(&s, &b, &authorize_url(&s, "")).await;
        let (status, tokens) = exchange_raw(&s, &query_param(&loc, "code").unwrap(), None).await;
        assert_eq!(status, 200, "{tokens}");
        sids.push(jwt_claims(tokens["id_token"].as_str().unwrap())["sid"].as_str().unwrap().to_owned());
    }
    assert_ne!(sids[0], sids[1], "each session has its own sid");
    s.server.cli(&["user", "update", &s.user_id, "--disabled", "true"]);
    let mut got = Vec::new();
    for _ in 0..2 {
        let post = rp.next(10).expect("a Logout Token for each ended session");
        assert_eq!(post.path, "/web/logout");
        let token = url::form_urlencoded::parse(post.body.as_bytes())
            .find(|(k, _)| k == "logout_token")
            .map(|(_, v)| v.into_owned())
            .expect("logout_token");
        assert_eq!(jsonwebtoken::decode_header(&token).unwrap().typ.as_deref(), Some("logout+jwt"));
        let claims = jwt_claims(&token);
        assert_eq!((claims["aud"].as_str(), claims["sub"].as_str()), (Some(s.id.as_str()), Some(s.user_id.as_str())));
        got.push(claims["sid"].as_str().unwrap().to_owned());
    }
    got.sort();
    sids.sort();
    assert_eq!(got, sids);
    assert!(rp.next(2).is_none(), "each notice is sent once");
    assert_eq!(s.server.count_rows("logout_notices"), 0, "the queue is empty");
}

/// "Sign out everywhere" (CLI `user sign-out`, also in the console and the
/// management API): the user's sessions end, with a Logout Token to each
/// client that asked for one, and their tokens are revoked; the account
/// stays usable: the user signs in again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_a_user_out_everywhere_tells_their_apps_and_keeps_the_account() {
    let s = setup("authorization_code");
    let rp = LogoutReceiver::start();
    s.server.cli(&["client", "update", &s.id, "--backchannel-logout-uri", &format!("{}/web/logout", rp.base)]);
    let b = browser();
    let loc = sign_in(&s, &b, &authorize_url(&s, "")).await;
    let (status, tokens) = exchange_raw(&s, &query_param(&loc, "code").unwrap(), None).await;
    assert_eq!(status, 200, "{tokens}");
    let sid = jwt_claims(tokens["id_token"].as_str().unwrap())["sid"].as_str().unwrap().to_owned();
    let said = s.server.cli(&["user", "sign-out", &s.user_id]);
    assert!(said.contains("signed out everywhere"), "{said}");
    let post = rp.next(10).expect("a Logout Token for the ended session");
    let token = url::form_urlencoded::parse(post.body.as_bytes()).next().unwrap().1.into_owned();
    assert_eq!(jwt_claims(&token)["sid"], sid.as_str());
    // The access token is revoked at once; the browser must sign in again, and can.
    let r = reqwest::Client::new()
        .get(format!("{}{}", s.server.base, routes::USERINFO))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the access token is revoked");
    let again = sign_in(&s, &b, &authorize_url(&s, "")).await;
    assert!(query_param(&again, "code").is_some(), "the account still works: {again}");
    let shown = s.server.cli_json(&["user", "show", &s.user_id]);
    assert_eq!(shown["disabled"], false);
}
