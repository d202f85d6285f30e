//! The JWT bearer grant (RFC 7523 §2.1) against the real binary: a client
//! trusts two issuers (one with inline keys whose `sub` is a username, one
//! whose keys are fetched from a `jwks_uri` and whose `sub` is a user id),
//! trades their assertions for tokens, and every RFC 7523 §3 rule refuses
//! with `invalid_grant`: an untrusted issuer, an unknown user, a replayed
//! `jti`, an expired assertion, a wrong audience, another key. A bound
//! plugin sees the grant type and the mapped user. The console and the
//! management API set the trusted issuers too.

use crate::client_assertion::{KeyServer, assertion, key, now, refetch_at_once};
use crate::console::Console;
use crate::on_both_backends;
use crate::plugins::component;
use crate::support::{Backend, TestServer, verify_with_discovery};
use serde_json::{Value, json};
use tessera::web::routes;

const AUD: &str = "https://bearer.api.example";
const GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const IDP: &str = "https://idp.example";
const REMOTE_IDP: &str = "https://remote-idp.example";

struct Fixture {
    server: TestServer,
    user_id: String,
    client: String,
    secret: String,
    /// Signs as IDP (inline keys, `sub` = username).
    idp: jsonwebtoken::EncodingKey,
    /// Signs as REMOTE_IDP (keys at `keys.url`, `sub` = user id).
    remote: jsonwebtoken::EncodingKey,
    keys: KeyServer,
}

fn fixture(backend: Backend) -> Fixture {
    let server = TestServer::start_with(backend, refetch_at_once());
    server.cli_json(&["api", "create", "--identifier", AUD, "--scopes", "read,write"]);
    let user = server.create_user("alice", "alice's long password", &[]);
    let (idp, idp_jwk) = key("idp-1");
    let (remote, remote_jwk) = key("remote-1");
    let keys = KeyServer::start(String::new());
    keys.serve_keys(&[&remote_jwk]);
    let issuers = json!([
        {"issuer": IDP, "jwks": {"keys": [idp_jwk]}, "subject": "username"},
        {"issuer": REMOTE_IDP, "jwks_uri": keys.url, "subject": "user_id"},
    ]);
    let c = server.cli_json(&[
        "client",
        "create",
        "--name",
        "bearer",
        "--grant-types",
        GRANT,
        "--jwt-bearer-issuers",
        &issuers.to_string(),
    ]);
    let id = c["client_id"].as_str().unwrap();
    let shown = server.cli_json(&["client", "show", id]);
    assert_eq!(shown["jwt_bearer_issuers"][1]["subject"], "user_id", "{shown}");
    Fixture {
        user_id: user["id"].as_str().unwrap().to_owned(),
        client: c["client_id"].as_str().unwrap().to_owned(),
        secret: c["client_secret"].as_str().unwrap().to_owned(),
        server,
        idp,
        remote,
        keys,
    }
}

/// Claims from `iss` about `sub` for our token endpoint, fresh `jti`.
fn claims(f: &Fixture, iss: &str, sub: &str, jti: &str) -> Value {
    json!({"iss": iss, "sub": sub, "aud": f.server.token_url(), "exp": now() + 120, "iat": now(), "jti": jti})
}

async fn grant(f: &Fixture, jwt: &str) -> (u16, Value) {
    f.server.token_form(&f.client, &f.secret, &[("grant_type", GRANT), ("assertion", jwt), ("audience", AUD)]).await
}

on_both_backends!(
    /// Both trusted issuers' assertions become tokens for the mapped user,
    /// once each; discovery lists the grant.
    assertions_from_trusted_issuers_become_tokens_for_the_mapped_user,
    |backend: Backend| async move {
        let f = fixture(backend);
        let doc: Value = reqwest::get(format!("{}{}", f.server.base, routes::OPENID_CONFIGURATION))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(doc["grant_types_supported"].as_array().unwrap().contains(&Value::from(GRANT)), "{doc}");

        let jwt = assertion(&f.idp, "idp-1", &claims(&f, IDP, "alice", "a-1"));
        let (status, body) = grant(&f, &jwt).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        assert!(body.get("refresh_token").is_none(), "no refresh token for an assertion");
        let at = verify_with_discovery(&f.server.base, body["access_token"].as_str().unwrap(), AUD).await;
        assert_eq!(at["sub"], Value::from(f.user_id.clone()), "the username mapped to the user: {at}");
        assert_eq!(at["client_id"], Value::from(f.client.clone()));
        assert_eq!(at["scope"], "read write");

        let (status, body) = grant(&f, &jwt).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "replayed jti: {body}");

        let remote = assertion(&f.remote, "remote-1", &claims(&f, REMOTE_IDP, &f.user_id, "r-1"));
        let (status, body) = f
            .server
            .token_form(
                &f.client,
                &f.secret,
                &[("grant_type", GRANT), ("assertion", &remote), ("audience", AUD), ("scope", "read")],
            )
            .await;
        assert_eq!(status, 200, "keys from the jwks_uri, sub as a user id: {body}");
        assert_eq!(body["scope"], "read");
        assert_eq!(f.keys.hits(), 1);

        // The issuer identifier is an audience too (RFC 7523 §3 item 3).
        let mut to_issuer = claims(&f, IDP, "alice", "a-2");
        to_issuer["aud"] = Value::from(f.server.base.clone());
        let (status, body) = grant(&f, &assertion(&f.idp, "idp-1", &to_issuer)).await;
        assert_eq!(status, 200, "{body}");
    }
);

