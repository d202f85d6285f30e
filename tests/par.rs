//! Pushed authorization requests (RFC 9126) against the real binary: the
//! client pushes with reqwest (endpoint from discovery), a cookie-keeping
//! reqwest client is the browser on the hosted login, and the `openidconnect`
//! crate redeems the code with its PKCE verifier and verifies the ID token.
//! Error paths: a reference used twice, expired, another client's, a client
//! that requires PAR without it, PAR turned off.

use crate::console::Console;
use crate::oidc::hidden;
use crate::on_both_backends;
use crate::support::{Backend, Options, TestServer};
use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    TokenResponse,
};
use reqwest::redirect::Policy;
use serde_json::Value;
use tessera::web::routes;

const CB: &str = "https://app.example/cb";
const PASSWORD: &str = "alice's long password";

struct Fixture {
    server: TestServer,
    user_id: String,
    id: String,
    secret: String,
}

fn fixture_with(backend: Backend, opts: Options) -> Fixture {
    let server = TestServer::start_with(backend, opts);
    let user = server.create_user("alice", PASSWORD, &[]);
    let c = server.cli_json(&[
        "client",
        "create",
        "--name",
        "Pushing App",
        "--grant-types",
        "authorization_code",
        "--redirect-uri",
        CB,
        "--first-party",
    ]);
    Fixture {
        user_id: user["id"].as_str().unwrap().to_owned(),
        id: c["client_id"].as_str().unwrap().to_owned(),
        secret: c["client_secret"].as_str().unwrap().to_owned(),
        server,
    }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap()
}

async fn discovery(base: &str) -> Value {
    reqwest::get(format!("{base}{}", routes::OPENID_CONFIGURATION)).await.unwrap().json().await.unwrap()
}

/// Pushes a code + PKCE request for `openid` with `state` and `nonce` as
/// `id` (HTTP Basic); the status and JSON body.
async fn push(f: &Fixture, id: &str, secret: &str, challenge: &str) -> (u16, Value) {
    let doc = discovery(&f.server.base).await;
    let endpoint = doc["pushed_authorization_request_endpoint"].as_str().expect("PAR advertised");
    let form = [
        ("response_type", "code"),
        ("redirect_uri", CB),
        ("scope", "openid"),
        ("state", "pushed-state"),
        ("nonce", "pushed-nonce"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    let r = reqwest::Client::new().post(endpoint).basic_auth(id, Some(secret)).form(&form).send().await.unwrap();
    let status = r.status().as_u16();
    if status == 201 {
        assert_eq!(r.headers()["cache-control"], "no-store");
    }
    (status, r.json().await.unwrap_or(Value::Null))
}

fn authorize_url(f: &Fixture, client_id: &str, request_uri: &str) -> String {
    let q = serde_urlencoded::to_string([("client_id", client_id), ("request_uri", request_uri)]).unwrap();
    format!("{}{}?{q}", f.server.base, routes::AUTHORIZE)
}

/// Signs alice in on the login form of `url`; the final Location (the
/// client's redirect URI with the response).
async fn sign_in(f: &Fixture, url: &str) -> String {
    let b = browser();
    let page = b.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200, "login page");
    let html = page.text().await.unwrap();
    let form = [
        ("username", "alice".to_owned()),
        ("password", PASSWORD.to_owned()),
        ("csrf", hidden(&html, "csrf")),
        ("authorize", hidden(&html, "authorize")),
    ];
    let posted = b.post(format!("{}{}", f.server.base, routes::LOGIN)).form(&form).send().await.unwrap();
    assert_eq!(posted.status(), 303);
    let resume = posted.headers()["location"].to_str().unwrap().to_owned();
    let done = b.get(format!("{}{resume}", f.server.base)).send().await.unwrap();
    assert_eq!(done.status(), 302);
    done.headers()["location"].to_str().unwrap().to_owned()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// A page refusing the reference: 400, no redirect, the RFC 9101 code.
async fn refused(url: &str, why: &str) {
    let r = browser().get(url).send().await.unwrap();
    assert_eq!(r.status(), 400, "{why}");
    assert!(r.headers().get("location").is_none(), "{why}: never redirected");
    let text = r.text().await.unwrap();
    assert!(text.contains("invalid_request_uri"), "{why}: {text}");
}

/// Sets every pushed request of the server's database to expired.
fn expire_pushed_requests(server: &TestServer) {
    use diesel::{Connection, RunQueryDsl};
    let q = diesel::sql_query("UPDATE pushed_requests SET expires_at = 0");
    let n = match &server.db.url {
        Some(url) => q.execute(&mut diesel::PgConnection::establish(url).unwrap()),
        None => {
            let path = server.dir.path().join("tessera.db");
            q.execute(&mut diesel::SqliteConnection::establish(&path.display().to_string()).unwrap())
        }
    };
    assert!(n.unwrap() > 0, "a pushed request to expire");
}

on_both_backends!(
    /// A full code + PKCE flow through PAR: the openidconnect crate redeems
    /// the code and verifies the ID token (nonce from the pushed request);
    /// the reference is single use, expires, and belongs to its client.
    code_flow_through_par_and_its_refusals,
    |backend: Backend| async move {
        let f = fixture_with(backend, Options::default());
        let doc = discovery(&f.server.base).await;
        assert_eq!(
            doc["pushed_authorization_request_endpoint"],
            Value::from(format!("{}{}", f.server.base, routes::PAR))
        );
        assert_eq!(doc["require_pushed_authorization_requests"], Value::Bool(false));

        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (status, pushed) = push(&f, &f.id, &f.secret, challenge.as_str()).await;
        assert_eq!(status, 201, "{pushed}");
        assert_eq!(pushed["expires_in"], Value::from(60));
        let request_uri = pushed["request_uri"].as_str().unwrap().to_owned();
        assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"), "{request_uri}");

        let url = authorize_url(&f, &f.id, &request_uri);
        let location = sign_in(&f, &url).await;
        assert!(location.starts_with(CB), "{location}");
        assert_eq!(query_param(&location, "state").as_deref(), Some("pushed-state"));
        let code = query_param(&location, "code").unwrap();

        let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(f.server.base.clone()).unwrap(), &rp_http())
            .await
            .expect("discovery");
        let rp = CoreClient::from_provider_metadata(meta, ClientId::new(f.id.clone()), Some(ClientSecret::new(f.secret.clone())))
            .set_redirect_uri(RedirectUrl::new(CB.into()).unwrap());
        let token = rp
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.secret().clone()))
            .request_async(&rp_http())
            .await
            .expect("code exchange with the pushed PKCE challenge");
        let claims = token
            .id_token()
            .expect("openid was pushed")
            .claims(&rp.id_token_verifier(), &Nonce::new("pushed-nonce".into()))
            .expect("the ID token verifies with the pushed nonce");
        assert_eq!(claims.subject().as_str(), f.user_id);

        refused(&url, "used once").await;

        // Another client cannot use this client's reference.
        let other = f.server.cli_json(&[
            "client", "create", "--name", "other", "--grant-types", "authorization_code", "--redirect-uri", CB,
        ]);
        let (status, pushed) = push(&f, &f.id, &f.secret, challenge.as_str()).await;
        assert_eq!(status, 201);
        let request_uri = pushed["request_uri"].as_str().unwrap();
        refused(&authorize_url(&f, other["client_id"].as_str().unwrap(), request_uri), "another client's").await;
        // A wrong secret cannot push.
        let (status, body) = push(&f, &f.id, "wrong", challenge.as_str()).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));

        // Expired before the browser came.
        expire_pushed_requests(&f.server);
        refused(&authorize_url(&f, &f.id, request_uri), "expired").await;
    }
);

