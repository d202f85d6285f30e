//! The CLI against a running server (issue #14 item 4): the real binary
//! with `--server` and a management client's credentials, with no database
//! of its own, on SQLite and PostgreSQL servers. The same commands and flags
//! as on the server's machine, the same `--json` output, the server's
//! problems as errors, and the CI loop: upload, bind, test, roll back.

use crate::on_both_backends;
use crate::plugins::component;
use crate::support::{Backend, TestServer, binary};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The CLI of another machine: `--server`, credentials in the environment,
/// its own empty home (no CLI config), no database.
pub struct RemoteCli {
    base: String,
    client_id: String,
    secret: String,
    home: tempfile::TempDir,
}

impl RemoteCli {
    /// A management client with `scopes` (comma-separated) on `s`.
    pub fn new(s: &TestServer, scopes: &str) -> RemoteCli {
        let c = s.cli_json(&["mgmt-client", "create", "--name", "remote-cli", "--scopes", scopes]);
        RemoteCli {
            base: s.base.clone(),
            client_id: c["client_id"].as_str().unwrap().to_owned(),
            secret: c["client_secret"].as_str().unwrap().to_owned(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// The same server with other credentials.
    fn with_secret(&self, secret: &str) -> RemoteCli {
        RemoteCli {
            base: self.base.clone(),
            client_id: self.client_id.clone(),
            secret: secret.to_owned(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// `tessera` with `--server`, the credentials in TESSERA_CLIENT_ID and
    /// TESSERA_CLIENT_SECRET, and a data directory that must stay empty.
    fn command(&self) -> Command {
        let mut cmd = Command::new(binary());
        for (k, _) in std::env::vars() {
            if k.starts_with("TESSERA_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("HOME", self.home.path()).env("XDG_CONFIG_HOME", self.home.path().join("config"));
        cmd.env("TESSERA_CLIENT_ID", &self.client_id).env("TESSERA_CLIENT_SECRET", &self.secret);
        cmd.arg("--data-dir").arg(self.home.path().join("no-database"));
        cmd.args(["--server", &self.base]);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs `args` with `env` added and returns the raw output.
    pub fn output_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.command();
        cmd.args(args).envs(env.iter().copied());
        cmd.output().unwrap()
    }

    /// Runs `args` (with `stdin`) and returns the raw output.
    pub fn output(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = self.command();
        cmd.args(args);
        let out = match stdin {
            None => cmd.output().unwrap(),
            Some(input) => {
                use std::io::Write;
                cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
                let mut child = cmd.spawn().unwrap();
                child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
                child.wait_with_output().unwrap()
            }
        };
        assert!(!self.home.path().join("no-database").exists(), "a remote command opened a local database");
        out
    }

    /// Runs `args`; panics with the output unless it succeeds.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self.output(args, None);
        assert!(
            out.status.success(),
            "tessera --server {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("ignoring an environment variable"), "{stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `args --json` and parses its one JSON object.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let text = self.run(&a);
        serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}):\n{text}"))
    }

    /// Runs `args`, which must fail; returns its standard error.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.output(args, None);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{args:?} succeeded: {}", String::from_utf8_lossy(&out.stdout));
        stderr
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

on_both_backends!(every_remote_command_answers_as_the_local_one, |backend: Backend| async move {
    let s = TestServer::start(backend);
    let r = RemoteCli::new(
        &s,
        "read:users,write:users,read:clients,write:clients,read:apis,write:apis,read:plugins,write:plugins,read:bindings,write:bindings",
    );

    // Users: create (password from stdin), list, show, update, password, delete.
    let out = r.output(
        &["user", "create", "--username", "svc-remote", "--password-stdin", "--roles", "ops", "--json"],
        Some("a long enough password\n"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let remote_user: Value = serde_json::from_slice(&out.stdout).unwrap();
    let local_user = s.create_user("svc-local", "a long enough password", &["--roles", "ops"]);
    assert_eq!(keys(&remote_user), keys(&local_user), "the same --json output remotely");
    let uid = remote_user["id"].as_str().unwrap().to_owned();
    let list = r.json(&["user", "list"]);
    let names: Vec<&str> = list["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["svc-local", "svc-remote"]);
    let shown = r.json(&["user", "show", &uid]);
    assert_eq!((shown["has_password"].as_bool(), shown.get("password_hash")), (Some(true), None));
    let updated = r.json(&["user", "update", &uid, "--email", "svc@example.com", "--metadata", "{\"team\":\"core\"}"]);
    assert_eq!((updated["email"].as_str(), updated["roles"].clone()), (Some("svc@example.com"), json!(["ops"])));
    let out = r.output(&["user", "password", &uid, "--password-stdin"], Some("short\n"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("password: must have at least 8 characters"));
    let out = r.output(&["user", "password", &uid, "--password-stdin"], Some("another long password\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(r.run(&["user", "sign-out", &uid]).contains("signed out everywhere"));
    let missing = r.output(&["user", "sign-out", "no-such-user"], None);
    assert!(!missing.status.success());

    // Clients: the local command's flags and output.
    let create =
        ["client", "create", "--name", "reporting", "--grant-types", "client_credentials", "--service-account"];
    let remote_client = r.json(&[&create[..], &["svc-remote"]].concat());
    let local_client = s.cli_json(&[&create[..], &["svc-local"]].concat());
    assert_eq!(keys(&remote_client), keys(&local_client));
    assert_eq!(remote_client["service_account_user_id"], uid.as_str());
    assert!(remote_client["client_secret"].as_str().is_some_and(|x| x.len() >= 43));
    let cid = remote_client["client_id"].as_str().unwrap().to_owned();
    let shown = r.json(&["client", "show", &cid]);
    let local_shown = s.cli_json(&["client", "show", &cid]);
    assert_eq!(shown, local_shown, "client show is the same on both sides");
    assert_eq!(shown["service_account"], "svc-remote");
    let updated = r.json(&["client", "update", &cid, "--name", "reporting-2", "--scopes", "read"]);
    assert_eq!((updated["name"].as_str(), updated["allowed_scopes"].clone()), (Some("reporting-2"), json!(["read"])));
    let secret = r.json(&["client", "secret", "add", &cid]);
    assert_eq!(keys(&secret), ["client_id", "client_secret", "secret_id"].map(String::from).into());
    r.run(&["client", "secret", "revoke", &cid, secret["secret_id"].as_str().unwrap()]);
    assert!(r.run(&["client", "disable", &cid]).contains("disabled"));
    assert_eq!(s.cli_json(&["client", "show", &cid])["disabled"], true);
    r.run(&["client", "enable", &cid]);
    let list = r.json(&["client", "list"]);
    assert_eq!(list, s.cli_json(&["client", "list"]), "client list is the same on both sides");

    // APIs.
    let api =
        r.json(&["api", "create", "--identifier", "https://remote.api.example", "--alg", "ES256", "--scopes", "read"]);
    let local_api = s.cli_json(&["api", "create", "--identifier", "https://local.api.example", "--scopes", "read"]);
    assert_eq!(keys(&api), keys(&local_api));
    let aid = api["id"].as_str().unwrap().to_owned();
    assert_eq!(r.json(&["api", "show", &aid])["alg"], "ES256");
    assert!(r.json(&["api", "list"])["apis"].as_array().unwrap().iter().any(|a| a["id"] == aid.as_str()));
    r.run(&["api", "delete", &aid]);
    assert!(r.fails(&["api", "show", &aid]).contains("not found"));

    // Deletes, then a refusal from the server: its detail, a non-zero exit.
    r.run(&["client", "delete", &cid]);
    r.run(&["user", "delete", &uid]);
    let err = r.fails(&["user", "show", &uid]);
    assert!(err.contains(&format!("user {uid} not found")) && err.contains("HTTP 404"), "{err}");
    let err = r.fails(&["client", "create", "--name", "x", "--grant-types", "teleport"]);
    assert!(err.contains("unknown grant type") && err.contains("HTTP 400"), "{err}");
});

on_both_backends!(ci_loop_uploads_binds_tests_and_rolls_back, |backend: Backend| async move {
    let s = TestServer::start(backend);
    let r = RemoteCli::new(&s, "read:plugins,write:plugins,read:bindings,write:bindings");
    // 1. Upload two versions (a repeat upload of the same content is version 1 again).
    let v1 = r.json(&["plugin", "upload", &component("fixtures", "allow-claim"), "--name", "gate"]);
    let v2 = r.json(&["plugin", "upload", &component("fixtures", "deny"), "--name", "gate"]);
    assert_eq!((v1["version"].as_i64(), v2["version"].as_i64()), (Some(1), Some(2)));
    let again = r.json(&["plugin", "upload", &component("fixtures", "allow-claim"), "--name", "gate"]);
    assert_eq!(again["version"], 1);
    assert_eq!(keys(&v1), keys(&s.cli_json(&["plugin", "upload", &component("fixtures", "trap"), "--name", "t"])));
    let versions = r.json(&["plugin", "versions", "gate"]);
    assert_eq!(versions["versions"].as_array().unwrap().len(), 2);
    assert_eq!(r.json(&["plugin", "list"]), s.cli_json(&["plugin", "list"]));
    // 2. Bind the new version, as a hook of one client (a rule for every
    // client_credentials client would also deny the management client's tokens).
    let app = s.cli_json(&["client", "create", "--name", "app", "--grant-types", "client_credentials"]);
    let app_id = app["client_id"].as_str().unwrap();
    let b =
        r.json(&["binding", "create", "--plugin", "gate@2", "--grant-types", "client_credentials", "--client", app_id]);
    assert_eq!((b["plugin"].as_str(), b["version"].as_i64()), (Some("gate"), Some(2)));
    let id = b["id"].as_str().unwrap().to_owned();
    assert_eq!(r.json(&["binding", "show", &id]), s.cli_json(&["binding", "list"])["bindings"][0]);
    // 3. Test: `plugin test` runs on the file, also with TESSERA_SERVER set.
    let cases = tempfile::tempdir().unwrap();
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../plugins/examples/context.sample.json");
    std::fs::copy(sample, cases.path().join("any.context.json")).unwrap();
    std::fs::write(cases.path().join("any.expected.json"), json!({"outcome": "denied"}).to_string()).unwrap();
    let tested = r.output(&["plugin", "test", &component("fixtures", "deny"), "--cases", path(cases.path())], None);
    assert!(tested.status.success(), "{}", String::from_utf8_lossy(&tested.stdout));
    // 4. Roll back: one binding, or every binding of the plugin.
    let back = r.json(&["binding", "rollback", &id, "--to", "1"]);
    // Before promoting 2 again, try it in shadow: set, show, discard
    // remotely, with the local command's output.
    let set =
        r.json(&["binding", "shadow", "set", &id, "--version", "2", "--share", "0.5", "--sensitive-claim", "email"]);
    assert_eq!((set["shadow"]["version"].as_i64(), set["shadow"]["share"].as_f64()), (Some(2), Some(0.5)));
    assert_eq!(set["shadow"]["sensitive_claims"], json!(["email"]));
    assert_eq!(r.json(&["binding", "shadow", "show", &id]), s.cli_json(&["binding", "shadow", "show", &id]));
    assert_eq!(r.json(&["binding", "shadow", "discard", &id])["shadow"], Value::Null);
    assert_eq!(r.json(&["binding", "shadow", "show", &id])["shadow"], Value::Null);
    let err = r.fails(&["binding", "shadow", "show", "no-such-binding"]);
    assert!(err.contains("not found") && err.contains("HTTP 404"), "{err}");
    assert_eq!(back["version"], 1);
    r.json(&["binding", "update", &id, "--version", "2", "--config", "{\"a\":1}"]);
    let rolled = r.json(&["plugin", "rollback", "gate", "--to", "1"]);
    assert_eq!(rolled["bindings"], 1);
    let shown = s.cli_json(&["binding", "list"])["bindings"][0].clone();
    assert_eq!((shown["version"].as_i64(), shown["config"].clone()), (Some(1), json!({"a": 1})));
    r.run(&["binding", "disable", &id]);
    assert_eq!(r.json(&["binding", "show", &id])["enabled"], false);
    r.run(&["binding", "enable", &id]);
    r.run(&["binding", "delete", &id]);
    assert!(r.json(&["binding", "list"])["bindings"].as_array().unwrap().is_empty());
});

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn credentials_scopes_and_local_only_commands_are_refused_clearly() {
    let s = TestServer::start(Backend::Sqlite);
    let r = RemoteCli::new(&s, "read:clients");
    let err = r.with_secret("not-the-secret").fails(&["client", "list"]);
    assert!(err.contains("refused the management client") && err.contains("invalid_client"), "{err}");
    let err = r.fails(&["user", "list"]);
    assert!(err.contains("read:users") && err.contains("HTTP 403"), "{err}");
    // The commands the API serves need their scopes; those it cannot serve say so.
    for (cmd, scope) in [
        (&["keys", "list"][..], "read:keys"),
        (&["keys", "rotate", "--alg", "ES256"], "write:keys"),
        (&["keys", "retire", "some-kid"], "read:keys"),
        (&["admin", "create", "--username", "x", "--password", "y", "--role", "viewer"], "write:admins"),
        (&["admin", "list"], "read:admins"),
        (&["audit", "export"], "read:audit"),
        (&["audit", "verify"], "read:audit"),
        (&["binding", "runs"], "read:runs"),
    ] {
        let err = r.fails(cmd);
        assert!(err.contains(scope) && err.contains("HTTP 403"), "{cmd:?}: {err}");
    }
    let err = r.fails(&["admin", "password", "--username", "x", "--password", "y"]);
    assert!(err.contains("read:admins") && err.contains("HTTP 403"), "{err}");

    // The CLI config: server and credentials from a file, refused while others may read its secret.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cli.toml");
    std::fs::write(
        &file,
        format!("server = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\n", s.base, r.client_id, r.secret),
    )
    .unwrap();
    let run = |mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        let mut cmd = Command::new(binary());
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("TESSERA_") || k == "XDG_CONFIG_HOME") {
            cmd.env_remove(k);
        }
        cmd.env("HOME", dir.path())
            .args(["--data-dir", path(&dir.path().join("no-database")), "--cli-config", path(&file)])
            .args(["client", "list", "--json"])
            .output()
            .unwrap()
    };
    let out = run(0o644);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(0o600);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(list["clients"].is_array());
    assert!(!dir.path().join("no-database").exists());
}

on_both_backends!(keys_admins_audit_and_runs_answer_as_the_local_ones, |backend: Backend| async move {
    let s = TestServer::start(backend);
    let r = RemoteCli::new(
        &s,
        "read:keys,write:keys,read:admins,write:admins,read:audit,read:runs,read:plugins,write:plugins,read:bindings,write:bindings",
    );

    // Keys: list, rotate one algorithm, rotate all, retire.
    let list = r.json(&["keys", "list"]);
    let local = s.cli_json(&["keys", "list"]);
    assert_eq!(keys(&list), keys(&local));
    assert_eq!(keys(&list["keys"][0]), keys(&local["keys"][0]));
    let kids = |v: &Value| -> BTreeSet<String> {
        v["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(kids(&list), kids(&local));
    let next_es = |v: &Value| {
        v["keys"].as_array().unwrap().iter().find(|k| k["alg"] == "ES256" && k["state"] == "next").unwrap()["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let before = next_es(&list);
    let one = r.json(&["keys", "rotate", "--alg", "ES256"]);
    let rotated = one["rotated"].as_array().unwrap();
    assert_eq!(rotated.len(), 1);
    assert_eq!((rotated[0]["alg"].as_str(), rotated[0]["current"].as_str()), (Some("ES256"), Some(before.as_str())));
    let local_one = s.cli_json(&["keys", "rotate", "--alg", "ES256"]);
    assert_eq!(keys(&one), keys(&local_one));
    assert_eq!(keys(&rotated[0]), keys(&local_one["rotated"][0]));
    let all = r.json(&["keys", "rotate"]);
    let algs: BTreeSet<_> = all["rotated"].as_array().unwrap().iter().map(|x| x["alg"].as_str().unwrap()).collect();
    assert_eq!(algs, BTreeSet::from(["ES256", "EdDSA", "RS256"]));
    assert_eq!(keys(&all["rotated"][0]), keys(&s.cli_json(&["keys", "rotate"])["rotated"][0]));
    let next = next_es(&s.cli_json(&["keys", "list"]));
    let retired = r.json(&["keys", "retire", &next]);
    assert_eq!((retired["kid"].as_str(), retired["state"].as_str()), (Some(next.as_str()), Some("retired")));
    let local_retired = s.cli_json(&["keys", "retire", &next_es(&s.cli_json(&["keys", "list"]))]);
    assert_eq!(keys(&retired), keys(&local_retired));
    assert!(r.fails(&["keys", "retire", "no-such-kid"]).contains("HTTP 404"));
    assert!(r.fails(&["keys", "rotate", "--alg", "HS256"]).contains("HTTP 400"));

    // Administrators: create (password from stdin), list, delete.
    let pw = "a long administrator password\n";
    let created = r.output(&["admin", "create", "--username", "remote-admin", "--password-stdin", "--json"], Some(pw));
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let created: Value = serde_json::from_slice(&created.stdout).unwrap();
    let local_admin = s.cli_output(
        &["admin", "create", "--username", "local-admin", "--role", "owner", "--password-stdin", "--json"],
        Some(pw),
    );
    assert!(local_admin.status.success(), "{}", String::from_utf8_lossy(&local_admin.stderr));
    assert_eq!(keys(&created), keys(&serde_json::from_slice(&local_admin.stdout).unwrap()));
    let admins = r.json(&["admin", "list"]);
    assert_eq!(keys(&admins), keys(&s.cli_json(&["admin", "list"])));
    let names: Vec<_> = admins["admins"].as_array().unwrap().iter().map(|a| a["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["local-admin", "remote-admin"]);
    let id = created["id"].as_str().unwrap();
    let new_pw = "another long administrator password\n";
    let set =
        r.output(&["admin", "password", "--username", "remote-admin", "--password-stdin", "--json"], Some(new_pw));
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&set.stdout).unwrap(), json!({"username": "remote-admin"}));
    let short = r.output(&["admin", "password", "--username", "remote-admin", "--password", "short"], None);
    assert!(String::from_utf8_lossy(&short.stderr).contains("HTTP 400"), "{}", String::from_utf8_lossy(&short.stderr));
    assert!(r.fails(&["admin", "password", "--username", "nobody", "--password", new_pw.trim()]).contains("not found"));
    // A lost device: the second factor reset, remotely and locally, audited each time.
    let reset = r.json(&["admin", "reset-second-factor", "--username", "remote-admin"]);
    assert_eq!(reset, json!({"username": "remote-admin", "second_factor": false}));
    let local = s.cli_json(&["admin", "reset-second-factor", "--username", "remote-admin"]);
    assert_eq!(keys(&reset), keys(&local));
    let audited = s.cli(&["audit", "export"]);
    assert_eq!(audited.matches("admin.second_factor.reset").count(), 2, "{audited}");
    assert!(r.fails(&["admin", "reset-second-factor", "--username", "nobody"]).contains("not found"));
    assert_eq!(r.json(&["admin", "delete", id]), json!({"id": id, "deleted": true}));
    assert_eq!(s.cli_json(&["admin", "list"])["admins"].as_array().unwrap().len(), 1);
    let err = r.fails(&["admin", "delete", id]);
    assert!(err.contains("not found") && err.contains("HTTP 404"), "{err}");
    let last = s.cli_json(&["admin", "list"])["admins"][0]["id"].as_str().unwrap().to_owned();
    assert!(r.fails(&["admin", "delete", &last]).contains("HTTP 409"), "never the last administrator");

    // Binding runs: a denied token request, as the local command shows it.
    let (app, secret) = s.api_and_client("https://runs.api.example", "ES256", "read");
    r.json(&["plugin", "upload", &component("fixtures", "deny"), "--name", "gate"]);
    let b =
        r.json(&["binding", "create", "--plugin", "gate@1", "--grant-types", "client_credentials", "--client", &app]);
    let bid = b["id"].as_str().unwrap().to_owned();
    s.wait_synced();
    let (status, _) = s
        .token_form(&app, &secret, &[("grant_type", "client_credentials"), ("audience", "https://runs.api.example")])
        .await;
    assert_eq!(status, 400);
    let local_runs = s.cli_json_until(&["binding", "runs", "--binding", &bid], |v| {
        v["runs"].as_array().is_some_and(|a| !a.is_empty())
    });
    let runs = r.json(&["binding", "runs", "--binding", &bid, "--limit", "5"]);
    assert_eq!(keys(&runs), keys(&local_runs));
    assert_eq!(keys(&runs["runs"][0]), keys(&local_runs["runs"][0]));
    assert_eq!(
        (runs["runs"][0]["id"].clone(), runs["runs"][0]["outcome"].as_str()),
        (local_runs["runs"][0]["id"].clone(), Some("denied"))
    );
    assert!(r.json(&["binding", "runs", "--binding", "no-such-binding"])["runs"].as_array().unwrap().is_empty());

    // Audit export: the very lines the server's machine writes, chain links included, in chain order.
    let lines = |text: &str| -> Vec<Value> { text.lines().map(|l| serde_json::from_str(l).unwrap()).collect() };
    let remote_text = r.run(&["audit", "export"]);
    assert_eq!(remote_text, s.cli(&["audit", "export"]));
    let remote = lines(&remote_text);
    assert!(remote.len() > 5);
    assert!(["seq", "prev_hash", "hash"].iter().all(|k| keys(&remote[0]).contains(*k)), "{}", remote[0]);
    assert!(remote.windows(2).all(|w| w[0]["seq"].as_i64().unwrap() + 1 == w[1]["seq"].as_i64().unwrap()));
    assert!(remote.windows(2).all(|w| w[1]["prev_hash"] == w[0]["hash"]), "each links to the one before it");
    let actions: BTreeSet<_> = remote.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(["keys.retire", "admin.delete", "admin.password"].iter().all(|a| actions.contains(a)), "{actions:?}");
    assert!(remote.iter().any(|e| e["actor"].as_str().is_some_and(|a| a.contains(&r.client_id))));
    let today = &remote[0]["time"].as_str().unwrap()[..10];
    assert_eq!(
        r.run(&["audit", "export", "--since", today, "--until", today]),
        s.cli(&["audit", "export", "--since", today, "--until", today])
    );
    assert!(r.run(&["audit", "export", "--until", "2000-01-01"]).is_empty());
    assert!(r.run(&["audit", "export", "--since", "2999-01-01T00:00:00Z"]).is_empty());
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("audit.jsonl");
    r.run(&["audit", "export", "--out", path(&file)]);
    assert_eq!(lines(&std::fs::read_to_string(&file).unwrap()).len(), remote.len());
});

on_both_backends!(remote_audit_verify_walks_the_chain_as_the_local_one, |backend: Backend| async move {
    let s = TestServer::start(backend);
    let r = RemoteCli::new(&s, "read:audit,write:users");
    for name in ["ann", "bob", "cy"] {
        r.run(&["user", "create", "--username", name, "--password", "a long enough password"]);
    }
    let both = |args: &[&str]| -> (Output, Output) { (r.output(args, None), s.cli_output(args, None)) };

    let (remote, local) = both(&["audit", "verify", "--json"]);
    assert!(remote.status.success(), "{}", String::from_utf8_lossy(&remote.stderr));
    assert_eq!(String::from_utf8_lossy(&remote.stdout), String::from_utf8_lossy(&local.stdout));
    let ok: Value = serde_json::from_slice(&remote.stdout).unwrap();
    assert_eq!((ok["ok"].clone(), ok["count"].as_i64().is_some_and(|n| n >= 3)), (Value::Bool(true), true), "{ok}");
    assert!(r.run(&["audit", "verify"]).starts_with("audit log OK: "));

    // One row changed behind the application's back: the same entry, message and exit status as locally.
    let events: Vec<Value> = r.run(&["audit", "export"]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let victim = &events[events.len() - 2];
    crate::audit::execute(
        &s,
        &format!("UPDATE audit_events SET actor = 'someone-else' WHERE id = '{}'", victim["id"].as_str().unwrap()),
    );
    for args in [&["audit", "verify"][..], &["audit", "verify", "--json"]] {
        let (remote, local) = both(args);
        assert_eq!((remote.status.code(), local.status.code()), (Some(1), Some(1)), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&remote.stdout), String::from_utf8_lossy(&local.stdout), "{args:?}");
        assert!(String::from_utf8_lossy(&remote.stderr).contains("broken at entry"), "{args:?}");
    }
    let report: Value = serde_json::from_slice(&r.output(&["audit", "verify", "--json"], None).stdout).unwrap();
    assert_eq!(
        (report["ok"].clone(), report["seq"].clone(), report["id"].clone()),
        (Value::Bool(false), victim["seq"].clone(), victim["id"].clone())
    );
    assert!(report["problem"].as_str().unwrap().contains("the entry was changed"), "{report}");

    // A row inserted around the application is outside the chain: reported after an intact walk.
    crate::audit::execute(
        &s,
        &format!(
            "UPDATE audit_events SET actor = '{}' WHERE id = '{}'",
            victim["actor"].as_str().unwrap(),
            victim["id"].as_str().unwrap()
        ),
    );
    assert_eq!(r.json(&["audit", "verify"])["ok"], true);
    crate::audit::execute(
        &s,
        "INSERT INTO audit_events (id, at, actor, action, target, detail) VALUES ('forged', 1, 'cli', 'user.create', 'u', '{}')",
    );
    // (Remotely only: the local CLI migrates on opening, which chains such rows.)
    let remote = r.output(&["audit", "verify", "--json"], None);
    assert_eq!(remote.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&remote.stdout).unwrap();
    assert_eq!(
        (report["id"].as_str(), report["seq"].as_i64()),
        (Some("forged"), Some(ok["count"].as_i64().unwrap() + 1))
    );
});
