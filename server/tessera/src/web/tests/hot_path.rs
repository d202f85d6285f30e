//! Issue #13 item 2: in the steady state a client_credentials request
//! (client authentication with its throttle check, client, secret hashes,
//! API, service-account user, bindings, plugin versions) reads nothing from
//! the database; run records are written asynchronously.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::harness::{AUD, Harness, TestClient, claims, token_request};
use crate::clock::Clock as _;
use crate::service::admin::{self, NewClient, NewUser};
use crate::service::oauth::{FromSnapshot, TokenService};
use crate::service::plugins::{self, NewBinding};
use crate::web::routes;
use actix_web::{App, test};
use serde_json::{Map, json};

/// A client with a service account, an API, and the `echo-context` fixture
/// bound to client_credentials. The pool has `pool` connections; the key
/// ring re-reads keys once an hour only, so that its own refresh (outside
/// what this issue moves into the snapshot) does not happen mid-test.
fn setup(pool: u32) -> (Harness, TestClient) {
    let h = Harness::new(|c| {
        c.database.max_connections = pool;
        c.database.connect_timeout_secs = 1;
        c.keys.refresh_ms = 3_600_000;
    });
    h.api();
    let user = NewUser { username: "robot".into(), metadata: json!({}), profile: json!({}), ..NewUser::default() };
    admin::create_user(h.store(), "test", h.clock.now(), user).unwrap();
    let new = NewClient {
        name: "svc".into(),
        grant_types: vec!["client_credentials".into()],
        metadata: json!({}),
        service_account: Some("robot".into()),
        ..NewClient::default()
    };
    let (client, secret) = admin::create_client(h.store(), "test", h.clock.now(), new).unwrap();
    let wasm = Harness::component("fixtures", "echo-context");
    let up = plugins::NewUpload { name: "echo-context", wasm: &wasm, declared_claims: None, signature: None };
    plugins::upload(h.store(), &h.state.host, &Default::default(), "test", h.clock.now(), up).unwrap();
    let binding = NewBinding {
        plugin: "echo-context".into(),
        grant_types: vec!["client_credentials".into()],
        clients: Vec::new(),
        config: json!({}),
        secrets: Map::new(),
        failure_policy: Some("deny".into()),
        position: None,
        disabled: false,
        ..NewBinding::default()
    };
    plugins::create_binding(h.store(), &h.master, "test", h.clock.now(), binding).unwrap();
    h.state.snapshots.sync().unwrap();
    (h, TestClient { id: client.id, secret: secret.unwrap().expose().to_owned() })
}

#[actix_web::test]
async fn client_credentials_need_no_database_connection_in_the_steady_state() {
    let pool = 3;
    let (h, c) = setup(pool);
    // The plain routes, without the harness's sync before each request.
    let app = test::init_service(App::new().app_data(h.state.clone()).configure(crate::web::public_routes)).await;
    let form = [("grant_type", "client_credentials"), ("audience", AUD)];
    let (status, _) = super::harness::json(test::call_service(&app, token_request(&c, &form).to_request()).await).await;
    assert_eq!(status, 200, "warm-up");
    h.state.run_log.flush();

    // Every connection of the pool checked out: any query would wait for
    // the connect timeout and answer 503.
    let held: Vec<_> = (0..pool).map(|_| h.store().conn().unwrap()).collect();
    assert!(h.store().conn().is_err(), "the pool is really empty");
    for _ in 0..5 {
        let resp = test::call_service(&app, token_request(&c, &form).to_request()).await;
        let (status, body) = super::harness::json(resp).await;
        assert_eq!(status, 200, "{body}");
        let token = claims(body["access_token"].as_str().unwrap());
        assert_eq!(token["aud"], AUD);
        assert_eq!(token["ctx"]["user_source"], "service-account", "the plugin ran and saw the service account");
        assert!(token["ctx"]["user_id"].is_string());
    }
    drop(held);
    h.state.run_log.flush();
    let runs = tessera_store::plugins::recent_runs(&mut h.store().conn().unwrap(), None, 0, 100).unwrap();
    assert_eq!(
        runs.len() as u64 + h.state.run_log.dropped(),
        6,
        "every run is either written once the database is back or counted as dropped"
    );
}

#[actix_web::test]
async fn a_change_bumps_the_counter_and_applies_after_a_sync() {
    let (h, c) = setup(10);
    let app = test::init_service(App::new().app_data(h.state.clone()).configure(crate::web::public_routes)).await;
    let form = [("grant_type", "client_credentials"), ("audience", AUD)];
    let generation = h.state.snapshots.generation();
    let edit = NewClient {
        name: "svc".into(),
        grant_types: vec!["client_credentials".into()],
        metadata: json!({}),
        service_account: Some("robot".into()),
        disabled: true,
        ..NewClient::default()
    };
    admin::update_client(h.store(), "test", h.clock.now(), &c.id, edit).unwrap();
    // The poller may have synced already; either way the change is in force
    // once a sync has run.
    h.state.snapshots.sync().unwrap();
    assert!(h.state.snapshots.generation() > generation, "the trigger moved the counter");
    let (status, body) =
        super::harness::json(test::call_service(&app, token_request(&c, &form).to_request()).await).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "disabled once synced");
}

