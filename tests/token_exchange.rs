//! Token exchange (RFC 8693) against the real binary: impersonation and
//! delegation (`act`, nested for chains), the per-client exchange policy,
//! subject tokens that are not ours, the plugin pipeline seeing the subject
//! as an impersonated user, and the policy edited in the console.

use crate::console::Console;
use crate::oidc::hidden;
use crate::on_both_backends;
use crate::plugins::component;
use crate::support::{Backend, TestServer, verify_with_discovery};
use serde_json::{Value, json};
use tessera::web::routes;

const FRONT: &str = "https://front.api.example";
const ORDERS: &str = "https://orders.api.example";
const BILLING: &str = "https://billing.api.example";
const PASSWORD: &str = "alice's long password";
const CB: &str = "https://app.example/cb";
const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
const ID: &str = "urn:ietf:params:oauth:token-type:id_token";

struct App {
    id: String,
    secret: String,
}

struct Fixture {
    server: TestServer,
    user_id: String,
    /// Signs alice in (password grant) for the front API.
    web: App,
    /// Delegation to ORDERS with `read` only.
    gateway: App,
    /// Delegation to BILLING.
    billing: App,
    /// May impersonate, for ORDERS with `read write`.
    impersonator: App,
    /// Has client_credentials only.
    plain: App,
}

fn app(server: &TestServer, name: &str, args: &[&str]) -> App {
    let mut all = vec!["client", "create", "--name", name];
    all.extend_from_slice(args);
    let c = server.cli_json(&all);
    App { id: c["client_id"].as_str().unwrap().to_owned(), secret: c["client_secret"].as_str().unwrap().to_owned() }
}

fn fixture(backend: Backend) -> Fixture {
    let server = TestServer::start(backend);
    server.cli_json(&["api", "create", "--identifier", FRONT, "--scopes", "read"]);
    server.cli_json(&["api", "create", "--identifier", ORDERS, "--scopes", "read,write,admin"]);
    server.cli_json(&["api", "create", "--identifier", BILLING, "--scopes", "read"]);
    let user = server.create_user("alice", PASSWORD, &[]);
    let exchange = format!("client_credentials,{GRANT}");
    Fixture {
        user_id: user["id"].as_str().unwrap().to_owned(),
        web: app(&server, "web", &["--grant-types", "password"]),
        gateway: app(
            &server,
            "gateway",
            &["--grant-types", &exchange, "--exchange-audiences", ORDERS, "--exchange-scopes", "read"],
        ),
        billing: app(
            &server,
            "billing",
            &["--grant-types", &exchange, "--exchange-audiences", BILLING, "--exchange-scopes", "read"],
        ),
        impersonator: app(
            &server,
            "impersonator",
            &[
                "--grant-types",
                GRANT,
                "--exchange-audiences",
                &format!("{ORDERS},{BILLING}"),
                "--exchange-scopes",
                "read,write",
                "--exchange-impersonation",
            ],
        ),
        plain: app(&server, "plain", &["--grant-types", "client_credentials"]),
        server,
    }
}

async fn post(f: &Fixture, client: &App, pairs: &[(&str, &str)]) -> (u16, Value) {
    f.server.token_form(&client.id, &client.secret, pairs).await
}

