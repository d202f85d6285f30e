//! The device authorization grant (RFC 8628) against the real binary: the
//! `oauth2` crate's device flow as the device (endpoint from discovery,
//! polling with its own sleeps), a reqwest client with a cookie store as
//! the user's browser on the hosted pages, and the error paths: denied,
//! expired, another client polling, the code used twice, polling too fast.

use crate::console::Console;
use crate::oidc::hidden;
use crate::on_both_backends;
use crate::support::{Backend, TestServer, verify_with_discovery};
use oauth2::basic::BasicClient;
use oauth2::{
    ClientId, ClientSecret, DeviceAuthorizationUrl, DeviceCodeErrorResponseType, RequestTokenError, Scope,
    StandardDeviceAuthorizationResponse, TokenResponse, TokenUrl,
};
use serde_json::Value;
use std::time::Duration;
use tessera::web::routes;

const AUD: &str = "https://tv.api.example";
const PASSWORD: &str = "alice's long password";
const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

struct Fixture {
    server: TestServer,
    user_id: String,
    id: String,
    secret: String,
}

fn fixture(backend: Backend) -> Fixture {
    let server = TestServer::start(backend);
    server.cli_json(&["api", "create", "--identifier", AUD, "--scopes", "read,write"]);
    let user = server.create_user("alice", PASSWORD, &[]);
    let grants = format!("{GRANT},refresh_token");
    let c = server.cli_json(&["client", "create", "--name", "Living-room TV", "--grant-types", &grants]);
    Fixture {
        user_id: user["id"].as_str().unwrap().to_owned(),
        id: c["client_id"].as_str().unwrap().to_owned(),
        secret: c["client_secret"].as_str().unwrap().to_owned(),
        server,
    }
}

type DeviceClient = BasicClient<
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

/// The device's client, its endpoints taken from discovery.
async fn device_client(f: &Fixture) -> DeviceClient {
    let doc: Value =
        reqwest::get(format!("{}{}", f.server.base, routes::OPENID_CONFIGURATION)).await.unwrap().json().await.unwrap();
    assert!(doc["grant_types_supported"].as_array().unwrap().iter().any(|g| g == GRANT), "{doc}");
    let device_url = doc["device_authorization_endpoint"].as_str().expect("device endpoint advertised");
    BasicClient::new(ClientId::new(f.id.clone()))
        .set_client_secret(ClientSecret::new(f.secret.clone()))
        .set_device_authorization_url(DeviceAuthorizationUrl::new(device_url.to_owned()).unwrap())
        .set_token_uri(TokenUrl::new(doc["token_endpoint"].as_str().unwrap().to_owned()).unwrap())
}

fn http() -> oauth2::reqwest::Client {
    oauth2::reqwest::ClientBuilder::new().redirect(oauth2::reqwest::redirect::Policy::none()).build().unwrap()
}

async fn start(client: &DeviceClient) -> StandardDeviceAuthorizationResponse {
    client
        .exchange_device_code()
        .add_scope(Scope::new("openid".into()))
        .add_scope(Scope::new("read".into()))
        .add_extra_param("audience", AUD)
        .request_async(&http())
        .await
        .expect("device authorization")
}

