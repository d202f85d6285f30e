//! `private_key_jwt` client authentication (RFC 7523 §2.2, OIDC Core §9)
//! against the real binary: the client's EC P-256 key is generated here,
//! its public JWK registered with `client update --jwks`, and assertions
//! signed with jsonwebtoken. Error paths: the same assertion twice, a wrong
//! audience, an expired assertion, another key, iss not the client, a
//! client without keys; the PAR endpoint accepts an assertion too.

use crate::on_both_backends;
use crate::support::{Backend, TestServer, verify_with_discovery};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tessera::web::routes;

const AUD: &str = "https://assert.api.example";
const TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A P-256 key: the signing key and its public JWK (`kid` given).
fn key(kid: &str) -> (EncodingKey, Value) {
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

fn now() -> i64 {
    tessera::clock::now()
}

fn assertion(key: &EncodingKey, kid: &str, claims: &Value) -> String {
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
