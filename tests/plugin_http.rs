//! Outbound HTTP for plugins end to end (issue #17 item 4): a
//! `tessera:plugin@0.2.0` plugin bound with an allow-list and a secret
//! enriches real tokens from an in-test HTTP server; the secret header
//! reaches the server and never the run record; a forbidden URL is refused
//! and recorded; a 0.1.0 example beside it runs as before.

use crate::plugins::component;
use crate::support::{Backend, TestServer};
use serde_json::Value;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex};

const AUD: &str = "https://enrich.api.example";
const SECRET: &str = "Bearer directory-s3cr3t";

/// A user directory on loopback: `GET /users/<id>` answers the user's
/// department; every request head is kept.
struct Directory {
    base: String,
    heads: Arc<Mutex<Vec<String>>>,
}

/// Answers held back until [`Hold::release`] (none held by default).
#[derive(Default)]
struct Hold {
    released: Mutex<bool>,
    wake: Condvar,
}

impl Hold {
    fn wait(&self) {
        let mut released = self.released.lock().unwrap();
        while !*released {
            released = self.wake.wait(released).unwrap();
        }
    }

    fn release(&self) {
        *self.released.lock().unwrap() = true;
        self.wake.notify_all();
    }
}

impl Directory {
    fn start() -> Directory {
        let hold = Hold::default();
        hold.release();
        Self::start_holding(Arc::new(hold))
    }

    /// A directory that reads each request and keeps its head at once, but
    /// answers only once `hold` is released.
    fn start_holding(hold: Arc<Hold>) -> Directory {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let heads = Arc::new(Mutex::new(Vec::new()));
        let kept = heads.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (kept, hold) = (kept.clone(), hold.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut head = String::new();
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                        head.push_str(&line);
                        line.clear();
                    }
                    kept.lock().unwrap().push(head);
                    hold.wait();
                    let body = r#"{"department":"Research","cost_center":"CC-7"}"#;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        Directory { base, heads }
    }
}

impl Directory {
    /// The sample context of plugins/examples with the enrich examples'
    /// config (this directory's `/users/` prefix, the `department` claim)
    /// and the secret they send; and that prefix.
    fn sample_context(&self) -> (Value, String) {
        let sample =
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../plugins/examples/context.sample.json");
        let mut ctx: Value = serde_json::from_str(&std::fs::read_to_string(sample).unwrap()).unwrap();
        let prefix = format!("{}/users/", self.base);
        ctx["config"] = serde_json::json!({"url": prefix, "claims": ["department"]});
        ctx["secrets"] = serde_json::json!({"directory-token": SECRET});
        (ctx, prefix)
    }
}

/// `binding create` of the rust-enrich example on client_credentials with
/// `config`, then `extra` flags (secrets, allow-list, cache TTL).
fn bind_enrich(server: &TestServer, config: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["binding", "create", "--plugin", "rust-enrich", "--grant-types", "client_credentials"];
    args.extend(["--config", config]);
    args.extend_from_slice(extra);
    server.cli_json(&args)
}

/// A server with the test API and a client_credentials client `client`
/// whose service account is `user`: the client's id and secret.
fn enrich_server(user: &str, client: &str) -> (TestServer, String, String) {
    // Debug builds on a shared machine: room for the request, which is
    // still bounded by this deadline.
    enrich_server_with_deadline(user, client, 2000)
}

/// [`enrich_server`] with the plugins' deadline given.
fn enrich_server_with_deadline(user: &str, client: &str, deadline_ms: u64) -> (TestServer, String, String) {
    let server = TestServer::start_with(
        Backend::Sqlite,
        crate::support::Options {
            env: vec![("TESSERA_PLUGINS__DEADLINE_MS".to_owned(), deadline_ms.to_string())],
            ..Default::default()
        },
    );
    server.api_and_client(AUD, "RS256", "read");
    let (cid, csecret) = service_client(&server, user, client);
    (server, cid, csecret)
}

/// A user `user` and a client_credentials client `client` with that user
/// as its service account: the client's id and secret.
fn service_client(server: &TestServer, user: &str, client: &str) -> (String, String) {
    server.create_user(user, "a long enough password", &[]);
    let args = ["client", "create", "--name", client, "--grant-types", "client_credentials", "--service-account", user];
    let c = server.cli_json(&args);
    (c["client_id"].as_str().unwrap().to_owned(), c["client_secret"].as_str().unwrap().to_owned())
}

