//! `private_key_jwt` client authentication (RFC 7523 §2.2, OIDC Core §9)
//! against the real binary: the client's EC P-256 key is generated here,
//! its public JWK registered with `client update --jwks`, and assertions
//! signed with jsonwebtoken. Error paths: the same assertion twice, a wrong
//! audience, an expired assertion, another key, iss not the client, a
//! client without keys; the PAR endpoint accepts an assertion too. Keys
//! registered by `--jwks-uri` are served by [`KeyServer`], a tiny HTTP
//! server on loopback: fetched and cached, refetched on a new `kid`, and an
//! oversized document, a slow server and a server that is down fail the
//! assertion with `invalid_client`.

use crate::on_both_backends;
use crate::support::{Backend, Options, TestServer, verify_with_discovery};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tessera::web::routes;

const AUD: &str = "https://assert.api.example";
const TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A P-256 key: the signing key and its public JWK (`kid` given).
pub fn key(kid: &str) -> (EncodingKey, Value) {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let der = pair.to_pkcs8v1().unwrap();
    let public = pair.public_key().as_ref().to_vec();
    assert_eq!((public.len(), public[0]), (65, 4), "uncompressed point");
    let jwk = json!({
        "kty": "EC",
        "crv": "P-256",
        "kid": kid,
        "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(&public[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&public[33..]),
    });
    (EncodingKey::from_ec_der(der.as_ref()), jwk)
}

/// The server's clock, in Unix seconds.
pub fn now() -> i64 {
    tessera::clock::now()
}

