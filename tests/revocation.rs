//! Revocable access tokens (issue #15 item 1) against the real binary, with
//! the `oauth2` crate as the client (code exchange with PKCE, RFC 7662
//! introspection; RFC 7009 revocation by hand, see `revoke`): revoking an access token, a
//! replayed code (RFC 6749 §4.1.2), a reused refresh token and a disabled
//! client make the access tokens they cover inactive at introspection and
//! refused at userinfo; and on two nodes sharing PostgreSQL a revocation on
//! one is honoured by the other, and a replay racing the first redemption
//! revokes the winner's tokens in every round.

use crate::oidc::hidden;
use crate::on_both_backends;
use crate::support::{Backend, Options, TestServer};
use oauth2::basic::BasicClient;
use oauth2::{
    AccessToken, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    IntrospectionUrl, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenIntrospectionResponse,
    TokenResponse, TokenUrl,
};
use reqwest::redirect::Policy;
use serde_json::Value;
use std::time::{Duration, Instant};
use tessera::web::routes;

const CB: &str = "https://app.example/cb";
const PASSWORD: &str = "alice's long password";
/// Both nodes of a cluster answer for one issuer, as behind a load balancer.
const ISSUER: &str = "http://tessera.cluster.test";
/// A revocation on one node is honoured by every node within a second;
/// the tests allow this long.
const PROPAGATION: Duration = Duration::from_secs(3);

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointSet, EndpointNotSet, EndpointSet>;

/// Alice, a first-party code + refresh client, and the `oauth2` client for it
/// on `node`.
struct Setup {
    id: String,
    secret: String,
}

fn setup(node: &TestServer) -> Setup {
    node.create_user("alice", PASSWORD, &[]);
    let c = node.cli_json(&[
        "client",
        "create",
        "--name",
        "Web App",
        "--grant-types",
        "authorization_code,refresh_token",
        "--redirect-uri",
        CB,
        "--first-party",
    ]);
    Setup { id: c["client_id"].as_str().unwrap().into(), secret: c["client_secret"].as_str().unwrap().into() }
}

fn oauth(node: &TestServer, id: &str, secret: &str) -> Client {
    BasicClient::new(ClientId::new(id.into()))
        .set_auth_uri(AuthUrl::new(format!("{}{}", node.base, routes::AUTHORIZE)).unwrap())
        .set_client_secret(ClientSecret::new(secret.into()))
        .set_token_uri(TokenUrl::new(format!("{}{}", node.base, routes::TOKEN)).unwrap())
        .set_introspection_url(IntrospectionUrl::new(format!("{}{}", node.base, routes::INTROSPECT)).unwrap())
        .set_redirect_uri(RedirectUrl::new(CB.into()).unwrap())
}

fn http() -> oauth2::reqwest::Client {
    oauth2::reqwest::ClientBuilder::new().redirect(oauth2::reqwest::redirect::Policy::none()).build().unwrap()
}

/// Signs alice in on `node` through the hosted login form and returns a
/// code for `client` (scopes `openid offline_access`) and its PKCE verifier.
async fn code(node: &TestServer, client: &Client) -> (String, PkceCodeVerifier) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("openid".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let browser = reqwest::Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap();
    let page = browser.get(url.as_str()).send().await.unwrap();
    assert_eq!(page.status(), 200, "the login page");
    let html = page.text().await.unwrap();
    let form = [
        ("username", "alice".to_owned()),
        ("password", PASSWORD.to_owned()),
        ("csrf", hidden(&html, "csrf")),
        ("authorize", hidden(&html, "authorize")),
    ];
    let posted = browser.post(format!("{}{}", node.base, routes::LOGIN)).form(&form).send().await.unwrap();
    assert_eq!(posted.status(), 303);
    let resume = posted.headers()["location"].to_str().unwrap().to_owned();
    let back = browser.get(format!("{}{resume}", node.base)).send().await.unwrap();
    assert_eq!(back.status(), 302, "first party: straight back to the client");
    let location = url::Url::parse(back.headers()["location"].to_str().unwrap()).unwrap();
    let code = location.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).unwrap();
    (code, verifier)
}

/// The access and refresh token for a fresh code.
async fn sign_in(node: &TestServer, client: &Client) -> (String, String) {
    let (code, verifier) = code(node, client).await;
    let t = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .unwrap_or_else(|e| panic!("code exchange failed: {e:?}"));
    (t.access_token().secret().clone(), t.refresh_token().unwrap().secret().clone())
}