fn runs_of(server: &TestServer, binding: &str, n: usize) -> Vec<Value> {
    let v = server.cli_json_until(&["binding", "runs", "--binding", binding], |v| {
        v["runs"].as_array().is_some_and(|r| r.len() >= n)
    });
    v["runs"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_0_2_plugin_enriches_the_token_over_http_with_a_secret_header_it_never_sees() {
    let dir = Directory::start();
    let (server, cid, csecret) = enrich_server("svc-enrich", "enrich");
    let up = server.cli_json(&["plugin", "upload", &component("examples", "rust-enrich"), "--name", "rust-enrich"]);
    assert_eq!(up["world"], "tessera:plugin/token-plugin@0.2.0");
    let prefix = format!("{}/users/", dir.base);
    let config = serde_json::json!({"url": prefix, "claims": ["department", "cost_center"]}).to_string();
    let created = bind_enrich(
        &server,
        &config,
        &["--secret", &format!("directory-token={SECRET}"), "--http-allow", &prefix, "--http-cache-ttl", "60"],
    );
    let enrich = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["http_allow"], serde_json::json!([prefix]));
    assert_eq!(created["http_cache_ttl_secs"], 60);
    // A 0.1.0 example after it, unchanged.
    server.cli_json(&["plugin", "upload", &component("examples", "rust-username"), "--name", "rust-username"]);
    server.cli_json(&["binding", "create", "--plugin", "rust-username", "--grant-types", "client_credentials"]);

    let token = crate::client_credentials::oauth2_token(&server, &cid, &csecret, AUD, &[], false).await;
    let claims = crate::support::verify_with_discovery(&server.base, &token, AUD).await;
    assert_eq!(claims["department"], "Research");
    assert_eq!(claims["cost_center"], "CC-7");
    assert_eq!(claims["https://example.com/username"], "svc-enrich", "the 0.1.0 plugin runs as before");

    let heads = dir.heads.lock().unwrap().join("\n");
    assert!(heads.contains("GET /users/"), "{heads}");
    assert!(heads.to_ascii_lowercase().contains(&format!("authorization: {}", SECRET.to_ascii_lowercase())), "{heads}");

    // A second token within the TTL: answered from the binding's cache.
    crate::client_credentials::oauth2_token(&server, &cid, &csecret, AUD, &[], false).await;
    assert_eq!(dir.heads.lock().unwrap().len(), 1, "the second answer came from the cache");

    let runs = runs_of(&server, &enrich, 2);
    let text = Value::Array(runs.clone()).to_string();
    assert!(!text.contains("s3cr3t"), "the secret never reaches the run record: {text}");
    let first = &runs[runs.len() - 1]["http"][0];
    assert_eq!(first["method"], "GET");
    assert_eq!(first["status"], 200);
    assert_eq!(first["cached"], false);
    assert!(first["url"].as_str().unwrap().starts_with(&prefix), "{first}");
    assert_eq!(runs[0]["http"][0]["cached"], true);

    // Outside the allow-list: refused before any connection, and recorded.
    let elsewhere = serde_json::json!({"url": format!("{}/admin/", dir.base)}).to_string();
    server.cli_json(&["binding", "update", &enrich, "--config", &elsewhere]);
    server.wait_synced();
    let r = reqwest::Client::new()
        .post(server.token_url())
        .basic_auth(&cid, Some(&csecret))
        .form(&[("grant_type", "client_credentials"), ("audience", AUD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 500, "the plugin's err under the deny policy");
    let runs = runs_of(&server, &enrich, 3);
    let refused = &runs[0]["http"][0];
    assert!(refused["error"].as_str().unwrap().starts_with("not_allowed"), "{refused}");
    assert_eq!(refused["status"], Value::Null);
    assert_eq!(dir.heads.lock().unwrap().len(), 1, "no request left the server");

    // `/metrics` counts the three requests by outcome, the refusal by its code only.
    let text =
        reqwest::get(format!("{}{}", server.base, tessera::web::routes::METRICS)).await.unwrap().text().await.unwrap();
    let count = |outcome: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("tessera_plugin_http_requests_total{"))
            .filter(|l| l.contains(&format!("binding=\"{enrich}\"")) && l.contains(&format!("outcome=\"{outcome}\"")))
            .map(|l| l.rsplit_once(' ').unwrap().1.to_owned())
            .collect()
    };
    for outcome in ["2xx", "cached", "not_allowed"] {
        assert_eq!(count(outcome), ["1"], "{outcome}: {text}");
    }
}

/// Tokens with a plugin bound run on the CPU pool, which keeps about one
/// running thread per CPU (server/tessera/src/cpu_pool.rs): a token whose
/// plugin waits on a slow service must not hold up the others. Four tokens
/// wait on a directory that answers only when told; meanwhile a token of
/// another client, whose plugin makes no request, is issued; then the four
/// are issued too. A pool of a few threads without that rule keeps the
/// fifth token waiting until the test gives up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_whose_plugin_waits_on_its_service_do_not_hold_up_other_tokens() {
    let hold = Arc::new(Hold::default());
    let dir = Directory::start_holding(hold.clone());
    // The waiting calls must outlast the quick token's wait below: with a
    // short deadline they would fail and free their threads anyway.
    let (server, waiting_id, waiting_secret) = enrich_server_with_deadline("svc-waiting", "waiting", 60_000);
    let (quick_id, quick_secret) = service_client(&server, "svc-quick", "quick");
    server.cli_json(&["plugin", "upload", &component("examples", "rust-enrich"), "--name", "rust-enrich"]);
    server.cli_json(&["plugin", "upload", &component("examples", "rust-username"), "--name", "rust-username"]);
    let prefix = format!("{}/users/", dir.base);
    let config = serde_json::json!({"url": prefix, "claims": ["department"]}).to_string();
    bind_enrich(
        &server,
        &config,
        &["--client", &waiting_id, "--secret", &format!("directory-token={SECRET}"), "--http-allow", &prefix],
    );
    server.cli_json(&[
        "binding",
        "create",
        "--plugin",
        "rust-username",
        "--grant-types",
        "client_credentials",
        "--client",
        &quick_id,
    ]);
    server.wait_synced();

    let waiting: Vec<_> = (0..4)
        .map(|_| {
            let (url, id, secret) = (server.token_url(), waiting_id.clone(), waiting_secret.clone());
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(url)
                    .basic_auth(id, Some(secret))
                    .form(&[("grant_type", "client_credentials"), ("audience", AUD)])
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while dir.heads.lock().unwrap().len() < 4 {
        assert!(std::time::Instant::now() < until, "the four plugins never reached the directory");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    // All four wait in `http.fetch` now; the quick token must not wait for them.
    let quick = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        crate::client_credentials::oauth2_token(&server, &quick_id, &quick_secret, AUD, &[], false),
    )
    .await;
    hold.release();
    let token = quick.expect("the quick token waited for the tokens whose plugin waits");
    let claims = crate::support::verify_with_discovery(&server.base, &token, AUD).await;
    assert_eq!(claims["https://example.com/username"], "svc-quick");
    for answer in waiting {
        let body = answer.await.unwrap();
        let token = body["access_token"].as_str().unwrap_or_else(|| panic!("{body}"));
        let claims = crate::support::verify_with_discovery(&server.base, token, AUD).await;
        assert_eq!(claims["department"], "Research");
    }
}

/// A binding's cached answers are forgotten when its HTTP grant changes
/// (here the TTL, from another process: the CLI), on the node that serves
/// it: the next token fetches again instead of reusing an answer kept
/// under the old TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_binding_forgets_its_cached_http_answers() {
    let dir = Directory::start();
    let (server, cid, csecret) = enrich_server("svc-forget", "forget");
    server.cli_json(&["plugin", "upload", &component("examples", "rust-enrich"), "--name", "rust-enrich"]);
    let prefix = format!("{}/users/", dir.base);
    let config = serde_json::json!({"url": prefix, "claims": ["department"]}).to_string();
    let secret = format!("directory-token={SECRET}");
    let created =
        bind_enrich(&server, &config, &["--secret", &secret, "--http-allow", &prefix, "--http-cache-ttl", "600"]);
    let id = created["id"].as_str().unwrap().to_owned();
    server.wait_synced();
    let token = || crate::client_credentials::oauth2_token(&server, &cid, &csecret, AUD, &[], false);
    token().await;
    token().await;
    assert_eq!(dir.heads.lock().unwrap().len(), 1, "the second answer came from the cache");
    server.cli_json(&["binding", "update", &id, "--http-cache-ttl", "300"]);
    server.wait_synced();
    token().await;
    assert_eq!(dir.heads.lock().unwrap().len(), 2, "a new TTL: the answer kept under the old one is forgotten");
    token().await;
    assert_eq!(dir.heads.lock().unwrap().len(), 2, "and the new answer is cached");
}

/// The console's binding form sets the allow-list and the cache TTL in its
/// own block; a prefix the host would not accept is shown next to the field
/// and nothing is saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_binding_form_sets_the_allow_list_and_the_cache_ttl() {
    use crate::console::{ADMIN, ADMIN_PASSWORD, Console, create_admin};
    use tessera::web::routes;
    let server = TestServer::start(Backend::Sqlite);
    create_admin(&server);
    server.cli(&["plugin", "upload", &component("examples", "rust-enrich"), "--name", "rust-enrich"]);
    let id = server.cli_json(&["binding", "create", "--plugin", "rust-enrich", "--grant-types", "client_credentials"])
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let console = Console::new(&server);
    assert_eq!(console.login(ADMIN, ADMIN_PASSWORD).await.status(), 303);
    let csrf = console.csrf().await;
    let path = routes::console::binding(&id);
    let form = |allow: &'static str, ttl: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("version", "1".to_owned()),
            ("grant_types", "client_credentials".to_owned()),
            ("clients", String::new()),
            ("config", "{}".to_owned()),
            ("secrets", String::new()),
            ("failure_policy", "deny".to_owned()),
            ("position", "10".to_owned()),
            ("enabled", "on".to_owned()),
            ("http_allow", allow.to_owned()),
            ("http_cache_ttl", ttl.to_owned()),
        ]
    };
    let post = |f: Vec<(&'static str, String)>| {
        let console = &console;
        let path = path.clone();
        async move {
            let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            console.post_edit(&path, &pairs).await
        }
    };
    let r = post(form("https://dir.example/users/\nhttp://127.0.0.1:9000/lookup", "30")).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let shown = server.cli_json(&["binding", "show", &id]);
    assert_eq!(shown["http_allow"], serde_json::json!(["https://dir.example/users/", "http://127.0.0.1:9000/lookup"]));
    assert_eq!(shown["http_cache_ttl_secs"], 30);
    let page = console.get(&path).await.text().await.unwrap();
    assert!(page.contains("https://dir.example/users/") && page.contains("value=\"30\""), "{page}");

    let r = post(form("http://dir.example/users/", "30")).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"http-allow-error\""));
    assert_eq!(server.cli_json(&["binding", "show", &id])["http_allow"][0], "https://dir.example/users/");

    // Blank fields: no requests, no cache.
    assert_eq!(post(form("", "")).await.status(), 303);
    let shown = server.cli_json(&["binding", "show", &id]);
    assert_eq!(shown["http_allow"], serde_json::json!([]));
    assert_eq!(shown["http_cache_ttl_secs"], Value::Null);
}