/// `claims` signed with `key` (ES256), its `kid` in the header.
pub fn assertion(key: &EncodingKey, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// Standard claims for `client_id` at `aud`, with a fresh jti.
fn claims(client_id: &str, aud: &str, jti: &str) -> Value {
    json!({"iss": client_id, "sub": client_id, "aud": aud, "exp": now() + 120, "iat": now(), "jti": jti})
}

async fn token(server: &TestServer, jwt: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(server.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("audience", AUD),
            ("client_assertion_type", TYPE),
            ("client_assertion", jwt),
        ])
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// A JWK Set served over plain HTTP on loopback (which `jwks_uri` allows
/// for loopback hosts only): every request gets the current `body` after
/// `delay`; `hits` counts the requests.
pub struct KeyServer {
    /// The `jwks_uri`.
    pub url: String,
    body: Arc<Mutex<String>>,
    delay: Arc<Mutex<Duration>>,
    hits: Arc<AtomicUsize>,
}

impl KeyServer {
    /// Serves `body` until the test process ends.
    pub fn start(body: String) -> KeyServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let server = KeyServer {
            url,
            body: Arc::new(Mutex::new(body)),
            delay: Arc::new(Mutex::new(Duration::ZERO)),
            hits: Arc::new(AtomicUsize::new(0)),
        };
        let (body, delay, hits) = (server.body.clone(), server.delay.clone(), server.hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (body, delay, hits) = (body.clone(), delay.clone(), hits.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                        line.clear();
                    }
                    hits.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(*delay.lock().unwrap());
                    let body = body.lock().unwrap().clone();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes()));
                });
            }
        });
        server
    }

    /// Serves the set of these public JWKs from now on.
    pub fn serve_keys(&self, keys: &[&Value]) {
        *self.body.lock().unwrap() = json!({ "keys": keys }).to_string();
    }

    /// Waits this long before each answer from now on.
    pub fn slow_down(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    /// Requests served so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Server options for `jwks_uri` tests: a new `kid` may refetch at once
/// (the default waits 30 s between fetches per URL; `remote_jwks.rs` tests
/// that interval with a set clock).
pub fn refetch_at_once() -> Options {
    Options { env: vec![("TESSERA_REMOTE_JWKS__REFETCH_SECS".into(), "0".into())], ..Options::default() }
}

on_both_backends!(
    /// Keys registered by URL are fetched once and cached; a new `kid` (the
    /// client rotated its keys) fetches again, and a key gone from the set
    /// no longer verifies.
    jwks_uri_keys_are_cached_and_rotate_by_kid,
    |backend: Backend| async move {
        let server = TestServer::start_with(backend, refetch_at_once());
        let (id, _) = server.api_and_client(AUD, "RS256", "read");
        let (k1, jwk1) = key("k1");
        let keys = KeyServer::start(String::new());
        keys.serve_keys(&[&jwk1]);
        let shown = server.cli_json(&["client", "update", &id, "--jwks-uri", &keys.url]);
        assert_eq!(shown["jwks_uri"], Value::from(keys.url.clone()), "{shown}");
        let token_url = server.token_url();
        let mut issued = Vec::new();
        for jti in ["u-1", "u-2"] {
            let (status, body) = token(&server, &assertion(&k1, "k1", &claims(&id, &token_url, jti))).await;
            assert_eq!(status, 200, "{jti}: {body}");
            issued.push(body["access_token"].as_str().unwrap().to_owned());
        }
        assert_eq!(keys.hits(), 1, "the second assertion used the cached set");

        // Introspection and revocation take the same client authentication
        // (discovery lists private_key_jwt for them), aud = their URLs.
        let http = reqwest::Client::new();
        for (path, jti) in [(routes::INTROSPECT, "u-i"), (routes::REVOKE, "u-r")] {
            let url = format!("{}{path}", server.base);
            let jwt = assertion(&k1, "k1", &claims(&id, &url, jti));
            let form = [("token", issued[0].as_str()), ("client_assertion_type", TYPE), ("client_assertion", &jwt)];
            let r = http.post(&url).form(&form).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200, "{path}: {}", r.text().await.unwrap());
        }

        let (k2, jwk2) = key("k2");
        keys.serve_keys(&[&jwk2]);
        let (status, body) = token(&server, &assertion(&k2, "k2", &claims(&id, &token_url, "u-3"))).await;
        assert_eq!(status, 200, "rotated key: {body}");
        assert_eq!(keys.hits(), 2, "the unknown kid fetched the set again");
        let (status, body) = token(&server, &assertion(&k1, "k1", &claims(&id, &token_url, "u-4"))).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "retired key: {body}");

        // Inline keys and a URL are exclusive.
        let out = server.cli_output(&["client", "update", &id, "--jwks", &json!({"keys": [jwk1]}).to_string()], None);
        assert!(!out.status.success(), "jwks next to a jwks_uri is refused");
        let out = server.cli_output(&["client", "update", &id, "--jwks-uri", "http://keys.example/jwks.json"], None);
        assert!(!out.status.success(), "plain http to a host that is not loopback is refused");
        let shown = server.cli_json(&["client", "update", &id, "--jwks-uri", ""]);
        assert_eq!(shown["jwks_uri"], Value::Null, "an empty value removes it");
    }
);

/// A key server whose document is too large, that answers after the
/// timeout, or that is down fails the assertion with `invalid_client`,
/// quickly, and the log says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_uri_too_large_too_slow_or_down_fails_the_assertion() {
    let server = TestServer::start_with(Backend::Sqlite, refetch_at_once());
    let token_url = server.token_url();
    let (signing, jwk) = key("k1");

    let (big, _) = server.api_and_client(AUD, "RS256", "read");
    let oversized = KeyServer::start(json!({"keys": [jwk], "padding": "x".repeat(70 * 1024)}).to_string());
    server.cli_json(&["client", "update", &big, "--jwks-uri", &oversized.url]);
    let (status, body) = token(&server, &assertion(&signing, "k1", &claims(&big, &token_url, "o-1"))).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "oversized: {body}");
    assert!(server.log_text().contains("the JWK Set is larger than 65536 bytes"), "{}", server.log_text());

    let (slow, _) = server.api_and_client("https://slow.api.example", "RS256", "read");
    let sluggish = KeyServer::start(String::new());
    sluggish.serve_keys(&[&jwk]);
    sluggish.slow_down(Duration::from_secs(10));
    server.cli_json(&["client", "update", &slow, "--jwks-uri", &sluggish.url]);
    let started = Instant::now();
    let (status, body) = token(&server, &assertion(&signing, "k1", &claims(&slow, &token_url, "s-1"))).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "slow: {body}");
    assert!(started.elapsed() < Duration::from_secs(6), "the 3 s timeout ends the fetch: {:?}", started.elapsed());

    let (down, _) = server.api_and_client("https://down.api.example", "RS256", "read");
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    server.cli_json(&["client", "update", &down, "--jwks-uri", &format!("http://{closed}/jwks.json")]);
    let (status, body) = token(&server, &assertion(&signing, "k1", &claims(&down, &token_url, "d-1"))).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "down: {body}");
}

