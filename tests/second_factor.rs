//! End users' second factor at the hosted sign-in (TOTP, RFC 6238) against
//! the real binary: an administrator requires one, the user enrols at the
//! next sign-in and gets recovery codes, later sign-ins ask for a code
//! (once per code), the ID token's `amr` says so (RFC 8176), the password
//! grant answers such a user as for a wrong password, and a reset sends the
//! user back to enrolment. The `openidconnect` and `oauth2` crates are the
//! applications; a cookie-keeping reqwest client is the browser.

use crate::admins::totp_code;
use crate::oidc::{RelyingParty, browser, hidden, http, jwt_claims, relying_party_of};
use crate::on_both_backends;
use crate::support::{Backend, Options, TestServer};
use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{AuthorizationCode, CsrfToken, Nonce, PkceCodeChallenge, TokenResponse};
use reqwest::redirect::Policy;
use serde_json::Value;
use tessera::web::routes;

const CB: &str = "https://app.example/cb";
const PASSWORD: &str = "carol's long password";
const AUD: &str = "https://ledger.api.example";

struct Fixture {
    server: TestServer,
    user_id: String,
    client_id: String,
    secret: String,
}

fn fixture(backend: Backend, opts: Options) -> Fixture {
    let server = TestServer::start_with(backend, opts);
    server.cli_json(&["api", "create", "--identifier", AUD, "--scopes", "read"]);
    let user = server.create_user("carol", PASSWORD, &[]);
    let c = server.cli_json(&[
        "client",
        "create",
        "--name",
        "Ledger",
        "--grant-types",
        "authorization_code,refresh_token,password",
        "--redirect-uri",
        CB,
        "--first-party",
    ]);
    Fixture {
        user_id: user["id"].as_str().unwrap().to_owned(),
        client_id: c["client_id"].as_str().unwrap().to_owned(),
        secret: c["client_secret"].as_str().unwrap().to_owned(),
        server,
    }
}

async fn relying_party(f: &Fixture) -> RelyingParty {
    relying_party_of(&f.server.base, &f.client_id, &f.secret, CB).await
}

/// A code flow: the hosted pages in `browser` until the redirect to the
/// application (`sign_in` drives them from the authorization URL to the
/// final Location), then the code exchanged and the ID token verified;
/// returns its `amr`.
async fn code_flow<F, Fut>(f: &Fixture, sign_in: F) -> Vec<String>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let rp = relying_party(f).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _state, nonce) = rp
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .set_pkce_challenge(challenge)
        .url();
    let location = sign_in(url.to_string()).await;
    assert!(location.starts_with(CB), "{location}");
    let code = url::Url::parse(&location).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let token = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .expect("code exchange");
    let claims = token.id_token().expect("ID token").claims(&rp.id_token_verifier(), &nonce).expect("verifies");
    claims.auth_method_refs().expect("amr").iter().map(|a| a.as_str().to_owned()).collect()
}

/// The login page `url` leads to, submitted with carol's password: the
/// answer as is (a 303 to resume, or the second stage's page).
async fn password_step(base: &str, browser: &reqwest::Client, url: &str) -> reqwest::Response {
    let page = browser.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200, "the login page");
    let login = page.text().await.unwrap();
    let form = [
        ("username", "carol".to_owned()),
        ("password", PASSWORD.to_owned()),
        ("csrf", hidden(&login, "csrf")),
        ("authorize", hidden(&login, "authorize")),
    ];
    browser.post(format!("{base}{}", routes::LOGIN)).form(&form).send().await.unwrap()
}

/// Posts `code` (and the enrolment's `secret`) on the second-stage page
/// `page` at `action`.
async fn submit_code(
    base: &str,
    browser: &reqwest::Client,
    action: &str,
    page: &str,
    code: &str,
    secret: Option<&str>,
) -> reqwest::Response {
    let mut form =
        vec![("csrf", hidden(page, "csrf")), ("authorize", hidden(page, "authorize")), ("code", code.to_owned())];
    if let Some(s) = secret {
        form.push(("secret", s.to_owned()));
    }
    browser.post(format!("{base}{action}")).form(&form).send().await.unwrap()
}

/// Follows a 303 back to the authorization endpoint to its redirect to the
/// application; that Location.
async fn resume(base: &str, browser: &reqwest::Client, answer: reqwest::Response) -> String {
    assert_eq!(answer.status(), 303, "resumes after the second factor");
    let next = answer.headers()["location"].to_str().unwrap().to_owned();
    let done = browser.get(format!("{base}{next}")).send().await.unwrap();
    assert_eq!(done.status(), 302);
    done.headers()["location"].to_str().unwrap().to_owned()
}