on_both_backends!(
    /// RFC 7523 §3.1: a bad assertion is invalid_grant, whichever rule it breaks.
    each_bad_assertion_is_invalid_grant,
    |backend: Backend| async move {
        let f = fixture(backend);
        let (stranger, _) = key("idp-1");
        let mut expired = claims(&f, IDP, "alice", "b-3");
        expired["exp"] = json!(now() - 120);
        expired["iat"] = json!(now() - 300);
        let mut wrong_aud = claims(&f, IDP, "alice", "b-4");
        wrong_aud["aud"] = json!("https://elsewhere.example/token");
        let mut no_jti = claims(&f, IDP, "alice", "");
        no_jti.as_object_mut().unwrap().remove("jti");
        for (jwt, why) in [
            (assertion(&f.idp, "idp-1", &claims(&f, "https://untrusted.example", "alice", "b-1")), "untrusted issuer"),
            (assertion(&f.idp, "idp-1", &claims(&f, IDP, "nobody", "b-2")), "unknown user"),
            (assertion(&f.idp, "idp-1", &expired), "expired"),
            (assertion(&f.idp, "idp-1", &wrong_aud), "wrong audience"),
            (assertion(&stranger, "idp-1", &claims(&f, IDP, "alice", "b-5")), "another key"),
            (assertion(&f.idp, "idp-1", &no_jti), "no jti"),
            (assertion(&f.remote, "remote-1", &claims(&f, REMOTE_IDP, "alice", "b-6")), "a username where an id is due"),
        ] {
            let (status, body) = grant(&f, &jwt).await;
            assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{why}: {body}");
        }

        // A client that does not have the grant type cannot use it.
        let (plain, secret) = f.server.api_and_client("https://plain.api.example", "RS256", "read");
        let jwt = assertion(&f.idp, "idp-1", &claims(&f, IDP, "alice", "b-7"));
        let (status, body) =
            f.server.token_form(&plain, &secret, &[("grant_type", GRANT), ("assertion", &jwt), ("audience", AUD)]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")), "{body}");

        // A disabled user gets nothing (users are disabled in the console).
        let console = Console::signed_in(&f.server).await;
        let status_path = format!("{}/status", routes::console::user(&f.user_id));
        assert_eq!(console.post_csrf(&status_path, &[("disabled", "true")]).await.status(), 303);
        f.server.wait_synced();
        let jwt = assertion(&f.idp, "idp-1", &claims(&f, IDP, "alice", "b-8"));
        let (status, body) = grant(&f, &jwt).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "disabled user: {body}");
    }
);

on_both_backends!(
    /// The plugin pipeline runs with the jwt-bearer grant type and the
    /// mapped user as a signed-in user.
    a_bound_plugin_sees_the_grant_type_and_the_mapped_user,
    |backend: Backend| async move {
        let f = fixture(backend);
        f.server.cli_json(&["plugin", "upload", &component("fixtures", "echo-context"), "--name", "echo-context"]);
        f.server.cli_json(&["binding", "create", "--plugin", "echo-context", "--grant-types", GRANT]);
        f.server.wait_synced();
        let (status, body) = grant(&f, &assertion(&f.idp, "idp-1", &claims(&f, IDP, "alice", "p-1"))).await;
        assert_eq!(status, 200, "{body}");
        let at = verify_with_discovery(&f.server.base, body["access_token"].as_str().unwrap(), AUD).await;
        assert_eq!(at["ctx"]["grant_type"], GRANT, "{at}");
        assert_eq!(at["ctx"]["user_source"], "signed-in");
        assert_eq!(at["ctx"]["user_id"], Value::from(f.user_id.clone()));
    }
);

