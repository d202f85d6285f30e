//! RFC 7662 introspection and RFC 7009 revocation.

use crate::support::{Backend, TestServer};
use serde_json::Value;

const AUD: &str = "https://introspect.api.example";

async fn post(server: &TestServer, path: &str, auth: Option<(&str, &str)>, form: &[(&str, &str)]) -> (u16, Value) {
    let mut req = reqwest::Client::new().post(format!("{}{path}", server.base)).form(form);
    if let Some((id, secret)) = auth {
        req = req.basic_auth(id, Some(secret));
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    assert_eq!(r.headers()["cache-control"], "no-store");
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_and_revocation_follow_rfc7662_and_rfc7009() {
    let server = TestServer::start(Backend::Sqlite);
    let disco: Value = reqwest::get(format!("{}/.well-known/oauth-authorization-server", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(disco["introspection_endpoint"], Value::from(format!("{}/oauth/introspect", server.base)));
    assert_eq!(disco["revocation_endpoint"], Value::from(format!("{}/oauth/revoke", server.base)));

    let (rs, rs_secret) = server.api_and_client(AUD, "RS256", "read");
    let hs = server.cli_json(&["api", "create", "--identifier", "https://hs.introspect.example", "--alg", "HS256"]);
    assert!(hs["hs256_secret"].is_string());
    server.create_user("bob", "bob's long password", &[]);
    let app = server.cli_json(&["client", "create", "--name", "app", "--grant-types", "password,refresh_token"]);
    let (app_id, app_secret) = (app["client_id"].as_str().unwrap(), app["client_secret"].as_str().unwrap());

    // An access token: active with its claims; tampered: inactive.
    let (_, t) = post(
        &server,
        "/oauth/token",
        Some((&rs, &rs_secret)),
        &[("grant_type", "client_credentials"), ("audience", AUD)],
    )
    .await;
    let at = t["access_token"].as_str().unwrap().to_owned();
    let (status, i) = post(&server, "/oauth/introspect", Some((app_id, app_secret)), &[("token", &at)]).await;
    assert_eq!(status, 200);
    assert_eq!(i["active"], true);
    assert_eq!(i["client_id"], Value::from(rs.clone()));
    assert_eq!(i["scope"], "read");
    assert_eq!(i["token_type"], "Bearer");
    let mut tampered = at.clone();
    tampered.insert(at.len() - 3, 'A');
    let (_, i) = post(&server, "/oauth/introspect", Some((app_id, app_secret)), &[("token", &tampered)]).await;
    assert_eq!(i, serde_json::json!({"active": false}), "an inactive token reveals nothing else");

    // HS256 tokens verify with their API's secret.
    let (_, t) = post(
        &server,
        "/oauth/token",
        Some((&rs, &rs_secret)),
        &[("grant_type", "client_credentials"), ("audience", "https://hs.introspect.example")],
    )
    .await;
    let (_, i) = post(
        &server,
        "/oauth/introspect",
        Some((app_id, app_secret)),
        &[("token", t["access_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(i["active"], true);

    // Introspection needs an authenticated confidential client.
    let (status, e) = post(&server, "/oauth/introspect", None, &[("token", &at)]).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_client")));

    // Refresh tokens: active for their own client only; revocation ends the family.
    let (_, pw) = post(
        &server,
        "/oauth/token",
        Some((app_id, app_secret)),
        &[("grant_type", "password"), ("username", "bob"), ("password", "bob's long password"), ("audience", AUD)],
    )
    .await;
    let rt = pw["refresh_token"].as_str().unwrap().to_owned();
    let (_, i) = post(
        &server,
        "/oauth/introspect",
        Some((app_id, app_secret)),
        &[("token", &rt), ("token_type_hint", "refresh_token")],
    )
    .await;
    assert_eq!(i["active"], true);
    assert_eq!(i["token_type"], "refresh_token");
    assert_eq!(i["aud"], AUD);
    let (_, i) = post(&server, "/oauth/introspect", Some((&rs, &rs_secret)), &[("token", &rt)]).await;
    assert_eq!(i["active"], false, "another client learns nothing about it");

    let (status, _) = post(&server, "/oauth/revoke", Some((&rs, &rs_secret)), &[("token", &rt)]).await;
    assert_eq!(status, 200, "another client's token: 200, and nothing happens");
    let (_, i) = post(&server, "/oauth/introspect", Some((app_id, app_secret)), &[("token", &rt)]).await;
    assert_eq!(i["active"], true);
    let (status, _) = post(&server, "/oauth/revoke", Some((app_id, app_secret)), &[("token", &rt)]).await;
    assert_eq!(status, 200);
    let (_, i) = post(&server, "/oauth/introspect", Some((app_id, app_secret)), &[("token", &rt)]).await;
    assert_eq!(i["active"], false, "revoked");
    let (_, r) = post(
        &server,
        "/oauth/token",
        Some((app_id, app_secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .await;
    assert_eq!(r["error"], "invalid_grant");

    let (status, _) = post(&server, "/oauth/revoke", Some((app_id, app_secret)), &[("token", "never-issued")]).await;
    assert_eq!(status, 200, "unknown tokens are not an error (RFC 7009 §2.2)");
    let (status, e) = post(&server, "/oauth/revoke", Some((app_id, app_secret)), &[("token", &at)]).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("unsupported_token_type")));
}