on_both_backends!(
    /// A client with a registered JWKS gets tokens with a signed assertion,
    /// once per assertion; every claim rule refuses with invalid_client.
    private_key_jwt_authenticates_once_per_assertion,
    |backend: Backend| async move {
        let server = TestServer::start(backend);
        let (id, _) = server.api_and_client(AUD, "RS256", "read");
        let (signing, jwk) = key("k1");
        let shown = server.cli_json(&["client", "update", &id, "--jwks", &json!({"keys": [jwk]}).to_string()]);
        assert_eq!(shown["jwks"]["keys"][0]["kid"], "k1", "{shown}");

        let doc: Value = reqwest::get(format!("{}{}", server.base, routes::OPENID_CONFIGURATION))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(doc["token_endpoint_auth_methods_supported"].as_array().unwrap().iter().any(|m| m == "private_key_jwt"));
        assert!(doc["token_endpoint_auth_signing_alg_values_supported"].as_array().unwrap().iter().any(|a| a == "ES256"));

        let token_url = server.token_url();
        let jwt = assertion(&signing, "k1", &claims(&id, &token_url, "jti-1"));
        let (status, body) = token(&server, &jwt).await;
        assert_eq!(status, 200, "{body}");
        let at = verify_with_discovery(&server.base, body["access_token"].as_str().unwrap(), AUD).await;
        assert_eq!(at["client_id"], Value::from(id.clone()));
        let (status, body) = token(&server, &jwt).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "replayed jti");

        // The issuer is an audience too.
        let (status, body) = token(&server, &assertion(&signing, "k1", &claims(&id, &server.base, "jti-2"))).await;
        assert_eq!(status, 200, "{body}");

        let (other, _) = key("k1");
        let mut expired = claims(&id, &token_url, "jti-3");
        expired["exp"] = json!(now() - 120);
        let mut foreign_iss = claims(&id, &token_url, "jti-4");
        foreign_iss["iss"] = json!("someone-else");
        for (jwt, why) in [
            (assertion(&signing, "k1", &claims(&id, "https://elsewhere.example/token", "jti-5")), "wrong aud"),
            (assertion(&signing, "k1", &expired), "expired"),
            (assertion(&other, "k1", &claims(&id, &token_url, "jti-6")), "another key"),
            (assertion(&signing, "k1", &foreign_iss), "iss is not the client"),
        ] {
            let (status, body) = token(&server, &jwt).await;
            assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{why}: {body}");
        }

        // A client without keys cannot use an assertion.
        let (plain, _) = server.api_and_client("https://plain.api.example", "RS256", "read");
        let (status, _) = token(&server, &assertion(&signing, "k1", &claims(&plain, &token_url, "jti-7"))).await;
        assert_eq!(status, 401);

        // Other endpoints authenticate the same way (here PAR, aud = its URL):
        // the client gets past authentication to the grant check.
        server.cli_json(&["client", "update", &id, "--redirect-uris", "https://app.example/cb"]);
        let par_url = format!("{}{}", server.base, routes::PAR);
        let r = reqwest::Client::new()
            .post(&par_url)
            .form(&[
                ("response_type", "code"),
                ("client_assertion_type", TYPE),
                ("client_assertion", &assertion(&signing, "k1", &claims(&id, &par_url, "jti-8"))),
            ])
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized_client", "authenticated, then refused for the grant: {body}");
    }
);

