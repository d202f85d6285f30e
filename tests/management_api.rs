//! The management API (issue #14) over HTTP against the real binary, on
//! SQLite and PostgreSQL: a management client bootstrapped with
//! `tessera mgmt-client create`, its token by `client_credentials`, every
//! resource's operations, every error path, and every operation of the
//! OpenAPI document answered with the fields it documents.

use crate::on_both_backends;
use crate::plugins::component;
use crate::support::{Backend, Options, TestServer, verify_with_discovery};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use tessera::service::oauth::management::MANAGEMENT_AUDIENCE;
use tessera::web::routes::{self, api as paths};

/// A management client's token and the server.
struct Mgmt {
    base: String,
    token: String,
    client_id: String,
    http: reqwest::Client,
}

/// A response's status, headers and JSON body (`Null` if none).
struct Reply {
    status: u16,
    headers: header::HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    }

    fn problem(&self) -> &str {
        assert_eq!(self.header("content-type"), "application/problem+json", "{}", self.body);
        self.body["type"].as_str().unwrap_or_default()
    }

    fn bad_field(&self) -> &str {
        assert_eq!(self.problem(), "urn:tessera:problem:invalid-field", "{}", self.body);
        self.body["invalid-params"][0]["name"].as_str().unwrap_or_default()
    }
}

/// `tessera mgmt-client create --scopes SCOPES` and a token for `scopes`.
async fn mgmt(s: &TestServer, scopes: &str) -> Mgmt {
    let c = s.cli_json(&["mgmt-client", "create", "--name", "ci", "--scopes", scopes]);
    assert_eq!(c["audience"], MANAGEMENT_AUDIENCE);
    let (id, secret) = (c["client_id"].as_str().unwrap(), c["client_secret"].as_str().unwrap());
    let audience = MANAGEMENT_AUDIENCE;
    let wanted = scopes.replace(',', " ");
    let pairs = [("grant_type", "client_credentials"), ("audience", audience), ("scope", wanted.as_str())];
    let (status, body) = s.token_form(id, secret, &pairs).await;
    assert_eq!(status, 200, "{body}");
    Mgmt {
        base: s.base.clone(),
        token: body["access_token"].as_str().unwrap().to_owned(),
        client_id: id.to_owned(),
        http: reqwest::Client::new(),
    }
}

impl Mgmt {
    async fn send(
        &self,
        method: Method,
        path: &str,
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Reply {
        let req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        let r = build(req).send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        Reply { status, headers, body: serde_json::from_str(&text).unwrap_or(Value::Null) }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, |r| r).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, |r| r.json(&body)).await
    }

    async fn patch(&self, path: &str, etag: &str, body: Value) -> Reply {
        let etag = etag.to_owned();
        self.send(Method::PATCH, path, |r| {
            r.header("if-match", etag).header("content-type", "application/merge-patch+json").body(body.to_string())
        })
        .await
    }

    async fn delete(&self, path: &str, etag: &str) -> Reply {
        let etag = etag.to_owned();
        self.send(Method::DELETE, path, |r| r.header("if-match", etag)).await
    }

    async fn upload_raw(&self, name: &str, wasm: Vec<u8>) -> Reply {
        self.send(Method::POST, &paths::plugin_versions(name), |r| {
            r.header("content-type", "application/wasm").body(wasm)
        })
        .await
    }
}

/// Checks `body` against the OpenAPI schema `name` (properties' JSON types,
/// required properties present, no undocumented property), following
/// `$ref`s into `components.schemas`.
fn conforms(doc: &Value, schema: &Value, body: &Value, at: &str) {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return conforms(doc, &doc["components"]["schemas"][name], body, at);
    }
    if let Some(any) = schema["oneOf"].as_array().or_else(|| schema["anyOf"].as_array()) {
        let fits = any
            .iter()
            .any(|s| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| conforms(doc, s, body, at))).is_ok());
        assert!(fits, "{at}: {body} fits none of {schema}");
        return;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !types.is_empty() {
        let actual = match body {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let ok = types.contains(&actual) || (actual == "integer" && types.contains(&"number"));
        assert!(ok, "{at}: {body} is {actual}, documented {types:?}");
    }
    if let (Some(props), Value::Object(obj)) = (schema["properties"].as_object(), body) {
        for req in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            assert!(obj.contains_key(req), "{at}: required {req} missing from {body}");
        }
        for (k, v) in obj {
            let p = props.get(k).unwrap_or_else(|| panic!("{at}: {k} is not documented"));
            conforms(doc, p, v, &format!("{at}.{k}"));
        }
    }
    if let (Some(items), Value::Array(list)) = (schema.get("items"), body) {
        for (i, v) in list.iter().enumerate() {
            conforms(doc, items, v, &format!("{at}[{i}]"));
        }
    }
}

