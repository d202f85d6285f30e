//! Issue #17 item 2 on the token path, in process: a binding with a shadow
//! candidate still signs with no database connection in the steady state
//! (the candidate runs later, on the shadow worker), its claims never reach
//! the token, and every sampled request is compared once the database is
//! back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::harness::{AUD, Harness, claims, token_request};
use crate::clock::Clock as _;
use crate::service::admin::{self, NewClient};
use crate::service::plugins::{self, NewBinding, NewUpload};
use crate::service::shadow::admin::{self as shadow, ShadowSettings};
use actix_web::{App, test};
use serde_json::{Map, json};
use std::time::Duration;

#[actix_web::test]
async fn a_shadow_candidate_needs_no_database_connection_on_the_token_path() {
    let pool = 3;
    let h = Harness::new(|c| {
        c.database.max_connections = pool;
        c.database.connect_timeout_secs = 1;
        c.keys.refresh_ms = 3_600_000;
    });
    h.api();
    let new = NewClient {
        name: "svc".into(),
        grant_types: vec!["client_credentials".into()],
        metadata: json!({}),
        ..NewClient::default()
    };
    let (client, secret) = admin::create_client(h.store(), "test", h.clock.now(), new).unwrap();
    let c = super::harness::TestClient { id: client.id, secret: secret.unwrap().expose().to_owned() };
    // Version 1 (live) adds `ctx`; version 2 (the candidate) adds `fixture`.
    for fixture in ["echo-context", "allow-claim"] {
        let wasm = Harness::component("fixtures", fixture);
        let up = NewUpload { name: "rule", wasm: &wasm, declared_claims: None, signature: None };
        plugins::upload(h.store(), &h.state.host, &Default::default(), "test", h.clock.now(), up).unwrap();
    }
    let binding = NewBinding {
        plugin: "rule@1".into(),
        grant_types: vec!["client_credentials".into()],
        config: json!({}),
        secrets: Map::new(),
        ..NewBinding::default()
    };
    let b = plugins::create_binding(h.store(), &h.master, "test", h.clock.now(), binding).unwrap();
    let settings = ShadowSettings { version: 2, share: None, sensitive_claims: vec![] };
    shadow::set(h.store(), "test", h.clock.now(), &b.id, &settings).unwrap();
    h.state.snapshots.sync().unwrap();

    let app = test::init_service(App::new().app_data(h.state.clone()).configure(crate::web::public_routes)).await;
    let form = [("grant_type", "client_credentials"), ("audience", AUD)];
    let (status, _) = super::harness::json(test::call_service(&app, token_request(&c, &form).to_request()).await).await;
    assert_eq!(status, 200, "warm-up");
    h.state.shadows.flush(Duration::from_secs(5));
    h.state.run_log.flush();

    // Every connection of the pool checked out: any query on the token path
    // would wait for the connect timeout and answer 503.
    let held: Vec<_> = (0..pool).map(|_| h.store().conn().unwrap()).collect();
    for _ in 0..5 {
        let resp = test::call_service(&app, token_request(&c, &form).to_request()).await;
        let (status, body) = super::harness::json(resp).await;
        assert_eq!(status, 200, "{body}");
        let token = claims(body["access_token"].as_str().unwrap());
        assert_eq!(token["ctx"]["grant_type"], "client_credentials", "the live version ran");
        assert!(token.get("fixture").is_none(), "the candidate's claim never reaches the token: {token}");
    }
    drop(held);
    h.state.shadows.flush(Duration::from_secs(5));
    let r = shadow::report(h.store(), &b.id).unwrap().unwrap();
    assert_eq!((r.compared, r.differed, r.shadow_errors, r.skipped), (6, 6, 0, 0), "{r:?}");
    let d = &r.recent[0].differences;
    assert!(d.iter().any(|x| x.claim == "fixture" && x.shadow.as_deref() == Some("\"allow-claim\"")), "{d:?}");
    assert!(d.iter().any(|x| x.claim == "ctx" && x.shadow.is_none()), "{d:?}");
}