/// Private keys and symmetric keys are refused at registration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_public_asymmetric_keys_can_be_registered() {
    let server = TestServer::start(Backend::Sqlite);
    let (id, _) = server.api_and_client(AUD, "RS256", "read");
    let (_, mut jwk) = key("k1");
    jwk["d"] = json!("c2VjcmV0");
    let out = server.cli_output(&["client", "update", &id, "--jwks", &json!({"keys": [jwk]}).to_string()], None);
    assert!(!out.status.success(), "a private key is refused");
    let oct = json!({"keys": [{"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0"}]}).to_string();
    let out = server.cli_output(&["client", "update", &id, "--jwks", &oct], None);
    assert!(!out.status.success(), "a symmetric key is refused");
    let shown = server.cli_json(&["client", "show", &id]);
    assert_eq!(shown["jwks"], Value::Null, "nothing stored");
}

/// The console's client form registers the keys (and shows them back);
/// text that is not a public JWK Set is refused next to the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_client_form_registers_the_jwks() {
    let server = TestServer::start(Backend::Sqlite);
    let console = crate::console::Console::signed_in(&server).await;
    let (_, jwk) = key("console-key");
    let jwks = json!({"keys": [jwk]}).to_string();
    let create = |name: &'static str, jwks: String| {
        let console = &console;
        async move {
            let form = [
                ("name", name.to_owned()),
                ("kind", "confidential".to_owned()),
                ("grant_types", "client_credentials".to_owned()),
                ("jwks", jwks),
            ];
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            console.post_csrf(routes::console::CLIENTS, &form).await
        }
    };
    let refused = create("Broken", "{not json".into()).await;
    let page = refused.text().await.unwrap();
    assert!(page.contains("not JSON"), "{page}");
    let r = create("Keyed", jwks).await;
    assert!(r.status().is_success() || r.status().is_redirection(), "{}", r.status());
    let list = server.cli_json(&["client", "list"]);
    let clients = list["clients"].as_array().unwrap();
    assert!(clients.iter().all(|c| c["name"] != "Broken"), "nothing saved for the refused form");
    let id = clients.iter().find(|c| c["name"] == "Keyed").expect("created")["id"].as_str().unwrap().to_owned();
    let shown = server.cli_json(&["client", "show", &id]);
    assert_eq!(shown["jwks"]["keys"][0]["kid"], "console-key", "{shown}");
    let edit = console.get(&routes::console::CLIENT.replace("{id}", &id)).await.text().await.unwrap();
    assert!(edit.contains("console-key"), "the form shows the registered keys");
}

/// A loopback `jwks_uri` is fetched directly even when the server runs with
/// `HTTP_PROXY` (and the others) set: a proxy would fetch its own loopback,
/// and could hand back a key set of its choosing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_jwks_uri_is_never_fetched_through_a_proxy() {
    let proxy = KeyServer::start(String::new());
    let proxy_base = proxy.url.trim_end_matches("/jwks.json").to_owned();
    let mut options = refetch_at_once();
    for name in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"] {
        options.env.push((name.into(), proxy_base.clone()));
    }
    let server = TestServer::start_with(Backend::Sqlite, options);
    let (id, _) = server.api_and_client(AUD, "RS256", "read");
    let (signing, jwk) = key("k1");
    let keys = KeyServer::start(String::new());
    keys.serve_keys(&[&jwk]);
    server.cli_json(&["client", "update", &id, "--jwks-uri", &keys.url]);
    let (status, body) = token(&server, &assertion(&signing, "k1", &claims(&id, &server.token_url(), "p-1"))).await;
    assert_eq!(status, 200, "{body}\n{}", server.log_text());
    assert_eq!((keys.hits(), proxy.hits()), (1, 0), "fetched directly, never through the proxy");
}
