//! JWT-Secured Authorization Requests (RFC 9101) against the real binary:
//! the client's EC P-256 key signs the authorization request, sent by
//! value to the authorization endpoint or pushed (RFC 9126); only the
//! signed parameters count; a tampered, foreign-key, expired or
//! misaddressed request object is refused (a page at the authorization
//! endpoint, `invalid_request_object` at the PAR endpoint).

use crate::client_assertion::{assertion, key, now};
use crate::oidc::{jwt_claims, sign_in_as};
use crate::support::{Backend, TestServer};
use serde_json::{Value, json};
use tessera::web::routes;

const CB: &str = "https://signed.example/cb";
const PASSWORD: &str = "alice's long password";
/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// docs/security-checklist.md C-10. The signed parameters are the request
/// (the query's state and scope are ignored), by value and pushed; every
/// broken request object is refused without a redirect; a client
/// registered with `require_signed_request_object` is refused unsigned
/// requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_authorization_requests_are_taken_by_value_and_pushed() {
    let s = TestServer::start(Backend::Sqlite);
    s.create_user("alice", PASSWORD, &[]);
    let c = s.cli_json(&[
        "client",
        "create",
        "--name",
        "Signed App",
        "--grant-types",
        "authorization_code",
        "--redirect-uri",
        CB,
        "--first-party",
    ]);
    let (id, secret) = (c["client_id"].as_str().unwrap().to_owned(), c["client_secret"].as_str().unwrap().to_owned());
    let (signing, jwk) = key("k1");
    s.cli_json(&["client", "update", &id, "--jwks", &json!({"keys": [jwk]}).to_string()]);

    let meta: Value =
        reqwest::get(format!("{}{}", s.base, routes::OPENID_CONFIGURATION)).await.unwrap().json().await.unwrap();
    assert_eq!(meta["request_parameter_supported"], true);
    assert_eq!(meta["request_uri_parameter_supported"], false, "no request object is fetched from a client's URL");
    assert!(meta["request_object_signing_alg_values_supported"].as_array().unwrap().contains(&json!("ES256")));

    let request = |extra: Value| {
        let mut claims = json!({
            "iss": id, "aud": s.base, "exp": now() + 300, "iat": now(), "client_id": id,
            "response_type": "code", "redirect_uri": CB, "scope": "openid", "state": "signed-state",
            "nonce": "signed-nonce", "code_challenge": CHALLENGE, "code_challenge_method": "S256",
        });
        claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        claims
    };
    let by_value = |jwt: &str| {
        format!("{}{}?client_id={id}&request={jwt}&state=query-state&scope=openid%20email", s.base, routes::AUTHORIZE)
    };

    // By value: the signed state comes back, not the query's.
    let jwt = assertion(&signing, "k1", &request(json!({})));
    let b = browser();
    let done = sign_in_as(&s.base, &b, &by_value(&jwt), "alice", PASSWORD).await;
    assert_eq!(done.status(), 302);
    let location = done.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(CB), "{location}");
    assert_eq!(query_param(&location, "state").as_deref(), Some("signed-state"), "only the signed parameters count");
    let code = query_param(&location, "code").unwrap();
    let pairs =
        [("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB), ("code_verifier", VERIFIER)];
    let (status, tokens) = s.token_form(&id, &secret, &pairs).await;
    assert_eq!(status, 200, "{tokens}\n{}", s.log_text());
    let id_token = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["nonce"], "signed-nonce");
    assert_eq!(tokens["scope"], "openid", "the query's extra scope was ignored");

    // Broken request objects: a page, never a redirect.
    let (other, _) = key("k1");
    let mut tampered = jwt.clone();
    tampered.push('x');
    for (what, bad) in [
        ("tampered", tampered),
        ("another key", assertion(&other, "k1", &request(json!({})))),
        ("expired", assertion(&signing, "k1", &request(json!({"exp": now() - 300})))),
        ("another audience", assertion(&signing, "k1", &request(json!({"aud": "https://other.example"})))),
        ("another issuer", assertion(&signing, "k1", &request(json!({"iss": "someone"})))),
    ] {
        let r = b.get(by_value(&bad)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{what}");
        let page = r.text().await.unwrap();
        assert!(page.contains("invalid_request_object"), "{what}: {page}");
    }

    // Pushed (RFC 9126 §3): the request object is the pushed request.
    let push = |jwt: String| {
        let (id, secret, url) = (id.clone(), secret.clone(), format!("{}{}", s.base, routes::PAR));
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[("request", jwt.as_str()), ("state", "ignored")])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, pushed) = push(assertion(&signing, "k1", &request(json!({"state": "pushed-state"})))).await;
    assert_eq!(status, 201, "{pushed}");
    let url = format!(
        "{}{}?client_id={id}&request_uri={}",
        s.base,
        routes::AUTHORIZE,
        pushed["request_uri"].as_str().unwrap()
    );
    let done = b.get(url).send().await.unwrap();
    assert_eq!(done.status(), 302, "already signed in");
    let location = done.headers()["location"].to_str().unwrap();
    assert_eq!(query_param(location, "state").as_deref(), Some("pushed-state"));
    let (status, refused) = push(assertion(&other, "k1", &request(json!({})))).await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("invalid_request_object")), "{refused}");

    // RFC 9101 §10.5: once the client must sign, a plain request is refused
    // at its redirect URI and at the PAR endpoint; signed ones still work.
    let shown = s.cli_json(&["client", "update", &id, "--require-signed-requests", "true"]);
    assert_eq!(shown["require_signed_request_object"], true, "{shown}");
    let plain = format!(
        "{}{}?client_id={id}&response_type=code&redirect_uri={CB}&scope=openid&state=p&code_challenge={CHALLENGE}&code_challenge_method=S256",
        s.base,
        routes::AUTHORIZE
    );
    let r = b.get(plain).send().await.unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(query_param(&location, "error").as_deref(), Some("invalid_request"), "{location}");
    let signed = assertion(&signing, "k1", &request(json!({"state": "still-signed"})));
    let r = b.get(by_value(&signed)).send().await.unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(query_param(&location, "state").as_deref(), Some("still-signed"), "{location}");
    let r = reqwest::Client::new()
        .post(format!("{}{}", s.base, routes::PAR))
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("response_type", "code"),
            ("redirect_uri", CB),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let (status, pushed) = push(assertion(&signing, "k1", &request(json!({})))).await;
    assert_eq!(status, 201, "a signed push is taken: {pushed}");
    // Keys are needed to require signatures.
    let out = s.cli_output(
        &[
            "client",
            "create",
            "--name",
            "Unsigned",
            "--grant-types",
            "authorization_code",
            "--redirect-uri",
            CB,
            "--require-signed-requests",
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs keys"), "{out:?}");

    // A client without registered keys cannot send one.
    let plain = s.cli_json(&[
        "client",
        "create",
        "--name",
        "Plain",
        "--grant-types",
        "authorization_code",
        "--redirect-uri",
        CB,
    ]);
    let plain_id = plain["client_id"].as_str().unwrap();
    let url = format!("{}{}?client_id={plain_id}&request={jwt}", s.base, routes::AUTHORIZE);
    let r = b.get(url).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("invalid_request_object"));
}