/// The console's client page lists the trusted issuers, adds one (an entry
/// without keys is refused with a message) and removes one, after which its
/// assertions are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_adds_and_removes_trusted_issuers() {
    let f = fixture(Backend::Sqlite);
    let console = Console::signed_in(&f.server).await;
    let path = routes::console::CLIENT.replace("{id}", &f.client);
    let page = console.get(&path).await.text().await.unwrap();
    assert!(page.contains("id=\"trusted-issuers\"") && page.contains(REMOTE_IDP), "the list is shown");
    assert!(page.contains(GRANT), "the grant type is offered");

    let add = format!("{path}/issuers");
    let refused = console.post_csrf(&add, &[("issuer", "https://x.example"), ("subject", "username")]).await;
    assert_eq!(refused.status(), 422);
    let text = refused.text().await.unwrap();
    assert!(text.contains("give its jwks or its jwks_uri"), "{text}");
    assert!(
        text.contains(r#"value="https://x.example" aria-invalid="true" aria-describedby="jwt-bearer-issuers-error""#),
        "the refused issuer is marked on the client's page, as typed: {text}"
    );
    let r = console
        .post_csrf(&add, &[("issuer", "https://third.example"), ("jwks_uri", &f.keys.url), ("subject", "user_id")])
        .await;
    assert_eq!(r.status(), 303);
    let r = console.post_csrf(&format!("{path}/issuers/remove"), &[("issuer", IDP)]).await;
    assert_eq!(r.status(), 303);
    let shown = f.server.cli_json(&["client", "show", &f.client]);
    let names: Vec<&str> =
        shown["jwt_bearer_issuers"].as_array().unwrap().iter().map(|t| t["issuer"].as_str().unwrap()).collect();
    assert_eq!(names, [REMOTE_IDP, "https://third.example"], "{shown}");
    f.server.wait_synced();
    let (status, body) = grant(&f, &assertion(&f.idp, "idp-1", &claims(&f, IDP, "alice", "c-1"))).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "the removed issuer is not trusted");

    // The client form sets the client's own jwks_uri (private_key_jwt).
    let csrf = console.csrf().await;
    let form =
        [("name", "bearer"), ("grant_types", GRANT), ("jwks", ""), ("jwks_uri", f.keys.url.as_str()), ("csrf", &csrf)];
    assert_eq!(console.post_edit(&path, &form).await.status(), 303);
    let shown = f.server.cli_json(&["client", "show", &f.client]);
    assert_eq!(shown["jwks_uri"], Value::from(f.keys.url.clone()), "{shown}");
    let page = console.get(&path).await.text().await.unwrap();
    assert!(page.contains(&format!("value=\"{}\"", f.keys.url)), "the form shows the URL");
}

/// The management API's client resource carries the trusted issuers and the
/// `jwks_uri`, validated as the CLI and the console validate them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_management_api_sets_the_trusted_issuers_and_the_jwks_uri() {
    let f = fixture(Backend::Sqlite);
    let m = f.server.cli_json(&["mgmt-client", "create", "--name", "ci", "--scopes", "read:clients,write:clients"]);
    let (id, secret) = (m["client_id"].as_str().unwrap(), m["client_secret"].as_str().unwrap());
    let pairs = [
        ("grant_type", "client_credentials"),
        ("audience", tessera::service::oauth::management::MANAGEMENT_AUDIENCE),
        ("scope", "read:clients write:clients"),
    ];
    let (status, body) = f.server.token_form(id, secret, &pairs).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let url = format!("{}{}", f.server.base, routes::api::client(&f.client));
    let http = reqwest::Client::new();
    let read = http.get(&url).bearer_auth(&token).send().await.unwrap();
    let etag = read.headers()["etag"].to_str().unwrap().to_owned();
    let shown: Value = read.json().await.unwrap();
    assert_eq!(shown["jwt_bearer_issuers"].as_array().map(Vec::len), Some(2), "{shown}");

    let patch = |etag: String, body: Value| {
        http.patch(&url)
            .bearer_auth(&token)
            .header("if-match", etag)
            .header("content-type", "application/merge-patch+json")
            .body(body.to_string())
            .send()
    };
    let r =
        patch(etag.clone(), json!({"jwt_bearer_issuers": [{"issuer": "https://x.example", "subject": "username"}]}))
            .await
            .unwrap();
    assert_eq!(r.status().as_u16(), 400, "an issuer without keys");
    let r = patch(
        etag,
        json!({"jwks_uri": f.keys.url, "jwt_bearer_issuers": [{"issuer": REMOTE_IDP, "jwks_uri": f.keys.url, "subject": "user_id"}]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["jwks_uri"], Value::from(f.keys.url.clone()), "{body}");
    assert_eq!(body["jwt_bearer_issuers"][0]["issuer"], REMOTE_IDP, "{body}");
    assert_eq!(body["jwt_bearer_issuers"].as_array().map(Vec::len), Some(1));
}
