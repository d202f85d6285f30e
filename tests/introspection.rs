//! RFC 7662 introspection and RFC 7009 revocation, and what Tessera accepts
//! as its own access token there and at userinfo (issue #11 items 1 and 7).

use crate::console::Console;
use crate::on_both_backends;
use crate::support::{Backend, TestServer};
use serde_json::{Value, json};
use tessera::web::routes;

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
    let disco: Value = reqwest::get(format!("{}{}", server.base, routes::OAUTH_AUTHORIZATION_SERVER))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(disco["introspection_endpoint"], Value::from(format!("{}{}", server.base, routes::INTROSPECT)));
    assert_eq!(disco["revocation_endpoint"], Value::from(format!("{}{}", server.base, routes::REVOKE)));

    let (rs, rs_secret) = server.api_and_client(AUD, "RS256", "read");
    let hs = server.cli_json(&["api", "create", "--identifier", "https://hs.introspect.example", "--alg", "HS256"]);
    assert!(hs["hs256_secret"].is_string());
    server.create_user("bob", "bob's long password", &[]);
    let app = server.cli_json(&["client", "create", "--name", "app", "--grant-types", "password,refresh_token"]);
    let (app_id, app_secret) = (app["client_id"].as_str().unwrap(), app["client_secret"].as_str().unwrap());

    // An access token: active with its claims for its own client; tampered: inactive.
    let (_, t) = post(
        &server,
        routes::TOKEN,
        Some((&rs, &rs_secret)),
        &[("grant_type", "client_credentials"), ("audience", AUD)],
    )
    .await;
    let at = t["access_token"].as_str().unwrap().to_owned();
    let (status, i) = post(&server, routes::INTROSPECT, Some((&rs, &rs_secret)), &[("token", &at)]).await;
    assert_eq!(status, 200);
    assert_eq!(i["active"], true);
    assert_eq!(i["client_id"], Value::from(rs.clone()));
    assert_eq!(i["scope"], "read");
    assert_eq!(i["token_type"], "Bearer");
    let mut tampered = at.clone();
    tampered.insert(at.len() - 3, 'A');
    let (_, i) = post(&server, routes::INTROSPECT, Some((&rs, &rs_secret)), &[("token", &tampered)]).await;
    assert_eq!(i, serde_json::json!({"active": false}), "an inactive token reveals nothing else");

    // HS256 tokens are the API's to verify with its secret; introspection
    // never vouches for them (issue #11 item 1: the secret's holder can sign anything).
    let (_, t) = post(
        &server,
        routes::TOKEN,
        Some((&rs, &rs_secret)),
        &[("grant_type", "client_credentials"), ("audience", "https://hs.introspect.example")],
    )
    .await;
    let (_, i) =
        post(&server, routes::INTROSPECT, Some((&rs, &rs_secret)), &[("token", t["access_token"].as_str().unwrap())])
            .await;
    assert_eq!(i, serde_json::json!({"active": false}));

    // Introspection needs an authenticated confidential client.
    let (status, e) = post(&server, routes::INTROSPECT, None, &[("token", &at)]).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_client")));

    // Refresh tokens: active for their own client only; revocation ends the family.
    let (_, pw) = post(
        &server,
        routes::TOKEN,
        Some((app_id, app_secret)),
        &[("grant_type", "password"), ("username", "bob"), ("password", "bob's long password"), ("audience", AUD)],
    )
    .await;
    let rt = pw["refresh_token"].as_str().unwrap().to_owned();
    let (_, i) = post(
        &server,
        routes::INTROSPECT,
        Some((app_id, app_secret)),
        &[("token", &rt), ("token_type_hint", "refresh_token")],
    )
    .await;
    assert_eq!(i["active"], true);
    assert_eq!(i["token_type"], "refresh_token");
    assert_eq!(i["aud"], AUD);
    let (_, i) = post(&server, routes::INTROSPECT, Some((&rs, &rs_secret)), &[("token", &rt)]).await;
    assert_eq!(i["active"], false, "another client learns nothing about it");

    let (status, _) = post(&server, routes::REVOKE, Some((&rs, &rs_secret)), &[("token", &rt)]).await;
    assert_eq!(status, 200, "another client's token: 200, and nothing happens");
    let (_, i) = post(&server, routes::INTROSPECT, Some((app_id, app_secret)), &[("token", &rt)]).await;
    assert_eq!(i["active"], true);
    let (status, _) = post(&server, routes::REVOKE, Some((app_id, app_secret)), &[("token", &rt)]).await;
    assert_eq!(status, 200);
    let (_, i) = post(&server, routes::INTROSPECT, Some((app_id, app_secret)), &[("token", &rt)]).await;
    assert_eq!(i["active"], false, "revoked");
    let (_, r) = post(
        &server,
        routes::TOKEN,
        Some((app_id, app_secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .await;
    assert_eq!(r["error"], "invalid_grant");

    let (status, _) = post(&server, routes::REVOKE, Some((app_id, app_secret)), &[("token", "never-issued")]).await;
    assert_eq!(status, 200, "unknown tokens are not an error (RFC 7009 §2.2)");
    // Issue #15 item 1: access tokens are revocable (RFC 7009), by their own client.
    let (status, _) = post(&server, routes::REVOKE, Some((app_id, app_secret)), &[("token", &at)]).await;
    assert_eq!(status, 200, "another client's access token: 200, and nothing happens");
    let (_, i) = post(&server, routes::INTROSPECT, Some((&rs, &rs_secret)), &[("token", &at)]).await;
    assert_eq!(i["active"], true);
    let (status, _) = post(&server, routes::REVOKE, Some((&rs, &rs_secret)), &[("token", &at)]).await;
    assert_eq!(status, 200);
    let (_, i) = post(&server, routes::INTROSPECT, Some((&rs, &rs_secret)), &[("token", &at)]).await;
    assert_eq!(i, serde_json::json!({"active": false}), "revoked");
}

/// Seconds since the epoch: forged tokens must look current to the server.
#[allow(clippy::disallowed_methods)]
fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A JWT signed with an API's HS256 secret (the HMAC key is the secret's text).
fn sign_hs256(secret: &str, kid: &str, typ: &str, claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some(typ.into());
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

/// GET userinfo with a bearer token: (status, WWW-Authenticate).
async fn userinfo(server: &TestServer, token: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .get(format!("{}{}", server.base, routes::USERINFO))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let www = r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (r.status().as_u16(), www)
}

on_both_backends!(
    /// Issue #11 item 1 (docs/security-checklist.md J-2, J-3, J-4, J-7, J-10, J-11, J-13 for
    /// our own tokens, O-39): whoever holds one
    /// API's HS256 secret cannot mint tokens Tessera vouches for: not for
    /// another API with a one-year lifetime, not at userinfo, not for its own
    /// API with the wrong `typ`, `iss` or lifetime. Only our published keys
    /// sign tokens Tessera accepts, and a lifetime longer than the API's
    /// (here: after the admin shortened it) ends them too.
    forged_or_overlong_tokens_are_never_accepted_as_ours,
    |backend| async move {
        let server = TestServer::start(backend);
        let alice = server.create_user("alice", "alice's long password", &[])["id"].as_str().unwrap().to_owned();
        let x = server.cli_json(&["client", "create", "--name", "rs", "--grant-types", "client_credentials"]);
        let (x_id, x_secret) = (x["client_id"].as_str().unwrap(), x["client_secret"].as_str().unwrap());
        let a_aud = "https://a.forge.example";
        let b_aud = "https://b.forge.example";
        // X is the resource server of both APIs, so only the token decides.
        let a = server.cli_json(&[
            "api", "create", "--identifier", a_aud, "--alg", "HS256", "--scopes", "read", "--resource-server", x_id,
        ]);
        let b = server.cli_json(&[
            "api", "create", "--identifier", b_aud, "--scopes", "read", "--lifetime", "3600", "--resource-server", x_id,
        ]);
        assert_eq!(b["resource_servers"], json!([x_id]));
        let (a_id, a_secret) = (a["id"].as_str().unwrap(), a["hs256_secret"].as_str().unwrap());
        let kid = format!("hs256-{a_id}");
        let t = now();
        let claims = |aud: &str, iss: &str, exp: i64| {
            json!({"iss": iss, "aud": aud, "sub": alice, "client_id": x_id, "scope": "openid read",
                   "iat": t, "nbf": t, "exp": exp, "jti": "forged-1"})
        };
        let year = t + 365 * 86_400;
        let introspect = |token: String| {
            let server = &server;
            async move {
                post(server, routes::INTROSPECT, Some((x_id, x_secret)), &[("token", &token)]).await.1
            }
        };
        let inactive = json!({"active": false});

        // The report: API A's secret, kid hs256-A, aud B, one year.
        let forged = sign_hs256(a_secret, &kid, "at+jwt", &claims(b_aud, &server.base, year));
        assert_eq!(introspect(forged.clone()).await, inactive, "aud of another API");
        let userinfo_aud = format!("{}{}", server.base, routes::USERINFO);
        let forged_ui = sign_hs256(a_secret, &kid, "at+jwt", &claims(&userinfo_aud, &server.base, t + 60));
        for token in [&forged, &forged_ui] {
            let (status, www) = userinfo(&server, token).await;
            assert_eq!(status, 401);
            assert!(www.contains("error=\"invalid_token\""), "{www}");
        }
        let (status, revoke) = post(&server, routes::REVOKE, Some((x_id, x_secret)), &[("token", &forged)]).await;
        assert_eq!((status, revoke), (200, json!({})), "RFC 7009 §2.2: an invalid token is no error");
        // Its own API, but the wrong typ, another issuer, or longer than the API's lifetime.
        for (typ, iss, exp, why) in [
            ("JWT", server.base.as_str(), t + 60, "typ JWT"),
            ("at+jwt", "https://evil.example", t + 60, "foreign iss"),
            ("at+jwt", server.base.as_str(), year, "one-year lifetime"),
            ("at+jwt", server.base.as_str(), t + 60, "even a well-formed one: HS256 is never vouched for"),
        ] {
            assert_eq!(introspect(sign_hs256(a_secret, &kid, typ, &claims(a_aud, iss, exp))).await, inactive, "{why}");
        }

        // J-2, J-3, J-4: alg none; HS256 keyed with a published RSA key's
        // modulus under its kid; kid injection. All inactive, none an error.
        let jwks: Value =
            reqwest::get(format!("{}{}", server.base, routes::JWKS)).await.unwrap().json().await.unwrap();
        let rsa = jwks["keys"].as_array().unwrap().iter().find(|k| k["alg"] == "RS256").unwrap();
        let rsa_kid = rsa["kid"].as_str().unwrap();
        let b64 = |v: &Value| {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let body = b64(&claims(b_aud, &server.base, t + 60));
        for alg in ["none", "None", "NONE"] {
            let unsigned = format!("{}.{body}.", b64(&json!({"alg": alg, "typ": "at+jwt", "kid": rsa_kid})));
            assert_eq!(introspect(unsigned.clone()).await, inactive, "alg {alg}");
            assert_eq!(userinfo(&server, &unsigned).await.0, 401);
        }
        let confused = sign_hs256(rsa["n"].as_str().unwrap(), rsa_kid, "at+jwt", &claims(b_aud, &server.base, t + 60));
        assert_eq!(introspect(confused).await, inactive, "RS/HS confusion");
        for kid in ["../../../../dev/null", "' OR '1'='1", &"k".repeat(10_000), "hs256-' OR '1'='1"] {
            let (status, body) = post(
                &server,
                routes::INTROSPECT,
                Some((x_id, x_secret)),
                &[("token", &sign_hs256(a_secret, kid, "at+jwt", &claims(b_aud, &server.base, t + 60)))],
            )
            .await;
            assert_eq!((status, body), (200, inactive.clone()), "kid {kid:.20}");
        }

        // Tokens Tessera signed: active for X; after the admin shortens B's
        // lifetime below theirs, no longer (introspection and userinfo).
        let (_, issued) = post(
            &server,
            routes::TOKEN,
            Some((x_id, x_secret)),
            &[("grant_type", "client_credentials"), ("audience", b_aud)],
        )
        .await;
        let at = issued["access_token"].as_str().unwrap().to_owned();
        assert_eq!(introspect(at.clone()).await["active"], true);
        assert_eq!(userinfo(&server, &at).await.0, 403, "ours, but without openid: insufficient_scope");
        let console = Console::signed_in(&server).await;
        let csrf = console.csrf().await;
        let r = console
            .post_edit(
                &format!("/admin/apis/{}", b["id"].as_str().unwrap()),
                &[
                    ("csrf", &csrf),
                    ("name", ""),
                    ("alg", "RS256"),
                    ("lifetime", "60"),
                    ("scopes", "read"),
                    ("resource_servers", x_id),
                ],
            )
            .await;
        assert_eq!(r.status(), 303);
        assert_eq!(introspect(at.clone()).await, inactive, "3600 s token, API now allows 60 s");
        let (status, www) = userinfo(&server, &at).await;
        assert_eq!(status, 401);
        assert!(www.contains("invalid_token"), "{www}");
    }
);

on_both_backends!(
    /// Issue #11 item 7 (RFC 7662 §4): introspection answers the token's own
    /// client and the clients registered as resource servers of its API
    /// (`api create --resource-server`, or the console); any other client,
    /// however authenticated, learns only `active: false`. Refresh tokens
    /// are their own client's alone.
    introspection_answers_only_the_tokens_client_and_its_apis_resource_servers,
    |backend| async move {
        let server = TestServer::start(backend);
        let make = |name: &str, grants: &str| {
            let c = server.cli_json(&["client", "create", "--name", name, "--grant-types", grants]);
            (c["client_id"].as_str().unwrap().to_owned(), c["client_secret"].as_str().unwrap().to_owned())
        };
        let x = make("machine", "client_credentials");
        let r = make("orders-rs", "client_credentials");
        let u = make("unrelated", "client_credentials");
        let app = make("app", "password,refresh_token");
        let orders =
            server.cli_json(&["api", "create", "--identifier", AUD, "--scopes", "read", "--resource-server", &r.0]);
        let other = server.cli_json(&[
            "api", "create", "--identifier", "https://other.example", "--resource-server", &u.0,
        ]);
        server.create_user("bob", "bob's long password", &[]);
        let token = |c: &(String, String), form: Vec<(&'static str, &'static str)>| {
            let (server, c) = (&server, c.clone());
            async move {
                let (_, t) = post(server, routes::TOKEN, Some((&c.0, &c.1)), &form).await;
                t
            }
        };
        let cc = token(&x, vec![("grant_type", "client_credentials"), ("audience", AUD)]).await;
        let user = token(
            &app,
            vec![
                ("grant_type", "password"),
                ("username", "bob"),
                ("password", "bob's long password"),
                ("audience", AUD),
            ],
        )
        .await;
        let active = |c: &(String, String), t: &Value, which: &'static str| {
            let (server, c, t) = (&server, c.clone(), t[which].as_str().unwrap().to_owned());
            async move { post(server, routes::INTROSPECT, Some((&c.0, &c.1)), &[("token", &t)]).await.1["active"] == true }
        };
        assert!(active(&x, &cc, "access_token").await, "its own client");
        assert!(active(&r, &cc, "access_token").await, "the resource server of its API");
        assert!(!active(&u, &cc, "access_token").await, "a client of another API");
        assert!(active(&app, &user, "access_token").await);
        assert!(active(&r, &user, "access_token").await, "a user token, for its API's resource server");
        assert!(!active(&x, &user, "access_token").await, "another client's user token");
        assert!(!active(&u, &user, "access_token").await);
        assert!(active(&app, &user, "refresh_token").await);
        assert!(!active(&r, &user, "refresh_token").await, "refresh tokens: their own client only");

        // The console links resource servers too, and names unknown clients.
        let console = Console::signed_in(&server).await;
        let csrf = console.csrf().await;
        let path = format!("/admin/apis/{}", other["id"].as_str().unwrap());
        let page = console.get(&path).await.text().await.unwrap();
        assert!(page.contains(&format!("value=\"{}\"", u.0)), "the form shows the linked client");
        let api_id = orders["id"].as_str().unwrap().to_owned();
        let save = |rs: String| {
            let (console, csrf, api_id) = (&console, csrf.clone(), api_id.clone());
            async move {
                console
                    .post_edit(
                        &format!("/admin/apis/{api_id}"),
                        &[
                            ("csrf", &csrf),
                            ("name", ""),
                            ("alg", "RS256"),
                            ("lifetime", "300"),
                            ("scopes", "read"),
                            ("resource_servers", &rs),
                        ],
                    )
                    .await
            }
        };
        let refused = save("no-such-client".into()).await;
        assert_eq!(refused.status(), 422);
        assert!(refused.text().await.unwrap().contains("id=\"resource-servers-error\""));
        assert_eq!(save(format!("{}, {}", r.0, u.0)).await.status(), 303);
        let cc = token(&x, vec![("grant_type", "client_credentials"), ("audience", AUD)]).await;
        assert!(active(&u, &cc, "access_token").await, "now a resource server of the API");
    }
);
