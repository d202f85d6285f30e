//! User grants without a browser: the password grant (RFC 6749 §4.3, off by
//! default, throttled) and refresh tokens with rotation and family revocation
//! (RFC 6749 §6, RFC 9700 §4.14.2), through the `oauth2` crate.

use crate::on_both_backends;
use crate::plugins::component;
use crate::support::{Backend, Options, TestServer, verify_with_discovery};
use oauth2::basic::BasicClient;
use oauth2::{
    ClientId, ClientSecret, RefreshToken, ResourceOwnerPassword, ResourceOwnerUsername, Scope, TokenResponse, TokenUrl,
};
use serde_json::{Value, json};
use tessera::web::routes;

const AUD: &str = "https://users.api.example";
const PASSWORD: &str = "correct horse battery staple";

struct Fixture {
    server: TestServer,
    id: String,
    secret: String,
    user_id: String,
}

fn fixture(backend: Backend, env: Vec<(String, String)>) -> Fixture {
    let server = TestServer::start_with(backend, Options { env, ..Default::default() });
    server.cli_json(&["api", "create", "--identifier", AUD, "--scopes", "read,write"]);
    let user = server.create_user("alice", PASSWORD, &[]);
    let c = server.cli_json(&["client", "create", "--name", "ci", "--grant-types", "password,refresh_token"]);
    Fixture {
        id: c["client_id"].as_str().unwrap().to_owned(),
        secret: c["client_secret"].as_str().unwrap().to_owned(),
        user_id: user["id"].as_str().unwrap().to_owned(),
        server,
    }
}

fn oauth_client(
    f: &Fixture,
) -> BasicClient<
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
> {
    BasicClient::new(ClientId::new(f.id.clone()))
        .set_client_secret(ClientSecret::new(f.secret.clone()))
        .set_token_uri(TokenUrl::new(f.server.token_url()).unwrap())
}

fn http() -> oauth2::reqwest::Client {
    oauth2::reqwest::ClientBuilder::new().redirect(oauth2::reqwest::redirect::Policy::none()).build().unwrap()
}

async fn form(f: &Fixture, pairs: &[(&str, &str)]) -> (u16, Value) {
    f.server.token_form(&f.id, &f.secret, pairs).await
}

async fn password_login(f: &Fixture, password: &str) -> (u16, Value) {
    form(f, &[("grant_type", "password"), ("username", "alice"), ("password", password), ("audience", AUD)]).await
}

on_both_backends!(
    /// docs/security-checklist.md O-28 (rotation; reuse revokes the family), O-30 (a
    /// refresh cannot widen the scope), O-32 (a tampered token is refused),
    /// O-39 (`aud`), O-40 (`sub` is the user).
    password_grant_gives_a_user_token_and_a_rotating_refresh_token,
    |backend: Backend| async move {
    let f = fixture(backend, vec![]);
    let resp = oauth_client(&f)
        .exchange_password(&ResourceOwnerUsername::new("alice".into()), &ResourceOwnerPassword::new(PASSWORD.into()))
        .add_extra_param("audience", AUD)
        .add_scope(Scope::new("read".into()))
        .request_async(&http())
        .await
        .expect("password grant");
    let claims = verify_with_discovery(&f.server.base, resp.access_token().secret(), AUD).await;
    assert_eq!(claims["sub"], Value::from(f.user_id.clone()), "sub is the user");
    assert_eq!(claims["client_id"], Value::from(f.id.clone()));
    assert_eq!(claims["scope"], "read");
    let rt1 = resp.refresh_token().expect("refresh token").secret().clone();

    let refreshed = oauth_client(&f)
        .exchange_refresh_token(&RefreshToken::new(rt1.clone()))
        .request_async(&http())
        .await
        .expect("refresh");
    let rt2 = refreshed.refresh_token().expect("rotated").secret().clone();
    assert_ne!(rt1, rt2, "rotated on every use");
    let claims = verify_with_discovery(&f.server.base, refreshed.access_token().secret(), AUD).await;
    assert_eq!(claims["sub"], Value::from(f.user_id.clone()));
    assert_eq!(claims["scope"], "read");

    // Widening the scope on refresh is refused; narrowing would be allowed.
    let (status, body) =
        form(&f, &[("grant_type", "refresh_token"), ("refresh_token", &rt2), ("scope", "read write")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));

    // O-32: a token with one character changed is no token at all.
    let mut flipped = rt2.clone().into_bytes();
    flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let (status, body) = form(&f, &[("grant_type", "refresh_token"), ("refresh_token", &flipped)]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));

    // Reuse of the rotated token revokes the family: rt2 stops working too.
    let (status, body) = form(&f, &[("grant_type", "refresh_token"), ("refresh_token", &rt1)]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    let (status, body) = form(&f, &[("grant_type", "refresh_token"), ("refresh_token", &rt2)]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "family revoked after reuse");
});