/// Alice's access token for the front API, from the password grant.
async fn alice_token(f: &Fixture) -> String {
    let (status, body) = post(
        f,
        &f.web,
        &[("grant_type", "password"), ("username", "alice"), ("password", PASSWORD), ("audience", FRONT)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// A machine token of `client` for `audience` (its actor token).
async fn machine_token(f: &Fixture, client: &App, audience: &str) -> String {
    let (status, body) = post(f, client, &[("grant_type", "client_credentials"), ("audience", audience)]).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn exchange(
    f: &Fixture,
    client: &App,
    subject: &str,
    actor: Option<&str>,
    extra: &[(&str, &str)],
) -> (u16, Value) {
    let mut form = vec![("grant_type", GRANT), ("subject_token", subject), ("subject_token_type", ACCESS)];
    if let Some(a) = actor {
        form.extend([("actor_token", a), ("actor_token_type", ACCESS)]);
    }
    form.extend_from_slice(extra);
    post(f, client, &form).await
}

/// The response is an RFC 8693 §2.2.1 access token response, without a
/// refresh token; returns the verified claims for `audience`.
async fn issued(f: &Fixture, status: u16, body: &Value, audience: &str) -> Value {
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["issued_token_type"], ACCESS);
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("refresh_token").is_none(), "no refresh token from an exchange");
    verify_with_discovery(&f.server.base, body["access_token"].as_str().unwrap(), audience).await
}

on_both_backends!(
    impersonation_and_delegation_issue_the_subjects_user_with_the_actor_chain_in_act,
    |backend: Backend| async move {
        let f = fixture(backend);
        let subject = alice_token(&f).await;

        // Impersonation: the impersonator's policy allows it; no act.
        let (status, body) = exchange(&f, &f.impersonator, &subject, None, &[("audience", ORDERS)]).await;
        let claims = issued(&f, status, &body, ORDERS).await;
        assert_eq!(claims["sub"], Value::from(f.user_id.clone()), "sub is the subject token's user");
        assert_eq!(claims["aud"], ORDERS);
        assert_eq!(claims["client_id"], Value::from(f.impersonator.id.clone()));
        assert_eq!(claims["scope"], "read write", "the policy's scopes that the API defines");
        assert!(claims.get("act").is_none(), "impersonation names no actor");

        // Delegation: the gateway acts for alice, with its own token.
        let actor = machine_token(&f, &f.gateway, ORDERS).await;
        let (status, body) =
            exchange(&f, &f.gateway, &subject, Some(&actor), &[("resource", ORDERS), ("scope", "read")]).await;
        let delegated = issued(&f, status, &body, ORDERS).await;
        assert_eq!(delegated["sub"], Value::from(f.user_id.clone()));
        assert_eq!(delegated["act"], json!({"sub": f.gateway.id}));
        assert_eq!(delegated["scope"], "read");

        // A chain: billing exchanges the gateway's delegated token; the
        // gateway becomes the prior actor, nested.
        let hop = body["access_token"].as_str().unwrap().to_owned();
        let billing_actor = machine_token(&f, &f.billing, BILLING).await;
        let (status, body) = exchange(&f, &f.billing, &hop, Some(&billing_actor), &[("audience", BILLING)]).await;
        let chained = issued(&f, status, &body, BILLING).await;
        assert_eq!(chained["sub"], Value::from(f.user_id.clone()));
        assert_eq!(chained["act"], json!({"sub": f.billing.id, "act": {"sub": f.gateway.id}}));

        // Discovery lists the grant.
        let disco: Value = reqwest::get(format!("{}/.well-known/openid-configuration", f.server.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(disco["grant_types_supported"].as_array().unwrap().contains(&Value::from(GRANT)));
    }
);

on_both_backends!(
    exchanges_outside_the_clients_policy_or_with_tokens_not_ours_are_refused,
    |backend: Backend| async move {
        let f = fixture(backend);
        let subject = alice_token(&f).await;
        let actor = machine_token(&f, &f.gateway, ORDERS).await;
        let code = |r: (u16, Value)| (r.0, r.1["error"].as_str().unwrap_or_default().to_owned());
        let err = |c: &str| (400, c.to_owned());

        // RFC 8693 §2.2.2: an audience outside the policy is invalid_target.
        let r = exchange(&f, &f.gateway, &subject, Some(&actor), &[("audience", BILLING)]).await;
        assert_eq!(code(r), err("invalid_target"));
        let r = exchange(&f, &f.gateway, &subject, Some(&actor), &[("audience", "https://nowhere.example")]).await;
        assert_eq!(code(r), err("invalid_target"));
        // A scope outside it.
        let r = exchange(&f, &f.gateway, &subject, Some(&actor), &[("audience", ORDERS), ("scope", "write")]).await;
        assert_eq!(code(r), err("invalid_scope"));
        let r = exchange(&f, &f.impersonator, &subject, None, &[("audience", ORDERS), ("scope", "admin")]).await;
        assert_eq!(code(r), err("invalid_scope"), "defined by the API, not in the policy");
        // Impersonation without the policy's consent.
        let r = exchange(&f, &f.gateway, &subject, None, &[("audience", ORDERS)]).await;
        assert_eq!(code(r), err("unauthorized_client"));
        // A client without the grant type.
        let r = exchange(&f, &f.plain, &subject, None, &[("audience", ORDERS)]).await;
        assert_eq!(code(r), err("unauthorized_client"));

        // §2.2.2: a subject or actor token that is invalid "for any reason"
        // is invalid_request: forged (signature changed), garbage, a machine
        // token (no user), an access token declared as an ID token.
        let (head, sig) = subject.rsplit_once('.').unwrap();
        let flipped = format!("{head}.{}{}", if sig.starts_with('A') { "B" } else { "A" }, &sig[1..]);
        let r = exchange(&f, &f.impersonator, &flipped, None, &[("audience", ORDERS)]).await;
        assert_eq!(code(r), err("invalid_request"), "forged subject token");
        let r = exchange(&f, &f.impersonator, "not-a-token", None, &[("audience", ORDERS)]).await;
        assert_eq!(code(r), err("invalid_request"));
        let r = exchange(&f, &f.impersonator, &actor, None, &[("audience", ORDERS)]).await;
        assert_eq!(code(r), err("invalid_request"), "a client's token has no user to act for");
        let r = exchange(&f, &f.gateway, &subject, Some(&flipped), &[("audience", ORDERS)]).await;
        assert_eq!(code(r), err("invalid_request"), "forged actor token");
        let form =
            [("grant_type", GRANT), ("subject_token", &subject), ("subject_token_type", ID), ("audience", ORDERS)];
        let r = post(&f, &f.impersonator, &form).await;
        assert_eq!(code(r), err("invalid_request"), "an access token is no ID token");
    }
);

on_both_backends!(a_bound_plugin_sees_the_subject_as_an_impersonated_user, |backend: Backend| async move {
    let f = fixture(backend);
    f.server.cli_json(&["plugin", "upload", &component("fixtures", "echo-context"), "--name", "echo-context"]);
    f.server.cli_json(&["binding", "create", "--plugin", "echo-context", "--grant-types", GRANT]);
    let subject = alice_token(&f).await;
    let actor = machine_token(&f, &f.gateway, ORDERS).await;
    let (status, body) = exchange(&f, &f.gateway, &subject, Some(&actor), &[("audience", ORDERS)]).await;
    let claims = issued(&f, status, &body, ORDERS).await;
    assert_eq!(claims["ctx"]["grant_type"], GRANT);
    assert_eq!(claims["ctx"]["user_source"], "impersonated");
    assert_eq!(claims["ctx"]["user_id"], Value::from(f.user_id.clone()));
    assert_eq!(claims["ctx"]["client_id"], Value::from(f.gateway.id.clone()));
    assert_eq!(claims["act"], json!({"sub": f.gateway.id}), "the actor survives the pipeline");
});

/// Alice's ID token, from the authorization code flow with PKCE (a
/// cookie-keeping client submits the hosted login form).
async fn alice_id_token(f: &Fixture, web: &App) -> String {
    let browser =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let mut authorize = url::Url::parse(&format!("{}{}", f.server.base, routes::AUTHORIZE)).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &web.id)
        .append_pair("redirect_uri", CB)
        .append_pair("scope", "openid")
        .append_pair("state", "s1")
        .append_pair("nonce", "n1")
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    let login = browser.get(authorize.as_str()).send().await.unwrap().text().await.unwrap();
    let form = [
        ("username", "alice".to_owned()),
        ("password", PASSWORD.to_owned()),
        ("csrf", hidden(&login, "csrf")),
        ("authorize", hidden(&login, "authorize")),
    ];
    let posted = browser.post(format!("{}{}", f.server.base, routes::LOGIN)).form(&form).send().await.unwrap();
    let resume = posted.headers()["location"].to_str().unwrap().to_owned();
    let done = browser.get(format!("{}{resume}", f.server.base)).send().await.unwrap();
    let location = url::Url::parse(done.headers()["location"].to_str().unwrap()).unwrap();
    let code = location.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let (status, body) = post(
        f,
        web,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", verifier.secret()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["id_token"].as_str().unwrap().to_owned()
}

on_both_backends!(an_id_token_of_ours_is_a_subject_token_too, |backend: Backend| async move {
    let f = fixture(backend);
    let web =
        app(&f.server, "web app", &["--grant-types", "authorization_code", "--redirect-uri", CB, "--first-party"]);
    let id_token = alice_id_token(&f, &web).await;
    let form = [("grant_type", GRANT), ("subject_token", &id_token), ("subject_token_type", ID), ("audience", ORDERS)];
    let (status, body) = post(&f, &f.impersonator, &form).await;
    let claims = issued(&f, status, &body, ORDERS).await;
    assert_eq!(claims["sub"], Value::from(f.user_id.clone()));
    // Declared as an access token, an ID token is refused.
    let (status, body) = exchange(&f, &f.impersonator, &id_token, None, &[("audience", ORDERS)]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    // A forged one too.
    let (head, sig) = id_token.rsplit_once('.').unwrap();
    let flipped = format!("{head}.{}{}", if sig.starts_with('A') { "B" } else { "A" }, &sig[1..]);
    let form = [("grant_type", GRANT), ("subject_token", &flipped), ("subject_token_type", ID), ("audience", ORDERS)];
    let (status, body) = post(&f, &f.impersonator, &form).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
});

on_both_backends!(the_console_edits_the_exchange_policy, |backend: Backend| async move {
    let f = fixture(backend);
    let console = Console::signed_in(&f.server).await;
    let path = routes::console::client(&f.gateway.id);
    let page = console.get(&path).await.text().await.unwrap();
    assert!(
        page.contains(&format!(
            "id=\"exchange_audiences\" name=\"exchange_audiences\" type=\"text\" value=\"{ORDERS}\""
        ))
    );
    let subject = alice_token(&f).await;
    let actor = machine_token(&f, &f.gateway, ORDERS).await;
    let r = exchange(&f, &f.gateway, &subject, Some(&actor), &[("audience", BILLING)]).await;
    assert_eq!(r.1["error"], "invalid_target");

    let csrf = console.csrf().await;
    let form = |audiences: &'static str, scopes: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", "gateway".to_owned()),
            ("grant_types", "client_credentials".to_owned()),
            ("grant_types", GRANT.to_owned()),
            ("metadata", "{}".to_owned()),
            ("exchange_audiences", audiences.to_owned()),
            ("exchange_scopes", scopes.to_owned()),
        ]
    };
    let post = |pairs: Vec<(&'static str, String)>| {
        let pairs: Vec<(&str, String)> = pairs;
        let path = path.clone();
        let console = &console;
        async move {
            let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            console.post_edit(&path, &borrowed).await
        }
    };
    let r = post(form("https://orders.api.example, https://billing.api.example", "read, not\"a scope")).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"exchange-scopes-error\""));
    let r = post(form("https://orders.api.example, https://billing.api.example", "read")).await;
    assert_eq!(r.status(), 303);
    let r = exchange(&f, &f.gateway, &subject, Some(&actor), &[("audience", BILLING)]).await;
    let claims = issued(&f, r.0, &r.1, BILLING).await;
    assert_eq!(claims["act"], json!({"sub": f.gateway.id}));
    assert!(console.get(&path).await.text().await.unwrap().contains(BILLING), "the saved policy is shown");
});