on_both_backends!(
    /// `client update --require-par`: the client's plain authorization
    /// requests are refused (at its redirect URI, which is valid), pushed
    /// ones work; the setting shows in `client show`.
    a_client_that_requires_par_must_push,
    |backend: Backend| async move {
        let f = fixture_with(backend, Options::default());
        let shown = f.server.cli_json(&["client", "update", &f.id, "--require-par", "true"]);
        assert_eq!(shown["require_pushed_authorization_requests"], Value::Bool(true), "{shown}");
        let (challenge, _) = PkceCodeChallenge::new_random_sha256();
        let direct = format!(
            "{}{}?{}",
            f.server.base,
            routes::AUTHORIZE,
            serde_urlencoded::to_string([
                ("client_id", f.id.as_str()),
                ("response_type", "code"),
                ("redirect_uri", CB),
                ("state", "direct"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ])
            .unwrap()
        );
        let r = browser().get(&direct).send().await.unwrap();
        assert_eq!(r.status(), 302);
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with(CB), "{location}");
        assert_eq!(query_param(&location, "error").as_deref(), Some("invalid_request"));
        assert_eq!(query_param(&location, "state").as_deref(), Some("direct"));

        let (status, pushed) = push(&f, &f.id, &f.secret, challenge.as_str()).await;
        assert_eq!(status, 201, "{pushed}");
        let location = sign_in(&f, &authorize_url(&f, &f.id, pushed["request_uri"].as_str().unwrap())).await;
        assert!(query_param(&location, "code").is_some(), "{location}");
    }
);

/// `[par] enabled = false`: no endpoint (404), nothing in discovery, and
/// references are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn par_turned_off_is_not_advertised_or_served() {
    let opts = Options { env: vec![("TESSERA_PAR__ENABLED".into(), "false".into())], ..Options::default() };
    let f = fixture_with(Backend::Sqlite, opts);
    let doc = discovery(&f.server.base).await;
    assert!(doc.get("pushed_authorization_request_endpoint").is_none(), "{doc}");
    assert!(doc.get("require_pushed_authorization_requests").is_none(), "{doc}");
    let r = reqwest::Client::new()
        .post(format!("{}{}", f.server.base, routes::PAR))
        .basic_auth(&f.id, Some(&f.secret))
        .form(&[("response_type", "code"), ("redirect_uri", CB)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    refused(&authorize_url(&f, &f.id, "urn:ietf:params:oauth:request_uri:x"), "PAR is off").await;
}

/// The console's client form shows the PAR requirement and saves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_client_form_sets_the_par_requirement() {
    let server = TestServer::start(Backend::Sqlite);
    let console = Console::signed_in(&server).await;
    let form = console.get(routes::console::NEW_CLIENT).await.text().await.unwrap();
    assert!(form.contains("name=\"require_pushed_authorization_requests\""), "{form}");
    let r = console
        .post_csrf(
            routes::console::CLIENTS,
            &[
                ("name", "Pusher"),
                ("kind", "confidential"),
                ("grant_types", "authorization_code"),
                ("redirect_uris", CB),
                ("require_pushed_authorization_requests", "on"),
            ],
        )
        .await;
    assert!(r.status().is_success() || r.status().is_redirection(), "{}", r.status());
    let list = server.cli_json(&["client", "list"]);
    let c = list["clients"].as_array().unwrap().iter().find(|c| c["name"] == "Pusher").expect("created").clone();
    let shown = server.cli_json(&["client", "show", c["id"].as_str().unwrap()]);
    assert_eq!(shown["require_pushed_authorization_requests"], Value::Bool(true), "{shown}");
}

fn rp_http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}
