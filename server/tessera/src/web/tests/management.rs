//! The management API through its real routes (`web::api::routes`) in
//! process: bearer protection and scopes, problem bodies, ETag and
//! If-Match, merge-patch field errors, the audit actor, and the OpenAPI
//! document against the routes that answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::harness::{AUD, Harness, TestClient, json, token_request};
use crate::service::admin;
use crate::service::management::create_management_client;
use crate::service::oauth::management::{MANAGEMENT_AUDIENCE, ManagementScope};
use crate::web::routes::api as paths;
use actix_web::http::header;
use actix_web::test::{self, TestRequest};
use serde_json::{Value, json};

macro_rules! mgmt_app {
    ($h:expr) => {
        actix_web::test::init_service(
            actix_web::App::new()
                .app_data($h.state.clone())
                .wrap(actix_web::middleware::from_fn(crate::web::tests::harness::sync_first))
                .configure(crate::web::public_routes)
                .configure(crate::web::api::routes),
        )
        .await
    };
}

/// A management client with `scopes`.
fn mgmt_client(h: &Harness, scopes: &[ManagementScope]) -> TestClient {
    let (c, secret) = create_management_client(h.store(), &h.master, "test", "ci", scopes, 300).unwrap();
    TestClient { id: c.id, secret: secret.expose().to_owned() }
}

/// A management token of `client` for `scopes`.
macro_rules! token {
    ($app:expr, $client:expr, $scopes:expr) => {{
        let audience = MANAGEMENT_AUDIENCE;
        let form = [("grant_type", "client_credentials"), ("audience", audience), ("scope", $scopes)];
        let (status, body) = json(test::call_service($app, token_request($client, &form).to_request()).await).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }};
}

/// The response's status, headers and JSON body.
macro_rules! call {
    ($app:expr, $req:expr) => {{
        let resp = test::call_service($app, $req.to_request()).await;
        let headers = resp.headers().clone();
        let (status, body) = json(resp).await;
        (status, headers, body)
    }};
}

fn bearer(t: &str) -> (header::HeaderName, String) {
    (header::AUTHORIZATION, format!("Bearer {t}"))
}

