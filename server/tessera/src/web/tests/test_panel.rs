//! The console's plugin test panel tells the truth (issue #18 item 1): for
//! each grant type, the context the panel builds is the one a real token
//! request hands a bound plugin. Both are run through the `echo-context`
//! fixture, bound to every grant: the real token carries what the plugin
//! saw (its `ctx` claim) beside the claims it was given, and the panel's
//! trial run of the same fixture on its own context must produce the same,
//! except `iat`, `nbf`, `exp` and `jti`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::harness::{AUD, CB, Harness, PASSWORD, TestClient, app, claims, send, sign_in_and_authorize, token_request};
use crate::clock::Clock as _;
use crate::service::admin::{self, AdminError, ExchangePolicy, NewClient, NewUser};
use crate::service::oauth::device::DevicePage;
use crate::service::oauth::login::LoginOutcome;
use crate::service::plugin_trial::{self, TestRequest};
use crate::service::plugins::{self, NewBinding};
use crate::service::roles::Role;
use crate::web::routes;
use serde_json::{Map, Value, json};
use tessera_plugin_host::TokenContext;

const FIXTURE: &str = "echo-context";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
const DEVICE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The claims that differ only by time or by token: left out of the comparison.
fn timeless(claims: &Value) -> Map<String, Value> {
    let mut m = claims.as_object().unwrap().clone();
    for k in ["iat", "nbf", "exp", "jti"] {
        m.remove(k);
    }
    m
}

/// The ID-token claims that differ by token or request: `at_hash` (of the
/// access token) and `nonce` (the request's), besides the times.
fn timeless_id(claims: &Value) -> Map<String, Value> {
    let mut m = timeless(claims);
    m.remove("at_hash");
    m.remove("nonce");
    // The browser session's id: the panel runs outside any session.
    m.remove("sid");
    m
}

/// A Tessera with the API, alice, a service account, and `echo-context`
/// bound to every grant.
fn setup() -> Harness {
    let h = Harness::new(|_| {});
    h.api();
    h.user("alice", PASSWORD);
    let robot = NewUser {
        username: "robot".into(),
        password: None,
        metadata: json!({"kind": "service"}),
        profile: json!({}),
        ..NewUser::default()
    };
    admin::create_user(h.store(), "test", h.clock.now(), robot).unwrap();
    let wasm = Harness::component("fixtures", FIXTURE);
    let up = plugins::NewUpload { name: FIXTURE, wasm: &wasm, declared_claims: None, signature: None };
    plugins::upload(h.store(), &h.state.host, &Default::default(), "test", h.clock.now(), up).unwrap();
    let bind = NewBinding {
        plugin: FIXTURE.into(),
        grant_types: vec!["all".into()],
        clients: Vec::new(),
        config: json!({}),
        secrets: Map::new(),
        failure_policy: Some("deny".into()),
        position: None,
        disabled: false,
        ..NewBinding::default()
    };
    plugins::create_binding(h.store(), &h.master, "test", h.clock.now(), bind).unwrap();
    h
}

fn client(h: &Harness, name: &str, grants: &[&str], service_account: Option<&str>) -> TestClient {
    let new = NewClient {
        name: name.into(),
        redirect_uris: vec![CB.into()],
        first_party: true,
        grant_types: grants.iter().map(|g| (*g).to_owned()).collect(),
        metadata: json!({"team": name}),
        service_account: service_account.map(str::to_owned),
        exchange: grants.contains(&EXCHANGE).then(|| ExchangePolicy {
            audiences: vec![AUD.into()],
            scopes: vec!["read".into()],
            impersonation: true,
        }),
        ..NewClient::default()
    };
    let (c, secret) = admin::create_client(h.store(), "test", h.clock.now(), new).unwrap();
    TestClient { id: c.id, secret: secret.unwrap().expose().to_owned() }
}

/// What the panel shows for `grant`, `client` and `username` (round-tripped
/// through the JSON the admin sees and posts back), run through the fixture:
/// the access-token claims after it, with the echoed context in `ctx`.
fn panel(h: &Harness, grant: &str, client: &TestClient, username: &str) -> (TokenContext, Map<String, Value>) {
    let chosen = TestRequest { grant, client_id: Some(&client.id), username, audience: AUD.into() };
    let choices =
        plugin_trial::test_choices(h.store(), &h.state.issuer, FIXTURE, &chosen, h.clock.now()).unwrap().unwrap();
    assert_eq!(choices.notice, None, "{grant}: a real request for these choices is issued");
    let shown = serde_json::to_string_pretty(&choices.context).unwrap();
    let ctx: TokenContext = serde_json::from_str(&shown).unwrap();
    let run = plugin_trial::trial_run_version(h.store(), &h.state.host, FIXTURE, 1, &ctx, &[], Role::Owner).unwrap();
    assert_eq!(run.outcome, "ok", "{grant}: {:?}", run.error);
    (ctx, timeless(&Value::Object(run.access_token_claims)))
}

