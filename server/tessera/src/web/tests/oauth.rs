//! The OAuth services in process: grant orchestration, refresh-token
//! rotation and reuse detection, refresh idle and absolute timeouts crossed
//! by moving the set clock, and the plugin failure policies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::harness::{AUD, CB, Harness, PASSWORD, TestClient, app, claims, code_for, send, token_request};
use crate::clock::Clock as _;
use crate::service::plugins::{self, BindingChange, NewBinding};
use crate::web::routes;
use serde_json::{Map, json};

/// A Tessera with alice and a code + refresh client; refresh tokens idle
/// out after `idle` seconds and end `absolute` seconds after the sign-in.
fn browser_setup(idle: i64, absolute: i64) -> (Harness, TestClient) {
    let h = Harness::new(|c| {
        c.tokens.refresh_token_idle_secs = idle;
        c.tokens.refresh_token_absolute_secs = absolute;
    });
    h.user("alice", PASSWORD);
    let client = h.client(&["authorization_code", "refresh_token"]);
    (h, client)
}

fn refresh_form(token: &str) -> [(&str, &str); 2] {
    [("grant_type", "refresh_token"), ("refresh_token", token)]
}

#[actix_web::test]
async fn client_credentials_are_issued_and_expire_on_the_set_clock() {
    let h = Harness::new(|_| {});
    h.api();
    let c = h.client(&["client_credentials"]);
    let app = app!(h);
    let form = [("grant_type", "client_credentials"), ("audience", AUD), ("scope", "read")];
    let (status, body) = send!(&app, token_request(&c, &form));
    assert_eq!(status, 200, "{body}");
    let at = body["access_token"].as_str().unwrap().to_owned();
    let cl = claims(&at);
    assert_eq!(cl["iat"], json!(h.clock.now()), "the token is dated by the service's clock");
    assert_eq!(cl["exp"], json!(h.clock.now() + 300));
    assert_eq!(
        (cl["aud"].as_str(), cl["scope"].as_str(), cl["client_id"].as_str()),
        (Some(AUD), Some("read"), Some(c.id.as_str()))
    );

    let introspect = |token: &str| token_request(&c, &[("token", token)]).uri(routes::INTROSPECT);
    let (status, body) = send!(&app, introspect(&at));
    assert_eq!((status, &body["active"]), (200, &json!(true)), "{body}");
    // Past exp plus the leeway, by the set clock alone.
    h.clock.advance(300 + 31);
    let (_, body) = send!(&app, introspect(&at));
    assert_eq!(body["active"], json!(false), "{body}");

    let (status, body) =
        send!(&app, token_request(&c, &[("grant_type", "password"), ("username", "u"), ("password", "p")]));
    assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")), "{body}");
}

#[actix_web::test]
async fn an_authorization_code_is_redeemed_once_and_its_refresh_token_rotates() {
    let (h, c) = browser_setup(3_600, 86_400);
    let app = app!(h);
    let code = code_for!(&app, c);
    let redeem = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", CB)];
    let (status, body) = send!(&app, token_request(&c, &redeem));
    assert_eq!(status, 200, "{body}");
    let id_token = claims(body["id_token"].as_str().unwrap());
    assert_eq!((id_token["aud"].as_str(), id_token["iat"].as_i64()), (Some(c.id.as_str()), Some(h.clock.now())));
    let rt1 = body["refresh_token"].as_str().unwrap().to_owned();

    let (status, body) = send!(&app, token_request(&c, &redeem));
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "a code is single use: {body}");
    // The replay revoked what the code issued (RFC 9700 §4.5).
    let (status, body) = send!(&app, token_request(&c, &refresh_form(&rt1)));
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");

    let code = code_for!(&app, c);
    let redeem = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", CB)];
    let (_, body) = send!(&app, token_request(&c, &redeem));
    let rt1 = body["refresh_token"].as_str().unwrap().to_owned();
    h.clock.advance(10);
    let (status, body) = send!(&app, token_request(&c, &refresh_form(&rt1)));
    assert_eq!(status, 200, "{body}");
    let rt2 = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2, "rotated");
    assert_eq!(claims(body["access_token"].as_str().unwrap())["iat"], json!(h.clock.now()));
}

#[actix_web::test]
async fn a_reused_refresh_token_revokes_its_family() {
    let (h, c) = browser_setup(3_600, 86_400);
    let app = app!(h);
    let code = code_for!(&app, c);
    let (_, body) =
        send!(&app, token_request(&c, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)]));
    let rt1 = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = send!(&app, token_request(&c, &refresh_form(&rt1)));
    assert_eq!(status, 200, "{body}");
    let rt2 = body["refresh_token"].as_str().unwrap().to_owned();

    let (status, body) = send!(&app, token_request(&c, &refresh_form(&rt1)));
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "reuse: {body}");
    let (status, body) = send!(&app, token_request(&c, &refresh_form(&rt2)));
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "the family is revoked: {body}");
}

#[actix_web::test]
async fn a_refresh_token_idles_out_when_the_clock_passes_its_idle_end() {
    let (h, c) = browser_setup(600, 86_400);
    let app = app!(h);
    let code = code_for!(&app, c);
    let (_, body) =
        send!(&app, token_request(&c, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)]));
    let rt1 = body["refresh_token"].as_str().unwrap().to_owned();
    h.clock.advance(599);
    let (status, body) = send!(&app, token_request(&c, &refresh_form(&rt1)));
    assert_eq!(status, 200, "used within its idle time: {body}");
    let rt2 = body["refresh_token"].as_str().unwrap().to_owned();
    h.clock.advance(600);
    let (status, body) = send!(&app, token_request(&c, &refresh_form(&rt2)));
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "idle for 600 s: {body}");
}

