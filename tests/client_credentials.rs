//! RFC 6749 §4.4 client credentials with RFC 9068 JWT access tokens, through
//! the `oauth2` crate, verified against the JWKS found by discovery.

use crate::on_both_backends;
use crate::support::{Backend, TestServer, verify_with_discovery};
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, Scope, TokenResponse, TokenUrl};
use serde_json::Value;
use tessera::web::routes;

/// Gets a token with the `oauth2` crate (client_secret_basic unless `post`).
pub async fn oauth2_token(
    server: &TestServer,
    id: &str,
    secret: &str,
    audience: &str,
    scopes: &[&str],
    post: bool,
) -> String {
    let mut client = BasicClient::new(ClientId::new(id.into()))
        .set_client_secret(ClientSecret::new(secret.into()))
        .set_token_uri(TokenUrl::new(server.token_url()).expect("token url"));
    if post {
        client = client.set_auth_type(AuthType::RequestBody);
    }
    let http = oauth2::reqwest::ClientBuilder::new()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .expect("http");
    let mut req = client.exchange_client_credentials().add_extra_param("audience", audience);
    for s in scopes {
        req = req.add_scope(Scope::new((*s).into()));
    }
    let resp = req.request_async(&http).await.unwrap_or_else(|e| panic!("token request failed: {e:?}"));
    assert_eq!(resp.token_type().as_ref(), "bearer");
    resp.access_token().secret().clone()
}

on_both_backends!(every_asymmetric_algorithm_verifies_against_discovered_jwks, |backend: Backend| async move {
    let server = TestServer::start(backend);
    for alg in ["RS256", "ES256", "EdDSA"] {
        let aud = format!("https://{}.api.example", alg.to_lowercase());
        let (id, secret) = server.api_and_client(&aud, alg, "read,write");
        let token = oauth2_token(&server, &id, &secret, &aud, &["read"], false).await;
        let header = jsonwebtoken::decode_header(&token).expect("header");
        assert_eq!(format!("{:?}", header.alg), alg);
        let claims = verify_with_discovery(&server.base, &token, &aud).await;
        assert_eq!(claims["sub"], Value::from(id.clone()));
        assert_eq!(claims["client_id"], Value::from(id.clone()));
        assert_eq!(claims["scope"], "read");
        assert_eq!(claims["iss"], Value::from(server.base.clone()));
        assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
        let (iat, exp) = (claims["iat"].as_i64().expect("iat"), claims["exp"].as_i64().expect("exp"));
        assert_eq!(exp - iat, 3600);
    }
});

on_both_backends!(hs256_api_token_verifies_with_the_shared_secret, |backend: Backend| async move {
    let server = TestServer::start(backend);
    let api = server.cli_json(&[
        "api",
        "create",
        "--identifier",
        "https://hs.api.example",
        "--alg",
        "HS256",
        "--scopes",
        "read",
        "--lifetime",
        "120",
    ]);
    let shared = api["hs256_secret"].as_str().expect("hs256_secret").to_owned();
    let c = server.cli_json(&["client", "create", "--name", "hs", "--grant-types", "client_credentials"]);
    let token = oauth2_token(
        &server,
        c["client_id"].as_str().unwrap(),
        c["client_secret"].as_str().unwrap(),
        "https://hs.api.example",
        &[],
        true,
    )
    .await;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.set_audience(&["https://hs.api.example"]);
    let data = jsonwebtoken::decode::<Value>(&token, &jsonwebtoken::DecodingKey::from_secret(shared.as_bytes()), &v)
        .expect("HS256 verifies");
    assert_eq!(data.claims["exp"].as_i64().unwrap() - data.claims["iat"].as_i64().unwrap(), 120);
    assert_eq!(data.claims["scope"], "read", "omitted scope grants every allowed scope");
    let wrong = jsonwebtoken::decode::<Value>(&token, &jsonwebtoken::DecodingKey::from_secret(b"not the secret"), &v);
    assert!(wrong.is_err());
});

