//! The device authorization grant (RFC 8628) in process: the device
//! endpoint, the user's page (sign in, confirm, CSRF), and every answer of
//! a poll (§3.5), with the set clock standing in for the device's waits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::harness::{AUD, Harness, PASSWORD, TestClient, app, claims, send, token_request};
use crate::clock::Clock as _;
use crate::config::Config;
use crate::service::purge::Purger;
use crate::web::browser::{CSRF_COOKIE, SESSION_COOKIE};
use crate::web::routes;
use actix_web::cookie::Cookie;
use actix_web::http::header;
use actix_web::test;
use serde_json::Value;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A device request by `client` for `openid read` at [`AUD`].
fn start(client: &TestClient) -> test::TestRequest {
    token_request(client, &[("scope", "openid read"), ("audience", AUD)]).uri(routes::DEVICE_AUTHORIZATION)
}

fn poll(client: &TestClient, device_code: &str) -> test::TestRequest {
    token_request(client, &[("grant_type", GRANT), ("device_code", device_code)])
}

fn form_post(uri: &str, form: &[(&str, &str)]) -> test::TestRequest {
    test::TestRequest::post()
        .uri(uri)
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload(serde_urlencoded::to_string(form).unwrap())
}

fn cookie<B>(resp: &actix_web::dev::ServiceResponse<B>, name: &str) -> String {
    resp.response().cookies().find(|c| c.name() == name).map(|c| c.value().to_owned()).unwrap()
}

async fn body_text<B: actix_web::body::MessageBody>(resp: actix_web::dev::ServiceResponse<B>) -> String {
    String::from_utf8(test::read_body(resp).await.to_vec()).unwrap()
}

/// Signs alice in on the device page for `user_code`, then answers the
/// confirmation with `decision`; evaluates to the confirmation page's text
/// and the final page's status and text.
macro_rules! approve {
    ($app:expr, $user_code:expr, $decision:expr) => {{
        let code: &str = $user_code;
        let page = format!("{}?user_code={code}", routes::DEVICE);
        let login = test::call_service($app, test::TestRequest::get().uri(&page).to_request()).await;
        assert_eq!(login.status().as_u16(), 200, "not signed in: the login form");
        let csrf = cookie(&login, CSRF_COOKIE);
        let text = body_text(login).await;
        assert!(text.contains(&format!("action=\"{}\"", routes::DEVICE_LOGIN)), "{text}");
        let query = hidden_authorize(&text);
        assert!(query.starts_with(&format!("user_code={code}&client_id=")), "{query}");
        let form = [("username", "alice"), ("password", PASSWORD), ("csrf", &csrf), ("authorize", &query)];
        let signed_in = test::call_service(
            $app,
            form_post(routes::DEVICE_LOGIN, &form).cookie(Cookie::new(CSRF_COOKIE, csrf.clone())).to_request(),
        )
        .await;
        assert_eq!(signed_in.status().as_u16(), 303, "signed in");
        let location = signed_in.headers().get(header::LOCATION).unwrap().to_str().unwrap().to_owned();
        assert_eq!(location, format!("{}?{query}", routes::DEVICE), "back to the device page with the code");
        let session = cookie(&signed_in, SESSION_COOKIE);
        let confirm = test::call_service(
            $app,
            test::TestRequest::get().uri(&page).cookie(Cookie::new(SESSION_COOKIE, session.clone())).to_request(),
        )
        .await;
        assert_eq!(confirm.status().as_u16(), 200);
        let csrf = cookie(&confirm, CSRF_COOKIE);
        let confirm_text = body_text(confirm).await;
        let decision = [("csrf", csrf.as_str()), ("user_code", code), ("decision", $decision)];
        let done = test::call_service(
            $app,
            form_post(routes::DEVICE, &decision)
                .cookie(Cookie::new(CSRF_COOKIE, csrf.clone()))
                .cookie(Cookie::new(SESSION_COOKIE, session))
                .to_request(),
        )
        .await;
        let status = done.status().as_u16();
        (confirm_text, status, body_text(done).await)
    }};
}

/// The `authorize` field of the login form (the query to resume).
fn hidden_authorize(page: &str) -> String {
    let marker = "name=\"authorize\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    page[start..start + page[start..].find('"').unwrap()].replace("&#38;", "&").replace("&amp;", "&")
}

/// A failed sign-in on the device page shows the form again for the same
/// client and code.
#[actix_web::test]
async fn a_failed_sign_in_on_the_device_page_names_the_client_again() {
    let (h, client) = harness();
    let app = app!(h);
    let (_, started) = send!(&app, start(&client));
    let page = format!("{}?user_code={}", routes::DEVICE, str_of(&started, "user_code"));
    let login = test::call_service(&app, test::TestRequest::get().uri(&page).to_request()).await;
    let csrf = cookie(&login, CSRF_COOKIE);
    let query = hidden_authorize(&body_text(login).await);
    let form = [("username", "alice"), ("password", "wrong"), ("csrf", &csrf), ("authorize", &query)];
    let failed = test::call_service(
        &app,
        form_post(routes::DEVICE_LOGIN, &form).cookie(Cookie::new(CSRF_COOKIE, csrf.clone())).to_request(),
    )
    .await;
    assert_eq!(failed.status().as_u16(), 401);
    let text = body_text(failed).await;
    assert!(text.contains("<strong>app</strong>"), "{text}");
    assert_eq!(hidden_authorize(&text), query);
}