/// `reply` matches what the document says `method path` answers with its status.
fn documented(doc: &Value, method: &str, path: &str, reply: &Reply) {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "{method} {path} is not documented");
    let response = &op["responses"][reply.status.to_string()];
    assert!(response.is_object(), "{method} {path} does not document {}: {}", reply.status, reply.body);
    if let Some(content) = response["content"].as_object() {
        let (media, schema) = content.iter().next().unwrap();
        assert!(
            reply.header("content-type").starts_with(media.as_str()),
            "{method} {path}: {}",
            reply.header("content-type")
        );
        conforms(doc, &schema["schema"], &reply.body, &format!("{method} {path}"));
    }
}

async fn openapi(base: &str) -> Value {
    let r = reqwest::get(format!("{base}{}", paths::OPENAPI)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

on_both_backends!(every_resource_round_trips_as_documented, |backend: Backend| async move {
    let s = TestServer::start(backend);
    let doc = openapi(&s.base).await;
    let m = mgmt(
        &s,
        "read:clients,write:clients,read:apis,write:apis,read:plugins,write:plugins,read:bindings,write:bindings",
    )
    .await;

    // APIs.
    let r = m.post(paths::APIS, json!({"identifier": "https://orders.example", "scopes": ["read", "write"]})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    documented(&doc, "post", "/api/v1/apis", &r);
    let api_id = r.body["api"]["id"].as_str().unwrap().to_owned();
    assert_eq!(r.header("location"), paths::api(&api_id));
    let r = m.get(&paths::api(&api_id)).await;
    documented(&doc, "get", "/api/v1/apis/{id}", &r);
    let r =
        m.patch(&paths::api(&api_id), &r.header("etag"), json!({"name": "Orders", "token_lifetime_secs": 600})).await;
    assert_eq!(
        (r.status, r.body["name"].as_str(), r.body["token_lifetime_secs"].as_i64()),
        (200, Some("Orders"), Some(600))
    );
    documented(&doc, "patch", "/api/v1/apis/{id}", &r);
    let r = m.get(&format!("{}?prefix=https://orders", paths::APIS)).await;
    documented(&doc, "get", "/api/v1/apis", &r);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);

    // Clients, and their secrets.
    let body = json!({"name": "orders-worker", "grant_types": ["client_credentials"],
        "allowed_audiences": ["https://orders.example"], "allowed_scopes": ["read"]});
    let r = m.post(paths::CLIENTS, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    documented(&doc, "post", "/api/v1/clients", &r);
    let (cid, csecret) =
        (r.body["client"]["id"].as_str().unwrap().to_owned(), r.body["client_secret"].as_str().unwrap().to_owned());
    let r = m.get(&paths::client(&cid)).await;
    documented(&doc, "get", "/api/v1/clients/{id}", &r);
    let r = m.patch(&paths::client(&cid), &r.header("etag"), json!({"allowed_scopes": ["read", "write"]})).await;
    assert_eq!(r.body["allowed_scopes"], json!(["read", "write"]), "{}", r.body);
    documented(&doc, "patch", "/api/v1/clients/{id}", &r);
    let r = m.get(&format!("{}?limit=1", paths::CLIENTS)).await;
    documented(&doc, "get", "/api/v1/clients", &r);
    assert!(r.body["next_cursor"].is_string(), "two clients, one per page");
    let r = m.post(&paths::client_secrets(&cid), json!({"overlap_secs": 60})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    documented(&doc, "post", "/api/v1/clients/{id}/secrets", &r);
    let new_secret = r.body["client_secret"].as_str().unwrap().to_owned();
    let new_id = r.body["secret"]["id"].as_str().unwrap().to_owned();
    let r = m.get(&paths::client_secrets(&cid)).await;
    documented(&doc, "get", "/api/v1/clients/{id}/secrets", &r);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let old = items.iter().map(|x| x["id"].as_str().unwrap()).find(|x| *x != new_id).unwrap().to_owned();
    let r = m.get(&paths::client_secret(&cid, &old)).await;
    documented(&doc, "get", "/api/v1/clients/{id}/secrets/{secret_id}", &r);
    let r = m.delete(&paths::client_secret(&cid, &old), &r.header("etag")).await;
    assert_eq!(r.status, 204);
    let (status, _) = s
        .token_form(&cid, &csecret, &[("grant_type", "client_credentials"), ("audience", "https://orders.example")])
        .await;
    assert_eq!(status, 401, "the revoked first secret no longer authenticates");

    // Plugins: raw upload, the same bytes again (raw and multipart) change nothing.
    let wasm = std::fs::read(component("fixtures", "allow-claim")).unwrap();
    let r = m.upload_raw("allow-claim", wasm.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    documented(&doc, "post", "/api/v1/plugins/{name}/versions", &r);
    assert_eq!(r.header("location"), paths::plugin_version("allow-claim", 1));
    let r = m.upload_raw("allow-claim", wasm.clone()).await;
    assert_eq!((r.status, r.body["version"].as_i64()), (200, Some(1)), "{}", r.body);
    let form = reqwest::multipart::Form::new()
        .part("component", reqwest::multipart::Part::bytes(wasm.clone()).file_name("allow-claim.wasm"));
    let r = m.send(Method::POST, &paths::plugin_versions("allow-claim"), |b| b.multipart(form)).await;
    assert_eq!((r.status, r.body["version"].as_i64()), (200, Some(1)), "{}", r.body);
    let echo = std::fs::read(component("fixtures", "echo-context")).unwrap();
    let form = reqwest::multipart::Form::new()
        .part("component", reqwest::multipart::Part::bytes(echo).file_name("x.wasm"))
        .text("declared_claims", "context");
    let r = m.send(Method::POST, &paths::plugin_versions("allow-claim"), |b| b.multipart(form)).await;
    assert_eq!((r.status, r.body["version"].as_i64()), (201, Some(2)), "{}", r.body);
    for (path, template) in [
        (paths::PLUGINS.to_owned(), "/api/v1/plugins"),
        (paths::plugin("allow-claim"), "/api/v1/plugins/{name}"),
        (paths::plugin_versions("allow-claim"), "/api/v1/plugins/{name}/versions"),
        (paths::plugin_version("allow-claim", 1), "/api/v1/plugins/{name}/versions/{version}"),
    ] {
        let r = m.get(&path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        documented(&doc, "get", template, &r);
    }

    // Bindings apply to the next token request.
    let claims = || async {
        let pairs = [("grant_type", "client_credentials"), ("audience", "https://orders.example")];
        let (status, t) = s.token_form(&cid, &new_secret, &pairs).await;
        assert_eq!(status, 200, "{t}");
        verify_with_discovery(&s.base, t["access_token"].as_str().unwrap(), "https://orders.example").await
    };
    assert!(claims().await.get("fixture").is_none());
    let r = m
        .post(paths::BINDINGS, json!({"plugin": "allow-claim", "version": 1, "grant_types": ["client_credentials"]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    documented(&doc, "post", "/api/v1/bindings", &r);
    let bid = r.body["binding"]["id"].as_str().unwrap().to_owned();
    assert_eq!(r.header("location"), paths::binding(&bid));
    assert_eq!(claims().await["fixture"], "allow-claim");

    // A shadow candidate: set by merge patch, compared on real requests,
    // then discarded and promoted by POST actions.
    let set_shadow = || async {
        let r = m.get(&paths::binding(&bid)).await;
        let shadow = json!({"shadow": {"version": 2, "sensitive_claims": ["context"]}});
        let r = m.patch(&paths::binding(&bid), &r.header("etag"), shadow).await;
        assert_eq!((r.status, &r.body["shadow"]["version"]), (200, &json!(2)), "{}", r.body);
        assert_eq!(r.body["shadow"]["share"], 1.0);
    };
    set_shadow().await;
    assert_eq!(claims().await["fixture"], "allow-claim", "the candidate never reaches the token");
    let mut r = m.get(&paths::binding_shadow(&bid)).await;
    for _ in 0..100 {
        if r.body["compared"].as_i64() >= Some(1) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        r = m.get(&paths::binding_shadow(&bid)).await;
    }
    assert_eq!(
        (r.status, r.body["compared"].as_i64(), r.body["differed"].as_i64()),
        (200, Some(1), Some(1)),
        "{}",
        r.body
    );
    documented(&doc, "get", "/api/v1/bindings/{id}/shadow", &r);
    let r = m.post(&paths::binding_shadow_discard(&bid), json!({})).await;
    assert_eq!((r.status, &r.body["shadow"], &r.body["version"]), (200, &Value::Null, &json!(1)), "{}", r.body);
    documented(&doc, "post", "/api/v1/bindings/{id}/shadow/discard", &r);
    assert_eq!(m.get(&paths::binding_shadow(&bid)).await.status, 404);
    set_shadow().await;
    let r = m.post(&paths::binding_shadow_promote(&bid), json!({})).await;
    assert_eq!((r.status, &r.body["shadow"], &r.body["version"]), (200, &Value::Null, &json!(2)), "{}", r.body);
    documented(&doc, "post", "/api/v1/bindings/{id}/shadow/promote", &r);
    let r = m.get(&paths::binding(&bid)).await;
    let r = m.patch(&paths::binding(&bid), &r.header("etag"), json!({"version": 1})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(claims().await["fixture"], "allow-claim");

    let r = m.get(&paths::binding(&bid)).await;
    documented(&doc, "get", "/api/v1/bindings/{id}", &r);
    let r = m.patch(&paths::binding(&bid), &r.header("etag"), json!({"enabled": false})).await;
    assert_eq!((r.status, &r.body["binding"]["enabled"]), (200, &json!(false)), "{}", r.body);
    documented(&doc, "patch", "/api/v1/bindings/{id}", &r);
    assert!(claims().await.get("fixture").is_none(), "a disabled binding does not run");
    let r = m.get(&format!("{}?prefix=allow", paths::BINDINGS)).await;
    documented(&doc, "get", "/api/v1/bindings", &r);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    let r = m.get(&paths::binding(&bid)).await;
    let r = m.delete(&paths::binding(&bid), &r.header("etag")).await;
    assert_eq!(r.status, 204);

    // Every change above is in the audit log with the management client as actor.
    let actor = format!("client:{}", m.client_id);
    let actions: Vec<String> = s
        .cli(&["audit", "export"])
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["actor"] == actor.as_str())
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    for a in [
        "api.create",
        "api.update",
        "client.create",
        "client.update",
        "client.secret.add",
        "client.secret.revoke",
        "plugin.upload",
        "binding.create",
        "binding.update",
        "binding.delete",
        "binding.shadow.set",
        "binding.shadow.discard",
        "binding.shadow.promote",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} not audited as {actor}: {actions:?}");
    }

    // Deletes.
    let r = m.get(&paths::client(&cid)).await;
    assert_eq!(m.delete(&paths::client(&cid), &r.header("etag")).await.status, 204);
    let r = m.get(&paths::api(&api_id)).await;
    assert_eq!(m.delete(&paths::api(&api_id), &r.header("etag")).await.status, 204);
    let r = m.get(&paths::api(&api_id)).await;
    assert_eq!(r.problem(), "urn:tessera:problem:not-found");
    documented(&doc, "get", "/api/v1/apis/{id}", &r);
});

on_both_backends!(every_error_path_is_a_problem, |backend: Backend| async move {
    let env = vec![("TESSERA_PLUGINS__MAX_UPLOAD_BYTES".to_owned(), "1000".to_owned())];
    let s = TestServer::start_with(backend, Options { env, ..Default::default() });
    let doc = openapi(&s.base).await;
    let m = mgmt(&s, "read:clients,write:clients,write:plugins").await;

    // No token, a token for another API, a token without the scope.
    let anonymous = Mgmt { token: String::new(), ..mgmt_like(&m) };
    let r = anonymous.get(paths::CLIENTS).await;
    assert_eq!((r.status, r.problem()), (401, "urn:tessera:problem:unauthorized"));
    assert!(r.header("www-authenticate").starts_with("Bearer "), "{}", r.header("www-authenticate"));
    documented(&doc, "get", "/api/v1/clients", &r);
    let (id, secret) = s.api_and_client("https://other.example", "RS256", "read");
    let (_, t) = s
        .token_form(&id, &secret, &[("grant_type", "client_credentials"), ("audience", "https://other.example")])
        .await;
    let foreign = Mgmt { token: t["access_token"].as_str().unwrap().to_owned(), ..mgmt_like(&m) };
    let r = foreign.get(paths::CLIENTS).await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").contains("error=\"invalid_token\""));
    let r = m.get(paths::APIS).await;
    assert_eq!((r.status, r.problem()), (403, "urn:tessera:problem:insufficient-scope"));
    assert!(r.header("www-authenticate").contains("scope=\"read:apis\""), "{}", r.header("www-authenticate"));
    documented(&doc, "get", "/api/v1/apis", &r);

    // Bodies: not JSON, not JSON at all by type, an unknown field, a bad value.
    let r = m.send(Method::POST, paths::CLIENTS, |b| b.header("content-type", "application/json").body("{")).await;
    assert_eq!((r.status, r.problem()), (400, "urn:tessera:problem:invalid-body"));
    let r = m.send(Method::POST, paths::CLIENTS, |b| b.header("content-type", "text/plain").body("{}")).await;
    assert_eq!((r.status, r.problem()), (415, "urn:tessera:problem:unsupported-media-type"));
    let r = m.post(paths::CLIENTS, json!({"name": "x", "grant_types": ["client_credentials"], "colour": "red"})).await;
    assert_eq!((r.status, r.bad_field()), (400, "colour"));
    documented(&doc, "post", "/api/v1/clients", &r);
    let r = m.post(paths::CLIENTS, json!({"name": "x", "grant_types": ["telepathy"]})).await;
    assert_eq!((r.status, r.bad_field()), (400, "grant_types"));
    let r = m.post(paths::CLIENTS, json!({"name": "x", "grant_types": "client_credentials"})).await;
    assert_eq!((r.status, r.bad_field()), (400, "grant_types"));

    // ETags: a missing If-Match is 428, a stale one 412.
    let r = m.post(paths::CLIENTS, json!({"name": "x", "grant_types": ["client_credentials"]})).await;
    let cid = r.body["client"]["id"].as_str().unwrap().to_owned();
    let etag = m.get(&paths::client(&cid)).await.header("etag");
    let r = m.send(Method::PATCH, &paths::client(&cid), |b| b.json(&json!({"name": "y"}))).await;
    assert_eq!((r.status, r.problem()), (428, "urn:tessera:problem:precondition-required"));
    documented(&doc, "patch", "/api/v1/clients/{id}", &r);
    let r = m.patch(&paths::client(&cid), &etag, json!({"name": "y"})).await;
    assert_eq!(r.status, 200);
    let r = m.patch(&paths::client(&cid), &etag, json!({"name": "z"})).await;
    assert_eq!((r.status, r.problem()), (412, "urn:tessera:problem:precondition-failed"));
    let r = m.delete(&paths::client(&cid), &etag).await;
    assert_eq!(r.status, 412);
    documented(&doc, "delete", "/api/v1/clients/{id}", &r);
    let to_public =
        json!({"public": true, "grant_types": ["authorization_code"], "redirect_uris": ["https://app.example/cb"]});
    let r = m.patch(&paths::client(&cid), "*", to_public).await;
    assert_eq!((r.status, r.problem()), (409, "urn:tessera:problem:conflict"), "{}", r.body);

    // Uploads: over plugins.max_upload_bytes (raw and multipart), not a component.
    let r = m.upload_raw("big", vec![0u8; 5000]).await;
    assert_eq!((r.status, r.problem()), (413, "urn:tessera:problem:payload-too-large"));
    documented(&doc, "post", "/api/v1/plugins/{name}/versions", &r);
    let form = reqwest::multipart::Form::new()
        .part("component", reqwest::multipart::Part::bytes(vec![0u8; 5000]).file_name("x.wasm"));
    let r = m.send(Method::POST, &paths::plugin_versions("big"), |b| b.multipart(form)).await;
    assert_eq!((r.status, r.problem()), (413, "urn:tessera:problem:payload-too-large"));
    let r = m.upload_raw("junk", b"not a component".to_vec()).await;
    assert_eq!((r.status, r.bad_field()), (400, "component"));
    let r = m
        .send(Method::POST, &paths::plugin_versions("junk"), |b| b.header("content-type", "text/plain").body("x"))
        .await;
    assert_eq!(r.status, 415);
    assert_eq!(m.get(paths::PLUGINS).await.status, 403, "write:plugins does not read");

    // The bootstrap command names the scopes it knows.
    let out = s.cli_output(&["mgmt-client", "create", "--scopes", "read:clients,write:everything"], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("write:everything") && stderr.contains("read:bindings"),
        "{stderr}"
    );
    let human = s.cli(&["mgmt-client", "create", "--name", "deploy", "--scopes", "read:plugins"]);
    assert!(human.contains("client_secret:") && human.contains(MANAGEMENT_AUDIENCE), "{human}");
});

/// A client for the same server, whose token the caller sets.
fn mgmt_like(m: &Mgmt) -> Mgmt {
    Mgmt { base: m.base.clone(), token: m.token.clone(), client_id: m.client_id.clone(), http: reqwest::Client::new() }
}

/// Every operation of the OpenAPI document is one the running server
/// routes: without a token each answers the 401 it documents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_answers() {
    let s = TestServer::start(Backend::Sqlite);
    let doc = openapi(&s.base).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut n = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let uri = format!("{}{}", s.base, path.replace("{version}", "1").replace(['{', '}'], ""));
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = reqwest::Client::new().request(m, &uri).send().await.unwrap();
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            let body = r.json().await.unwrap_or(Value::Null);
            let reply = Reply { status, headers, body };
            assert_eq!(reply.status, 401, "{method} {path}");
            documented(&doc, method, path, &reply);
            n += 1;
        }
    }
    assert!(n >= 20, "{n}");
    assert_eq!(routes::TOKEN, doc["components"]["securitySchemes"]["bearer"]["flows"]["clientCredentials"]["tokenUrl"]);
}

on_both_backends!(uploads_follow_the_signature_policy, |backend: Backend| async move {
    use crate::plugin_signatures::{keygen, server, sign};
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "ci");
    let s = server(backend, dir.path(), true, &public);
    let m = mgmt(&s, "write:plugins").await;
    let file = component("fixtures", "allow-claim");
    let wasm = std::fs::read(&file).unwrap();
    let signature = std::fs::read_to_string(sign(dir.path(), &file, &key, "a.sig")).unwrap();
    let signed = |sig: String| {
        let wasm = wasm.clone();
        move |b: reqwest::RequestBuilder| {
            b.header("content-type", "application/wasm").header("tessera-plugin-signature", sig.trim()).body(wasm)
        }
    };
    let r = m.upload_raw("rule", wasm.clone()).await;
    assert_eq!((r.status, r.bad_field()), (400, "signature"));
    let r = m.send(Method::POST, &paths::plugin_versions("rule"), signed(signature.clone())).await;
    assert_eq!((r.status, &r.body["signed_by"]), (201, &json!("ci")), "{}", r.body);
    // The same content again: unsigned still refused, signed the same version.
    let r = m.upload_raw("rule", wasm.clone()).await;
    assert_eq!((r.status, r.bad_field()), (400, "signature"));
    let r = m.send(Method::POST, &paths::plugin_versions("rule"), signed(signature.clone())).await;
    assert_eq!((r.status, r.body["version"].as_i64()), (200, Some(1)), "{}", r.body);
    // Multipart carries the signature as a field.
    let form = reqwest::multipart::Form::new()
        .part("component", reqwest::multipart::Part::bytes(wasm.clone()).file_name("rule.wasm"))
        .text("signature", signature.trim().to_owned());
    let r = m.send(Method::POST, &paths::plugin_versions("rule"), |b| b.multipart(form)).await;
    assert_eq!((r.status, r.body["version"].as_i64()), (200, Some(1)), "{}", r.body);
});

on_both_backends!(scope_descriptions_are_set_patched_and_checked, |backend: Backend| async move {
    let s = TestServer::start(backend);
    let m = mgmt(&s, "read:apis,write:apis").await;
    let body = json!({"identifier": "https://described.example", "scopes": ["read", "write"],
        "scope_descriptions": {"read": "Read your orders"}});
    let r = m.post(paths::APIS, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["api"]["scope_descriptions"], json!({"read": "Read your orders"}));
    let id = r.body["api"]["id"].as_str().unwrap().to_owned();

    // Merge patch: a new description beside the old one, then null removes one.
    let r = m.get(&paths::api(&id)).await;
    let r =
        m.patch(&paths::api(&id), &r.header("etag"), json!({"scope_descriptions": {"write": "Place orders"}})).await;
    assert_eq!(
        r.body["scope_descriptions"],
        json!({"read": "Read your orders", "write": "Place orders"}),
        "{}",
        r.body
    );
    let r = m.patch(&paths::api(&id), &r.header("etag"), json!({"scope_descriptions": {"read": null}})).await;
    assert_eq!(r.body["scope_descriptions"], json!({"write": "Place orders"}), "{}", r.body);

    // Dropping a scope drops its description; describing an unknown scope is a 400 naming the field.
    let r = m.patch(&paths::api(&id), &r.header("etag"), json!({"scopes": ["read"]})).await;
    assert_eq!((r.status, &r.body["scope_descriptions"]), (200, &json!({})), "{}", r.body);
    let r = m.patch(&paths::api(&id), &r.header("etag"), json!({"scope_descriptions": {"delete": "Delete"}})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.to_string().contains("delete is not a scope of this API"), "{}", r.body);
    let body = json!({"identifier": "https://other.example", "scopes": ["read"], "scope_descriptions": {"read": "x".repeat(201)}});
    let r = m.post(paths::APIS, body).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = m.get(&format!("{}?prefix=https://other", paths::APIS)).await;
    assert!(r.body["items"].as_array().unwrap().is_empty(), "a refused description makes no API");
});

on_both_backends!(a_rule_bound_for_every_client_never_locks_out_the_management_api, |backend: Backend| async move {
    let s = TestServer::start(backend);
    let (cid, secret) = s.api_and_client("https://locked.example", "ES256", "read");
    s.cli_json(&["plugin", "upload", &component("fixtures", "deny"), "--name", "gate"]);
    let b = s.cli_json(&["binding", "create", "--plugin", "gate", "--grant-types", "client_credentials"]);
    let binding = b["id"].as_str().unwrap_or_else(|| panic!("{b}")).to_owned();
    s.wait_synced();
    let pairs = [("grant_type", "client_credentials"), ("audience", "https://locked.example")];
    let (status, body) = s.token_form(&cid, &secret, &pairs).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("access_denied")), "the rule denies every client: {body}");

    // The management client still gets its token (no plugin runs for the
    // management API's tokens) and removes the rule.
    let m = mgmt(&s, "read:bindings,write:bindings").await;
    let r = m.get(&paths::binding(&binding)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = m.delete(&paths::binding(&binding), &r.header("etag")).await;
    assert_eq!(r.status, 204, "{}", r.body);
    s.wait_synced();
    let (status, body) = s.token_form(&cid, &secret, &pairs).await;
    assert_eq!(status, 200, "the rule is gone: {body}");
});

on_both_backends!(administrators_change_role_and_status_by_merge_patch, |backend: Backend| async move {
    let s = TestServer::start(backend);
    let m = mgmt(&s, "read:admins,write:admins").await;
    let made = |name: &'static str, role: &'static str| {
        let m = &m;
        async move {
            let body = json!({"username": name, "password": "a long enough admin password", "role": role});
            let r = m.post(paths::ADMINS, body).await;
            assert_eq!(r.status, 201, "{}", r.body);
            r.body["id"].as_str().unwrap_or_else(|| panic!("{}", r.body)).to_owned()
        }
    };
    let (boss, ed) = (made("boss", "owner").await, made("ed", "editor").await);

    let r = m.get(&paths::admin(&ed)).await;
    let r = m.patch(&paths::admin(&ed), &r.header("etag"), json!({"role": "viewer"})).await;
    assert_eq!((r.status, r.body["role"].as_str(), r.body["disabled"].as_bool()), (200, Some("viewer"), Some(false)));
    let r = m.patch(&paths::admin(&ed), &r.header("etag"), json!({"disabled": true})).await;
    assert_eq!((r.status, r.body["role"].as_str(), r.body["disabled"].as_bool()), (200, Some("viewer"), Some(true)));
    let r = m.patch(&paths::admin(&ed), &r.header("etag"), json!({"role": "emperor"})).await;
    assert_eq!((r.status, r.bad_field()), (400, "role"), "{}", r.body);
    let r = m.get(&paths::admin(&ed)).await;
    let r = m.patch(&paths::admin(&ed), &r.header("etag"), json!({"username": "eddie"})).await;
    assert_eq!(r.status, 400, "the username is fixed: {}", r.body);

    // The only enabled owner stays one.
    let r = m.get(&paths::admin(&boss)).await;
    let etag = r.header("etag");
    let r = m.patch(&paths::admin(&boss), &etag, json!({"role": "editor"})).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = m.patch(&paths::admin(&boss), &etag, json!({"disabled": true})).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(s.cli(&["audit", "export"]).contains("admin.role"), "the change is audited");
});

on_both_backends!(users_round_trip_with_write_only_passwords, |backend: Backend| async move {
    let s = TestServer::start(backend);
    let doc = openapi(&s.base).await;
    let m = mgmt(&s, "read:users,write:users").await;

    // Create with a password: hashed as the console does, never returned.
    let body = json!({"username": "ada", "password": "a long enough password", "email": "ada@example.com",
        "roles": ["ops"], "profile": {"name": "Ada"}});
    let r = m.post(paths::USERS, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    documented(&doc, "post", "/api/v1/users", &r);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.header("location"), paths::user(&id));
    assert_eq!((r.body["has_password"].as_bool(), r.body.get("password")), (Some(true), None));
    assert!(!r.body.to_string().contains("argon2"), "{}", r.body);
    // A service account: no password; created disabled.
    let r = m.post(paths::USERS, json!({"username": "svc-ci", "disabled": true})).await;
    assert_eq!(
        (r.status, r.body["has_password"].as_bool(), r.body["disabled"].as_bool()),
        (201, Some(false), Some(true))
    );
    let svc = r.body["id"].as_str().unwrap().to_owned();

    // List with a prefix, get with an ETag, merge patch.
    let r = m.get(&format!("{}?prefix=ad", paths::USERS)).await;
    documented(&doc, "get", "/api/v1/users", &r);
    let names: Vec<&str> =
        r.body["items"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["ada"]);
    let r = m.get(&paths::user(&id)).await;
    documented(&doc, "get", "/api/v1/users/{id}", &r);
    let etag = r.header("etag");
    let r = m.patch(&paths::user(&id), &etag, json!({"roles": ["ops", "admin"], "metadata": {"team": "core"}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    documented(&doc, "patch", "/api/v1/users/{id}", &r);
    assert_eq!((r.body["roles"].clone(), r.body["email"].clone()), (json!(["ops", "admin"]), json!("ada@example.com")));
    let r = m.patch(&paths::user(&id), &etag, json!({"roles": []})).await;
    assert_eq!((r.status, r.problem()), (412, "urn:tessera:problem:precondition-failed"));
    let r = m.patch(&paths::user(&id), "*", json!({"password": "another long password"})).await;
    assert_eq!((r.status, r.bad_field()), (400, "password"), "the password has its own sub-resource");
    let r = m.patch(&paths::user(&id), "*", json!({"username": "bob"})).await;
    assert_eq!((r.status, r.bad_field()), (400, "username"));
    let r = m.patch(&paths::user(&svc), "*", json!({"disabled": false})).await;
    assert_eq!(r.body["disabled"], false);

    // The password: If-Match and the length rule apply; it is set, never read.
    let etag = m.get(&paths::user(&id)).await.header("etag");
    let password_path = paths::user_password(&id);
    let put = |pw: &'static str, tag: String| {
        m.send(Method::PUT, &password_path, move |b| b.header("if-match", tag).json(&json!({"password": pw})))
    };
    let r = put("short", etag.clone()).await;
    assert_eq!((r.status, r.bad_field()), (400, "password"));
    let r = m.send(Method::PUT, &paths::user_password(&id), |b| b.json(&json!({"password": "x"}))).await;
    assert_eq!(r.status, 428);
    let r = put("the new long password", etag).await;
    assert_eq!(r.status, 204, "{}", r.body);
    documented(&doc, "put", "/api/v1/users/{id}/password", &r);
    let r = put("the newer long password", "\"stale\"".to_owned()).await;
    assert_eq!((r.status, r.problem()), (412, "urn:tessera:problem:precondition-failed"));

    // Duplicates, missing scope, delete, audit.
    let r = m.post(paths::USERS, json!({"username": "ada"})).await;
    assert_eq!((r.status, r.problem()), (409, "urn:tessera:problem:conflict"));
    let reader = mgmt(&s, "read:users").await;
    let r = reader.post(paths::USERS, json!({"username": "eve"})).await;
    assert_eq!((r.status, r.problem()), (403, "urn:tessera:problem:insufficient-scope"));
    assert!(r.header("www-authenticate").contains("scope=\"write:users\""));
    let r = m.get(&paths::user(&svc)).await;
    assert_eq!(m.delete(&paths::user(&svc), &r.header("etag")).await.status, 204);
    assert_eq!(m.get(&paths::user(&svc)).await.status, 404);
    let actor = format!("client:{}", m.client_id);
    let actions: Vec<String> = s
        .cli(&["audit", "export"])
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["actor"] == actor.as_str())
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    for a in ["user.create", "user.update", "user.disable", "user.enable", "user.password.reset", "user.delete"] {
        assert!(actions.iter().any(|x| x == a), "{a} not audited as {actor}: {actions:?}");
    }
});

on_both_backends!(concurrent_changes_with_one_etag_let_exactly_one_through, |backend: Backend| async move {
    const WRITERS: usize = 24;
    let s = TestServer::start(backend);
    let m = mgmt(&s, "read:users,write:users,read:audit").await;
    let r = m.post(paths::USERS, json!({"username": "contended"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let path = paths::user(r.body["id"].as_str().unwrap());
    let etag = m.get(&path).await.header("etag");

    // Every writer read the same version; each changes it differently.
    let mut writers = tokio::task::JoinSet::new();
    for i in 0..WRITERS {
        let (http, url, token, etag) = (m.http.clone(), format!("{}{path}", m.base), m.token.clone(), etag.clone());
        writers.spawn(async move {
            let r = http
                .patch(url)
                .bearer_auth(token)
                .header("if-match", etag)
                .header("content-type", "application/merge-patch+json")
                .body(json!({"metadata": {"writer": i}}).to_string())
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (i, status, r.json::<Value>().await.unwrap_or(Value::Null))
        });
    }
    let mut won = Vec::new();
    let mut refused = 0;
    while let Some(done) = writers.join_next().await {
        let (i, status, body) = done.unwrap();
        match status {
            200 => won.push(i),
            412 => {
                assert_eq!(body["type"], "urn:tessera:problem:precondition-failed", "{body}");
                refused += 1;
            }
            other => panic!("writer {i}: {other} {body}"),
        }
    }
    assert_eq!((won.len(), refused), (1, WRITERS - 1), "exactly one change applies: {won:?}");
    let now = m.get(&path).await;
    assert_eq!(now.body["metadata"]["writer"], json!(won[0]), "the winner's change is the one kept");
    let updates =
        m.get(&format!("{}?action=user.update&target={}", paths::AUDIT_EVENTS, now.body["id"].as_str().unwrap())).await;
    assert_eq!(updates.body["items"].as_array().map(Vec::len), Some(1), "one change, one audit event");
});