/// A header's value as text ("" if absent).
fn hv(headers: &actix_web::http::header::HeaderMap, name: header::HeaderName) -> String {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

fn problem_type(body: &Value) -> &str {
    body["type"].as_str().unwrap_or_default()
}

#[actix_web::test]
async fn no_token_or_a_foreign_audience_is_401_with_a_challenge() {
    let h = Harness::new(|_| {});
    h.api();
    let app = mgmt_app!(h);
    let (status, headers, body) = call!(&app, TestRequest::get().uri(paths::CLIENTS));
    assert_eq!(status, 401);
    assert_eq!(hv(&headers, header::CONTENT_TYPE), "application/problem+json");
    assert!(!hv(&headers, header::WWW_AUTHENTICATE).as_str().contains("error="));
    assert_eq!(problem_type(&body), "urn:tessera:problem:unauthorized");

    // A valid token of this issuer, but for another API.
    let other = h.client(&["client_credentials"]);
    let form = [("grant_type", "client_credentials"), ("audience", AUD), ("scope", "read")];
    let (_, t) = json(test::call_service(&app, token_request(&other, &form).to_request()).await).await;
    let t = t["access_token"].as_str().unwrap();
    let (status, headers, _) = call!(&app, TestRequest::get().uri(paths::CLIENTS).insert_header(bearer(t)));
    assert_eq!(status, 401);
    assert!(hv(&headers, header::WWW_AUTHENTICATE).as_str().contains("error=\"invalid_token\""));

    let (status, _, _) = call!(&app, TestRequest::get().uri(paths::CLIENTS).insert_header(bearer("not.a.jwt")));
    assert_eq!(status, 401);

    // A client open to any API and any scope (the default) gets no token
    // for the management audience: it names neither the audience nor the
    // scope. (Before this was refused here, such a token reached the
    // bearer check, which refuses it too.)
    mgmt_client(&h, &[ManagementScope::ReadClients]);
    let audience = MANAGEMENT_AUDIENCE;
    let form = [("grant_type", "client_credentials"), ("audience", audience), ("scope", "read:clients")];
    let (status, t) = json(test::call_service(&app, token_request(&other, &form).to_request()).await).await;
    assert_eq!((status, t["error"].as_str()), (400, Some("invalid_target")), "{t}");
}

#[actix_web::test]
async fn a_missing_scope_is_403_naming_it() {
    let h = Harness::new(|_| {});
    let c = mgmt_client(&h, &[ManagementScope::ReadClients]);
    let app = mgmt_app!(h);
    let t = token!(&app, &c, "read:clients");
    let (status, _, body) = call!(&app, TestRequest::get().uri(paths::CLIENTS).insert_header(bearer(&t)));
    assert_eq!(status, 200, "{body}");
    let (status, headers, body) =
        call!(&app, TestRequest::post().uri(paths::CLIENTS).insert_header(bearer(&t)).set_json(json!({"name": "x"})));
    assert_eq!(status, 403);
    let challenge = hv(&headers, header::WWW_AUTHENTICATE);
    assert!(challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"write:clients\""));
    assert_eq!(problem_type(&body), "urn:tessera:problem:insufficient-scope");
    // The client cannot even obtain a scope it was not given.
    let audience = MANAGEMENT_AUDIENCE;
    let form = [("grant_type", "client_credentials"), ("audience", audience), ("scope", "write:clients")];
    let (status, _) = json(test::call_service(&app, token_request(&c, &form).to_request()).await).await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn clients_round_trip_with_etags_and_merge_patch() {
    let h = Harness::new(|_| {});
    let c = mgmt_client(&h, &ManagementScope::ALL);
    let app = mgmt_app!(h);
    let t = token!(&app, &c, "read:clients write:clients");

    let (status, headers, body) = call!(
        &app,
        TestRequest::post()
            .uri(paths::CLIENTS)
            .insert_header(bearer(&t))
            .set_json(json!({"name": "billing", "grant_types": ["client_credentials"], "metadata": {"team": "a"}}))
    );
    assert_eq!(status, 201, "{body}");
    let id = body["client"]["id"].as_str().unwrap().to_owned();
    assert_eq!(hv(&headers, header::LOCATION), paths::client(&id).as_str());
    assert!(body["client_secret"].as_str().is_some_and(|s| s.len() > 20));

    let (status, headers, body) = call!(&app, TestRequest::get().uri(&paths::client(&id)).insert_header(bearer(&t)));
    assert_eq!((status, body["name"].as_str()), (200, Some("billing")));
    let etag = hv(&headers, header::ETAG);

    let patch = |if_match: Option<&str>, body: Value| {
        let mut r = TestRequest::patch()
            .uri(&paths::client(&id))
            .insert_header(bearer(&t))
            .insert_header((header::CONTENT_TYPE, "application/merge-patch+json"))
            .set_payload(body.to_string());
        if let Some(m) = if_match {
            r = r.insert_header((header::IF_MATCH, m.to_owned()));
        }
        r
    };
    let (status, _, body) = call!(&app, patch(None, json!({"name": "billing-2"})));
    assert_eq!((status, problem_type(&body)), (428, "urn:tessera:problem:precondition-required"));
    let (status, _, body) = call!(&app, patch(Some("\"stale\""), json!({"name": "billing-2"})));
    assert_eq!((status, problem_type(&body)), (412, "urn:tessera:problem:precondition-failed"));
    let (status, _, body) = call!(&app, patch(Some(&etag), json!({"colour": "red"})));
    assert_eq!((status, body["invalid-params"][0]["name"].as_str()), (400, Some("colour")), "{body}");
    let (status, _, body) = call!(&app, patch(Some(&etag), json!({"disabled": "yes"})));
    assert_eq!((status, body["invalid-params"][0]["name"].as_str()), (400, Some("disabled")), "{body}");
    let (status, _, body) = call!(&app, patch(Some(&etag), json!({"allowed_scopes": ["no\\pe"]})));
    assert_eq!((status, body["invalid-params"][0]["name"].as_str()), (400, Some("allowed_scopes")), "{body}");
    let (status, _, body) = call!(&app, patch(Some(&etag), json!({"grant_types": ["telepathy"]})));
    assert_eq!((status, body["invalid-params"][0]["name"].as_str()), (400, Some("grant_types")), "{body}");

    // Merge patch: one field changes, null removes (any scope again), the rest stays.
    let (status, headers, body) = call!(
        &app,
        patch(Some(&etag), json!({"name": "billing-2", "allowed_scopes": null, "metadata": {"env": "prod"}}))
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "billing-2");
    assert_eq!(body["metadata"], json!({"team": "a", "env": "prod"}));
    assert_eq!(body["grant_types"], json!(["client_credentials"]));
    let new_etag = hv(&headers, header::ETAG);
    assert_ne!(new_etag, etag);

    // Audited with the management client as the actor.
    let events = admin::audit_events(h.store(), Some(format!("client:{}", c.id)), None, None, 0, 50).unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"client.create") && actions.contains(&"client.update"), "{actions:?}");

    // Secrets: add one, read it, revoke it with its ETag.
    let (status, _, body) =
        call!(&app, TestRequest::post().uri(&paths::client_secrets(&id)).insert_header(bearer(&t)).set_json(json!({})));
    assert_eq!(status, 201, "{body}");
    let sid = body["secret"]["id"].as_str().unwrap().to_owned();
    let (_, headers, _) =
        call!(&app, TestRequest::get().uri(&paths::client_secret(&id, &sid)).insert_header(bearer(&t)));
    let secret_etag = hv(&headers, header::ETAG);
    let (status, _, _) = call!(
        &app,
        TestRequest::delete()
            .uri(&paths::client_secret(&id, &sid))
            .insert_header(bearer(&t))
            .insert_header((header::IF_MATCH, secret_etag))
    );
    assert_eq!(status, 204);

    let del = |m: &str| {
        TestRequest::delete()
            .uri(&paths::client(&id))
            .insert_header(bearer(&t))
            .insert_header((header::IF_MATCH, m.to_owned()))
    };
    let (status, _, _) = call!(&app, del(&etag));
    assert_eq!(status, 412, "the pre-patch ETag is stale");
    let (status, _, _) = call!(&app, del(&new_etag));
    assert_eq!(status, 204);
    let (status, _, body) = call!(&app, TestRequest::get().uri(&paths::client(&id)).insert_header(bearer(&t)));
    assert_eq!((status, problem_type(&body)), (404, "urn:tessera:problem:not-found"));
}

