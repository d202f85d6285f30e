//! Pushed authorization requests (RFC 9126) in process: the PAR endpoint
//! (201, client authentication, the authorization endpoint's rules), the
//! authorization endpoint by reference (the pushed parameters only, single
//! use, expiry, the pushing client only), clients that require PAR, PAR
//! turned off, discovery and the purge, on the set clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::harness::{CB, Harness, PASSWORD, TestClient, app, send, sign_in_and_authorize, token_request};
use crate::clock::Clock as _;
use crate::config::Config;
use crate::service::admin::{self, NewClient};
use crate::service::purge::Purger;
use crate::web::routes;
use actix_web::http::header;
use actix_web::test;
use serde_json::{Value, json};

/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

fn setup(tune: impl FnOnce(&mut Config)) -> (Harness, TestClient) {
    let h = Harness::new(tune);
    h.user("alice", PASSWORD);
    let client = h.client(&["authorization_code"]);
    (h, client)
}

/// A PAR request by `client` (HTTP Basic) with `form`.
fn push(client: &TestClient, form: &[(&str, &str)]) -> test::TestRequest {
    token_request(client, form).uri(routes::PAR)
}

/// The code + PKCE request the tests push, with state `pushed`.
fn code_request() -> Vec<(&'static str, &'static str)> {
    vec![
        ("response_type", "code"),
        ("redirect_uri", CB),
        ("scope", "openid"),
        ("state", "pushed"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
}

/// The authorization endpoint's query for a reference.
fn by_reference(client_id: &str, request_uri: &str) -> String {
    serde_urlencoded::to_string([("client_id", client_id), ("request_uri", request_uri)]).unwrap()
}

/// GET /authorize?query without a session: the status and the page's text.
macro_rules! authorize {
    ($app:expr, $query:expr) => {{
        let uri = format!("{}?{}", routes::AUTHORIZE, $query);
        let resp = test::call_service($app, test::TestRequest::get().uri(&uri).to_request()).await;
        let status = resp.status().as_u16();
        let location = resp.headers().get(header::LOCATION).map(|l| l.to_str().unwrap().to_owned());
        let text = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
        (status, location, text)
    }};
}

/// Pushes [`code_request`] for `client` and evaluates to the request_uri.
macro_rules! pushed {
    ($app:expr, $client:expr) => {{
        let (status, body) = send!($app, push($client, &code_request()));
        assert_eq!(status, 201, "{body}");
        body["request_uri"].as_str().unwrap().to_owned()
    }};
}

#[actix_web::test]
async fn a_pushed_request_authorizes_once_with_its_own_parameters() {
    let (h, c) = setup(|_| {});
    let app = app!(h);
    let resp = test::call_service(&app, push(&c, &code_request()).to_request()).await;
    assert_eq!(resp.status().as_u16(), 201, "RFC 9126 §2.2: 201 Created");
    assert_eq!(resp.headers().get(header::CACHE_CONTROL).unwrap(), "no-store");
    let body: Value = test::read_body_json(resp).await;
    assert_eq!(body["expires_in"], json!(60), "[par] lifetime_secs");
    let request_uri = body["request_uri"].as_str().unwrap().to_owned();
    assert!(request_uri.starts_with(PREFIX) && request_uri.len() > PREFIX.len() + 40, "{request_uri}");

    // A parameter the browser adds is ignored: only the pushed ones count.
    let query = format!("{}&state=forged", by_reference(&c.id, &request_uri));
    let params = sign_in_and_authorize!(&app, query.clone());
    assert_eq!(params["state"], "pushed");
    let form = [("grant_type", "authorization_code"), ("code", &params["code"]), ("redirect_uri", CB)];
    let (status, body) = send!(&app, token_request(&c, &form));
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "the pushed PKCE challenge binds");
    let params = {
        // The first response used the reference: it cannot start another.
        let (status, location, text) = authorize!(&app, &query);
        assert_eq!((status, location), (400, None), "a page, never a redirect: {text}");
        assert!(text.contains("invalid_request_uri"), "{text}");
        let again = pushed!(&app, &c);
        sign_in_and_authorize!(&app, by_reference(&c.id, &again))
    };
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &params["code"]),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
    ];
    let (status, body) = send!(&app, token_request(&c, &form));
    assert_eq!(status, 200, "{body}");
    assert!(body["id_token"].is_string(), "scope openid was pushed: {body}");
}