/// Panel and token agree on everything a plugin can key on: the claims it
/// was given and the context it saw (grant, client, user, user source,
/// granted scopes, audience).
fn assert_agree(h: &Harness, grant: &str, client: &TestClient, username: &str, token: &str) {
    let real = timeless(&claims(token));
    let (ctx, shown) = panel(h, grant, client, username);
    assert_eq!(shown, real, "{grant}: the panel's claims and context against the real token's");
    assert_eq!(ctx.grant_type, grant);
    assert_eq!(ctx.client.id, client.id);
}

#[actix_web::test]
async fn the_test_panel_builds_the_context_a_real_token_request_hands_a_plugin() {
    let h = setup();
    let app = app!(h);

    // Client credentials with a service account: `sub` is the client, the
    // user is the service account.
    let m2m = client(&h, "m2m", &["client_credentials"], Some("robot"));
    let form = [("grant_type", "client_credentials"), ("audience", AUD)];
    let (status, body) = send!(&app, token_request(&m2m, &form));
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let real = claims(&token);
    assert_eq!(real["sub"], json!(m2m.id), "a client credentials token is about the client");
    assert_eq!(real["ctx"]["user_source"], json!("service-account"));
    assert_agree(&h, "client_credentials", &m2m, "", &token);

    // Client credentials without a service account: no user.
    let bare = client(&h, "bare", &["client_credentials"], None);
    let (status, body) = send!(&app, token_request(&bare, &form));
    assert_eq!(status, 200, "{body}");
    assert_agree(&h, "client_credentials", &bare, "", body["access_token"].as_str().unwrap());

    // The password grant, then the refresh of what it issued.
    let web = client(&h, "web", &["password", "refresh_token"], None);
    let login = [("grant_type", "password"), ("username", "alice"), ("password", PASSWORD), ("audience", AUD)];
    let (status, body) = send!(&app, token_request(&web, &login));
    assert_eq!(status, 200, "{body}");
    let subject = body["access_token"].as_str().unwrap().to_owned();
    assert_agree(&h, "password", &web, "alice", &subject);
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", body["refresh_token"].as_str().unwrap())];
    let (status, body) = send!(&app, token_request(&web, &refresh));
    assert_eq!(status, 200, "{body}");
    assert_agree(&h, "refresh_token", &web, "alice", body["access_token"].as_str().unwrap());

    // Token exchange: alice, impersonated, within the client's policy.
    let svc = client(&h, "svc", &[EXCHANGE], None);
    let form =
        [("grant_type", EXCHANGE), ("subject_token", &subject), ("subject_token_type", ACCESS), ("audience", AUD)];
    let (status, body) = send!(&app, token_request(&svc, &form));
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&token)["ctx"]["user_source"], json!("impersonated"));
    assert_agree(&h, EXCHANGE, &svc, "alice", &token);

    // The authorization code, signed in through the browser with an ID
    // token; the ID-token claims a plugin sees agree too.
    let app_client = client(&h, "browser", &["authorization_code", "implicit"], None);
    let request = |response_type: &str| {
        serde_urlencoded::to_string([
            ("response_type", response_type),
            ("client_id", app_client.id.as_str()),
            ("redirect_uri", CB),
            ("scope", "openid profile read write"),
            ("audience", AUD),
            ("nonce", "n-1"),
            ("state", "st"),
        ])
        .unwrap()
    };
    let back = sign_in_and_authorize!(&app, request("code"));
    let code = back["code"].as_str();
    let redeem = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", CB)];
    let (status, body) = send!(&app, token_request(&app_client, &redeem));
    assert_eq!(status, 200, "{body}");
    assert_agree(&h, "authorization_code", &app_client, "alice", body["access_token"].as_str().unwrap());
    let (ctx, _) = panel(&h, "authorization_code", &app_client, "alice");
    let shown_id = timeless_id(&Value::Object(ctx.id_token_claims.unwrap()));
    assert_eq!(shown_id, timeless_id(&claims(body["id_token"].as_str().unwrap())), "authorization_code: ID token");

    // The implicit grant, tokens in the fragment.
    let back = sign_in_and_authorize!(&app, request("id_token token"));
    assert_agree(&h, "implicit", &app_client, "alice", back["access_token"].as_str());
    let (ctx, _) = panel(&h, "implicit", &app_client, "alice");
    let shown_id = timeless_id(&Value::Object(ctx.id_token_claims.unwrap()));
    assert_eq!(shown_id, timeless_id(&claims(back["id_token"].as_str())), "implicit: ID token");

    // The device grant, approved by alice signed in on the device page.
    let tv = client(&h, "tv", &[DEVICE], None);
    let start = [("scope", "openid profile read write"), ("audience", AUD)];
    let (status, started) = send!(&app, token_request(&tv, &start).uri(routes::DEVICE_AUTHORIZATION));
    assert_eq!(status, 200, "{started}");
    let Ok(LoginOutcome::SignedIn { session, .. }) = h.state.oauth.login.login("alice", PASSWORD, "", None) else {
        panic!("alice signs in")
    };
    let user_code = started["user_code"].as_str().unwrap();
    let decided = h.state.oauth.device.decide(user_code, Some(&session), true, None).unwrap();
    assert!(matches!(decided, DevicePage::Done { approved: true, .. }), "{decided:?}");
    let poll = [("grant_type", DEVICE), ("device_code", started["device_code"].as_str().unwrap())];
    let (status, body) = send!(&app, token_request(&tv, &poll));
    assert_eq!(status, 200, "{body}");
    assert_agree(&h, DEVICE, &tv, "alice", body["access_token"].as_str().unwrap());
    let (ctx, _) = panel(&h, DEVICE, &tv, "alice");
    let shown_id = timeless_id(&Value::Object(ctx.id_token_claims.unwrap()));
    assert_eq!(shown_id, timeless_id(&claims(body["id_token"].as_str().unwrap())), "device: ID token");
}