/// RFC 9449 §5.2: `dpop_bound_access_tokens` is a field of the client
/// resource, set on create and changed by merge patch.
#[actix_web::test]
async fn the_dpop_requirement_is_a_client_field() {
    let h = Harness::new(|_| {});
    let c = mgmt_client(&h, &ManagementScope::ALL);
    let app = mgmt_app!(h);
    let t = token!(&app, &c, "read:clients write:clients");
    let (status, _, body) = call!(
        &app,
        TestRequest::post().uri(paths::CLIENTS).insert_header(bearer(&t)).set_json(json!({
            "name": "prover", "grant_types": ["client_credentials"], "dpop_bound_access_tokens": true
        }))
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["client"]["dpop_bound_access_tokens"], true, "{body}");
    let id = body["client"]["id"].as_str().unwrap().to_owned();
    let (_, headers, _) = call!(&app, TestRequest::get().uri(&paths::client(&id)).insert_header(bearer(&t)));
    let (status, _, body) = call!(
        &app,
        TestRequest::patch()
            .uri(&paths::client(&id))
            .insert_header(bearer(&t))
            .insert_header((header::CONTENT_TYPE, "application/merge-patch+json"))
            .insert_header((header::IF_MATCH, hv(&headers, header::ETAG)))
            .set_payload(json!({"dpop_bound_access_tokens": false}).to_string())
    );
    assert_eq!((status, body["dpop_bound_access_tokens"].clone()), (200, json!(false)), "{body}");
    assert_eq!(body["name"], "prover", "the rest stays");
}

#[actix_web::test]
async fn a_disabled_management_client_loses_access_at_once() {
    let h = Harness::new(|_| {});
    let c = mgmt_client(&h, &ManagementScope::ALL);
    let app = mgmt_app!(h);
    let t = token!(&app, &c, "read:clients write:clients");
    let (status, headers, _) = call!(&app, TestRequest::get().uri(&paths::client(&c.id)).insert_header(bearer(&t)));
    assert_eq!(status, 200);
    let etag = hv(&headers, header::ETAG);
    let (status, _, body) = call!(
        &app,
        TestRequest::patch()
            .uri(&paths::client(&c.id))
            .insert_header(bearer(&t))
            .insert_header((header::IF_MATCH, etag))
            .set_json(json!({"disabled": true}))
    );
    assert_eq!((status, &body["disabled"]), (200, &json!(true)), "{body}");
    let (status, _, _) = call!(&app, TestRequest::get().uri(paths::CLIENTS).insert_header(bearer(&t)));
    assert_eq!(status, 401, "the token of a disabled client is refused");
}

