//! Configuration as code (issue #14 item 5): `tessera export` from a
//! populated server, `tessera apply` to an empty one (the plan first,
//! nothing changed without `--yes`), export again: the same files; apply
//! twice: an empty plan. Remotely (`--server`) and on the server's machine,
//! on SQLite and PostgreSQL.

use crate::on_both_backends;
use crate::plugins::component;
use crate::remote_cli::RemoteCli;
use crate::support::{Backend, TestServer};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// Every file under `dir` (relative path -> content).
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn read(dir: &Path, file: &str) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join(file)).unwrap()).unwrap()
}

/// A server with one of everything the directory holds.
fn populated(backend: Backend) -> TestServer {
    let s = TestServer::start(backend);
    s.create_user(
        "svc-billing",
        "a long enough password",
        &["--roles", "billing", "--profile", "{\"name\":\"Billing\"}"],
    );
    s.create_user("ada", "another long password", &["--email", "ada@example.com"]);
    let c = s.cli_json(&[
        "client",
        "create",
        "--name",
        "billing",
        "--grant-types",
        "client_credentials",
        "--service-account",
        "svc-billing",
        "--metadata",
        "{\"tier\":\"gold\"}",
        "--jwks-uri",
        "https://billing.example/jwks.json",
        "--jwt-bearer-issuers",
        r#"[{"issuer": "https://idp.example", "jwks_uri": "https://idp.example/jwks", "subject": "username"}]"#,
        "--require-dpop",
        "--backchannel-logout-uri",
        "https://billing.example/logout",
    ]);
    let cid = c["client_id"].as_str().unwrap();
    s.cli_json(&[
        "client",
        "create",
        "--name",
        "web",
        "--public",
        "--grant-types",
        "authorization_code",
        "--redirect-uri",
        "http://127.0.0.1:9/cb",
    ]);
    s.cli_json(&[
        "api",
        "create",
        "--identifier",
        "https://billing.example",
        "--scopes",
        "read,write",
        "--resource-server",
        cid,
    ]);
    s.cli_json(&["plugin", "upload", &component("fixtures", "allow-claim"), "--name", "gate"]);
    s.cli_json(&["plugin", "upload", &component("fixtures", "deny"), "--name", "gate"]);
    s.cli_json(&[
        "binding",
        "create",
        "--plugin",
        "gate@1",
        "--grant-types",
        "client_credentials",
        "--client",
        cid,
        "--config",
        "{\"claim\":\"tier\"}",
        "--secret",
        "API_KEY=s3cret",
    ]);
    s
}

const ALL: &str = "read:users,write:users,read:clients,write:clients,read:apis,write:apis,read:plugins,write:plugins,read:bindings,write:bindings";