/// The user, in a browser: opens the complete verification URI, signs in
/// on the device page, and answers `decision` on the confirmation, which
/// must name the client, the API and the scopes.
async fn user_decides(base: &str, complete_uri: &str, decision: &str) {
    let browser =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login = browser.get(complete_uri).send().await.unwrap();
    assert_eq!(login.status(), 200, "not signed in: the login form");
    let login = login.text().await.unwrap();
    assert!(login.contains("Living-room TV"), "{login}");
    let form = [
        ("username", "alice".to_owned()),
        ("password", PASSWORD.to_owned()),
        ("csrf", hidden(&login, "csrf")),
        ("authorize", hidden(&login, "authorize")),
    ];
    let signed_in = browser.post(format!("{base}{}", routes::DEVICE_LOGIN)).form(&form).send().await.unwrap();
    assert_eq!(signed_in.status(), 303);
    let back = signed_in.headers()["location"].to_str().unwrap().to_owned();
    assert!(back.starts_with(routes::DEVICE), "{back}");
    let confirm = browser.get(format!("{base}{back}")).send().await.unwrap();
    assert_eq!(confirm.status(), 200);
    let confirm = confirm.text().await.unwrap();
    for shown in ["Living-room TV", AUD, "openid", "read", "alice"] {
        assert!(confirm.contains(shown), "the confirmation names {shown}:\n{confirm}");
    }
    let form = [
        ("csrf", hidden(&confirm, "csrf")),
        ("user_code", hidden(&confirm, "user_code")),
        ("decision", decision.to_owned()),
    ];
    let done = browser.post(format!("{base}{}", routes::DEVICE)).form(&form).send().await.unwrap();
    assert_eq!(done.status(), 200);
    let done = done.text().await.unwrap();
    let marker = if decision == "allow" { "device-approved" } else { "device-denied" };
    assert!(done.contains(marker), "{done}");
}

/// Sets every device request of the server's database to expired.
fn expire_device_requests(server: &TestServer) {
    use diesel::{Connection, RunQueryDsl};
    let q = diesel::sql_query("UPDATE device_codes SET expires_at = 0");
    let n = match &server.db.url {
        Some(url) => q.execute(&mut diesel::PgConnection::establish(url).unwrap()),
        None => {
            let path = server.dir.path().join("tessera.db");
            q.execute(&mut diesel::SqliteConnection::establish(&path.display().to_string()).unwrap())
        }
    };
    assert!(n.unwrap() > 0, "a device request to expire");
}

on_both_backends!(
    /// The device polls with the oauth2 crate while the user approves in the
    /// browser; the tokens are the user's; the device code works once and
    /// only for its client; polling too fast is slow_down.
    device_flow_gives_the_approving_users_tokens_once,
    |backend: Backend| async move {
        let f = fixture(backend);
        let client = device_client(&f).await;
        let details = start(&client).await;
        let code = details.device_code().secret().clone();
        assert_eq!(details.verification_uri().as_str(), format!("{}{}", f.server.base, routes::DEVICE));
        let complete = details.verification_uri_complete().expect("complete URI").secret().clone();

        // Before the user acts: pending, then slow_down for polling at once.
        let poll = [("grant_type", GRANT), ("device_code", code.as_str())];
        let (status, body) = f.server.token_form(&f.id, &f.secret, &poll).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("authorization_pending")));
        let (status, body) = f.server.token_form(&f.id, &f.secret, &poll).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("slow_down")));

        let device_http = http();
        let polling = client.exchange_device_access_token(&details).request_async(
            &device_http,
            tokio::time::sleep,
            Some(Duration::from_secs(60)),
        );
        let base = f.server.base.clone();
        let user = async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            user_decides(&base, &complete, "allow").await;
        };
        let (token, ()) = tokio::join!(polling, user);
        let token = token.expect("tokens after approval");
        let claims = verify_with_discovery(&f.server.base, token.access_token().secret(), AUD).await;
        assert_eq!(claims["sub"], Value::from(f.user_id.clone()), "the approving user");
        assert_eq!((claims["scope"].as_str(), claims["client_id"].as_str()), (Some("openid read"), Some(f.id.as_str())));
        assert!(token.refresh_token().is_some(), "the client has the refresh grant");

        // Another client with the device grant cannot use the code, and the
        // owner cannot use it twice.
        let other = f.server.cli_json(&["client", "create", "--name", "other", "--grant-types", GRANT]);
        let (other_id, other_secret) = (other["client_id"].as_str().unwrap(), other["client_secret"].as_str().unwrap());
        let (status, body) = f.server.token_form(other_id, other_secret, &poll).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
        let (status, body) = f.server.token_form(&f.id, &f.secret, &poll).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "single use");
    }
);