#[actix_web::test]
async fn readiness_shows_the_generation_this_node_serves() {
    let (h, _) = setup(10);
    // No warmer runs here, so the plugins check says "warming" (503): the
    // generation is reported whatever the verdict.
    let readiness = crate::web::health::Readiness { plugins: Default::default() };
    let app = test::init_service(
        App::new()
            .app_data(h.state.clone())
            .app_data(actix_web::web::Data::new(readiness))
            .configure(crate::web::public_routes),
    )
    .await;
    let resp = test::call_service(&app, test::TestRequest::get().uri(routes::READYZ).to_request()).await;
    let (status, body) = super::harness::json(resp).await;
    assert_eq!(
        (status, &body["checks"]["database"], &body["checks"]["plugins"]),
        (503, &"ok".into(), &"warming".into())
    );
    assert_eq!(body["config_generation"], h.state.snapshots.generation());
}

#[actix_web::test]
async fn a_console_change_is_in_force_on_this_node_when_the_response_leaves() {
    let (h, c) = setup(10);
    let app = test::init_service(
        App::new()
            .app_data(h.state.clone())
            .wrap(actix_web::middleware::from_fn(crate::web::sync_after_console_change))
            .configure(crate::web::public_routes)
            .configure(crate::web::console::routes),
    )
    .await;
    let form = [("grant_type", "client_credentials"), ("audience", AUD)];
    let edit = NewClient {
        name: "svc".into(),
        grant_types: vec!["client_credentials".into()],
        metadata: json!({}),
        service_account: Some("robot".into()),
        disabled: true,
        ..NewClient::default()
    };
    // What a console handler does inside its request, then any console
    // POST (refused here: no CSRF token) as the request it happened in.
    admin::update_client(h.store(), "test", h.clock.now(), &c.id, edit).unwrap();
    let post = test::TestRequest::post().uri(routes::console::LOGIN).set_form([("username", "x")]);
    test::call_service(&app, post.to_request()).await;
    assert_eq!(
        h.state.snapshots.generation(),
        tessera_store::generation::read(&mut h.store().conn().unwrap()).unwrap().config
    );
    let (status, body) =
        super::harness::json(test::call_service(&app, token_request(&c, &form).to_request()).await).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "the disabled client, at once");
}

/// Issue #13 item 5: the HTTP worker answers a client_credentials request
/// itself only when nothing in it can block; a plugin call goes to the CPU
/// pool, and everything else is declined for the blocking path, which then
/// decides it from the start, so nothing that path records (a wrong
/// secret's count) is skipped.
fn from_snapshot(token: &TokenService, form: &str, peer: Option<&str>) -> FromSnapshot {
    token.token_request_from_snapshot(None, form.as_bytes(), peer)
}

#[actix_web::test]
async fn the_worker_answers_only_client_credentials_served_from_memory() {
    let h = Harness::new(|c| c.keys.refresh_ms = 3_600_000);
    h.api();
    let c = h.client(&["client_credentials", "password"]);
    h.state.snapshots.sync().unwrap();
    let token = &h.state.oauth.token;
    let post = |form: &[(&str, &str)]| serde_urlencoded::to_string(form).unwrap();
    let cc = |secret: &str| {
        post(&[
            ("grant_type", "client_credentials"),
            ("audience", AUD),
            ("client_id", &c.id),
            ("client_secret", secret),
        ])
    };
    assert!(matches!(from_snapshot(token, &cc(&c.secret), None), FromSnapshot::Declined), "keys not loaded yet");
    h.state.keys.jwks().unwrap();

    let FromSnapshot::Answered(answered) = from_snapshot(token, &cc(&c.secret), Some("192.0.2.1")) else {
        panic!("not answered on the worker")
    };
    let issued = answered.unwrap();
    assert_eq!(claims(&issued.access_token)["aud"], AUD);
    let unknown_api = post(&[
        ("grant_type", "client_credentials"),
        ("audience", "https://nowhere.example"),
        ("client_id", &c.id),
        ("client_secret", &c.secret),
    ]);
    let FromSnapshot::Answered(refused) = from_snapshot(token, &unknown_api, None) else { panic!("not answered") };
    assert_eq!(refused.unwrap_err().code, tessera_protocol::ErrorCode::InvalidTarget);

    let wrong = cc("not the secret");
    assert!(matches!(from_snapshot(token, &wrong, None), FromSnapshot::Declined), "the failure is counted");
    let password = post(&[
        ("grant_type", "password"),
        ("username", "nobody"),
        ("password", "x"),
        ("client_id", &c.id),
        ("client_secret", &c.secret),
    ]);
    assert!(matches!(from_snapshot(token, &password, None), FromSnapshot::Declined), "other grants");

    let (plugged, p) = setup(10);
    plugged.state.keys.jwks().unwrap();
    let form = post(&[
        ("grant_type", "client_credentials"),
        ("audience", AUD),
        ("client_id", &p.id),
        ("client_secret", &p.secret),
    ]);
    let FromSnapshot::CallsPlugins(request) = from_snapshot(&plugged.state.oauth.token, &form, None) else {
        panic!("a plugin call does not run on the worker")
    };
    // On the CPU pool the same request is answered, the plugin's claim in.
    let on_pool = plugged.state.oauth.token.answer_with_plugins(&request, None);
    let FromSnapshot::Answered(Ok(issued)) = on_pool else { panic!("not answered on the pool: {on_pool:?}") };
    assert_eq!(claims(&issued.access_token)["ctx"]["user_source"], "service-account", "the plugin ran");
}

