//! Revocable access tokens in process (issue #15 item 1): revocation
//! (RFC 7009) of an access token, a replayed code (RFC 6749 §4.1.2), a
//! reused refresh token, and a disabled client or user make the access
//! tokens they cover inactive at introspection and refused at userinfo;
//! revocations are purged once the set clock passes their tokens' expiry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::harness::{CB, Harness, PASSWORD, TestClient, app, claims, code_for, send, token_request};
use crate::clock::Clock as _;
use crate::config::Config;
use crate::service::admin::{self, NewClient};
use crate::service::purge::Purger;
use crate::web::routes;
use actix_web::http::header;
use actix_web::test;
use serde_json::json;

fn setup() -> (Harness, TestClient) {
    let h = Harness::new(|_| {});
    h.user("alice", PASSWORD);
    let client = h.client(&["authorization_code", "refresh_token"]);
    (h, client)
}

fn redeem(code: &str) -> [(&str, &str); 3] {
    [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", CB)]
}

/// The userinfo status and `WWW-Authenticate` for a bearer token.
macro_rules! userinfo {
    ($app:expr, $token:expr) => {{
        let req = test::TestRequest::get()
            .uri(routes::USERINFO)
            .insert_header((header::AUTHORIZATION, format!("Bearer {}", $token)));
        let resp = test::call_service($app, req.to_request()).await;
        let www = resp.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned());
        (resp.status().as_u16(), www.unwrap_or_default())
    }};
}

/// `active` at introspection, asked by `client`.
macro_rules! active {
    ($app:expr, $client:expr, $token:expr) => {{
        let (status, body) = send!($app, token_request($client, &[("token", $token)]).uri(routes::INTROSPECT));
        assert_eq!(status, 200, "{body}");
        body["active"].clone()
    }};
}

fn revocation_rows(h: &Harness) -> i64 {
    use diesel::prelude::*;
    use tessera_store::schema::revocations;
    revocations::table.count().get_result(&mut *h.store().conn().unwrap()).unwrap()
}

#[actix_web::test]
async fn a_revoked_access_token_is_inactive_refused_at_userinfo_and_purged_once_expired() {
    let (h, c) = setup();
    let other = h.client(&["client_credentials"]);
    let app = app!(h);
    let code = code_for!(&app, c);
    let (status, body) = send!(&app, token_request(&c, &redeem(&code)));
    assert_eq!(status, 200, "{body}");
    let at = body["access_token"].as_str().unwrap().to_owned();
    let rt = body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo!(&app, &at).0, 200);

    // RFC 7009 §2.1: another client's revocation answers 200 and changes nothing.
    let (status, _) = send!(&app, token_request(&other, &[("token", at.as_str())]).uri(routes::REVOKE));
    assert_eq!(status, 200);
    assert_eq!(active!(&app, &c, &at), json!(true));
    assert_eq!(revocation_rows(&h), 0);

    let (status, body) = send!(&app, token_request(&c, &[("token", at.as_str())]).uri(routes::REVOKE));
    assert_eq!(status, 200, "{body}");
    assert_eq!(active!(&app, &c, &at), json!(false));
    let (status, www) = userinfo!(&app, &at);
    assert_eq!(status, 401);
    assert!(www.starts_with("Bearer") && www.contains("error=\"invalid_token\""), "{www}");
    let (status, _) = send!(&app, token_request(&c, &[("token", at.as_str())]).uri(routes::REVOKE));
    assert_eq!(status, 200, "revoking twice answers 200 (RFC 7009 §2.2)");
    assert_eq!(revocation_rows(&h), 1);

    // Revoking the access token leaves the refresh token alone.
    let (status, body) = send!(&app, token_request(&c, &[("grant_type", "refresh_token"), ("refresh_token", &rt)]));
    assert_eq!(status, 200, "{body}");
    let fresh = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(active!(&app, &c, &fresh), json!(true));

    // The row stays while the token could still be presented, then goes.
    let purger = Purger::new(&Config::default());
    assert_eq!(purger.run_once(h.store(), h.clock.now()).unwrap().revocations, 0);
    let exp = claims(&at)["exp"].as_i64().unwrap();
    h.clock.advance(exp - h.clock.now() + 1);
    assert_eq!(purger.run_once(h.store(), h.clock.now()).unwrap().revocations, 1);
    assert_eq!(revocation_rows(&h), 0);
}