#[actix_web::test]
async fn lists_page_with_a_cursor_and_filter_by_prefix() {
    let h = Harness::new(|_| {});
    let c = mgmt_client(&h, &ManagementScope::ALL);
    let app = mgmt_app!(h);
    let t = token!(&app, &c, "read:apis write:apis");
    for i in 0..5 {
        let (status, _, body) = call!(
            &app,
            TestRequest::post()
                .uri(paths::APIS)
                .insert_header(bearer(&t))
                .set_json(json!({"identifier": format!("https://p{i}.example"), "scopes": ["read"]}))
        );
        assert_eq!(status, 201, "{body}");
    }
    let mut seen = vec![];
    let mut uri = format!("{}?limit=2&prefix=https://p", paths::APIS);
    loop {
        let (status, _, body) = call!(&app, TestRequest::get().uri(&uri).insert_header(bearer(&t)));
        assert_eq!(status, 200, "{body}");
        let items = body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|a| a["identifier"].as_str().unwrap().to_owned()));
        match body["next_cursor"].as_str() {
            Some(c) => uri = format!("{}?limit=2&prefix=https://p&cursor={c}", paths::APIS),
            None => break,
        }
    }
    let expected: Vec<String> = (0..5).map(|i| format!("https://p{i}.example")).collect();
    assert_eq!(seen, expected, "every API once, in order, the management API itself filtered out");
    // The management API is listed, and cannot be deleted.
    let (_, _, body) = call!(
        &app,
        TestRequest::get().uri(&format!("{}?prefix={MANAGEMENT_AUDIENCE}", paths::APIS)).insert_header(bearer(&t))
    );
    let id = body["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, _, body) = call!(
        &app,
        TestRequest::delete().uri(&paths::api(&id)).insert_header(bearer(&t)).insert_header((header::IF_MATCH, "*"))
    );
    assert_eq!((status, problem_type(&body)), (409, "urn:tessera:problem:conflict"), "{body}");
    let (status, _, body) =
        call!(&app, TestRequest::get().uri(&format!("{}?limit=0", paths::APIS)).insert_header(bearer(&t)));
    assert_eq!((status, body["invalid-params"][0]["name"].as_str()), (400, Some("limit")));
    let (status, _, body) =
        call!(&app, TestRequest::get().uri(&format!("{}?limit=many", paths::APIS)).insert_header(bearer(&t)));
    assert_eq!((status, problem_type(&body)), (400, "urn:tessera:problem:invalid-field"));
}

/// Every operation of the OpenAPI document is one the server routes: with
/// no token each answers 401 (not 404 or 405); the document itself is 200,
/// and the path functions of `routes::api` build paths it lists.
#[actix_web::test]
async fn every_documented_operation_is_routed() {
    let h = Harness::new(|_| {});
    let app = mgmt_app!(h);
    let (status, _, doc) = call!(&app, TestRequest::get().uri(paths::OPENAPI));
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let ops = doc["paths"].as_object().unwrap();
    assert!(ops.len() >= 12, "{:?}", ops.keys());
    let mut count = 0;
    for (path, item) in ops {
        assert!(path.starts_with(paths::PREFIX), "{path}");
        for method in item.as_object().unwrap().keys() {
            let uri = path.replace("{version}", "1").replace(['{', '}'], "");
            let m = actix_web::http::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (status, _, body) = call!(&app, TestRequest::default().method(m).uri(&uri));
            assert_eq!(status, 401, "{method} {path}: {body}");
            let op = &item[method];
            assert!(op["security"][0]["bearer"].as_array().is_some_and(|s| s.len() == 1), "{method} {path}");
            assert!(op["responses"]["401"].is_object(), "{method} {path} documents its 401");
            count += 1;
        }
    }
    assert!(count >= 20, "{count} operations");
    for built in [
        paths::client("ID"),
        paths::client_secrets("ID"),
        paths::client_secret("ID", "SECRET_ID"),
        paths::api("ID"),
        paths::plugin("NAME"),
        paths::plugin_versions("NAME"),
        paths::plugin_version("NAME", 7),
        paths::binding("ID"),
        paths::user("ID"),
        paths::user_password("ID"),
        paths::key("ID"),
        paths::admin("ID"),
        paths::audit_event("ID"),
        paths::plugin_run("ID"),
    ] {
        let template = built
            .replace("SECRET_ID", "{secret_id}")
            .replace("ID", "{id}")
            .replace("NAME", "{name}")
            .replace('7', "{version}");
        assert!(ops.contains_key(&template), "{template} is not documented");
    }
    let (status, headers, body) = call!(&app, TestRequest::get().uri("/api/v1/nothing-here"));
    assert_eq!((status, problem_type(&body)), (404, "urn:tessera:problem:not-found"));
    assert_eq!(hv(&headers, header::CONTENT_TYPE), "application/problem+json");
}