/// `export` writes a binding's allow-list and cache TTL; `apply` on another
/// server recreates them, and a changed TTL in the file is one update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_apply_carry_the_allow_list_and_the_cache_ttl() {
    let a = TestServer::start(Backend::Sqlite);
    a.cli(&["plugin", "upload", &component("examples", "rust-enrich"), "--name", "enrich"]);
    a.cli_json(&[
        "binding",
        "create",
        "--plugin",
        "enrich",
        "--grant-types",
        "client_credentials",
        "--http-allow",
        "https://dir.example/users/",
        "--http-cache-ttl",
        "45",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    a.cli(&["export", path]);
    let file = std::fs::read_dir(dir.path().join("bindings")).unwrap().next().unwrap().unwrap().path();
    let mut written: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(written["http_allow"], serde_json::json!(["https://dir.example/users/"]));
    assert_eq!(written["http_cache_ttl_secs"], 45);

    let b = TestServer::start(Backend::Sqlite);
    b.cli(&["apply", path, "--yes"]);
    let listed = b.cli_json(&["binding", "list"]);
    let id = listed["bindings"][0]["id"].as_str().unwrap().to_owned();
    let shown = b.cli_json(&["binding", "show", &id]);
    assert_eq!(shown["http_allow"], written["http_allow"]);
    assert_eq!(shown["http_cache_ttl_secs"], 45);

    written["http_cache_ttl_secs"] = Value::from(5);
    std::fs::write(&file, written.to_string()).unwrap();
    b.cli(&["apply", path, "--yes"]);
    assert_eq!(b.cli_json(&["binding", "show", &id])["http_cache_ttl_secs"], 5);
}

/// A shadow candidate of a 0.2.0 binding gets the live version's HTTP
/// grant (allow-list, cache, secret headers): here the candidate is the
/// live version itself, so every comparison agrees; without the grant each
/// candidate request would be refused and counted as a candidate error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_candidate_fetches_with_the_live_versions_grant() {
    let dir = Directory::start();
    let (server, cid, csecret) = enrich_server("svc-shadow", "shadowed");
    server.cli_json(&["plugin", "upload", &component("examples", "rust-enrich"), "--name", "rust-enrich"]);
    let prefix = format!("{}/users/", dir.base);
    let config = serde_json::json!({"url": prefix, "claims": ["department"]}).to_string();
    let created =
        bind_enrich(&server, &config, &["--secret", &format!("directory-token={SECRET}"), "--http-allow", &prefix]);
    let binding = created["id"].as_str().unwrap().to_owned();
    server.cli_json(&["binding", "shadow", "set", &binding, "--version", "1"]);
    server.wait_synced();
    for _ in 0..3 {
        let token = crate::client_credentials::oauth2_token(&server, &cid, &csecret, AUD, &[], false).await;
        let claims = crate::support::verify_with_discovery(&server.base, &token, AUD).await;
        assert_eq!(claims["department"], "Research");
    }
    let shadow = server.cli_json_until(&["binding", "shadow", "show", &binding], |v| {
        v["shadow"]["compared"].as_i64().unwrap_or(0) + v["shadow"]["skipped"].as_i64().unwrap_or(0) >= 3
    })["shadow"]
        .clone();
    assert!(shadow["compared"].as_i64().unwrap() >= 1, "{shadow}");
    assert_eq!((shadow["differed"].as_i64(), shadow["shadow_errors"].as_i64()), (Some(0), Some(0)), "{shadow}");
    let heads = dir.heads.lock().unwrap().join("\n");
    assert!(heads.to_ascii_lowercase().contains(&format!("authorization: {}", SECRET.to_ascii_lowercase())), "{heads}");
}