#[actix_web::test]
async fn a_replayed_code_revokes_the_access_and_refresh_tokens_issued_from_it() {
    let (h, c) = setup();
    let app = app!(h);
    let code = code_for!(&app, c);
    let (_, body) = send!(&app, token_request(&c, &redeem(&code)));
    let at = body["access_token"].as_str().unwrap().to_owned();
    let rt = body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(active!(&app, &c, &at), json!(true));

    h.clock.advance(30);
    let (status, body) = send!(&app, token_request(&c, &redeem(&code)));
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert_eq!(active!(&app, &c, &at), json!(false));
    assert_eq!(userinfo!(&app, &at).0, 401);
    assert_eq!(active!(&app, &c, &rt), json!(false));
    let (_, body) = send!(&app, token_request(&c, &[("grant_type", "refresh_token"), ("refresh_token", &rt)]));
    assert_eq!(body["error"], "invalid_grant");
}

#[actix_web::test]
async fn an_invalid_replay_of_a_code_revokes_nothing() {
    let (h, c) = setup();
    let app = app!(h);
    let code = code_for!(&app, c);
    let (_, body) = send!(&app, token_request(&c, &redeem(&code)));
    let at = body["access_token"].as_str().unwrap().to_owned();
    let wrong = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", "https://x.example/")];
    let (_, body) = send!(&app, token_request(&c, &wrong));
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(active!(&app, &c, &at), json!(true), "OAuth 2.1: an invalid replay is no denial-of-service lever");
}

#[actix_web::test]
async fn a_reused_refresh_token_revokes_every_access_token_of_its_family() {
    let (h, c) = setup();
    let app = app!(h);
    let code = code_for!(&app, c);
    let (_, body) = send!(&app, token_request(&c, &redeem(&code)));
    let (at1, rt1) =
        (body["access_token"].as_str().unwrap().to_owned(), body["refresh_token"].as_str().unwrap().to_owned());
    h.clock.advance(5);
    let (_, body) = send!(&app, token_request(&c, &[("grant_type", "refresh_token"), ("refresh_token", &rt1)]));
    let at2 = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!((active!(&app, &c, &at1), active!(&app, &c, &at2)), (json!(true), json!(true)));

    let (_, body) = send!(&app, token_request(&c, &[("grant_type", "refresh_token"), ("refresh_token", &rt1)]));
    assert_eq!(body["error"], "invalid_grant", "reuse");
    assert_eq!((active!(&app, &c, &at1), active!(&app, &c, &at2)), (json!(false), json!(false)));
    assert_eq!(userinfo!(&app, &at2).0, 401);
}

#[actix_web::test]
async fn disabling_a_client_or_a_user_revokes_the_access_tokens_issued_before() {
    let (h, c) = setup();
    let app = app!(h);
    let code = code_for!(&app, c);
    let (_, body) = send!(&app, token_request(&c, &redeem(&code)));
    let at = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo!(&app, &at).0, 200);
    let user_id = claims(&at)["sub"].as_str().unwrap().to_owned();
    let edit = |disabled: bool| NewClient {
        name: "app".into(),
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        redirect_uris: vec![CB.into()],
        metadata: json!({}),
        first_party: true,
        disabled,
        ..NewClient::default()
    };
    admin::update_client(h.store(), "test", h.clock.now(), &c.id, edit(true)).unwrap();
    h.state.oauth.revoked.changed();
    // (A disabled client cannot introspect: userinfo tells.)
    assert_eq!(userinfo!(&app, &at).0, 401, "the client is disabled");

    h.clock.advance(1);
    admin::update_client(h.store(), "test", h.clock.now(), &c.id, edit(false)).unwrap();
    assert_eq!(userinfo!(&app, &at).0, 401, "re-enabling does not bring old tokens back");
    let code = code_for!(&app, c);
    let (_, body) = send!(&app, token_request(&c, &redeem(&code)));
    let fresh = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo!(&app, &fresh).0, 200, "tokens issued after re-enabling work");
    assert_eq!(active!(&app, &c, &fresh), json!(true));

    h.clock.advance(1);
    admin::set_user_disabled(h.store(), "test", h.clock.now(), &user_id, true).unwrap();
    h.state.oauth.revoked.changed();
    assert_eq!(active!(&app, &c, &fresh), json!(false), "the user is disabled");
    assert_eq!(userinfo!(&app, &fresh).0, 401);
}
