//! RFC 6749 §5.2 error responses of the token endpoint: status, `error`,
//! headers, and RFC 8707 `invalid_target`.

use crate::support::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::Value;
use tessera::web::routes;

struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn post(server: &TestServer, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> Reply {
    let mut req = reqwest::Client::new().post(server.token_url()).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let resp = req.send().await.expect("send");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.json().await.unwrap_or(Value::Null);
    Reply { status, headers, body }
}

fn assert_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "body: {}", r.body);
    assert_eq!(r.body["error"], code, "body: {}", r.body);
    assert_eq!(r.headers["cache-control"], "no-store");
    assert_eq!(r.headers["pragma"], "no-cache");
    assert!(r.headers["content-type"].to_str().unwrap().starts_with("application/json"));
    let d = r.body["error_description"].as_str().expect("error_description");
    assert!(
        d.chars().all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')),
        "RFC 6749 §5.2 charset: {d:?}"
    );
    if code == "invalid_client" {
        assert!(r.headers["www-authenticate"].to_str().unwrap().starts_with("Basic "), "401 carries WWW-Authenticate");
    }
}

const AUD: &str = "https://errors.api.example";

/// docs/security-checklist.md O-38 (error format and headers), O-34 (no-store), O-36
/// (a repeated parameter is `invalid_request`), O-26 (grant types that are
/// not offered are `unsupported_grant_type`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_token_error_path_follows_rfc6749() {
    let server = TestServer::start(Backend::Sqlite);
    let (id, secret) = server.api_and_client(AUD, "RS256", "read,write");
    let cc = ("grant_type", "client_credentials");
    let aud = ("audience", AUD);

    // invalid_client: wrong secret, unknown client, no authentication at all.
    assert_error(&post(&server, Some((&id, "wrong")), &[cc, aud]).await, 401, "invalid_client");
    assert_error(&post(&server, Some(("nobody", "x")), &[cc, aud]).await, 401, "invalid_client");
    assert_error(
        &post(&server, None, &[cc, aud, ("client_id", "nobody"), ("client_secret", "x")]).await,
        401,
        "invalid_client",
    );
    assert_error(&post(&server, None, &[cc, aud]).await, 401, "invalid_client");

    // invalid_request: missing grant_type, repeated parameter, two auth methods, no audience.
    assert_error(&post(&server, Some((&id, &secret)), &[aud]).await, 400, "invalid_request");
    assert_error(
        &post(&server, Some((&id, &secret)), &[cc, aud, ("scope", "read"), ("scope", "write")]).await,
        400,
        "invalid_request",
    );
    assert_error(
        &post(&server, Some((&id, &secret)), &[cc, aud, ("client_secret", &secret)]).await,
        400,
        "invalid_request",
    );
    assert_error(&post(&server, Some((&id, &secret)), &[cc]).await, 400, "invalid_request");

    // unsupported_grant_type: unknown, and known but not offered.
    assert_error(
        &post(&server, Some((&id, &secret)), &[("grant_type", "magic"), aud]).await,
        400,
        "unsupported_grant_type",
    );
    assert_error(
        &post(&server, Some((&id, &secret)), &[("grant_type", "urn:ietf:params:oauth:grant-type:saml2-bearer"), aud])
            .await,
        400,
        "unsupported_grant_type",
    );

    // invalid_scope: not defined by the API, and malformed.
    assert_error(&post(&server, Some((&id, &secret)), &[cc, aud, ("scope", "read admin")]).await, 400, "invalid_scope");
    assert_error(&post(&server, Some((&id, &secret)), &[cc, aud, ("scope", "re\"ad")]).await, 400, "invalid_scope");

    // invalid_target: unknown audience, malformed resource.
    assert_error(
        &post(&server, Some((&id, &secret)), &[cc, ("audience", "https://unknown.example")]).await,
        400,
        "invalid_target",
    );
    assert_error(&post(&server, Some((&id, &secret)), &[cc, ("resource", "not-a-uri")]).await, 400, "invalid_target");

    // The valid request still works after all of that.
    let ok = post(&server, Some((&id, &secret)), &[cc, aud, ("scope", "write")]).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["scope"], "write");
}

/// docs/security-checklist.md O-27: client_credentials is for confidential clients only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_the_grant_are_unauthorized_client() {
    let server = TestServer::start(Backend::Sqlite);
    server.cli_json(&["api", "create", "--identifier", AUD]);
    let conf = server.cli_json(&[
        "client",
        "create",
        "--name",
        "web",
        "--grant-types",
        "authorization_code",
        "--redirect-uri",
        "https://app.example/cb",
    ]);
    let r = post(
        &server,
        Some((conf["client_id"].as_str().unwrap(), conf["client_secret"].as_str().unwrap())),
        &[("grant_type", "client_credentials"), ("audience", AUD)],
    )
    .await;
    assert_error(&r, 400, "unauthorized_client");

    let public = server.cli_json(&[
        "client",
        "create",
        "--name",
        "spa",
        "--public",
        "--grant-types",
        "authorization_code",
        "--redirect-uri",
        "https://app.example/cb",
    ]);
    assert!(public["client_secret"].is_null(), "public clients get no secret");
    let r = post(
        &server,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("audience", AUD),
            ("client_id", public["client_id"].as_str().unwrap()),
        ],
    )
    .await;
    assert_error(&r, 400, "unauthorized_client");
}

/// docs/security-checklist.md O-39: access tokens are restricted to an audience the client may request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_restricted_to_scopes_and_audiences_gets_only_those() {
    let server = TestServer::start(Backend::Sqlite);
    server.cli_json(&["api", "create", "--identifier", AUD, "--scopes", "read,write"]);
    server.cli_json(&["api", "create", "--identifier", "https://other.api.example", "--scopes", "read"]);
    let c = server.cli_json(&[
        "client",
        "create",
        "--name",
        "narrow",
        "--grant-types",
        "client_credentials",
        "--scopes",
        "read",
        "--audiences",
        AUD,
    ]);
    let (id, secret) = (c["client_id"].as_str().unwrap(), c["client_secret"].as_str().unwrap());
    let cc = ("grant_type", "client_credentials");
    let ok = post(&server, Some((id, secret)), &[cc, ("audience", AUD)]).await;
    assert_eq!(ok.body["scope"], "read");
    assert_error(
        &post(&server, Some((id, secret)), &[cc, ("audience", AUD), ("scope", "write")]).await,
        400,
        "invalid_scope",
    );
    assert_error(
        &post(&server, Some((id, secret)), &[cc, ("audience", "https://other.api.example")]).await,
        400,
        "invalid_target",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_accepts_only_form_posts() {
    let server = TestServer::start(Backend::Sqlite);
    let get = reqwest::get(server.token_url()).await.unwrap();
    assert_eq!(get.status(), 405);
    assert_eq!(get.headers()["allow"], "POST");
    let json = reqwest::Client::new()
        .post(server.token_url())
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 400);
    let body: Value = json.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    let huge = "a".repeat(200 * 1024);
    let big =
        reqwest::Client::new().post(server.token_url()).form(&[("grant_type", huge.as_str())]).send().await.unwrap();
    assert_eq!(big.status(), 413);
    assert_eq!(crate::support::http_status(&server.base, routes::HEALTHZ), Some(200), "server still healthy");
}