/// The "continue" link of the recovery codes page (askama escapes HTML).
fn continue_link(page: &str) -> String {
    let before = page.split("id=\"continue\"").next().unwrap();
    let raw = before.rsplit("href=\"").next().unwrap().split('"').next().unwrap();
    raw.replace("&#38;", "&").replace("&amp;", "&").replace("&#x2f;", "/").replace("&#47;", "/")
}

/// The texts of the `<code>` elements of a page (the recovery codes).
fn codes(page: &str) -> Vec<String> {
    page.split("<code>").skip(1).filter_map(|s| s.split_once("</code>").map(|(c, _)| c.to_owned())).collect()
}

/// The password grant's answer for carol.
async fn password_grant(f: &Fixture, password: &str) -> (u16, Value) {
    f.server
        .token_form(
            &f.client_id,
            &f.secret,
            &[("grant_type", "password"), ("username", "carol"), ("password", password), ("audience", AUD)],
        )
        .await
}

on_both_backends!(
    /// An administrator requires a second factor; the user enrols at the
    /// next sign-in (a wrong first code shows the same secret again), keeps
    /// the recovery codes, and each later sign-in takes a fresh code or an
    /// unused recovery code, never one used before. The ID tokens' `amr` is
    /// `pwd otp mfa`; the password grant refuses the user exactly as for a
    /// wrong password; a reset ends the sessions and asks for enrolment again.
    a_required_second_factor_is_enrolled_then_asked_at_each_sign_in,
    |backend| async move {
        let f = fixture(backend, Options::default());
        let base = f.server.base.clone();
        // Before: the password alone, `amr` pwd, and the password grant works.
        let base0 = base.clone();
        let plain = code_flow(&f, |url| async move {
            let b = browser();
            resume(&base0, &b, password_step(&base0, &b, &url).await).await
        })
        .await;
        assert_eq!(plain, ["pwd"]);
        let (status, body) = password_grant(&f, PASSWORD).await;
        assert_eq!(status, 200, "{body}");

        let status = f.server.cli_json(&["user", "second-factor", &f.user_id, "--require"]);
        assert_eq!((status["required"].as_bool(), status["enrolled_at"].is_null()), (Some(true), true), "{status}");

        // A sign-in left at the enrolment page in another browser...
        let stale = browser();
        let rp = relying_party(&f).await;
        let (stale_url, _, _) =
            rp.authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random).url();
        let stale_page = password_step(&f.server.base, &stale, stale_url.as_str()).await.text().await.unwrap();
        let stale_secret = hidden(&stale_page, "secret");

        // Enrolment at the next sign-in.
        let enrolled = browser();
        let secret = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let recovery = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (b, kept_secret, kept_codes) = (enrolled.clone(), secret.clone(), recovery.clone());
        let amr = code_flow(&f, |url| async move {
            let page = password_step(&base, &b, &url).await;
            assert_eq!(page.status(), 200, "the enrolment page, not a session");
            let page = page.text().await.unwrap();
            assert!(page.contains("otpauth://totp/"), "{page}");
            let shown = hidden(&page, "secret");
            let wrong = submit_code(&base, &b, routes::LOGIN_SECOND_FACTOR, &page, "000000", Some(&shown)).await;
            assert_eq!(wrong.status(), 401);
            let again = wrong.text().await.unwrap();
            assert_eq!(hidden(&again, "secret"), shown, "the same secret, shown again");
            let code = totp_code(&shown, 0);
            let done = submit_code(&base, &b, routes::LOGIN_SECOND_FACTOR, &again, &code, Some(&shown)).await;
            assert_eq!(done.status(), 200, "the recovery codes");
            let done = done.text().await.unwrap();
            let found = codes(&done);
            assert_eq!(found.len(), 10, "{done}");
            *kept_secret.lock().unwrap() = shown;
            *kept_codes.lock().unwrap() = found;
            let resumed = b.get(format!("{base}{}", continue_link(&done))).send().await.unwrap();
            assert_eq!(resumed.status(), 302, "signed in: back to the application");
            resumed.headers()["location"].to_str().unwrap().to_owned()
        })
        .await;
        assert_eq!(amr, ["pwd", "otp", "mfa"]);
        let secret = secret.lock().unwrap().clone();
        // ...cannot replace the factor enrolled meanwhile: back to the password.
        let late = submit_code(
            &f.server.base,
            &stale,
            routes::LOGIN_SECOND_FACTOR,
            &stale_page,
            &totp_code(&stale_secret, 0),
            Some(&stale_secret),
        )
        .await;
        assert_eq!(late.status(), 401);
        assert!(late.text().await.unwrap().contains("This sign-in expired"), "back to the password");
        let recovery = recovery.lock().unwrap().clone();
        let status = f.server.cli_json(&["user", "second-factor", &f.user_id]);
        assert_eq!((status["required"].as_bool(), status["recovery_codes_left"].as_i64()), (Some(false), Some(10)));
        assert!(status["enrolled_at"].is_i64(), "{status}");

        // A later sign-in: the enrolment's code again is refused, a fresh one taken.
        let base = f.server.base.clone();
        let (s2, b) = (secret.clone(), browser());
        let amr = code_flow(&f, |url| async move {
            let page = password_step(&base, &b, &url).await;
            assert_eq!(page.status(), 200, "the code page");
            let page = page.text().await.unwrap();
            assert!(page.contains("id=\"verify-code\""), "{page}");
            let replay = submit_code(&base, &b, routes::LOGIN_SECOND_FACTOR, &page, &totp_code(&s2, 0), None).await;
            assert_eq!(replay.status(), 401, "a code is used once");
            let page = replay.text().await.unwrap();
            let ok = submit_code(&base, &b, routes::LOGIN_SECOND_FACTOR, &page, &totp_code(&s2, 1), None).await;
            resume(&base, &b, ok).await
        })
        .await;
        assert_eq!(amr, ["pwd", "otp", "mfa"]);

        // A recovery code works once.
        let base = f.server.base.clone();
        let (r1, b) = (recovery[0].clone(), browser());
        code_flow(&f, |url| async move {
            let page = password_step(&base, &b, &url).await.text().await.unwrap();
            let ok = submit_code(&base, &b, routes::LOGIN_SECOND_FACTOR, &page, &r1, None).await;
            resume(&base, &b, ok).await
        })
        .await;
        let b = browser();
        let rp = relying_party(&f).await;
        let (url, _, _) =
            rp.authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random).url();
        let page = password_step(&f.server.base, &b, url.as_str()).await.text().await.unwrap();
        let used = submit_code(&f.server.base, &b, routes::LOGIN_SECOND_FACTOR, &page, &recovery[0], None).await;
        assert_eq!(used.status(), 401, "a recovery code is used once");

        // Without the waiting sign-in's cookie, a right code opens nothing.
        let page = used.text().await.unwrap();
        let stranger = reqwest::Client::builder().redirect(Policy::none()).build().unwrap();
        let csrf = hidden(&page, "csrf");
        let form = [("csrf", csrf.clone()), ("authorize", hidden(&page, "authorize")), ("code", recovery[1].clone())];
        let answer = stranger
            .post(format!("{}{}", f.server.base, routes::LOGIN_SECOND_FACTOR))
            .header("cookie", format!("tessera_csrf={csrf}"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401, "no waiting sign-in: back to the password");
        assert!(answer.headers().get("set-cookie").is_none_or(|c| !c.to_str().unwrap().contains("tessera_session=")));

        // The password grant cannot ask for the code: answered as a wrong password.
        let refused = password_grant(&f, PASSWORD).await;
        let wrong = password_grant(&f, "not carol's password").await;
        assert_eq!(refused, wrong, "the same answer: the grant tells nothing of the password");
        assert_eq!((refused.0, refused.1["error"].as_str()), (400, Some("invalid_grant")));

        // A reset: the sessions end and the next sign-in enrols again.
        let status = f.server.cli_json(&["user", "second-factor", &f.user_id, "--reset"]);
        assert_eq!((status["required"].as_bool(), status["recovery_codes_left"].as_i64()), (Some(true), Some(0)));
        assert!(status["enrolled_at"].is_null(), "{status}");
        let back = enrolled.get(url.as_str()).send().await.unwrap();
        assert_eq!(back.status(), 200, "the session ended: the login page");
        let page = password_step(&f.server.base, &browser(), url.as_str()).await.text().await.unwrap();
        assert!(page.contains("otpauth://totp/"), "enrols again:\n{page}");

        // No longer required (and none enrolled): the password alone again.
        f.server.cli_json(&["user", "second-factor", &f.user_id, "--require=false"]);
        assert_eq!(password_grant(&f, PASSWORD).await.0, 200);
        let text = f.server.cli(&["audit", "export"]);
        for action in ["user.second_factor.require", "user.second_factor.reset"] {
            assert!(text.contains(action), "{action} audited: {text}");
        }
    }
);