on_both_backends!(export_apply_export_gives_the_same_files, |backend: Backend| async move {
    let a = populated(backend);
    let ra = RemoteCli::new(&a, ALL);
    let first = tempfile::tempdir().unwrap();
    let summary = ra.json(&["export", first.path().to_str().unwrap()]);
    assert_eq!(summary["counts"], json!({"users": 2, "clients": 2, "apis": 1, "plugins": 1, "bindings": 1}));

    // The files: no ids, no secrets, no hashes, references by name and content.
    let client = read(first.path(), "clients/billing.json");
    assert_eq!((client["service_account"].as_str(), client.get("id")), (Some("svc-billing"), None));
    // Every setting of a client is in its file, the key sources and
    // back-channel logout URL too.
    assert_eq!(client["jwks_uri"], "https://billing.example/jwks.json");
    assert_eq!(client["jwt_bearer_issuers"][0]["issuer"], "https://idp.example");
    assert_eq!(client["dpop_bound_access_tokens"], true);
    assert_eq!(client["backchannel_logout_uri"], "https://billing.example/logout");
    let user = read(first.path(), "users/svc-billing.json");
    assert!(user.get("password_hash").is_none() && user.get("id").is_none(), "{user}");
    assert_eq!(read(first.path(), "apis/https___billing.example.json")["resource_servers"], json!(["billing"]));
    let binding_file = files(first.path()).into_keys().find(|f| f.starts_with("bindings/")).unwrap();
    assert!(binding_file.ends_with("-gate.json"), "{binding_file}");
    let binding = read(first.path(), &binding_file);
    assert_eq!(binding["clients"], json!(["billing"]));
    assert_eq!(binding["secrets"], json!({"API_KEY": {"env": "GATE_API_KEY"}}));
    let plugin = read(first.path(), "plugins/gate.json");
    let shas: Vec<&str> =
        plugin["versions"].as_array().unwrap().iter().map(|v| v["sha256"].as_str().unwrap()).collect();
    assert_eq!(binding["sha256"], shas[0]);
    for sha in &shas {
        assert!(first.path().join(format!("plugins/components/{sha}.wasm")).exists());
    }
    let text = String::from_utf8(std::fs::read(first.path().join("clients/billing.json")).unwrap()).unwrap();
    assert!(text.starts_with("{\n  \"allowed_audiences\"") && text.ends_with("}\n"), "sorted, indented: {text}");
    assert!(!files(first.path()).keys().any(|f| f.contains("remote-cli")), "the management client stays out");

    // The same export on the server's machine.
    let local = tempfile::tempdir().unwrap();
    a.cli(&["export", local.path().to_str().unwrap()]);
    assert_eq!(files(local.path()), files(first.path()));

    // An empty server: the plan, and nothing changes without --yes.
    let b = TestServer::start(backend);
    let rb = RemoteCli::new(&b, ALL);
    let dir = first.path().to_str().unwrap();
    let plan = rb.json(&["apply", dir]);
    assert_eq!(plan["applied"], false);
    let creates: Vec<String> = plan["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!("{} {} {}", s["action"].as_str().unwrap(), s["kind"].as_str().unwrap(), s["key"].as_str().unwrap())
        })
        .collect();
    assert_eq!(creates.len(), 7, "{creates:?}");
    assert!(creates.iter().any(|c| c.starts_with("create bindings ") && c.ends_with("-gate")), "{creates:?}");
    let human = rb.run(&["apply", dir]);
    assert!(human.contains("+ create user ada") && human.contains("--yes"), "{human}");
    assert!(rb.json(&["user", "list"])["users"].as_array().unwrap().is_empty(), "nothing applied");

    // A secret comes from the environment; without it the apply stops before binding.
    let err = rb.fails(&["apply", dir, "--yes"]);
    assert!(err.contains("GATE_API_KEY"), "{err}");
    assert!(rb.json(&["user", "list"])["users"].as_array().unwrap().is_empty(), "nothing half-applied");
    let out = rb.output_with_env(&["apply", dir, "--yes", "--json"], &[("GATE_API_KEY", "s3cret")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let applied: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(applied["applied"], true);
    assert!(
        applied["secrets"]["billing"].as_str().is_some_and(|s| s.len() >= 43),
        "the new client's secret: {applied}"
    );

    // Export again: identical; apply again: nothing to do.
    let second = tempfile::tempdir().unwrap();
    rb.run(&["export", second.path().to_str().unwrap()]);
    assert_eq!(files(second.path()), files(first.path()));
    let again = rb.json(&["apply", dir]);
    assert_eq!(again["plan"], json!([]), "{again}");
    assert!(rb.run(&["apply", dir]).contains("nothing to do"));

    // A change in the directory is one update; a removed file is a delete.
    let mut user = read(first.path(), "users/ada.json");
    user["roles"] = json!(["admin"]);
    std::fs::write(first.path().join("users/ada.json"), user.to_string()).unwrap();
    std::fs::remove_file(first.path().join("clients/web.json")).unwrap();
    let plan = rb.json(&["apply", dir]);
    assert_eq!(
        plan["plan"],
        json!([
            {"action": "update", "kind": "users", "key": "ada", "fields": ["roles"]},
            {"action": "delete", "kind": "clients", "key": "web", "fields": []},
        ])
    );
    rb.run(&["apply", dir, "--yes"]);
    assert_eq!(rb.json(&["apply", dir])["plan"], json!([]));
    let names: Vec<String> = b.cli_json(&["client", "list"])["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(!names.contains(&"web".to_owned()) && names.contains(&"remote-cli".to_owned()), "{names:?}");

    // Scope descriptions travel with their API.
    let api_file = "apis/https___billing.example.json";
    let mut api = read(first.path(), api_file);
    assert_eq!(api["scope_descriptions"], json!({}));
    api["scope_descriptions"] = json!({"read": "Read your invoices"});
    std::fs::write(first.path().join(api_file), api.to_string()).unwrap();
    let plan = rb.json(&["apply", dir]);
    assert_eq!(
        plan["plan"],
        json!([{"action": "update", "kind": "apis", "key": "https://billing.example", "fields": ["scope_descriptions"]}])
    );
    rb.run(&["apply", dir, "--yes"]);
    let third = tempfile::tempdir().unwrap();
    rb.run(&["export", third.path().to_str().unwrap()]);
    assert_eq!(read(third.path(), api_file)["scope_descriptions"], json!({"read": "Read your invoices"}));
});

#[test]
fn password_hashes_are_exported_only_when_asked_and_only_locally() {
    let a = TestServer::start(Backend::Sqlite);
    a.create_user("ada", "a long enough password", &[]);
    let dir = tempfile::tempdir().unwrap();
    a.cli(&["export", dir.path().to_str().unwrap(), "--with-password-hashes"]);
    let user = read(dir.path(), "users/ada.json");
    assert!(user["password_hash"].as_str().is_some_and(|h| h.starts_with("$argon2")), "{user}");
    let ra = RemoteCli::new(&a, ALL);
    let err = ra.fails(&["export", dir.path().to_str().unwrap(), "--with-password-hashes"]);
    assert!(err.contains("never returns password hashes"), "{err}");

    // Applied on the server's machine, the hash signs the user in elsewhere.
    let b = TestServer::start(Backend::Sqlite);
    b.cli(&["apply", dir.path().to_str().unwrap(), "--yes"]);
    let shown = b.cli_json(&["user", "list"]);
    assert_eq!(shown["users"][0]["has_password"], true);
    assert_eq!(b.cli_json(&["apply", dir.path().to_str().unwrap()])["plan"], json!([]));
}