#[actix_web::test]
async fn an_expired_or_unknown_reference_or_another_clients_is_refused_on_a_page() {
    let (h, c) = setup(|_| {});
    let other = h.client(&["authorization_code"]);
    let app = app!(h);
    let request_uri = pushed!(&app, &c);
    for (query, why) in [
        (by_reference(&other.id, &request_uri), "another client's"),
        (by_reference(&c.id, &format!("{PREFIX}unknown")), "unknown"),
        (format!("request_uri={request_uri}"), "without client_id"),
    ] {
        let (status, location, text) = authorize!(&app, &query);
        assert_eq!((status, location), (400, None), "{why}: {text}");
    }
    h.clock.advance(60);
    let (status, _, text) = authorize!(&app, by_reference(&c.id, &request_uri));
    assert_eq!(status, 400, "expired at expires_in");
    assert!(text.contains("invalid_request_uri"), "{text}");

    // Opened in time, it is held for the sign-in past its expires_in.
    let request_uri = pushed!(&app, &c);
    h.clock.advance(59);
    let (status, _, text) = authorize!(&app, by_reference(&c.id, &request_uri));
    assert_eq!(status, 200, "the login form: {text}");
    h.clock.advance(300);
    let params = sign_in_and_authorize!(&app, by_reference(&c.id, &request_uri));
    assert_eq!(params["state"], "pushed");

    // The purge deletes expired requests and no others.
    let purger = Purger::new(&Config::default());
    let live = pushed!(&app, &c);
    let purged = purger.run_once(h.store(), h.clock.now()).unwrap();
    assert_eq!(purged.pushed_requests, 1, "the first one, expired unopened; the used one is held until its end");
    let (status, _, _) = authorize!(&app, by_reference(&c.id, &live));
    assert_eq!(status, 200, "the live one stays");
}

#[actix_web::test]
async fn the_par_endpoint_authenticates_the_client_and_applies_the_authorization_rules() {
    let (h, c) = setup(|_| {});
    let app = app!(h);
    let wrong = TestClient { id: c.id.clone(), secret: "wrong".into() };
    let (status, body) = send!(&app, push(&wrong, &code_request()));
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    let mut bad = code_request();
    bad[1] = ("redirect_uri", "https://evil.example/cb");
    let (status, body) = send!(&app, push(&c, &bad));
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    let mut nested = code_request();
    nested.push(("request_uri", "urn:ietf:params:oauth:request_uri:x"));
    let (status, body) = send!(&app, push(&c, &nested));
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    let resp = test::call_service(&app, test::TestRequest::get().uri(routes::PAR).to_request()).await;
    assert_eq!(resp.status().as_u16(), 405);

    // A public client pushes by client_id, and needs PKCE there too.
    let new = NewClient {
        name: "spa".into(),
        public: true,
        grant_types: vec!["authorization_code".into()],
        redirect_uris: vec![CB.into()],
        metadata: json!({}),
        first_party: true,
        ..NewClient::default()
    };
    let (spa, _) = admin::create_client(h.store(), "test", h.clock.now(), new).unwrap();
    let public_push = |form: &[(&str, &str)]| {
        let mut all = vec![("client_id", spa.id.as_str())];
        all.extend_from_slice(form);
        test::TestRequest::post()
            .uri(routes::PAR)
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .set_payload(serde_urlencoded::to_string(all).unwrap())
    };
    let (status, body) = send!(&app, public_push(&code_request()[..4]));
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "no PKCE: {body}");
    let (status, body) = send!(&app, public_push(&code_request()));
    assert_eq!(status, 201, "{body}");
}

#[actix_web::test]
async fn a_client_that_requires_par_is_refused_without_it() {
    let (h, c) = setup(|_| {});
    let settings = |require: bool| NewClient {
        name: "app".into(),
        grant_types: vec!["authorization_code".into()],
        redirect_uris: vec![CB.into()],
        metadata: json!({}),
        first_party: true,
        require_pushed_authorization_requests: require,
        ..NewClient::default()
    };
    admin::update_client(h.store(), "test", h.clock.now(), &c.id, settings(true)).unwrap();
    let app = app!(h);
    let direct: String =
        serde_urlencoded::to_string([vec![("client_id", c.id.as_str())], code_request()].concat()).unwrap();
    let (status, location, _) = authorize!(&app, &direct);
    assert_eq!(status, 302, "the redirect URI is valid: the error goes back to the client");
    let location = location.unwrap();
    assert!(location.starts_with(CB) && location.contains("error=invalid_request"), "{location}");
    assert!(location.contains("state=pushed"), "{location}");
    let request_uri = pushed!(&app, &c);
    let params = sign_in_and_authorize!(&app, by_reference(&c.id, &request_uri));
    assert!(params.contains_key("code"), "{params:?}");

    admin::update_client(h.store(), "test", h.clock.now(), &c.id, settings(false)).unwrap();
    let (status, _, text) = authorize!(&app, &direct);
    assert_eq!(status, 200, "not required any more: the login form: {text}");
}

#[actix_web::test]
async fn discovery_lists_par_exactly_when_enabled() {
    for enabled in [true, false] {
        let (h, c) = setup(|cfg| cfg.par.enabled = enabled);
        let app = app!(h);
        let (_, doc) = send!(&app, test::TestRequest::get().uri(routes::OPENID_CONFIGURATION));
        let endpoint = format!("{}{}", super::harness::ISSUER, routes::PAR);
        if enabled {
            assert_eq!(doc["pushed_authorization_request_endpoint"], json!(endpoint));
            assert_eq!(doc["require_pushed_authorization_requests"], json!(false));
        } else {
            assert!(doc.get("pushed_authorization_request_endpoint").is_none(), "{doc}");
            assert!(doc.get("require_pushed_authorization_requests").is_none(), "{doc}");
            let (status, _) = send!(&app, push(&c, &code_request()));
            assert_eq!(status, 404, "off: not there");
            let (status, _, text) = authorize!(&app, by_reference(&c.id, &format!("{PREFIX}x")));
            assert_eq!(status, 400, "{text}");
            assert!(text.contains("invalid_request_uri"), "{text}");
        }
    }
}
