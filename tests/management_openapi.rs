//! The OpenAPI document against real responses (issue #14 items 3 and 6),
//! on SQLite and PostgreSQL: every operation of `/api/v1/openapi.json` is
//! called on the running binary with fixtures the test makes through the
//! API itself, and every response, success or problem, is validated with
//! the `jsonschema` crate against the schema the document gives for that
//! operation and status (objects made strict: a field the document does not
//! name fails too). A response whose status the operation does not
//! document fails, and so does an operation the test never answered with
//! success. Every operation is also swept through the error paths that
//! apply to it: no token, a token for another API, a token without its
//! scope, a missing and a stale `If-Match`, a body that is not JSON, an
//! unknown field, and a body over its limit.

use crate::on_both_backends;
use crate::plugins::component;
use crate::support::{Backend, Options, TestServer};
use reqwest::{Method, header};
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use tessera::service::oauth::management::{MANAGEMENT_AUDIENCE, ManagementScope};
use tessera::web::api::body::MAX_JSON_BYTES;
use tessera::web::routes::api as paths;

/// A response as the checks need it.
struct Resp {
    status: u16,
    headers: header::HeaderMap,
    raw: String,
    body: Value,
}

impl Resp {
    fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    }

    fn problem_type(&self) -> &str {
        self.body["type"].as_str().unwrap_or_default()
    }
}

/// The server, its document (with every object schema made strict), and
/// what has been answered per (method, path template).
struct Checker {
    base: String,
    http: reqwest::Client,
    doc: Value,
    strict: Value,
    seen: Mutex<HashMap<(String, String), BTreeSet<u16>>>,
}

/// `schema` with `unevaluatedProperties: false` on every object schema that
/// names its properties, so an undocumented field fails validation.
fn strict(schema: &mut Value) {
    match schema {
        Value::Object(m) => {
            let composed = ["allOf", "oneOf", "anyOf"].iter().any(|k| m.contains_key(*k));
            if m.contains_key("properties") && !composed && !m.contains_key("additionalProperties") {
                m.insert("unevaluatedProperties".into(), Value::Bool(false));
            }
            m.values_mut().for_each(strict);
        }
        Value::Array(a) => a.iter_mut().for_each(strict),
        _ => {}
    }
}