/// `[login] require_second_factor`: every user enrols, at the device page's
/// sign-in too, and the device's ID token says how (`amr`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_wide_requirement_holds_on_the_device_page() {
    use oauth2::basic::BasicClient;
    use oauth2::{DeviceAuthorizationUrl, Scope, TokenUrl};
    let opts =
        Options { env: vec![("TESSERA_LOGIN__REQUIRE_SECOND_FACTOR".into(), "true".into())], ..Options::default() };
    let f = fixture(Backend::Sqlite, opts);
    let grant = "urn:ietf:params:oauth:grant-type:device_code";
    let c = f.server.cli_json(&["client", "create", "--name", "TV", "--grant-types", grant]);
    let base = f.server.base.clone();
    let device = BasicClient::new(oauth2::ClientId::new(c["client_id"].as_str().unwrap().to_owned()))
        .set_client_secret(oauth2::ClientSecret::new(c["client_secret"].as_str().unwrap().to_owned()))
        .set_device_authorization_url(
            DeviceAuthorizationUrl::new(format!("{base}{}", routes::DEVICE_AUTHORIZATION)).unwrap(),
        )
        .set_token_uri(TokenUrl::new(format!("{base}{}", routes::TOKEN)).unwrap());
    let details: oauth2::StandardDeviceAuthorizationResponse = device
        .exchange_device_code()
        .add_scope(Scope::new("openid".into()))
        .request_async(&http())
        .await
        .expect("device authorization");

    // The password grant refuses everyone while the server requires a factor.
    assert_eq!(password_grant(&f, PASSWORD).await.1["error"], "invalid_grant");

    let b = browser();
    let complete = details.verification_uri_complete().unwrap().secret().clone();
    let login = b.get(&complete).send().await.unwrap().text().await.unwrap();
    let form = [
        ("username", "carol".to_owned()),
        ("password", PASSWORD.to_owned()),
        ("csrf", hidden(&login, "csrf")),
        ("authorize", hidden(&login, "authorize")),
    ];
    let page = b.post(format!("{base}{}", routes::DEVICE_LOGIN)).form(&form).send().await.unwrap();
    assert_eq!(page.status(), 200, "the enrolment page");
    let page = page.text().await.unwrap();
    assert!(page.contains(routes::DEVICE_LOGIN_SECOND_FACTOR), "posts to the device page's second stage:\n{page}");
    let secret = hidden(&page, "secret");
    let done =
        submit_code(&base, &b, routes::DEVICE_LOGIN_SECOND_FACTOR, &page, &totp_code(&secret, 0), Some(&secret)).await;
    let done = done.text().await.unwrap();
    let next = continue_link(&done);
    assert!(next.starts_with(routes::DEVICE), "{next}");
    let confirm = b.get(format!("{base}{next}")).send().await.unwrap().text().await.unwrap();
    let form = [
        ("csrf", hidden(&confirm, "csrf")),
        ("user_code", hidden(&confirm, "user_code")),
        ("decision", "allow".to_owned()),
    ];
    let approved = b.post(format!("{base}{}", routes::DEVICE)).form(&form).send().await.unwrap();
    assert_eq!(approved.status(), 200);

    // Approved already: the first poll gets the tokens, with an ID token
    // saying how the user signed in.
    let (client_id, client_secret) = (c["client_id"].as_str().unwrap(), c["client_secret"].as_str().unwrap());
    let (status, body) = f
        .server
        .token_form(client_id, client_secret, &[("grant_type", grant), ("device_code", details.device_code().secret())])
        .await;
    assert_eq!(status, 200, "{body}");
    let id_token = body["id_token"].as_str().expect("an ID token for openid");
    let payload = id_token.split('.').nth(1).unwrap();
    use base64::Engine as _;
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!((claims["aud"].as_str(), claims["sub"].as_str()), (Some(client_id), Some(f.user_id.as_str())));
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]), "{claims}");
}