fn harness() -> (Harness, TestClient) {
    let h = Harness::new(|_| {});
    h.api();
    h.user("alice", PASSWORD);
    let client = h.client(&[GRANT, "refresh_token"]);
    (h, client)
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("{k} missing in {v}"))
}

#[actix_web::test]
async fn approved_device_gets_tokens_once_for_the_approving_user() {
    let (h, client) = harness();
    let app = app!(h);
    let (status, started) = send!(&app, start(&client));
    assert_eq!(status, 200, "{started}");
    let user_code = str_of(&started, "user_code").to_owned();
    assert_eq!((user_code.len(), &user_code[4..5]), (9, "-"));
    assert_eq!(str_of(&started, "verification_uri"), format!("http://tessera.test{}", routes::DEVICE));
    assert_eq!(
        str_of(&started, "verification_uri_complete"),
        format!("http://tessera.test{}?user_code={user_code}", routes::DEVICE)
    );
    assert_eq!((started["expires_in"].as_i64(), started["interval"].as_i64()), (Some(600), Some(5)));
    let device_code = str_of(&started, "device_code").to_owned();
    assert_eq!(device_code.len(), 43, "256 bits, base64url");

    let (status, body) = send!(&app, poll(&client, &device_code));
    assert_eq!((status, str_of(&body, "error")), (400, "authorization_pending"));

    // Typed in lower case without the dash: the same code.
    let typed = user_code.replace('-', "").to_lowercase();
    let (confirm, status, done) = approve!(&app, &typed, "allow");
    for shown in ["app", &user_code, AUD, "read", "openid", "alice"] {
        assert!(confirm.contains(shown), "confirmation names {shown}: {confirm}");
    }
    assert_eq!(status, 200, "{done}");
    assert!(done.contains("device-approved"), "{done}");

    h.clock.advance(5);
    let (status, body) = send!(&app, poll(&client, &device_code));
    assert_eq!(status, 200, "{body}");
    let access = claims(str_of(&body, "access_token"));
    let alice = tessera_store::users::find_by_username(&mut h.store().conn().unwrap(), "alice").unwrap().unwrap();
    assert_eq!((access["sub"].as_str(), access["aud"].as_str()), (Some(alice.id.as_str()), Some(AUD)));
    assert_eq!(
        (access["scope"].as_str(), access["client_id"].as_str()),
        (Some("openid read"), Some(client.id.as_str()))
    );
    let id = claims(str_of(&body, "id_token"));
    assert_eq!(id["sub"].as_str(), Some(alice.id.as_str()));
    let refresh_token = str_of(&body, "refresh_token").to_owned();

    // Single use: the device code is spent.
    h.clock.advance(5);
    let (status, body) = send!(&app, poll(&client, &device_code));
    assert_eq!((status, str_of(&body, "error")), (400, "invalid_grant"));

    // The refresh token works like any other, for the same user.
    let (status, body) =
        send!(&app, token_request(&client, &[("grant_type", "refresh_token"), ("refresh_token", &refresh_token)]));
    assert_eq!(status, 200, "{body}");
    assert_eq!(claims(str_of(&body, "access_token"))["sub"].as_str(), Some(alice.id.as_str()));

    // A decided code is no longer one a user can enter.
    let page = format!("{}?user_code={user_code}", routes::DEVICE);
    let again = test::call_service(&app, test::TestRequest::get().uri(&page).to_request()).await;
    assert_eq!(again.status().as_u16(), 400);
}

#[actix_web::test]
async fn polling_faster_than_the_interval_is_slow_down_and_the_interval_grows_by_five() {
    let (h, client) = harness();
    let app = app!(h);
    let (_, started) = send!(&app, start(&client));
    let device_code = str_of(&started, "device_code").to_owned();
    let error = |b: &Value| str_of(b, "error").to_owned();
    let (_, body) = send!(&app, poll(&client, &device_code));
    assert_eq!(error(&body), "authorization_pending");
    h.clock.advance(2);
    let (status, body) = send!(&app, poll(&client, &device_code));
    assert_eq!((status, error(&body)), (400, "slow_down".to_owned()));
    // The interval is 10 s now: 5 s after the last poll is still too fast.
    h.clock.advance(5);
    let (_, body) = send!(&app, poll(&client, &device_code));
    assert_eq!(error(&body), "slow_down", "interval raised to 10, then 15");
    h.clock.advance(15);
    let (_, body) = send!(&app, poll(&client, &device_code));
    assert_eq!(error(&body), "authorization_pending");
}

