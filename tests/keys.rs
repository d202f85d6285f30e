//! Signing-key rotation (docs/security-checklist.md J-14, R-7): the next key is published
//! before it signs, and tokens signed before a rotation still verify after it.
//! Every JWKS read checks that no private member is published (J-15).

use crate::client_credentials::oauth2_token;
use crate::on_both_backends;
use crate::support::{Backend, TestServer, verify_with_discovery};
use serde_json::Value;
use std::time::{Duration, Instant};
use tessera::web::routes;

async fn jwks_kids(server: &TestServer) -> Vec<String> {
    let v: Value = reqwest::get(format!("{}{}", server.base, routes::JWKS)).await.unwrap().json().await.unwrap();
    for k in v["keys"].as_array().unwrap() {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(k.get(private).is_none(), "JWKS leaks private member {private}");
        }
    }
    v["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

fn key_in_state(server: &TestServer, alg: &str, state: &str) -> String {
    let list = server.cli_json(&["keys", "list"]);
    list["keys"].as_array().unwrap().iter().find(|k| k["alg"] == alg && k["state"] == state).expect("key")["kid"]
        .as_str()
        .unwrap()
        .to_owned()
}

on_both_backends!(tokens_signed_before_rotation_still_verify, |backend: Backend| async move {
    let server = TestServer::start(backend);
    let aud = "https://keys.api.example";
    let (id, secret) = server.api_and_client(aud, "RS256", "read");
    let before = oauth2_token(&server, &id, &secret, aud, &[], false).await;
    let old_kid = jsonwebtoken::decode_header(&before).unwrap().kid.unwrap();
    let next = key_in_state(&server, "RS256", "next");
    assert!(jwks_kids(&server).await.contains(&next), "the next key is published before it signs");

    let rotated = server.cli_json(&["keys", "rotate"]);
    assert!(rotated["rotated"].as_array().unwrap().iter().any(|r| r["current"].as_str() == Some(next.as_str())));

    // The running server sees the rotation within its refresh interval (1 s).
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let t = oauth2_token(&server, &id, &secret, aud, &[], false).await;
        if jsonwebtoken::decode_header(&t).unwrap().kid.as_deref() == Some(next.as_str()) {
            break t;
        }
        assert!(Instant::now() < deadline, "server never switched to the new key");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let kids = jwks_kids(&server).await;
    assert!(kids.contains(&old_kid), "retired key still published");
    assert!(kids.contains(&next));
    verify_with_discovery(&server.base, &before, aud).await;
    verify_with_discovery(&server.base, &after, aud).await;
    assert_eq!(kids.len(), 9, "3 algorithms x (retired, current, next)");
});
