//! Rate limits in process (issue #16 item 4): each limited endpoint answers
//! 429 with `Retry-After` and its surface's body once over its limit, per
//! address (the middleware `web::servers` mounts) and per client (in the
//! handlers); `X-Forwarded-For` counts only from a trusted proxy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::harness::{AUD, Harness, TestClient, token_request};
use crate::config::{Config, RateLimit};
use crate::service::rate_limit::{Class, Scope};
use crate::web::{rate_limit, routes};
use actix_web::dev::ServiceResponse;
use actix_web::http::header;
use actix_web::{App, middleware::from_fn, test};
use serde_json::Value;

const ONE_A_MINUTE: RateLimit = RateLimit { per_minute: 1, burst: 1 };
const OFF: RateLimit = RateLimit { per_minute: 0, burst: 0 };

/// The public routes behind the rate-limit middleware, as `web::servers`
/// mounts them (the snapshot synced first, as `app!` does).
macro_rules! limited_app {
    ($h:expr) => {
        test::init_service(
            App::new()
                .app_data($h.state.clone())
                .wrap(from_fn(rate_limit::middleware))
                .wrap(from_fn(super::harness::sync_first))
                .configure(crate::web::public_routes),
        )
        .await
    };
}

fn from(req: test::TestRequest, addr: &str) -> test::TestRequest {
    req.peer_addr(format!("{addr}:40000").parse().unwrap())
}

fn header_of<B>(resp: &ServiceResponse<B>, name: header::HeaderName) -> Option<String> {
    resp.headers().get(name).map(|v| v.to_str().unwrap().to_owned())
}

/// Asserts the 429 of an OAuth endpoint and returns its Retry-After.
async fn assert_oauth_429<B: actix_web::body::MessageBody>(resp: ServiceResponse<B>) -> u64 {
    assert_eq!(resp.status(), 429);
    assert_eq!(header_of(&resp, header::CACHE_CONTROL).as_deref(), Some("no-store"));
    assert!(header_of(&resp, header::CONTENT_TYPE).unwrap().starts_with("application/json"));
    let retry: u64 = header_of(&resp, header::RETRY_AFTER).expect("Retry-After").parse().unwrap();
    let body: Value = serde_json::from_slice(&test::read_body(resp).await).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    retry
}

/// Asserts the 429 of a page and returns its Retry-After.
async fn assert_page_429<B: actix_web::body::MessageBody>(resp: ServiceResponse<B>) -> u64 {
    assert_eq!(resp.status(), 429);
    assert!(header_of(&resp, header::CONTENT_TYPE).unwrap().starts_with("text/html"));
    let retry: u64 = header_of(&resp, header::RETRY_AFTER).expect("Retry-After").parse().unwrap();
    let text = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
    assert!(text.contains("Too many requests"), "{text}");
    retry
}

fn harness(tune: impl FnOnce(&mut Config)) -> (Harness, TestClient) {
    let h = Harness::new(tune);
    h.api();
    let client =
        h.client(&["client_credentials", "authorization_code", "urn:ietf:params:oauth:grant-type:device_code"]);
    (h, client)
}

fn client_credentials(client: &TestClient) -> test::TestRequest {
    token_request(client, &[("grant_type", "client_credentials"), ("audience", AUD)])
}

/// Every limited endpoint, per address: the first request goes through, the
/// second from the same address is refused with its surface's 429, and
/// another address is not affected.
#[actix_web::test]
async fn each_endpoint_refuses_an_address_over_its_limit() {
    let (h, client) = harness(|c| {
        let r = &mut c.rate_limits;
        r.token.per_address = ONE_A_MINUTE;
        r.par.per_address = ONE_A_MINUTE;
        r.device.per_address = ONE_A_MINUTE;
        r.authorize.per_address = ONE_A_MINUTE;
        r.login.per_address = ONE_A_MINUTE;
    });
    let app = limited_app!(h);
    let device_start =
        || token_request(&client, &[("scope", "openid"), ("audience", AUD)]).uri(routes::DEVICE_AUTHORIZATION);
    let par = || token_request(&client, &[("response_type", "code")]).uri(routes::PAR);
    let oauth: [(&str, &dyn Fn() -> test::TestRequest); 3] =
        [("token", &|| client_credentials(&client)), ("device authorization", &device_start), ("par", &par)];
    for (i, (name, req)) in oauth.iter().enumerate() {
        let addr = format!("192.0.2.{}", 10 + i);
        let first = test::call_service(&app, from(req(), &addr).to_request()).await;
        assert_ne!(first.status(), 429, "{name}: the first request");
        let second = test::call_service(&app, from(req(), &addr).to_request()).await;
        assert_eq!(assert_oauth_429(second).await, 60, "{name}: one a minute");
        let other = test::call_service(&app, from(req(), "198.51.100.1").to_request()).await;
        assert_ne!(other.status(), 429, "{name}: another address");
    }
    let form = |uri: &str| {
        test::TestRequest::post()
            .uri(uri)
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .set_payload("username=alice&password=x&csrf=x")
    };
    let pages: [(&str, &dyn Fn() -> test::TestRequest); 4] = [
        ("authorize", &|| test::TestRequest::get().uri(&format!("{}?client_id=x", routes::AUTHORIZE))),
        ("login", &|| form(routes::LOGIN)),
        ("device page", &|| test::TestRequest::get().uri(routes::DEVICE)),
        ("device login", &|| form(routes::DEVICE_LOGIN)),
    ];
    for (i, (name, req)) in pages.iter().enumerate() {
        let addr = format!("192.0.2.{}", 20 + i);
        let first = test::call_service(&app, from(req(), &addr).to_request()).await;
        assert_ne!(first.status(), 429, "{name}: the first request");
        let second = test::call_service(&app, from(req(), &addr).to_request()).await;
        assert_eq!(assert_page_429(second).await, 60, "{name}");
    }
    // The sign-in forms share one limit; the device page has its own.
    let resp = test::call_service(&app, from(form(routes::LOGIN), "192.0.2.23").to_request()).await;
    assert_eq!(resp.status(), 429, "/device/login used the address's sign-in allowance");
    assert_eq!(h.state.rate_limits.refusals(Class::Login, Scope::Address), 3);
    assert_eq!(h.state.rate_limits.refusals(Class::Token, Scope::Address), 1);
    // Each 429 above counted once, in one class and scope (the metrics' figures).
    let limits = &h.state.rate_limits;
    let all: u64 = Class::ALL.iter().flat_map(|c| Scope::ALL.map(|s| limits.refusals(*c, s))).sum();
    assert_eq!(all, 8);
    // Unlimited paths are not counted.
    for _ in 0..3 {
        let resp =
            test::call_service(&app, from(test::TestRequest::get().uri(routes::JWKS), "192.0.2.10").to_request()).await;
        assert_eq!(resp.status(), 200);
    }
}