/// docs/security-checklist.md O-26 (the password grant is off unless an admin enables it
/// per client) and O-29 (a refresh token is bound to its client).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_grant_is_off_unless_enabled_and_never_says_which_credential_was_wrong() {
    let f = fixture(Backend::Sqlite, vec![]);
    let m2m = f.server.cli_json(&["client", "create", "--name", "m2m", "--grant-types", "client_credentials"]);
    let r = reqwest::Client::new()
        .post(f.server.token_url())
        .basic_auth(m2m["client_id"].as_str().unwrap(), m2m["client_secret"].as_str())
        .form(&[("grant_type", "password"), ("username", "alice"), ("password", PASSWORD), ("audience", AUD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unauthorized_client");

    let (s1, wrong_password) = password_login(&f, "not the password").await;
    let (s2, unknown_user) =
        form(&f, &[("grant_type", "password"), ("username", "mallory"), ("password", PASSWORD), ("audience", AUD)])
            .await;
    assert_eq!((s1, s2), (400, 400));
    assert_eq!(wrong_password, unknown_user, "the same answer for a wrong password and an unknown user");
    assert_eq!(wrong_password["error"], "invalid_grant");

    // Another client's refresh token is not this client's.
    let (_, ok) = password_login(&f, PASSWORD).await;
    let rt = ok["refresh_token"].as_str().unwrap();
    let other = f.server.cli_json(&["client", "create", "--name", "other", "--grant-types", "password,refresh_token"]);
    let r = reqwest::Client::new()
        .post(f.server.token_url())
        .basic_auth(other["client_id"].as_str().unwrap(), other["client_secret"].as_str())
        .form(&[("grant_type", "refresh_token"), ("refresh_token", rt)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
}

/// docs/security-checklist.md A-15: failures lock the (account, address) pair; the refusal
/// is 429 `invalid_grant` (issue #11 item 6; tests/throttle.rs covers the rest).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_are_throttled_per_account_and_address() {
    let f = fixture(Backend::Sqlite, vec![("TESSERA_LOGIN__MAX_FAILURES".into(), "3".into())]);
    for _ in 0..3 {
        assert_eq!(password_login(&f, "wrong").await.1["error_description"], "invalid username or password");
    }
    let (status, body) = password_login(&f, PASSWORD).await;
    assert_eq!((status, body["error"].as_str()), (429, Some("invalid_grant")));
    assert!(body["error_description"].as_str().unwrap().contains("too many"), "{body}");
}

/// README "Plugins: one rule for every grant" and issue 4 item 7: one rule bound to every grant gives the same
/// claim on client_credentials (through the service account), password and
/// refresh tokens; plugins see the grant and where the user came from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_rule_serves_every_grant() {
    let f = fixture(Backend::Sqlite, vec![]);
    let m2m = f.server.cli_json(&[
        "client",
        "create",
        "--name",
        "m2m",
        "--grant-types",
        "client_credentials",
        "--service-account",
        "alice",
    ]);
    f.server.cli_json(&["plugin", "upload", &component("examples", "rust-username"), "--name", "username"]);
    f.server.cli_json(&["plugin", "upload", &component("fixtures", "echo-context"), "--name", "echo"]);
    f.server.cli_json(&["binding", "create", "--plugin", "username", "--grant-types", "all"]);
    f.server.cli_json(&["binding", "create", "--plugin", "echo", "--grant-types", "all"]);

    let cc = reqwest::Client::new()
        .post(f.server.token_url())
        .basic_auth(m2m["client_id"].as_str().unwrap(), m2m["client_secret"].as_str())
        .form(&[("grant_type", "client_credentials"), ("audience", AUD)])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let (_, pw) = password_login(&f, PASSWORD).await;
    let (_, rf) =
        form(&f, &[("grant_type", "refresh_token"), ("refresh_token", pw["refresh_token"].as_str().unwrap())]).await;
    let expected = [
        ("client_credentials", "service-account", &cc),
        ("password", "signed-in", &pw),
        ("refresh_token", "signed-in", &rf),
    ];
    for (grant, source, body) in expected {
        let claims = verify_with_discovery(&f.server.base, body["access_token"].as_str().unwrap(), AUD).await;
        assert_eq!(claims["https://example.com/username"], "alice", "{grant}");
        assert_eq!(claims["ctx"]["grant_type"], grant);
        assert_eq!(claims["ctx"]["user_source"], source, "{grant}");
        assert_eq!(claims["ctx"]["user_id"], json!(f.user_id), "{grant}");
    }
}

on_both_backends!(
    /// Issue #11 item 5 (docs/security-checklist.md O-30): every refresh re-applies today's
    /// rules. After an admin narrows a client's APIs or scopes, removes a
    /// scope from the API, takes away the refresh_token grant or the grant
    /// that started the family (password here), disables the
    /// user or deletes the API, the old refresh token gets `invalid_grant`
    /// and its family is revoked (introspection by its own client: inactive).
    /// A disabled client gets `invalid_client`, and its families stay ended
    /// when it is enabled again. A client nobody touched keeps refreshing.
    refresh_reapplies_todays_client_api_and_user_rules,
    |backend: Backend| async move {
        use crate::console::{ADMIN, ADMIN_PASSWORD, Console, create_admin};
        let f = fixture(backend, vec![]);
        let server = &f.server;
        let carol_id = server.create_user("carol", PASSWORD, &[])["id"].as_str().unwrap().to_owned();
        let doomed = server.cli_json(&["api", "create", "--identifier", "https://doomed.example", "--scopes", "read"]);
        let shrinking =
            server.cli_json(&["api", "create", "--identifier", "https://shrinking.example", "--scopes", "read,write"]);
        server.cli_json(&["api", "create", "--identifier", "https://elsewhere.example", "--scopes", "read"]);
        create_admin(server);
        let console = Console::new(server);
        assert_eq!(console.login(ADMIN, ADMIN_PASSWORD).await.status(), 303);
        let csrf = console.csrf().await;

        // One client per restriction, each with a live family.
        let family = |name: &'static str, user: &'static str, aud: &'static str, scope: &'static str| async move {
            let c = server.cli_json(&["client", "create", "--name", name, "--grant-types", "password,refresh_token"]);
            let (id, secret) = (c["client_id"].as_str().unwrap().to_owned(), c["client_secret"].as_str().unwrap().to_owned());
            let r = reqwest::Client::new()
                .post(server.token_url())
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "password"), ("username", user), ("password", PASSWORD), ("audience", aud), ("scope", scope)])
                .send()
                .await
                .unwrap();
            let body: Value = r.json().await.unwrap();
            let rt = body["refresh_token"].as_str().unwrap_or_else(|| panic!("{name}: {body}")).to_owned();
            (id, secret, rt)
        };
        // Saves a client's console form (grant types, scopes, audiences, disabled).
        let update_client = |id: String,
                             grants: &'static [&'static str],
                             scopes: &'static str,
                             audiences: &'static str,
                             disabled: bool| {
            let (console, csrf) = (&console, csrf.clone());
            async move {
                let mut form = vec![
                    ("csrf", csrf.as_str()),
                    ("name", "restricted"),
                    ("kind", "confidential"),
                    ("scopes", scopes),
                    ("audiences", audiences),
                ];
                form.extend(grants.iter().map(|g| ("grant_types", *g)));
                if disabled {
                    form.push(("disabled", "on"));
                }
                let r = console.post_edit(&format!("/admin/clients/{id}"), &form).await;
                assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
            }
        };
        let refresh = |c: &(String, String, String)| {
            let c = c.clone();
            async move {
                let r = reqwest::Client::new()
                    .post(server.token_url())
                    .basic_auth(&c.0, Some(&c.1))
                    .form(&[("grant_type", "refresh_token"), ("refresh_token", c.2.as_str())])
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            }
        };
        let introspect = |c: &(String, String, String)| {
            let c = c.clone();
            async move {
                let r = reqwest::Client::new()
                    .post(format!("{}{}", server.base, routes::INTROSPECT))
                    .basic_auth(&c.0, Some(&c.1))
                    .form(&[("token", c.2.as_str())])
                    .send()
                    .await
                    .unwrap();
                r.json::<Value>().await.unwrap()["active"] == true
            }
        };

        let untouched = family("untouched", "alice", AUD, "read write").await;
        let narrowed_apis = family("narrowed-apis", "alice", AUD, "read").await;
        let narrowed_scopes = family("narrowed-scopes", "alice", AUD, "read write").await;
        let api_scope_removed = family("api-scope-removed", "alice", "https://shrinking.example", "read write").await;
        let grant_removed = family("grant-removed", "alice", AUD, "read").await;
        let user_disabled = family("user-disabled", "carol", AUD, "read").await;
        let api_deleted = family("api-deleted", "alice", "https://doomed.example", "read").await;
        let client_disabled = family("client-disabled", "alice", AUD, "read").await;
        let password_removed = family("password-removed", "alice", AUD, "read").await;

        let both: &[&str] = &["password", "refresh_token"];
        update_client(narrowed_apis.0.clone(), both, "", "https://elsewhere.example", false).await;
        update_client(narrowed_scopes.0.clone(), both, "read", "", false).await;
        update_client(grant_removed.0.clone(), &["password"], "", "", false).await;
        update_client(client_disabled.0.clone(), both, "", "", true).await;
        update_client(password_removed.0.clone(), &["refresh_token"], "", "", false).await;
        let r = console
            .post_edit(
                &format!("/admin/apis/{}", shrinking["id"].as_str().unwrap()),
                &[("csrf", &csrf), ("name", ""), ("alg", "RS256"), ("lifetime", "300"), ("scopes", "read")],
            )
            .await;
        assert_eq!(r.status(), 303);
        let r = console.post(&format!("/admin/users/{carol_id}/status"), &[("csrf", &csrf), ("disabled", "true")]).await;
        assert_eq!(r.status(), 303);
        let r = console.post(&format!("/admin/apis/{}/delete", doomed["id"].as_str().unwrap()), &[("csrf", &csrf)]).await;
        assert_eq!(r.status(), 303);

        // Every restriction is checked before the test fails, so a failure
        // names all the rules that were not applied.
        let mut broken = Vec::new();
        for (what, c) in [
            ("client no longer allowed the API", &narrowed_apis),
            ("client no longer allowed scope write", &narrowed_scopes),
            ("API no longer defines scope write", &api_scope_removed),
            ("client no longer has the refresh_token grant", &grant_removed),
            ("client no longer has the password grant that started the family", &password_removed),
            ("user disabled", &user_disabled),
            ("API deleted", &api_deleted),
        ] {
            let (status, body) = refresh(c).await;
            if (status, body["error"].as_str()) != (400, Some("invalid_grant")) {
                broken.push(format!("{what}: refresh answered {status} {body}"));
            }
            if introspect(c).await {
                broken.push(format!("{what}: the family is still active"));
            }
        }
        // A disabled client cannot authenticate at all; re-enabled, its
        // old families stay ended.
        let (status, body) = refresh(&client_disabled).await;
        if (status, body["error"].as_str()) != (401, Some("invalid_client")) {
            broken.push(format!("client disabled: refresh answered {status} {body}"));
        }
        update_client(client_disabled.0.clone(), both, "", "", false).await;
        let (status, body) = refresh(&client_disabled).await;
        if (status, body["error"].as_str()) != (400, Some("invalid_grant")) {
            broken.push(format!("client disabled, then enabled: refresh answered {status} {body}"));
        }
        assert!(broken.is_empty(), "rules not applied on refresh:\n{}", broken.join("\n"));

        let (status, body) = refresh(&untouched).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["scope"], "read write");
    }
);