/// One part of a `multipart/form-data` body with the boundary `b0undary`:
/// a file part when `file` names one, a plain field otherwise.
fn part(body: &mut Vec<u8>, name: &str, file: Option<(&str, &str)>, content: &[u8]) {
    body.extend_from_slice(format!("--b0undary\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes());
    match file {
        Some((file_name, media_type)) => body
            .extend_from_slice(format!("; filename=\"{file_name}\"\r\nContent-Type: {media_type}\r\n\r\n").as_bytes()),
        None => body.extend_from_slice(b"\r\n\r\n"),
    }
    body.extend_from_slice(content);
    body.extend_from_slice(b"\r\n");
}

/// The multipart upload's `signature` is "the signature file": sent as a
/// file part, as `curl -F signature=@plugin.wasm.sig` does (which labels it
/// `application/octet-stream`), it is read as it is from a plain field; a
/// file that is not text is refused on `signature`.
#[actix_web::test]
async fn a_multipart_upload_takes_the_signature_as_a_file_part() {
    use crate::plugin_signatures::{SignerConfig, SigningKey, generate};
    let (pem, public) = generate().unwrap();
    let h = Harness::new(|c| {
        c.plugins.require_signatures = true;
        c.plugins.trusted_signers = vec![SignerConfig { name: "ci".into(), public_key: public }];
    });
    let c = mgmt_client(&h, &[ManagementScope::WritePlugins]);
    let app = mgmt_app!(h);
    let t = token!(&app, &c, "write:plugins");
    let wasm = Harness::component("fixtures", "allow-claim");
    let signature = format!("{}\n", SigningKey::read(pem.as_bytes()).unwrap().detached_signature(&wasm));
    let upload = |name: &str, signature: Option<(&str, &str)>, content: &[u8]| {
        let mut body = Vec::new();
        part(&mut body, "component", Some(("plugin.wasm", "application/wasm")), &wasm);
        part(&mut body, "signature", signature, content);
        body.extend_from_slice(b"--b0undary--\r\n");
        TestRequest::post()
            .uri(&paths::plugin_versions(name))
            .insert_header(bearer(&t))
            .insert_header((header::CONTENT_TYPE, "multipart/form-data; boundary=b0undary"))
            .set_payload(body)
    };
    let as_file = Some(("plugin.wasm.sig", "application/octet-stream"));
    let (status, _, v) = call!(&app, upload("file", as_file, signature.as_bytes()));
    assert_eq!((status, &v["signed_by"]), (201, &json!("ci")), "{v}");
    let (status, _, v) = call!(&app, upload("field", None, signature.as_bytes()));
    assert_eq!((status, &v["signed_by"]), (201, &json!("ci")), "{v}");
    let (status, _, v) = call!(&app, upload("binary", as_file, &[0xff, 0xfe, 0x00]));
    assert_eq!((status, &v["invalid-params"][0]["name"]), (400, &json!("signature")), "{v}");
    let (status, _, v) = call!(&app, upload("wrong", as_file, b"c2VjcmV0LWlzaA=="));
    assert_eq!((status, &v["invalid-params"][0]["name"]), (400, &json!("signature")), "{v}");
}