#[actix_web::test]
async fn a_refresh_family_ends_at_its_absolute_end_however_recently_used() {
    let (h, c) = browser_setup(600, 1_000);
    let app = app!(h);
    let code = code_for!(&app, c);
    let (_, body) =
        send!(&app, token_request(&c, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)]));
    let mut rt = body["refresh_token"].as_str().unwrap().to_owned();
    for step in [500, 499] {
        h.clock.advance(step);
        let (status, body) = send!(&app, token_request(&c, &refresh_form(&rt)));
        assert_eq!(status, 200, "inside both limits: {body}");
        rt = body["refresh_token"].as_str().unwrap().to_owned();
    }
    // Used a second ago, but the family started 1,000 s ago.
    h.clock.advance(1);
    let (status, body) = send!(&app, token_request(&c, &refresh_form(&rt)));
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "absolute end: {body}");
}

/// Uploads fixture `name` and binds it for client credentials with `policy`.
/// Sets a binding's failure policy (in force on this node before the next request).
fn set_policy(h: &Harness, binding: &str, policy: &str) {
    let change = BindingChange { failure_policy: Some(policy.into()), ..BindingChange::default() };
    plugins::update_binding(h.store(), &h.master, "test", h.clock.now(), binding, change).unwrap();
}

/// The binding's run records, newest first; they are written
/// asynchronously, so this waits for them.
fn runs_of(h: &Harness, binding: &str) -> Vec<tessera_store::plugins::PluginRunRecord> {
    h.state.run_log.flush();
    tessera_store::plugins::recent_runs(&mut h.store().conn().unwrap(), Some(binding), 0, 10).unwrap()
}

fn bind(h: &Harness, name: &str, policy: &str) -> String {
    let wasm = Harness::component("fixtures", name);
    let up = plugins::NewUpload { name, wasm: &wasm, declared_claims: None, signature: None };
    plugins::upload(h.store(), &h.state.host, &Default::default(), "test", h.clock.now(), up).unwrap();
    let new = NewBinding {
        plugin: name.into(),
        grant_types: vec!["client_credentials".into()],
        clients: Vec::new(),
        config: json!({}),
        secrets: Map::new(),
        failure_policy: Some(policy.into()),
        position: None,
        disabled: false,
        ..NewBinding::default()
    };
    plugins::create_binding(h.store(), &h.master, "test", h.clock.now(), new).unwrap().id
}

#[actix_web::test]
async fn a_failing_plugin_denies_or_is_skipped_by_its_binding_policy() {
    let h = Harness::new(|_| {});
    h.api();
    let c = h.client(&["client_credentials"]);
    let app = app!(h);
    let form = [("grant_type", "client_credentials"), ("audience", AUD)];
    let binding = bind(&h, "trap", "deny");
    let (status, body) = send!(&app, token_request(&c, &form));
    assert_eq!((status, body["error"].as_str()), (500, Some("server_error")), "deny: {body}");
    assert!(!body["error_description"].as_str().unwrap_or_default().contains("trap"), "the client is not told why");

    set_policy(&h, &binding, "skip");
    let (status, body) = send!(&app, token_request(&c, &form));
    assert_eq!(status, 200, "skip: {body}");
    let runs = runs_of(&h, &binding);
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r.outcome == "trap" && r.at == h.clock.now()), "recorded at the set clock's time");
}

/// docs/security-checklist.md W-14: a binding whose plugin runs out its
/// deadline call after call is suspended: its plugin is not called, the run
/// is recorded as `suspended`, and the failure policy decides the token as
/// it would for the deadline (`deny`: server_error; `skip`: issued).
#[actix_web::test]
async fn a_binding_that_keeps_running_out_its_deadline_is_suspended() {
    let h = Harness::new(|c| {
        c.plugins.host.deadline_ms = 50;
        c.plugins.suspend_after_deadlines = 2;
        c.plugins.suspend_secs = 600;
    });
    h.api();
    let c = h.client(&["client_credentials"]);
    let app = app!(h);
    let form = [("grant_type", "client_credentials"), ("audience", AUD)];
    let binding = bind(&h, "loop-forever", "deny");
    for _ in 0..3 {
        let (status, body) = send!(&app, token_request(&c, &form));
        assert_eq!((status, body["error"].as_str()), (500, Some("server_error")), "deny: {body}");
    }
    set_policy(&h, &binding, "skip");
    let (status, body) = send!(&app, token_request(&c, &form));
    assert_eq!(status, 200, "skip: {body}");
    let runs = runs_of(&h, &binding);
    let mut outcomes: Vec<&str> = runs.iter().map(|r| r.outcome.as_str()).collect();
    outcomes.sort_unstable();
    assert_eq!(outcomes, ["deadline", "deadline", "suspended", "suspended"]);
    let shown = h.state.suspensions.of(&binding, std::time::Instant::now()).expect("listed for the console");
    assert_eq!(shown.deadlines, 2);
    assert!(shown.remaining_secs > 500 && shown.remaining_secs <= 600, "{shown:?}");
    for suspended in runs.iter().filter(|r| r.outcome == "suspended") {
        assert!(suspended.detail.contains("tried again in"), "{}", suspended.detail);
        assert_eq!(suspended.duration_us, 0, "the plugin did not run");
    }
}

#[actix_web::test]
async fn a_denying_plugin_refuses_whatever_its_failure_policy() {
    let h = Harness::new(|_| {});
    h.api();
    let c = h.client(&["client_credentials"]);
    let app = app!(h);
    bind(&h, "deny", "skip");
    let (status, body) = send!(&app, token_request(&c, &[("grant_type", "client_credentials"), ("audience", AUD)]));
    assert_eq!((status, body["error"].as_str()), (400, Some("access_denied")), "{body}");
    assert_eq!(body["error_description"], "denied by fixture");
}