/// Per client: the client id counts whatever the address (and before its
/// secret is checked); another client is not affected.
#[actix_web::test]
async fn a_client_over_its_limit_is_refused_from_any_address() {
    let (h, client) = harness(|c| {
        c.rate_limits.token.per_address = OFF;
        c.rate_limits.token.per_client = RateLimit { per_minute: 60, burst: 2 };
        c.rate_limits.par.per_client = ONE_A_MINUTE;
        c.rate_limits.device.per_client = ONE_A_MINUTE;
    });
    let other = h.client(&["client_credentials"]);
    let app = limited_app!(h);
    assert_eq!(
        test::call_service(&app, from(client_credentials(&client), "192.0.2.1").to_request()).await.status(),
        200
    );
    let wrong = TestClient { id: client.id.clone(), secret: "wrong".into() };
    assert_eq!(
        test::call_service(&app, from(client_credentials(&wrong), "192.0.2.2").to_request()).await.status(),
        401
    );
    let resp = test::call_service(&app, from(client_credentials(&client), "192.0.2.3").to_request()).await;
    assert_eq!(assert_oauth_429(resp).await, 1, "one a second");
    // The client id in the form counts as the Basic one does.
    let post = test::TestRequest::post()
        .uri(routes::TOKEN)
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload(format!("grant_type=client_credentials&client_id={}&client_secret=x", client.id));
    assert_oauth_429(test::call_service(&app, from(post, "192.0.2.4").to_request()).await).await;
    assert_eq!(
        test::call_service(&app, from(client_credentials(&other), "192.0.2.3").to_request()).await.status(),
        200
    );
    assert_eq!(h.state.rate_limits.refusals(Class::Token, Scope::Client), 2);

    for uri in [routes::PAR, routes::DEVICE_AUTHORIZATION] {
        let req = || token_request(&client, &[("response_type", "code"), ("scope", "openid")]).uri(uri);
        assert_ne!(test::call_service(&app, from(req(), "192.0.2.5").to_request()).await.status(), 429, "{uri}");
        assert_eq!(assert_oauth_429(test::call_service(&app, from(req(), "192.0.2.6").to_request()).await).await, 60);
    }
}

/// `X-Forwarded-For` names the address only when the peer is a trusted
/// proxy: behind one, two clients are counted apart; from anyone else the
/// header is ignored, so changing it does not escape the limit.
#[actix_web::test]
async fn forwarded_for_counts_only_from_trusted_proxies() {
    let (h, _) = harness(|c| {
        c.rate_limits.authorize.per_address = ONE_A_MINUTE;
        c.trusted_proxies = vec!["10.0.0.0/8".into()];
    });
    let app = limited_app!(h);
    let get = |xff: &str, peer: &str| {
        from(test::TestRequest::get().uri(routes::AUTHORIZE).insert_header(("X-Forwarded-For", xff.to_owned())), peer)
            .to_request()
    };
    assert_ne!(test::call_service(&app, get("198.51.100.1", "10.0.0.1")).await.status(), 429);
    assert_ne!(test::call_service(&app, get("198.51.100.2", "10.0.0.1")).await.status(), 429, "another client");
    assert_page_429(test::call_service(&app, get("198.51.100.1", "10.0.0.2")).await).await;
    // A forged left-hand hop does not make a new client.
    assert_page_429(test::call_service(&app, get("203.0.113.7, 198.51.100.2", "10.0.0.1")).await).await;

    assert_ne!(test::call_service(&app, get("198.51.100.3", "192.0.2.50")).await.status(), 429);
    assert_page_429(test::call_service(&app, get("198.51.100.4", "192.0.2.50")).await).await;
}