/// A token by `client_credentials` for the management audience.
async fn token(s: &TestServer, id: &str, secret: &str, scopes: &str) -> String {
    let pairs = [("grant_type", "client_credentials"), ("audience", MANAGEMENT_AUDIENCE), ("scope", scopes)];
    let (status, body) = s.token_form(id, secret, &pairs).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// `tessera mgmt-client create` with `scopes` (none: every scope), and a
/// token for them; returns (client id, token).
async fn management_client(s: &TestServer, scopes: &[ManagementScope]) -> (String, String) {
    let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    let list = names.join(",");
    let name = format!("openapi-{}", list.replace([':', ','], "-"));
    let mut args = vec!["mgmt-client", "create", "--name", name.as_str()];
    if !scopes.is_empty() {
        args.extend(["--scopes", list.as_str()]);
    }
    let c = s.cli_json(&args);
    let (id, secret) = (c["client_id"].as_str().unwrap(), c["client_secret"].as_str().unwrap());
    let all: Vec<&str> = c["scopes"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    (id.to_owned(), token(s, id, secret, &all.join(" ")).await)
}

impl Checker {
    async fn new(base: &str) -> Checker {
        let http = reqwest::Client::new();
        let doc: Value = http.get(format!("{base}{}", paths::OPENAPI)).send().await.unwrap().json().await.unwrap();
        let mut strict_doc = doc.clone();
        strict(&mut strict_doc);
        Checker { base: base.to_owned(), http, doc, strict: strict_doc, seen: Mutex::new(HashMap::new()) }
    }

    /// Every operation of the document: (method, path template).
    fn operations(&self) -> Vec<(String, String)> {
        let mut ops = Vec::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                ops.push((method.clone(), path.clone()));
            }
        }
        ops
    }

    fn op(&self, method: &str, template: &str) -> &Value {
        &self.doc["paths"][template][method]
    }

    /// The scope the operation needs (each names exactly one).
    fn scope_of(&self, method: &str, template: &str) -> String {
        let s = &self.op(method, template)["security"][0]["bearer"];
        assert_eq!(s.as_array().map(Vec::len), Some(1), "{method} {template} names one scope");
        s[0].as_str().unwrap().to_owned()
    }

    /// The media type of the operation's request body, if it takes JSON.
    fn json_body(&self, method: &str, template: &str) -> Option<String> {
        let content = self.op(method, template)["requestBody"]["content"].as_object()?;
        content.keys().find(|m| m.contains("json")).cloned()
    }

    /// Sends `method template` (with `params` filled in), validates the
    /// answer against the document and records it.
    async fn call(
        &self,
        method: &str,
        template: &str,
        params: &HashMap<&str, String>,
        token: Option<&str>,
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Resp {
        // A query string may follow the template (`/api/v1/keys?state=next`).
        let (template, query) = template.split_once('?').unwrap_or((template, ""));
        let mut path = template.to_owned();
        for (k, v) in params {
            path = path.replace(&format!("{{{k}}}"), v);
        }
        assert!(!path.contains('{'), "{template}: no value for a parameter of {path}");
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let query = if query.is_empty() { String::new() } else { format!("?{query}") };
        let mut req = self.http.request(m, format!("{}{path}{query}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = build(req).send().await.unwrap();
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        let raw = r.text().await.unwrap();
        let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
        let resp = Resp { status, headers, raw, body };
        self.validate(method, template, &resp);
        resp
    }

    /// The response is one the document gives for this operation and
    /// status: its media type, a body valid against its schema, the
    /// headers it names; no body where it documents none.
    fn validate(&self, method: &str, template: &str, r: &Resp) {
        let op = self.op(method, template);
        assert!(op.is_object(), "{method} {template} is not documented");
        let doc_resp = &op["responses"][r.status.to_string()];
        assert!(
            doc_resp.is_object(),
            "{method} {template} answered {}, which it does not document: {}",
            r.status,
            r.raw
        );
        for name in doc_resp["headers"].as_object().into_iter().flatten().map(|(k, _)| k) {
            assert!(!r.header(name).is_empty(), "{method} {template} {}: no {name} header", r.status);
        }
        match doc_resp["content"].as_object() {
            None => assert!(r.raw.is_empty(), "{method} {template} {}: undocumented body {}", r.status, r.raw),
            Some(content) => {
                let ct = r.header("content-type");
                let (media, c) = content
                    .iter()
                    .find(|(m, _)| ct.starts_with(m.as_str()))
                    .unwrap_or_else(|| panic!("{method} {template} {}: content-type {ct} is not documented", r.status));
                let strict_schema = &self.strict["paths"][template][method]["responses"][r.status.to_string()]["content"]
                    [media]["schema"];
                assert!(c["schema"].is_object(), "{method} {template} {}: no schema", r.status);
                if !media.ends_with("json") {
                    // A binary body (a component download): its media type is
                    // the contract; there is no JSON to hold to a schema.
                    assert!(!r.raw.is_empty(), "{method} {template} {}: an empty {media} body", r.status);
                    self.seen
                        .lock()
                        .unwrap()
                        .entry((method.to_owned(), template.to_owned()))
                        .or_default()
                        .insert(r.status);
                    return;
                }
                let mut schema = strict_schema.as_object().cloned().unwrap_or_else(Map::new);
                schema.insert("components".into(), self.strict["components"].clone());
                let validator = jsonschema::draft202012::new(&Value::Object(schema))
                    .unwrap_or_else(|e| panic!("{method} {template} {}: the schema does not compile: {e}", r.status));
                let errors: Vec<String> =
                    validator.iter_errors(&r.body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
                assert!(errors.is_empty(), "{method} {template} {}: {} does not match: {errors:?}", r.status, r.raw);
            }
        }
        self.seen.lock().unwrap().entry((method.to_owned(), template.to_owned())).or_default().insert(r.status);
    }

    /// The statuses each operation has answered with.
    fn seen(&self) -> HashMap<(String, String), BTreeSet<u16>> {
        self.seen.lock().unwrap().clone()
    }
}

fn json_body(v: Value) -> impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    move |b| b.header("content-type", "application/json").body(v.to_string())
}

fn patch_body(etag: String, v: Value) -> impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    move |b| b.header("content-type", "application/merge-patch+json").header("if-match", etag).body(v.to_string())
}

fn if_match(etag: String) -> impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    move |b| b.header("if-match", etag)
}

fn none(b: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    b
}

on_both_backends!(every_operation_answers_as_its_schema_says, |backend: Backend| async move {
    let wasm = std::fs::read(component("fixtures", "allow-claim")).unwrap();
    // Uploads are limited just above the fixture, so an oversized one is cheap.
    let limit = (wasm.len() + 1024).to_string();
    let env = vec![("TESSERA_PLUGINS__MAX_UPLOAD_BYTES".to_owned(), limit)];
    let s = TestServer::start_with(backend, Options { env, ..Default::default() });
    let c = Checker::new(&s.base).await;
    let (client_id, t) = management_client(&s, &[]).await;
    let t = Some(t.as_str());
    let mut p: HashMap<&str, String> = HashMap::new();
    let none_p = HashMap::new();

    // APIs and clients.
    let r = c
        .call(
            "post",
            "/api/v1/apis",
            &p,
            t,
            json_body(json!({"identifier": "https://orders.example",
        "scopes": ["read"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    p.insert("id", r.body["api"]["id"].as_str().unwrap().to_owned());
    let r = c.call("get", "/api/v1/apis/{id}", &p, t, none).await;
    let r = c.call("patch", "/api/v1/apis/{id}", &p, t, patch_body(r.header("etag"), json!({"name": "Orders"}))).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(c.call("get", "/api/v1/apis", &none_p, t, none).await.status, 200);
    let api_id = p["id"].clone();

    let r = c
        .call(
            "post",
            "/api/v1/clients",
            &none_p,
            t,
            json_body(json!({"name": "worker",
            "grant_types": ["client_credentials"], "allowed_audiences": ["https://orders.example"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let (cid, csecret) =
        (r.body["client"]["id"].as_str().unwrap().to_owned(), r.body["client_secret"].as_str().unwrap().to_owned());
    let mut cp: HashMap<&str, String> = HashMap::from([("id", cid.clone())]);
    let r = c.call("get", "/api/v1/clients/{id}", &cp, t, none).await;
    let r = c.call("patch", "/api/v1/clients/{id}", &cp, t, patch_body(r.header("etag"), json!({"name": "w2"}))).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(c.call("get", "/api/v1/clients", &none_p, t, none).await.status, 200);
    let r = c.call("post", "/api/v1/clients/{id}/secrets", &cp, t, json_body(json!({"overlap_secs": 60}))).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    cp.insert("secret_id", r.body["secret"]["id"].as_str().unwrap().to_owned());
    assert_eq!(c.call("get", "/api/v1/clients/{id}/secrets", &cp, t, none).await.status, 200);
    let secret_etag = c.call("get", "/api/v1/clients/{id}/secrets/{secret_id}", &cp, t, none).await.header("etag");

    // A plugin, a binding, and a token request that runs it.
    let mut pp: HashMap<&str, String> = HashMap::from([("name", "allow-claim".to_owned()), ("version", "1".into())]);
    let upload = wasm.clone();
    let r = c
        .call("post", "/api/v1/plugins/{name}/versions", &pp, t, move |b| {
            b.header("content-type", "application/wasm").body(upload)
        })
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    for template in [
        "/api/v1/plugins",
        "/api/v1/plugins/{name}",
        "/api/v1/plugins/{name}/versions",
        "/api/v1/plugins/{name}/versions/{version}",
        "/api/v1/plugins/{name}/versions/{version}/component",
    ] {
        assert_eq!(c.call("get", template, &pp, t, none).await.status, 200, "{template}");
    }
    let r = c
        .call(
            "post",
            "/api/v1/bindings",
            &none_p,
            t,
            json_body(json!({"plugin": "allow-claim",
            "grant_types": ["client_credentials"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let bid = r.body["binding"]["id"].as_str().unwrap().to_owned();
    let bp: HashMap<&str, String> = HashMap::from([("id", bid.clone())]);
    let r = c.call("get", "/api/v1/bindings/{id}", &bp, t, none).await;
    let r =
        c.call("patch", "/api/v1/bindings/{id}", &bp, t, patch_body(r.header("etag"), json!({"position": 5}))).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(c.call("get", "/api/v1/bindings", &none_p, t, none).await.status, 200);
    let pairs = [("grant_type", "client_credentials"), ("audience", "https://orders.example")];
    assert_eq!(s.token_form(&cid, &csecret, &pairs).await.0, 200);
    s.wait_for_rows("plugin_runs", 1);
    let filter = format!("/api/v1/plugin-runs?plugin=allow-claim&client={cid}&outcome=ok&since=0");
    let r = c.call("get", &filter, &none_p, t, none).await;
    assert_eq!(r.status, 200);
    let runs = r.body["items"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{}", r.raw);
    let rp: HashMap<&str, String> = HashMap::from([("id", runs[0]["id"].as_str().unwrap().to_owned())]);
    assert_eq!(c.call("get", "/api/v1/plugin-runs/{id}", &rp, t, none).await.status, 200);

    // A shadow candidate on the binding: set by patch, read, discarded, set
    // again and promoted (version 1 against itself: the endpoints, not the diff).
    let r = c.call("get", "/api/v1/bindings/{id}", &bp, t, none).await;
    let shadow = json!({"shadow": {"version": 1, "share": 0.5, "sensitive_claims": ["email"]}});
    let r = c.call("patch", "/api/v1/bindings/{id}", &bp, t, patch_body(r.header("etag"), shadow.clone())).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(c.call("get", "/api/v1/bindings/{id}/shadow", &bp, t, none).await.status, 200);
    assert_eq!(c.call("post", "/api/v1/bindings/{id}/shadow/discard", &bp, t, none).await.status, 200);
    let r = c.call("get", "/api/v1/bindings/{id}", &bp, t, none).await;
    let r = c.call("patch", "/api/v1/bindings/{id}", &bp, t, patch_body(r.header("etag"), shadow)).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(c.call("post", "/api/v1/bindings/{id}/shadow/promote", &bp, t, none).await.status, 200);

    // Users: create, read, change, set the password; deleted at the end.
    let body = json!({"username": "ada", "password": "correct horse battery staple", "roles": ["ops"]});
    let r = c.call("post", "/api/v1/users", &none_p, t, json_body(body)).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let up: HashMap<&str, String> = HashMap::from([("id", r.body["id"].as_str().unwrap().to_owned())]);
    assert_eq!(c.call("get", "/api/v1/users", &none_p, t, none).await.status, 200);
    let r = c.call("get", "/api/v1/users/{id}", &up, t, none).await;
    let r = c
        .call("patch", "/api/v1/users/{id}", &up, t, patch_body(r.header("etag"), json!({"email": "ada@example.com"})))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let e = r.header("etag");
    let password = move |b: reqwest::RequestBuilder| {
        b.header("content-type", "application/json")
            .header("if-match", e)
            .body(json!({"password": "another long passphrase"}).to_string())
    };
    let r = c.call("put", "/api/v1/users/{id}/password", &up, t, password).await;
    assert!((200..300).contains(&r.status), "{}", r.raw);
    let r = c.call("post", "/api/v1/users/{id}/sign-out", &up, t, none).await;
    assert_eq!(r.status, 204, "{}", r.raw);
    let r = c.call("post", "/api/v1/users/{id}/second-factor", &up, t, json_body(json!({"required": true}))).await;
    assert_eq!((r.status, r.body["required"].as_bool()), (200, Some(true)), "{}", r.raw);
    let r = c.call("get", "/api/v1/users/{id}/second-factor", &up, t, none).await;
    assert_eq!((r.status, r.body["enrolled_at"].is_null(), r.body["required"].as_bool()), (200, true, Some(true)));

    // Keys: rotate ES256, read the new next key, retire it.
    let r = c.call("post", "/api/v1/keys", &none_p, t, json_body(json!({"alg": "ES256"}))).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let kp: HashMap<&str, String> = HashMap::from([("id", r.body["next"]["kid"].as_str().unwrap().to_owned())]);
    assert_eq!(c.call("get", "/api/v1/keys", &none_p, t, none).await.status, 200);
    let r = c.call("get", "/api/v1/keys/{id}", &kp, t, none).await;
    let r =
        c.call("patch", "/api/v1/keys/{id}", &kp, t, patch_body(r.header("etag"), json!({"state": "retired"}))).await;
    assert_eq!((r.status, r.body["state"].as_str()), (200, Some("retired")), "{}", r.raw);

    // Administrators: "keeper" stays, so "ops" is not the last one.
    for name in ["keeper", "ops"] {
        let body = json!({"username": name, "password": "correct horse battery staple"});
        let r = c.call("post", "/api/v1/admins", &none_p, t, json_body(body)).await;
        assert_eq!(r.status, 201, "{}", r.raw);
        p.insert("admin", r.body["id"].as_str().unwrap().to_owned());
    }
    let ap: HashMap<&str, String> = HashMap::from([("id", p["admin"].clone())]);
    assert_eq!(c.call("get", "/api/v1/admins", &none_p, t, none).await.status, 200);
    let admin_etag = c.call("get", "/api/v1/admins/{id}", &ap, t, none).await.header("etag");
    let e = admin_etag.clone();
    let password = move |b: reqwest::RequestBuilder| {
        b.header("content-type", "application/json")
            .header("if-match", e)
            .body(json!({"password": "another long passphrase"}).to_string())
    };
    let r = c.call("put", "/api/v1/admins/{id}/password", &ap, t, password).await;
    assert_eq!(r.status, 204, "{}", r.raw);
    let e = c.call("get", "/api/v1/admins/{id}", &ap, t, none).await.header("etag");
    let r = c.call("patch", "/api/v1/admins/{id}", &ap, t, patch_body(e, json!({"role": "viewer"}))).await;
    assert_eq!((r.status, r.body["role"].as_str()), (200, Some("viewer")), "{}", r.raw);
    let r = c.call("delete", "/api/v1/admins/{id}/second-factor", &ap, t, if_match(r.header("etag"))).await;
    assert_eq!(r.status, 204, "{}", r.raw);
    let admin_etag = c.call("get", "/api/v1/admins/{id}", &ap, t, none).await.header("etag");

    // Audit events: the changes above, by this client.
    let q = format!("/api/v1/audit-events?actor=client:{client_id}&limit=2");
    let r = c.call("get", &q, &none_p, t, none).await;
    assert_eq!((r.status, r.body["items"].as_array().map(Vec::len)), (200, Some(2)), "{}", r.raw);
    assert!(r.body["next_cursor"].is_string());
    let ep: HashMap<&str, String> = HashMap::from([("id", r.body["items"][0]["id"].as_str().unwrap().to_owned())]);
    assert_eq!(c.call("get", "/api/v1/audit-events/{id}", &ep, t, none).await.status, 200);
    let r = c.call("get", "/api/v1/audit-chain", &none_p, t, none).await;
    assert_eq!((r.status, r.body["unchained"].is_null()), (200, true), "{}", r.raw);

    // The error paths of every operation. Path parameters get live values.
    let live = |template: &str| -> HashMap<&'static str, String> {
        let id = if template.starts_with("/api/v1/apis") {
            api_id.clone()
        } else if template.starts_with("/api/v1/clients") {
            cid.clone()
        } else if template.starts_with("/api/v1/bindings") {
            bid.clone()
        } else if template.starts_with("/api/v1/keys") {
            kp["id"].clone()
        } else if template.starts_with("/api/v1/admins") {
            ap["id"].clone()
        } else if template.starts_with("/api/v1/audit-events") {
            ep["id"].clone()
        } else if template.starts_with("/api/v1/users") {
            up["id"].clone()
        } else {
            rp["id"].clone()
        };
        HashMap::from([
            ("id", id),
            ("secret_id", cp["secret_id"].clone()),
            ("name", "allow-claim".to_owned()),
            ("version", "1".to_owned()),
        ])
    };
    let (other_id, other_secret) = s.api_and_client("https://other.example", "RS256", "read");
    let pairs = [("grant_type", "client_credentials"), ("audience", "https://other.example")];
    let (_, other) = s.token_form(&other_id, &other_secret, &pairs).await;
    let foreign = other["access_token"].as_str().unwrap().to_owned();
    let (_, runs_only) = management_client(&s, &[ManagementScope::ReadRuns]).await;
    let (_, audit_only) = management_client(&s, &[ManagementScope::ReadAudit]).await;
    for (method, template) in c.operations() {
        let at = format!("{method} {template}");
        let lp = live(&template);
        let r = c.call(&method, &template, &lp, None, none).await;
        assert_eq!((r.status, r.problem_type()), (401, "urn:tessera:problem:unauthorized"), "{at}");
        assert!(r.header("www-authenticate").starts_with("Bearer "), "{at}");
        let r = c.call(&method, &template, &lp, Some(&foreign), none).await;
        assert_eq!(r.status, 401, "{at}: a token for another API");
        assert!(r.header("www-authenticate").contains("error=\"invalid_token\""), "{at}");
        let needed = c.scope_of(&method, &template);
        let wrong = if needed == "read:runs" { &audit_only } else { &runs_only };
        let r = c.call(&method, &template, &lp, Some(wrong), none).await;
        assert_eq!((r.status, r.problem_type()), (403, "urn:tessera:problem:insufficient-scope"), "{at}");
        assert!(r.header("www-authenticate").contains(&format!("scope=\"{needed}\"")), "{at}");
        if method == "patch" || method == "delete" {
            let r = c.call(&method, &template, &lp, t, none).await;
            assert_eq!((r.status, r.problem_type()), (428, "urn:tessera:problem:precondition-required"), "{at}");
            let stale = c.call(&method, &template, &lp, t, |b| {
                b.header("if-match", "\"stale\"").header("content-type", "application/merge-patch+json").body("{}")
            });
            let r = stale.await;
            assert_eq!((r.status, r.problem_type()), (412, "urn:tessera:problem:precondition-failed"), "{at}");
        }
        if let Some(media) = c.json_body(&method, &template) {
            let send = |body: String| {
                let media = media.clone();
                move |b: reqwest::RequestBuilder| b.header("content-type", media).header("if-match", "*").body(body)
            };
            let r = c.call(&method, &template, &lp, t, send("{".into())).await;
            assert_eq!((r.status, r.problem_type()), (400, "urn:tessera:problem:invalid-body"), "{at}");
            let r = c.call(&method, &template, &lp, t, send(json!({"colour": "red"}).to_string())).await;
            assert_eq!(
                (r.status, r.body["invalid-params"][0]["name"].as_str()),
                (400, Some("colour")),
                "{at}: {}",
                r.raw
            );
            let big = format!("{{\"name\": \"{}\"}}", "x".repeat(MAX_JSON_BYTES));
            let r = c.call(&method, &template, &lp, t, send(big)).await;
            assert_eq!((r.status, r.problem_type()), (413, "urn:tessera:problem:payload-too-large"), "{at}");
        }
    }
    // Uploads over plugins.max_upload_bytes, and a body that is no component.
    let r = c
        .call("post", "/api/v1/plugins/{name}/versions", &pp, t, |b| {
            b.header("content-type", "application/wasm").body(vec![0u8; 4096 + wasm.len()])
        })
        .await;
    assert_eq!((r.status, r.problem_type()), (413, "urn:tessera:problem:payload-too-large"));
    pp.insert("name", "junk".into());
    let r = c
        .call("post", "/api/v1/plugins/{name}/versions", &pp, t, |b| {
            b.header("content-type", "application/wasm").body("not a component")
        })
        .await;
    assert_eq!((r.status, r.body["invalid-params"][0]["name"].as_str()), (400, Some("component")), "{}", r.raw);
    // Bad paging and filters.
    let r = c.call("get", "/api/v1/audit-events?since=10&until=5", &none_p, t, none).await;
    assert_eq!((r.status, r.body["invalid-params"][0]["name"].as_str()), (400, Some("until")), "{}", r.raw);
    let r = c.call("get", "/api/v1/plugin-runs?cursor=%25%25%25", &none_p, t, none).await;
    assert_eq!((r.status, r.body["invalid-params"][0]["name"].as_str()), (400, Some("cursor")), "{}", r.raw);
    let r = c.call("get", "/api/v1/keys?state=lost", &none_p, t, none).await;
    assert_eq!((r.status, r.body["invalid-params"][0]["name"].as_str()), (400, Some("state")), "{}", r.raw);

    // Deletes, each after its own read.
    let r = c.call("delete", "/api/v1/clients/{id}/secrets/{secret_id}", &cp, t, if_match(secret_etag)).await;
    assert_eq!(r.status, 204, "{}", r.raw);
    assert_eq!(c.call("delete", "/api/v1/admins/{id}", &ap, t, if_match(admin_etag)).await.status, 204);
    let r = c.call("get", "/api/v1/admins/{id}", &ap, t, none).await;
    assert_eq!((r.status, r.problem_type()), (404, "urn:tessera:problem:not-found"));
    let e = c.call("get", "/api/v1/bindings/{id}", &bp, t, none).await.header("etag");
    assert_eq!(c.call("delete", "/api/v1/bindings/{id}", &bp, t, if_match(e)).await.status, 204);
    let e = c.call("get", "/api/v1/clients/{id}", &cp, t, none).await.header("etag");
    assert_eq!(c.call("delete", "/api/v1/clients/{id}", &cp, t, if_match(e)).await.status, 204);
    let e = c.call("get", "/api/v1/users/{id}", &up, t, none).await.header("etag");
    assert_eq!(c.call("delete", "/api/v1/users/{id}", &up, t, if_match(e)).await.status, 204);
    let ip = HashMap::from([("id", api_id.clone())]);
    let e = c.call("get", "/api/v1/apis/{id}", &ip, t, none).await.header("etag");
    assert_eq!(c.call("delete", "/api/v1/apis/{id}", &ip, t, if_match(e)).await.status, 204);

    // The key and administrator changes are audited with this client as actor.
    for (prefix, expected) in [
        ("keys.", vec!["keys.retire", "keys.rotate"]),
        (
            "admin.",
            vec![
                "admin.delete",
                "admin.create",
                "admin.create",
                "admin.password",
                "admin.role",
                "admin.second_factor.reset",
            ],
        ),
    ] {
        let q = format!("/api/v1/audit-events?actor=client:{client_id}&action={prefix}");
        let r = c.call("get", &q, &none_p, t, none).await;
        let actions: Vec<&str> =
            r.body["items"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
        let mut actions = actions;
        actions.sort_unstable();
        let mut expected = expected;
        expected.sort_unstable();
        assert_eq!(actions, expected, "{}", r.raw);
    }

    // Every operation was answered with success and swept through its errors.
    let seen = c.seen();
    for (method, template) in c.operations() {
        let statuses = seen.get(&(method.clone(), template.clone())).cloned().unwrap_or_default();
        assert!(statuses.iter().any(|s| (200..300).contains(s)), "{method} {template} never succeeded: {statuses:?}");
        assert!(statuses.contains(&401) && statuses.contains(&403), "{method} {template}: {statuses:?}");
    }
});

on_both_backends!(the_last_administrator_cannot_be_deleted, |backend: Backend| async move {
    let s = TestServer::start(backend);
    let c = Checker::new(&s.base).await;
    let (_, t) = management_client(&s, &[ManagementScope::ReadAdmins, ManagementScope::WriteAdmins]).await;
    let t = Some(t.as_str());
    let none_p = HashMap::new();
    let r = c
        .call(
            "post",
            "/api/v1/admins",
            &none_p,
            t,
            json_body(json!({"username": "solo",
        "password": "correct horse battery staple"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    assert!(r.body.get("password").is_none() && r.body.get("password_hash").is_none(), "{}", r.raw);
    let r = c
        .call(
            "post",
            "/api/v1/admins",
            &none_p,
            t,
            json_body(json!({"username": "solo",
        "password": "correct horse battery staple"})),
        )
        .await;
    assert_eq!((r.status, r.problem_type()), (409, "urn:tessera:problem:conflict"));
    let r = c
        .call("post", "/api/v1/admins", &none_p, t, json_body(json!({"username": "short", "password": "short"})))
        .await;
    assert_eq!((r.status, r.body["invalid-params"][0]["name"].as_str()), (400, Some("password")));
    let all = c.call("get", "/api/v1/admins", &none_p, t, none).await;
    let ids: Vec<String> =
        all.body["items"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 1, "{}", all.raw);
    let p = HashMap::from([("id", ids[0].clone())]);
    let e = c.call("get", "/api/v1/admins/{id}", &p, t, none).await.header("etag");
    let r = c.call("delete", "/api/v1/admins/{id}", &p, t, if_match(e)).await;
    assert_eq!((r.status, r.problem_type()), (409, "urn:tessera:problem:conflict"), "{}", r.raw);
});

on_both_backends!(audit_events_page_newest_first_without_repeats, |backend: Backend| async move {
    let s = TestServer::start(backend);
    let c = Checker::new(&s.base).await;
    let (client_id, t) = management_client(&s, &[]).await;
    let t = Some(t.as_str());
    let none_p = HashMap::new();
    for i in 0..5 {
        let r = c
            .call("post", "/api/v1/apis", &none_p, t, json_body(json!({"identifier": format!("https://a{i}.example")})))
            .await;
        assert_eq!(r.status, 201);
    }
    let mut ids: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = format!("/api/v1/audit-events?actor=client:{client_id}&action=api.&limit=2");
        if let Some(cur) = cursor.take() {
            q.push_str(&format!("&cursor={cur}"));
        }
        let r = c.call("get", &q, &none_p, t, none).await;
        assert_eq!(r.status, 200, "{}", r.raw);
        let items = r.body["items"].as_array().unwrap();
        ids.extend(items.iter().map(|e| e["target"].as_str().unwrap().to_owned()));
        let ats: Vec<i64> = items.iter().map(|e| e["at"].as_i64().unwrap()).collect();
        assert!(ats.windows(2).all(|w| w[0] >= w[1]), "newest first: {ats:?}");
        match r.body["next_cursor"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => break,
        }
    }
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 5, "no event twice: {ids:?}");
    let q = format!("/api/v1/audit-events?actor=client:{client_id}&action=api.&order=oldest");
    let r = c.call("get", &q, &none_p, t, none).await;
    let oldest: Vec<String> =
        r.body["items"].as_array().unwrap().iter().map(|e| e["target"].as_str().unwrap().to_owned()).collect();
    assert_eq!(oldest.iter().rev().cloned().collect::<Vec<_>>(), ids, "oldest first is the reverse");
    let r = c.call("get", "/api/v1/audit-events?since=4102444800", &none_p, t, none).await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(0), "nothing after 2100");

    // Chain order: every event by seq, each linked to the one before, ending at the chain's head.
    let mut chain: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = "/api/v1/audit-events?order=chain&limit=2".to_owned();
        if let Some(cur) = cursor.take() {
            q.push_str(&format!("&cursor={cur}"));
        }
        let r = c.call("get", &q, &none_p, t, none).await;
        assert_eq!(r.status, 200, "{}", r.raw);
        chain.extend(r.body["items"].as_array().unwrap().iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => break,
        }
    }
    assert!(chain.len() >= 5, "{chain:?}");
    let seqs: Vec<i64> = chain.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=chain.len() as i64).collect::<Vec<_>>());
    assert_eq!(chain[0]["prev_hash"], "0".repeat(64));
    assert!(chain.windows(2).all(|w| w[1]["prev_hash"] == w[0]["hash"]), "each links to the one before it");
    let head = c.call("get", "/api/v1/audit-chain", &none_p, t, none).await;
    let last = chain.last().unwrap();
    assert_eq!((head.body["seq"].clone(), head.body["hash"].clone()), (last["seq"].clone(), last["hash"].clone()));
    let r = c.call("get", "/api/v1/audit-events?order=chain&action=api.", &none_p, t, none).await;
    assert_eq!((r.status, r.problem_type()), (400, "urn:tessera:problem:invalid-field"), "{}", r.raw);
    let time_cursor = format!("/api/v1/audit-events?order=chain&cursor={}", ids_cursor(&c, t).await);
    let r = c.call("get", &time_cursor, &none_p, t, none).await;
    assert_eq!(r.status, 400, "a time-order cursor is not a chain cursor: {}", r.raw);
});

/// A `next_cursor` of the time-ordered audit list.
async fn ids_cursor(c: &Checker, t: Option<&str>) -> String {
    let r = c.call("get", "/api/v1/audit-events?limit=1", &HashMap::new(), t, none).await;
    r.body["next_cursor"].as_str().unwrap().to_owned()
}