on_both_backends!(
    /// A denied request is access_denied; an expired one is expired_token
    /// at the token endpoint and a refused code on the user's page.
    denied_and_expired_device_codes_end_the_flow,
    |backend: Backend| async move {
        let f = fixture(backend);
        let client = device_client(&f).await;
        let details = start(&client).await;
        let complete = details.verification_uri_complete().unwrap().secret().clone();
        user_decides(&f.server.base, &complete, "deny").await;
        let denied = client
            .exchange_device_access_token(&details)
            .request_async(&http(), tokio::time::sleep, Some(Duration::from_secs(60)))
            .await;
        match denied {
            Err(RequestTokenError::ServerResponse(e)) => {
                assert_eq!(*e.error(), DeviceCodeErrorResponseType::AccessDenied)
            }
            other => panic!("expected access_denied, got {other:?}"),
        }

        let details = start(&client).await;
        expire_device_requests(&f.server);
        let expired = client
            .exchange_device_access_token(&details)
            .request_async(&http(), tokio::time::sleep, Some(Duration::from_secs(60)))
            .await;
        match expired {
            Err(RequestTokenError::ServerResponse(e)) => {
                assert_eq!(*e.error(), DeviceCodeErrorResponseType::ExpiredToken)
            }
            other => panic!("expected expired_token, got {other:?}"),
        }
        let complete = details.verification_uri_complete().unwrap().secret().clone();
        let page = reqwest::get(&complete).await.unwrap();
        assert_eq!(page.status(), 400, "an expired user code is refused on the page");
    }
);

/// A public client (no secret) starts and polls with its client_id alone,
/// once `client update` gave it the device grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_clients_use_the_device_flow_by_client_id() {
    let server = TestServer::start(Backend::Sqlite);
    let c = server.cli_json(&["client", "create", "--name", "cli", "--public", "--grant-types", "refresh_token"]);
    let id = c["client_id"].as_str().unwrap();
    let http = reqwest::Client::new();
    let start = || {
        http.post(format!("{}{}", server.base, routes::DEVICE_AUTHORIZATION))
            .form(&[("client_id", id), ("scope", "openid")])
            .send()
    };
    let refused = start().await.unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "unauthorized_client");
    server.cli_json(&["client", "update", id, "--grant-types", &format!("{GRANT},refresh_token")]);
    let started = start().await.unwrap();
    assert_eq!(started.status(), 200);
    assert_eq!(started.headers()["cache-control"], "no-store", "RFC 8628 §3.2 follows RFC 6749 §5.1");
    let started: Value = started.json().await.unwrap();
    let code = started["device_code"].as_str().expect("a device code");
    let r = http
        .post(server.token_url())
        .form(&[("grant_type", GRANT), ("device_code", code), ("client_id", id)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "authorization_pending");
}

/// The console's client form offers the device grant, and a client created
/// with it there can start the flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_client_form_offers_the_device_grant() {
    let server = TestServer::start(Backend::Sqlite);
    let console = Console::signed_in(&server).await;
    let form = console.get(routes::console::NEW_CLIENT).await.text().await.unwrap();
    assert!(form.contains(&format!("value=\"{GRANT}\"")), "{form}");
    let r = console
        .post_csrf(routes::console::CLIENTS, &[("name", "Kiosk"), ("kind", "public"), ("grant_types", GRANT)])
        .await;
    assert!(r.status().is_success() || r.status().is_redirection(), "{}", r.status());
    let list = server.cli_json(&["client", "list"]);
    let kiosk = list["clients"].as_array().unwrap().iter().find(|c| c["name"] == "Kiosk").expect("created").clone();
    assert_eq!(kiosk["grant_types"], serde_json::json!([GRANT]), "{kiosk}");
    let started = reqwest::Client::new()
        .post(format!("{}{}", server.base, routes::DEVICE_AUTHORIZATION))
        .form(&[("client_id", kiosk["id"].as_str().unwrap()), ("scope", "openid")])
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 200);
}