#[actix_web::test]
async fn an_expired_device_code_is_expired_token_and_its_user_code_is_refused() {
    let (h, client) = harness();
    let app = app!(h);
    let (_, started) = send!(&app, start(&client));
    h.clock.advance(600);
    let (status, body) = send!(&app, poll(&client, str_of(&started, "device_code")));
    assert_eq!((status, str_of(&body, "error")), (400, "expired_token"));
    let page = format!("{}?user_code={}", routes::DEVICE, str_of(&started, "user_code"));
    let resp = test::call_service(&app, test::TestRequest::get().uri(&page).to_request()).await;
    assert_eq!(resp.status().as_u16(), 400);
    assert!(body_text(resp).await.contains("device-error"));

    // The purge deletes it once expired, and only then.
    let purger = Purger::new(&Config::default());
    let at_expiry = purger.run_once(h.store(), h.clock.now()).unwrap();
    assert_eq!(at_expiry.device_codes, 0, "kept up to its expiry instant");
    assert_eq!(purger.run_once(h.store(), h.clock.now() + 1).unwrap().device_codes, 1);
    let (_, body) = send!(&app, poll(&client, str_of(&started, "device_code")));
    assert_eq!(str_of(&body, "error"), "invalid_grant", "a purged code is unknown");
}

#[actix_web::test]
async fn a_denied_request_is_access_denied_at_every_poll() {
    let (h, client) = harness();
    let app = app!(h);
    let (_, started) = send!(&app, start(&client));
    let (_, status, done) = approve!(&app, str_of(&started, "user_code"), "deny");
    assert_eq!(status, 200);
    assert!(done.contains("device-denied"), "{done}");
    for _ in 0..2 {
        let (status, body) = send!(&app, poll(&client, str_of(&started, "device_code")));
        assert_eq!(str_of(&body, "error"), "access_denied");
        assert_eq!(status, 400, "RFC 8628 §3.5 and RFC 6749 §5.2: a token-endpoint error, not 403");
        h.clock.advance(5);
    }
}

#[actix_web::test]
async fn another_client_polling_with_the_device_code_gets_invalid_grant_and_the_owner_still_can() {
    let (h, client) = harness();
    let other = h.client(&[GRANT]);
    let app = app!(h);
    let (_, started) = send!(&app, start(&client));
    let device_code = str_of(&started, "device_code").to_owned();
    let (_, status, _) = approve!(&app, str_of(&started, "user_code"), "allow");
    assert_eq!(status, 200);
    let (status, body) = send!(&app, poll(&other, &device_code));
    assert_eq!((status, str_of(&body, "error")), (400, "invalid_grant"));
    let (status, body) = send!(&app, poll(&client, &device_code));
    assert_eq!(status, 200, "{body}");
}

#[actix_web::test]
async fn clients_without_the_device_grant_cannot_start_or_poll() {
    let (h, _) = harness();
    let web = h.client(&["authorization_code"]);
    let app = app!(h);
    let (status, body) = send!(&app, start(&web));
    assert_eq!((status, str_of(&body, "error")), (400, "unauthorized_client"));
    let (status, body) = send!(&app, poll(&web, "whatever"));
    assert_eq!((status, str_of(&body, "error")), (400, "unauthorized_client"));
}

#[actix_web::test]
async fn wrong_user_codes_are_throttled_per_address() {
    let (h, _) = harness();
    let app = app!(h);
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let page = format!("{}?user_code=BCDF-GHJK", routes::DEVICE);
        let resp = test::call_service(&app, test::TestRequest::get().uri(&page).to_request()).await;
        statuses.push(resp.status().as_u16());
        if resp.status().as_u16() == 429 {
            assert!(resp.headers().get(header::RETRY_AFTER).is_some());
            assert!(body_text(resp).await.contains("Too many wrong codes"));
        }
    }
    // [login] max_failures (10) wrong codes: the tenth locks the address.
    assert_eq!(statuses, [400, 400, 400, 400, 400, 400, 400, 400, 400, 429, 429, 429]);
}

#[actix_web::test]
async fn the_confirmation_needs_its_csrf_token() {
    let (h, client) = harness();
    let app = app!(h);
    let (_, started) = send!(&app, start(&client));
    let form = [("csrf", "forged"), ("user_code", str_of(&started, "user_code")), ("decision", "allow")];
    let resp = test::call_service(
        &app,
        form_post(routes::DEVICE, &form).cookie(Cookie::new(CSRF_COOKIE, "other")).to_request(),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 403);
    let (_, body) = send!(&app, poll(&client, str_of(&started, "device_code")));
    assert_eq!(str_of(&body, "error"), "authorization_pending", "nothing was decided");
}

#[actix_web::test]
async fn discovery_lists_the_device_endpoint_and_grant() {
    let (h, _) = harness();
    let app = app!(h);
    let (status, doc) = send!(&app, test::TestRequest::get().uri(routes::OPENID_CONFIGURATION));
    assert_eq!(status, 200);
    assert_eq!(
        doc["device_authorization_endpoint"].as_str(),
        Some(format!("http://tessera.test{}", routes::DEVICE_AUTHORIZATION).as_str())
    );
    assert!(doc["grant_types_supported"].as_array().unwrap().iter().any(|g| g == GRANT));
}