async fn active(client: &Client, token: &str) -> bool {
    let r = client.introspect(&AccessToken::new(token.into())).request_async(&http()).await.unwrap();
    r.active()
}

/// RFC 7009 §2.1 as `id` on `node` (the `oauth2` crate's revocation
/// refuses plain-http endpoints, as RFC 7009 §2 asks of clients); every
/// answer here is 200.
async fn revoke(node: &TestServer, id: &str, secret: &str, token: &str) {
    let r = reqwest::Client::new()
        .post(format!("{}{}", node.base, routes::REVOKE))
        .basic_auth(id, Some(secret))
        .form(&[("token", token), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// The userinfo status and `WWW-Authenticate` header for a bearer token.
async fn userinfo(node: &TestServer, token: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .get(format!("{}{}", node.base, routes::USERINFO))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let www = r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (r.status().as_u16(), www)
}

/// A raw token-endpoint request as `s`'s client on `node`: (status, body).
async fn token_form(node: &TestServer, s: &Setup, form: &[(&str, &str)]) -> (u16, Value) {
    node.token_form(&s.id, &s.secret, form).await
}

/// Polls `check` until it holds or [`PROPAGATION`] has passed.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + PROPAGATION;
    while !check().await {
        assert!(Instant::now() < deadline, "{what} within {PROPAGATION:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `userinfo` refuses `token` as RFC 6750 §3.1 says.
async fn refused_at_userinfo(node: &TestServer, token: &str) {
    let (status, www) = userinfo(node, token).await;
    assert_eq!(status, 401);
    assert!(www.starts_with("Bearer") && www.contains("error=\"invalid_token\""), "{www}");
}

on_both_backends!(
    /// RFC 7009: the client revokes its access token; revoking twice answers
    /// 200; another client's revocation answers 200 and changes nothing
    /// (§2.1); the refresh token stays usable.
    an_access_token_revoked_by_its_client_is_inactive_and_refused,
    |backend: Backend| async move {
        let node = TestServer::start(backend);
        let s = setup(&node);
        let client = oauth(&node, &s.id, &s.secret);
        let (at, rt) = sign_in(&node, &client).await;
        assert_eq!(userinfo(&node, &at).await.0, 200);

        let other = node.cli_json(&["client", "create", "--name", "other", "--grant-types", "client_credentials"]);
        let (other_id, other_secret) = (other["client_id"].as_str().unwrap(), other["client_secret"].as_str().unwrap());
        revoke(&node, other_id, other_secret, &at).await;
        assert!(active(&client, &at).await, "another client cannot revoke it");

        revoke(&node, &s.id, &s.secret, &at).await;
        assert!(!active(&client, &at).await);
        refused_at_userinfo(&node, &at).await;
        revoke(&node, &s.id, &s.secret, &at).await;
        revoke(&node, &s.id, &s.secret, "an.unknown.token").await;
        let (status, _) = token_form(&node, &s, &[("grant_type", "refresh_token"), ("refresh_token", &rt)]).await;
        assert_eq!(status, 200, "revoking the access token leaves the refresh token");
    }
);

on_both_backends!(
    /// RFC 6749 §4.1.2 and RFC 9700 §4.14.2: a replayed code revokes the
    /// tokens issued from it, including those of later rotations; a reused
    /// refresh token revokes every access token of its family.
    replayed_codes_and_reused_refresh_tokens_revoke_their_access_tokens,
    |backend: Backend| async move {
        let node = TestServer::start(backend);
        let s = setup(&node);
        let client = oauth(&node, &s.id, &s.secret);

        let (code, verifier) = code(&node, &client).await;
        let redeem = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CB),
            ("code_verifier", verifier.secret().as_str()),
        ];
        let (status, t) = token_form(&node, &s, &redeem).await;
        assert_eq!(status, 200, "{t}");
        let (at1, rt1) = (t["access_token"].as_str().unwrap().to_owned(), t["refresh_token"].as_str().unwrap());
        let (_, t) = token_form(&node, &s, &[("grant_type", "refresh_token"), ("refresh_token", rt1)]).await;
        let (at2, rt2) = (t["access_token"].as_str().unwrap().to_owned(), t["refresh_token"].as_str().unwrap());
        assert!(active(&client, &at2).await);
        let (status, e) = token_form(&node, &s, &redeem).await;
        assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
        assert!(!active(&client, &at1).await && !active(&client, &at2).await);
        refused_at_userinfo(&node, &at1).await;
        refused_at_userinfo(&node, &at2).await;
        let (_, e) = token_form(&node, &s, &[("grant_type", "refresh_token"), ("refresh_token", rt2)]).await;
        assert_eq!(e["error"], "invalid_grant");

        let (at1, rt1) = sign_in(&node, &client).await;
        let (_, t) = token_form(&node, &s, &[("grant_type", "refresh_token"), ("refresh_token", &rt1)]).await;
        let at2 = t["access_token"].as_str().unwrap().to_owned();
        let (_, e) = token_form(&node, &s, &[("grant_type", "refresh_token"), ("refresh_token", &rt1)]).await;
        assert_eq!(e["error"], "invalid_grant", "reuse");
        assert!(!active(&client, &at1).await && !active(&client, &at2).await);
        refused_at_userinfo(&node, &at2).await;
    }
);

on_both_backends!(
    /// `tessera client disable` revokes every access token issued to the
    /// client so far (the server learns it from the database, as from any
    /// other node); enabling it again brings none back, and new sign-ins work.
    disabling_a_client_revokes_its_access_tokens,
    |backend: Backend| async move {
        let node = TestServer::start(backend);
        let s = setup(&node);
        let client = oauth(&node, &s.id, &s.secret);
        let (at, _) = sign_in(&node, &client).await;
        assert_eq!(userinfo(&node, &at).await.0, 200);
        node.cli(&["client", "disable", &s.id]);
        eventually("the disabled client's token refused", || async { userinfo(&node, &at).await.0 == 401 }).await;
        refused_at_userinfo(&node, &at).await;
        // Cut-offs are by the second: the new token must be issued later.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        node.cli(&["client", "enable", &s.id]);
        refused_at_userinfo(&node, &at).await;
        let (fresh, _) = sign_in(&node, &client).await;
        assert_eq!(userinfo(&node, &fresh).await.0, 200);
        assert!(active(&client, &fresh).await && !active(&client, &at).await);
    }
);

/// Two nodes behind one issuer on one PostgreSQL database.
fn two_nodes() -> (TestServer, TestServer) {
    let env = vec![
        ("TESSERA_MASTER_KEY".to_owned(), "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=".to_owned()),
        // Room for the sleeping plugin of the race below.
        ("TESSERA_PLUGINS__DEADLINE_MS".to_owned(), "5000".to_owned()),
    ];
    let args = vec!["--issuer".to_owned(), ISSUER.to_owned()];
    let a = TestServer::start_with(
        Backend::Postgres,
        Options { env: env.clone(), serve_args: args.clone(), ..Default::default() },
    );
    let b = TestServer::start_with(
        Backend::Postgres,
        Options { env, serve_args: args, share_db: Some(a.db.clone()), ..Default::default() },
    );
    (a, b)
}

/// Issue #15 item 1: a revocation made on one node is honoured by the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_nodes_share_revoked_access_tokens() {
    let (a, b) = two_nodes();
    let s = setup(&a);
    // The client was made through node A: node B authenticates it from its
    // snapshot once it has loaded that change.
    b.wait_synced();
    let (on_a, on_b) = (oauth(&a, &s.id, &s.secret), oauth(&b, &s.id, &s.secret));
    let (at, _) = sign_in(&a, &on_a).await;
    assert!(active(&on_b, &at).await, "one issuer: node B accepts node A's token");
    assert!(active(&on_a, &at).await, "node A has read the revocations once");
    revoke(&b, &s.id, &s.secret, &at).await;
    assert!(!active(&on_b, &at).await, "at once on the node that revoked it");
    eventually("node A learns the revocation", || async { !active(&on_a, &at).await }).await;
    refused_at_userinfo(&a, &at).await;
}

/// Issue #15 item 1: exactly two concurrent redemptions of one code, one
/// per node. A plugin that sleeps 300 ms on the authorization-code grant
/// makes the winner slow, so the loser's replay is recorded before the
/// winner has stored anything (the order that used to leave the winner's
/// refresh token valid). Whatever the order, the winner's access and refresh
/// tokens end up revoked in every round: checked over HTTP when the winner
/// handed them out, and in the database (every refresh token revoked, and
/// every access token recorded for a code or a refresh token revoked) when
/// it learned of the replay first and refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_nodes_revoke_the_winner_of_a_racing_code_replay() {
    let (a, b) = two_nodes();
    let s = setup(&a);
    // The client was made through node A: node B authenticates it from its
    // snapshot once it has loaded that change.
    b.wait_synced();
    a.cli_json(&["plugin", "upload", &crate::plugins::component("fixtures", "sleep"), "--name", "slow"]);
    a.cli_json(&[
        "binding",
        "create",
        "--plugin",
        "slow",
        "--grant-types",
        "authorization_code",
        "--config",
        r#"{"ms":300}"#,
    ]);
    for node in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !node.log_text().contains("plugin version ready on this node") {
            assert!(Instant::now() < deadline, "the plugin never became ready:\n{}", node.log_text());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let on_a = oauth(&a, &s.id, &s.secret);
    let mut handed_out = 0;
    for round in 1..=5 {
        let (code, verifier) = code(&a, &on_a).await;
        let redeem = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CB),
            ("code_verifier", verifier.secret().as_str()),
        ];
        let (ra, rb) = tokio::join!(token_form(&a, &s, &redeem), token_form(&b, &s, &redeem));
        let winners: Vec<&Value> = [&ra, &rb].into_iter().filter(|(st, _)| *st == 200).map(|(_, t)| t).collect();
        let losers = [&ra, &rb].into_iter().filter(|(st, t)| *st == 400 && t["error"] == "invalid_grant").count();
        // The winner may learn of the replay before answering, and then
        // refuses too: its tokens never leave.
        assert!(
            winners.len() <= 1 && winners.len() + losers == 2,
            "round {round}: {ra:?} {rb:?}\nnode A:\n{}\nnode B:\n{}",
            a.log_text(),
            b.log_text()
        );
        assert_eq!(a.count_rows("refresh_tokens WHERE revoked_at IS NULL"), 0, "round {round}: a refresh token lives");
        let unrevoked = |table: &str| {
            a.count_rows(&format!(
                "{table} WHERE access_jti IS NOT NULL AND access_jti NOT IN (SELECT subject FROM revocations)"
            ))
        };
        assert_eq!(unrevoked("refresh_tokens"), 0, "round {round}: an access token issued with a refresh token lives");
        assert_eq!(unrevoked("authorization_codes"), 0, "round {round}: an access token issued from a code lives");
        let Some(t) = winners.first() else { continue };
        handed_out += 1;
        let (at, rt) = (t["access_token"].as_str().unwrap(), t["refresh_token"].as_str().unwrap());
        for node in [&a, &b] {
            eventually(&format!("round {round}: the winner's access token refused"), || async {
                userinfo(node, at).await.0 == 401
            })
            .await;
            let client = oauth(node, &s.id, &s.secret);
            assert!(!active(&client, at).await, "round {round}");
            let (_, e) = token_form(node, &s, &[("grant_type", "refresh_token"), ("refresh_token", rt)]).await;
            assert_eq!(e["error"], "invalid_grant", "round {round}: the winner's refresh token is revoked");
        }
    }
    eprintln!("{handed_out} of 5 winners handed their tokens out before learning of the replay");
    assert!(a.count_rows("refresh_tokens") >= 5, "every round's winner stored its refresh token");
}