/// Issue #13 item 5: introspecting an access token is answered on the
/// worker from memory, for the token's own client and for a resource
/// server of its API (linked after start: the snapshot learns it at its
/// next sync), and `active: false` for any other client, as the blocking
/// path answers. Declined for that path: while the revocation copy is due
/// for a refresh, a wrong secret (its failure is counted), and a refresh
/// token (read from the database).
#[actix_web::test]
async fn the_worker_introspects_access_tokens_from_memory() {
    let h = Harness::new(|c| c.keys.refresh_ms = 3_600_000);
    h.api();
    let [owner, rs, stranger] = [(); 3].map(|()| h.client(&["client_credentials"]));
    h.state.snapshots.sync().unwrap();
    h.state.keys.jwks().unwrap();
    let post = |form: &[(&str, &str)]| serde_urlencoded::to_string(form).unwrap();
    let cc = post(&[
        ("grant_type", "client_credentials"),
        ("audience", AUD),
        ("client_id", &owner.id),
        ("client_secret", &owner.secret),
    ]);
    let FromSnapshot::Answered(Ok(issued)) = from_snapshot(&h.state.oauth.token, &cc, None) else { panic!("no token") };
    let at = issued.access_token.as_str();
    let introspection = &h.state.oauth.introspection;
    let form = |who: &TestClient, token: &str| {
        post(&[("token", token), ("client_id", &who.id), ("client_secret", &who.secret)])
    };
    let blocking = |who: &TestClient, token: &str| {
        serde_json::to_value(introspection.introspect(None, form(who, token).as_bytes(), None).unwrap()).unwrap()
    };
    let on_worker = |who: &TestClient, token: &str| {
        let answer = introspection.introspect_without_blocking(None, form(who, token).as_bytes(), None);
        answer.map(|a| serde_json::to_value(a.unwrap()).unwrap())
    };
    assert_eq!(on_worker(&owner, at), None, "the revocation copy was never read");

    // The blocking path reads the copy; for the next half second the
    // worker answers as that path does.
    let mine = blocking(&owner, at);
    assert_eq!((&mine["active"], &mine["client_id"]), (&json!(true), &json!(owner.id)));
    assert_eq!(on_worker(&owner, at).as_ref(), Some(&mine));
    assert_eq!(blocking(&stranger, at), json!({"active": false}));
    assert_eq!(on_worker(&stranger, at), Some(json!({"active": false})), "neither the token's client nor its API's");
    assert_eq!(on_worker(&owner, "e30.e30.c2ln"), Some(json!({"active": false})), "not a token of ours");

    let api = tessera_store::apis::find_by_identifier(&mut h.store().conn().unwrap(), AUD).unwrap().unwrap();
    tessera_store::apis::set_resource_servers(&mut h.store().conn().unwrap(), &api.id, std::slice::from_ref(&rs.id))
        .unwrap();
    h.state.snapshots.sync().unwrap();
    let seen_by_rs = blocking(&rs, at);
    assert_eq!(seen_by_rs["active"], true, "a resource server of the token's API");
    assert_eq!(on_worker(&rs, at), Some(seen_by_rs));

    let wrong = TestClient { id: owner.id.clone(), secret: "not the secret".into() };
    assert_eq!(on_worker(&wrong, at), None, "the failure is counted on the blocking path");
    assert_eq!(on_worker(&owner, "an-opaque-refresh-token"), None, "refresh tokens live in the database");
}