/// `tessera plugin run` lets a 0.2.0 plugin fetch what `--http-allow` names
/// (secret headers from the context's `secrets`), and nothing without it: a
/// plugin author tries the enrichment before binding it. The same rule in
/// Rust (the SDK's `http`), JavaScript (jco) and Python (componentize-py;
/// only the allowed run: each run compiles CPython's 18 MiB again, and the
/// refusals are the host's, the same for every language).
#[test]
fn plugin_run_fetches_only_what_http_allow_names() {
    for (example, refusals) in [("rust-enrich", true), ("js-enrich", true), ("python-enrich", false)] {
        plugin_run_fetches_only_what_http_allow_names_in(example, refusals);
    }
}

fn plugin_run_fetches_only_what_http_allow_names_in(example: &str, refusals: bool) {
    let dir = Directory::start();
    let data = tempfile::tempdir().unwrap();
    let (ctx, prefix) = dir.sample_context();
    let ctx_file = data.path().join("ctx.json");
    std::fs::write(&ctx_file, ctx.to_string()).unwrap();
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(crate::support::binary())
            .args(["--data-dir", data.path().to_str().unwrap(), "plugin", "run", &component("examples", example)])
            .args(["--context", ctx_file.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.success(), v)
    };
    if refusals {
        let (ok, v) = run(&[]);
        assert!(!ok, "{example}: {v}");
        assert!(v["http"][0]["error"].as_str().is_some_and(|e| e.starts_with("not_allowed")), "{v}");
        assert!(dir.heads.lock().unwrap().is_empty(), "nothing left without --http-allow");
    }

    let (ok, v) = run(&["--http-allow", &prefix]);
    assert!(ok, "{v}");
    assert_eq!(v["access_token_claims"]["department"], "Research", "{example}: {v}");
    assert_eq!(v["http"][0]["status"], 200, "{v}");
    let heads = dir.heads.lock().unwrap().join("\n");
    assert!(heads.to_ascii_lowercase().contains(&format!("authorization: {}", SECRET.to_ascii_lowercase())), "{heads}");
    assert!(!v.to_string().contains("s3cr3t"), "the secret is not printed: {v}");
    if !refusals {
        return;
    }

    let out = std::process::Command::new(crate::support::binary())
        .args(["--data-dir", data.path().to_str().unwrap(), "plugin", "run", &component("examples", example)])
        .args(["--context", ctx_file.to_str().unwrap(), "--http-allow", "ftp://nowhere.example/"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--http-allow"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The console's test panel gives a 0.2.0 plugin the allow-list typed into
/// it (checked as a binding's is) and shows each request: the author tries
/// an enrichment from the browser before binding it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_test_panel_runs_a_0_2_plugin_with_the_allow_list_it_is_given() {
    use crate::console::Console;
    use tessera::web::routes;
    let dir = Directory::start();
    let server = TestServer::start(Backend::Sqlite);
    server.cli(&["plugin", "upload", &component("examples", "rust-enrich"), "--name", "rust-enrich"]);
    let (ctx, prefix) = dir.sample_context();
    let (context, config) = (ctx.to_string(), ctx["config"].to_string());
    let console = Console::signed_in(&server).await;
    let path = format!("{}/rust-enrich/test", routes::console::PLUGINS);
    let run = |allow: String| {
        let (console, path, context, config) = (&console, path.clone(), context.clone(), config.clone());
        async move {
            let form = [("version", "1"), ("context", &context), ("config", &config), ("http_allow", &allow)];
            let r = console.post_csrf(&path, &form).await;
            (r.status(), r.text().await.unwrap())
        }
    };

    let (status, page) = run(String::new()).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("id=\"http-requests\"") && page.contains("not_allowed"), "{page}");
    assert!(dir.heads.lock().unwrap().is_empty(), "nothing left without an allow-list");

    let (status, page) = run(prefix.clone()).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Research"), "the claim from the directory: {page}");
    assert!(page.contains(&format!("GET {prefix}")) && page.contains(" 200 "), "{page}");
    let heads = dir.heads.lock().unwrap().join("\n");
    assert!(heads.to_ascii_lowercase().contains(&format!("authorization: {}", SECRET.to_ascii_lowercase())), "{heads}");

    let (status, page) = run("ftp://nowhere.example/".into()).await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("id=\"http-allow-error\""), "{page}");
}