#[actix_web::test]
async fn the_test_panel_says_when_a_real_request_would_be_refused_or_ignore_the_user() {
    let h = setup();
    let m2m = client(&h, "m2m", &["client_credentials"], Some("robot"));
    let choose = |grant, username| {
        let chosen = TestRequest { grant, client_id: Some(&m2m.id), username, audience: AUD.into() };
        plugin_trial::test_choices(h.store(), &h.state.issuer, FIXTURE, &chosen, h.clock.now()).unwrap().unwrap()
    };

    // A grant the client may not use: the sample is still built, and the panel says why a token would not be.
    let refused = choose("password", "alice");
    let notice = refused.notice.unwrap();
    assert!(notice.contains("unauthorized_client"), "{notice}");
    assert_eq!(refused.context.user.unwrap().username, "alice");

    // Client credentials speak for the service account, not for a typed user.
    let typed = choose("client_credentials", "alice");
    assert!(typed.notice.unwrap().contains("the username is not used"));
    assert_eq!(typed.context.user.unwrap().username, "robot");
    assert_eq!(typed.context.access_token_claims["sub"], json!(m2m.id));
}

#[actix_web::test]
async fn a_refused_client_credentials_sample_is_still_about_the_client() {
    let h = setup();
    // A client that may not use client credentials, with a service account.
    let web = client(&h, "web", &["password"], Some("robot"));
    let chosen =
        TestRequest { grant: "client_credentials", client_id: Some(&web.id), username: "", audience: AUD.into() };
    let choices =
        plugin_trial::test_choices(h.store(), &h.state.issuer, FIXTURE, &chosen, h.clock.now()).unwrap().unwrap();
    assert!(choices.notice.unwrap().contains("unauthorized_client"));
    assert_eq!(choices.context.access_token_claims["sub"], json!(web.id));
    assert_eq!(choices.context.user.unwrap().username, "robot");
}

/// The test panel fetches what its allow-list names: an administrator who
/// may not change bindings (the plugin author) may name only what some
/// binding already allows, or the panel would fetch any URL for them; an
/// administrator who may change bindings may name anything.
#[test]
fn without_write_bindings_the_panel_fetches_only_what_a_binding_allows() {
    let h = setup();
    let bind = NewBinding {
        plugin: FIXTURE.into(),
        grant_types: vec!["client_credentials".into()],
        http_allow: vec!["https://dir.example/users/".into(), "http://127.0.0.1:8080/api".into()],
        ..NewBinding::default()
    };
    plugins::create_binding(h.store(), &h.master, "test", h.clock.now(), bind).unwrap();
    let m2m = client(&h, "m2m", &["client_credentials"], None);
    let chosen =
        TestRequest { grant: "client_credentials", client_id: Some(&m2m.id), username: "", audience: AUD.into() };
    let ctx = plugin_trial::test_choices(h.store(), &h.state.issuer, FIXTURE, &chosen, h.clock.now())
        .unwrap()
        .unwrap()
        .context;
    let run = |role: Role, allow: &[&str]| {
        let allow: Vec<String> = allow.iter().map(|a| (*a).to_owned()).collect();
        plugin_trial::trial_run_version(h.store(), &h.state.host, FIXTURE, 1, &ctx, &allow, role)
    };
    for refused in [
        "https://evil.example/",
        "http://127.0.0.1:9000/",
        "https://dir.example/",
        "https://dir.example/users",
        "http://127.0.0.1:8080/api-admin",
    ] {
        match run(Role::PluginAuthor, &["https://dir.example/users/7", refused]) {
            Err(AdminError::Invalid { field: "http-allow", message }) => {
                assert!(message.contains(refused), "the error names the entry: {message}")
            }
            other => panic!("{refused}: {:?}", other.map(|r| r.outcome)),
        }
    }
    for allowed in ["https://dir.example/users/", "https://dir.example/users/7/x", "http://127.0.0.1:8080/api/v1"] {
        assert_eq!(run(Role::PluginAuthor, &[allowed]).unwrap().outcome, "ok", "{allowed}");
    }
    assert_eq!(run(Role::PluginAuthor, &[]).unwrap().outcome, "ok");
    for role in [Role::Editor, Role::Owner] {
        assert_eq!(run(role, &["https://evil.example/", "http://127.0.0.1:9000/"]).unwrap().outcome, "ok", "{role:?}");
    }
}