#[tokio::test]
async fn client_secret_post_and_resource_parameter_work() {
    let server = TestServer::start(Backend::Sqlite);
    let (id, secret) = server.api_and_client("https://res.api.example", "RS256", "read");
    let resp = reqwest::Client::new()
        .post(server.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("resource", "https://res.api.example"),
            ("unknown_param", "ignored"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["pragma"], "no-cache");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    verify_with_discovery(&server.base, body["access_token"].as_str().unwrap(), "https://res.api.example").await;
}

/// docs/security-checklist.md A-11: secrets are generated by the server, and a rotation
/// keeps the old one working through the overlap only.
#[tokio::test]
async fn rotated_client_secret_overlaps_then_old_one_stops_working() {
    let server = TestServer::start(Backend::Sqlite);
    let (id, old) = server.api_and_client("https://rot.api.example", "RS256", "read");
    let added = server.cli_json(&["client", "secret", "add", &id, "--overlap", "3600"]);
    let new = added["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    oauth2_token(&server, &id, &old, "https://rot.api.example", &[], false).await;
    oauth2_token(&server, &id, &new, "https://rot.api.example", &[], false).await;
    // A rotation without overlap ends every other secret now.
    let newest = server.cli_json(&["client", "secret", "add", &id, "--overlap", "0"])["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    oauth2_token(&server, &id, &newest, "https://rot.api.example", &[], false).await;
    for stale in [&old, &new] {
        let r = reqwest::Client::new()
            .post(server.token_url())
            .basic_auth(&id, Some(stale))
            .form(&[("grant_type", "client_credentials"), ("audience", "https://rot.api.example")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let secret_id = server.cli_json(&["client", "secret", "add", &id])["secret_id"].as_str().unwrap().to_owned();
    server.cli(&["client", "secret", "revoke", &id, &secret_id]);
}

/// Several nodes need PostgreSQL: two servers on one database share clients
/// and keys, and a token from one verifies against the other's JWKS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_nodes_share_clients_and_keys() {
    let backend = Backend::Postgres;
    let key = ("TESSERA_MASTER_KEY".to_owned(), "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=".to_owned());
    let a = TestServer::start_with(backend, crate::support::Options { env: vec![key.clone()], ..Default::default() });
    let b = TestServer::start_with(
        backend,
        crate::support::Options { env: vec![key], share_db: Some(a.db.clone()), ..Default::default() },
    );
    let (id, secret) = a.api_and_client("https://multi.api.example", "ES256", "read");
    // The CLI waited for node A; node B follows the change counter too.
    b.wait_synced();
    let token = oauth2_token(&b, &id, &secret, "https://multi.api.example", &["read"], false).await;
    let header = jsonwebtoken::decode_header(&token).expect("header");
    let a_jwks: Value = reqwest::get(format!("{}{}", a.base, routes::JWKS)).await.unwrap().json().await.unwrap();
    assert!(a_jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"].as_str() == header.kid.as_deref()));
    let claims = verify_with_discovery(&b.base, &token, "https://multi.api.example").await;
    assert_eq!(claims["client_id"], Value::from(id.clone()));

    // A plugin uploaded and bound through node A is compiled by node B's
    // warmer (B has its own data directory and cache) and runs there.
    a.cli_json(&["plugin", "upload", &crate::plugins::component("fixtures", "allow-claim"), "--name", "allow"]);
    a.cli_json(&["binding", "create", "--plugin", "allow", "--grant-types", "client_credentials"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !b.log_text().contains("plugin version ready on this node") {
        assert!(std::time::Instant::now() < deadline, "node B never prepared the plugin:\n{}", b.log_text());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    b.wait_synced();
    let token = oauth2_token(&b, &id, &secret, "https://multi.api.example", &[], false).await;
    let claims = verify_with_discovery(&b.base, &token, "https://multi.api.example").await;
    assert_eq!(claims["fixture"], "allow-claim");
}