/// docs/security-checklist.md: the test panel fetches what its allow-list
/// names, so an administrator who may not change bindings (a plugin author)
/// may name only prefixes some binding already allows; otherwise the run
/// is refused next to the field, naming the entry, and nothing is fetched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_author_tests_only_against_prefixes_a_binding_allows() {
    use crate::console::{Console, create_admin, csrf_of};
    use tessera::web::routes;
    const AUTHOR_PASSWORD: &str = "a long plugin author passphrase";
    let dir = Directory::start();
    let server = TestServer::start(Backend::Sqlite);
    server.cli(&["plugin", "upload", &component("examples", "rust-enrich"), "--name", "rust-enrich"]);
    let (ctx, prefix) = dir.sample_context();
    let (context, config) = (ctx.to_string(), ctx["config"].to_string());
    create_admin(&server);
    let args = ["admin", "create", "--username", "author", "--role", "plugin-author", "--password-stdin"];
    let out = server.cli_output(&args, Some(AUTHOR_PASSWORD));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let console = Console::new(&server);
    assert_eq!(console.login("author", AUTHOR_PASSWORD).await.status(), 303);
    let path = format!("{}/rust-enrich/test", routes::console::PLUGINS);
    let run = |allow: String| {
        let (console, path, context, config) = (&console, path.clone(), context.clone(), config.clone());
        async move {
            let csrf = csrf_of(&console.get(&path).await.text().await.unwrap());
            let form =
                [("version", "1"), ("context", &context), ("config", &config), ("http_allow", &allow), ("csrf", &csrf)];
            let r = console.post(&path, &form).await;
            (r.status(), r.text().await.unwrap())
        }
    };

    let (status, page) = run(prefix.clone()).await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("id=\"http-allow-error\"") && page.contains("a binding allows"), "{page}");
    assert!(dir.heads.lock().unwrap().is_empty(), "nothing was fetched");

    // Once a binding allows the directory, the author may test against it.
    let created = bind_enrich(&server, &config, &["--http-allow", &format!("{}/", dir.base)]);
    assert!(created["id"].is_string(), "{created}");
    let (status, page) = run(prefix.clone()).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Research"), "the claim from the directory: {page}");
    let (status, page) = run("https://elsewhere.example/".into()).await;
    assert_eq!(status, 422, "{page}");
    let error = &page[page.find("id=\"http-allow-error\"").expect("the field's error")..];
    assert!(error[..error.find("</").unwrap()].contains("elsewhere.example"), "the refused entry is named: {page}");
}
