//! Token exchange (RFC 8693) in process: a subject token stands for its user
//! only until it expires, and what it is exchanged for ends no later,
//! crossed by moving the set clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::harness::{AUD, Harness, TestClient, app, claims, send, token_request};
use crate::clock::Clock as _;
use crate::service::admin::{self, ExchangePolicy, NewClient};
use serde_json::json;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
const PASSWORD: &str = "correct horse battery";

/// A client that may impersonate for [`AUD`] with `read`.
fn impersonator(h: &Harness) -> TestClient {
    let new = NewClient {
        name: "impersonator".into(),
        grant_types: vec![GRANT.into()],
        metadata: json!({}),
        exchange: Some(ExchangePolicy {
            audiences: vec![AUD.into()],
            scopes: vec!["read".into()],
            impersonation: true,
        }),
        ..NewClient::default()
    };
    let (client, secret) = admin::create_client(h.store(), "test", h.clock.now(), new).unwrap();
    TestClient { id: client.id, secret: secret.unwrap().expose().to_owned() }
}

#[actix_web::test]
async fn an_exchanged_token_ends_with_its_subject_token_and_an_expired_one_is_invalid_request() {
    let h = Harness::new(|_| {});
    h.api();
    h.user("alice", PASSWORD);
    let web = h.client(&["password"]);
    let svc = impersonator(&h);
    let app = app!(h);
    let login = [("grant_type", "password"), ("username", "alice"), ("password", PASSWORD), ("audience", AUD)];
    let (status, body) = send!(&app, token_request(&web, &login));
    assert_eq!(status, 200, "{body}");
    let subject = body["access_token"].as_str().unwrap().to_owned();
    let form = [("grant_type", GRANT), ("subject_token", &subject), ("subject_token_type", ACCESS), ("audience", AUD)];

    let (status, body) = send!(&app, token_request(&svc, &form));
    assert_eq!(status, 200, "{body}");
    let cl = claims(body["access_token"].as_str().unwrap());
    assert_eq!(cl["sub"], claims(&subject)["sub"], "the subject's user");
    assert_eq!((cl["scope"].as_str(), cl["client_id"].as_str()), (Some("read"), Some(svc.id.as_str())));

    // The new token ends when the subject token does, not later.
    h.clock.advance(200);
    let (status, body) = send!(&app, token_request(&svc, &form));
    assert_eq!((status, &body["expires_in"]), (200, &json!(100)), "{body}");
    assert_eq!(claims(body["access_token"].as_str().unwrap())["exp"], claims(&subject)["exp"]);

    // Past exp plus the leeway, by the set clock alone.
    h.clock.advance(100 + 31);
    let (status, body) = send!(&app, token_request(&svc, &form));
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
}