/// OpenID Connect `acr_values` with the multi-factor policy (as Auth0 takes
/// it): a session signed in with the password alone steps up, enrolling a
/// factor on demand when the user has none; the ID token then says `acr`,
/// and the same `sid` and a later `auth_time` (the session gains the factor
/// in place); a step-up whose session signs out meanwhile expires and
/// signs nobody in; `prompt=none` cannot step up; discovery offers the
/// policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_asks_for_a_second_factor_with_acr_values() {
    use tessera_protocol::oidc::ACR_MFA;
    let f = fixture(Backend::Sqlite, Options::default());
    let base = f.server.base.clone();
    let doc: Value =
        reqwest::get(format!("{base}{}", routes::OPENID_CONFIGURATION)).await.unwrap().json().await.unwrap();
    assert_eq!(doc["acr_values_supported"], serde_json::json!([ACR_MFA]), "{doc}");

    // Signed in with the password alone: no acr.
    let b = browser();
    let (b1, base1) = (b.clone(), base.clone());
    let rp = relying_party(&f).await;
    let (url, _, nonce) =
        rp.authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random).url();
    let location = resume(&base1, &b1, password_step(&base1, &b1, url.as_str()).await).await;
    let code = url::Url::parse(&location).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let token = rp.exchange_code(AuthorizationCode::new(code)).unwrap().request_async(&http()).await.unwrap();
    let claims = token.id_token().unwrap().claims(&rp.id_token_verifier(), &nonce).unwrap();
    assert!(claims.auth_context_ref().is_none(), "no acr for a password alone");
    let first = jwt_claims(&token.id_token().unwrap().to_string());

    // prompt=none cannot step up.
    let (url, _, _) = rp
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_extra_param("acr_values", ACR_MFA)
        .add_prompt(openidconnect::core::CoreAuthPrompt::None)
        .url();
    let refused = b.get(url.as_str()).send().await.unwrap();
    let to = refused.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with(CB) && to.contains("error=login_required"), "{to}");

    // Another browser's session steps up, and signs out (RP-initiated
    // logout) before giving the code: the step-up went with the session.
    {
        let other = browser();
        let (url, _, _) =
            rp.authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random).url();
        let location = resume(&base, &other, password_step(&base, &other, url.as_str()).await).await;
        let code = url::Url::parse(&location).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
        let token = rp.exchange_code(AuthorizationCode::new(code)).unwrap().request_async(&http()).await.unwrap();
        let (url, _, _) = rp
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_extra_param("acr_values", ACR_MFA)
            .url();
        let page = other.get(url.as_str()).send().await.unwrap().text().await.unwrap();
        let secret = hidden(&page, "secret");
        let hint = token.id_token().unwrap().to_string();
        let out = other.get(format!("{base}{}?id_token_hint={hint}", routes::END_SESSION)).send().await.unwrap();
        assert_eq!(out.status(), 200, "signed out");
        let late =
            submit_code(&base, &other, routes::LOGIN_SECOND_FACTOR, &page, &totp_code(&secret, 0), Some(&secret)).await;
        assert!(
            late.headers().get_all("set-cookie").iter().all(|c| !c.to_str().unwrap().starts_with("tessera_session="))
        );
        assert!(late.text().await.unwrap().contains("This sign-in expired"), "the step-up ended with its session");
        let again = other.get(url.as_str()).send().await.unwrap();
        assert_eq!(again.status(), 200, "still signed out: the login page");
    }

    // The same session, asked for the multi-factor policy: enrolment on
    // demand (the user has no factor), then back with acr and amr.
    let amr = {
        let rp = relying_party(&f).await;
        let (url, _, nonce) = rp
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_extra_param("acr_values", format!("urn:example:unknown {ACR_MFA}"))
            .url();
        let page = b.get(url.as_str()).send().await.unwrap();
        assert_eq!(page.status(), 200, "the session steps up: no redirect yet");
        let page = page.text().await.unwrap();
        let secret = hidden(&page, "secret");
        let done =
            submit_code(&base, &b, routes::LOGIN_SECOND_FACTOR, &page, &totp_code(&secret, 0), Some(&secret)).await;
        let done = done.text().await.unwrap();
        let resumed = b.get(format!("{base}{}", continue_link(&done))).send().await.unwrap();
        assert_eq!(resumed.status(), 302, "back to the application");
        let location = resumed.headers()["location"].to_str().unwrap().to_owned();
        let code = url::Url::parse(&location).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
        let token = rp.exchange_code(AuthorizationCode::new(code)).unwrap().request_async(&http()).await.unwrap();
        let claims = token.id_token().unwrap().claims(&rp.id_token_verifier(), &nonce).unwrap();
        assert_eq!(claims.auth_context_ref().map(|a| a.as_str()), Some(ACR_MFA));
        let raw = jwt_claims(&token.id_token().unwrap().to_string());
        assert_eq!(raw["sid"], first["sid"], "the same session, stepped up in place");
        assert!(raw["auth_time"].as_i64() >= first["auth_time"].as_i64(), "{raw} after {first}");
        claims.auth_method_refs().unwrap().iter().map(|a| a.as_str().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(amr, ["pwd", "otp", "mfa"]);

    // Now that session satisfies the policy: straight back, no page.
    let (url, _, _) = rp
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_extra_param("acr_values", ACR_MFA)
        .url();
    let again = b.get(url.as_str()).send().await.unwrap();
    assert_eq!(again.status(), 302);
}