/// The console's Disabled switch on the client page is a form like the
/// others (refused without its CSRF token), and revokes the client's access
/// tokens on the node that served it at once, without waiting for the
/// node's next read of the revocations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_switch_disables_a_client_and_revokes_its_access_tokens_at_once() {
    let node = TestServer::start(Backend::Sqlite);
    let s = setup(&node);
    let client = oauth(&node, &s.id, &s.secret);
    let (at, _) = sign_in(&node, &client).await;
    let console = crate::console::Console::signed_in(&node).await;
    let path = routes::console::client(&s.id);
    let form = [
        ("name", "Web App"),
        ("grant_types", "authorization_code"),
        ("grant_types", "refresh_token"),
        ("redirect_uris", CB),
        ("metadata", "{}"),
        ("first_party", "on"),
        ("disabled", "on"),
    ];
    assert_ne!(console.post(&path, &form).await.status(), 303, "no CSRF token, no change");
    let csrf = console.csrf().await;
    let mut with_csrf = form.to_vec();
    with_csrf.push(("csrf", &csrf));
    assert_eq!(userinfo(&node, &at).await.0, 200, "still enabled; the node's copy is fresh now");
    assert_eq!(console.post_edit(&path, &with_csrf).await.status(), 303);
    refused_at_userinfo(&node, &at).await;
    let page = console.get(&path).await.text().await.unwrap();
    assert!(page.contains(r#"id="disabled" checked"#), "the switch shows the client disabled");
}
