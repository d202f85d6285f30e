//! Operations (issue #16): stopping without dropping requests, schema
//! versions and upgrades, online backups, the admin listener and the probes,
//! request ids.

use crate::support::{Backend, Options, TestServer, binary, free_port, http_get_ok, http_status};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tessera::web::routes;

/// A `tessera` command on `dir` with no inherited `TESSERA_*` variables.
fn tessera(dir: &Path) -> Command {
    let mut cmd = Command::new(binary());
    for (k, _) in std::env::vars() {
        if k.starts_with("TESSERA_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "info,actix_server=warn").arg("--data-dir").arg(dir).stdin(Stdio::null());
    cmd
}

/// A server process the test owns, to signal it and read its exit status.
struct Node {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl Node {
    fn start(dir: &Path, env: &[(&str, &str)]) -> Node {
        let port = free_port();
        let log = dir.join("server.log");
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = tessera(dir);
        cmd.envs(env.iter().copied()).args(["serve", "--listen", &format!("127.0.0.1:{port}")]);
        let child = cmd.stdout(file.try_clone().unwrap()).stderr(file).spawn().unwrap();
        let mut node = Node { child, base: format!("http://127.0.0.1:{port}"), log };
        let deadline = Instant::now() + Duration::from_secs(60);
        while http_status(&node.base, routes::HEALTHZ) != Some(200) {
            assert!(node.child.try_wait().unwrap().is_none(), "exited early:\n{}", node.log_text());
            assert!(Instant::now() < deadline, "not healthy in 60 s:\n{}", node.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
        node
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success());
    }

    fn wait(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "still running after {within:?}:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A token request whose body stops half-way: it is in flight until
    /// the rest is written.
    fn held_request(&self) -> TcpStream {
        let addr = self.base.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(
            s,
            "POST {} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\ngrant_type=",
            routes::TOKEN,
            HELD_BODY.len()
        )
        .unwrap();
        s.flush().unwrap();
        s
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const HELD_BODY: &str = "grant_type=client_credentials";

/// Issue #16 item 5: SIGTERM stops accepting, lets the request in flight
/// finish with its real answer, and the process exits 0.
#[test]
fn sigterm_drains_the_request_in_flight_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path(), &[]);
    let mut held = node.held_request();
    std::thread::sleep(Duration::from_millis(300));
    node.signal("TERM");
    std::thread::sleep(Duration::from_millis(500));
    assert!(node.child.try_wait().unwrap().is_none(), "waits for the request in flight");
    assert_eq!(http_status(&node.base, routes::HEALTHZ), None, "no new connections once stopping");
    held.write_all(&HELD_BODY.as_bytes()["grant_type=".len()..]).unwrap();
    let mut answer = String::new();
    held.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "the request got its answer (no client credentials): {answer}");
    assert!(answer.contains("invalid_client"), "{answer}");
    let status = node.wait(Duration::from_secs(10));
    assert!(status.success(), "exit 0: {status}\n{}", node.log_text());
    let log = node.log_text();
    assert!(log.contains("signal=\"SIGTERM\"") && log.contains("tessera stopped"), "{log}");
}

/// Issue #16 item 5: SIGINT drains too, but no longer than
/// `shutdown_timeout_secs`; a request that never completes is dropped then.
#[test]
fn sigint_stops_within_the_shutdown_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path(), &[("TESSERA_SHUTDOWN_TIMEOUT_SECS", "1")]);
    let _held = node.held_request();
    std::thread::sleep(Duration::from_millis(300));
    let stopping = Instant::now();
    node.signal("INT");
    let status = node.wait(Duration::from_secs(10));
    assert!(status.success(), "exit 0: {status}\n{}", node.log_text());
    let took = stopping.elapsed();
    assert!(took >= Duration::from_millis(900), "waited for the request in flight: {took:?}");
    assert!(took < Duration::from_secs(5), "not the default 30 s: {took:?}");
}

fn insert_migration_row(dir: &Path, version: &str) {
    use diesel::{Connection, RunQueryDsl};
    let mut c = diesel::SqliteConnection::establish(dir.join("tessera.db").to_str().unwrap()).unwrap();
    diesel::sql_query(format!("INSERT INTO __diesel_schema_migrations (version) VALUES ('{version}')"))
        .execute(&mut c)
        .unwrap();
}

fn assert_refused(out: &std::process::Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Issue #16 item 5: a database migrated by a newer binary is refused by
/// `serve` (and `migrate`, which cannot go back), naming the versions.
#[test]
fn a_database_migrated_by_a_newer_binary_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = tessera(dir.path()).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let latest = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/sqlite"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().split('_').next().unwrap().replace('-', ""))
        .max()
        .unwrap();
    insert_migration_row(dir.path(), "99991231000099");
    for command in ["serve", "migrate"] {
        let out = tessera(dir.path()).arg(command).output().unwrap();
        assert_refused(&out, &["newer Tessera", "99991231000099", &latest]);
    }
}

/// Issue #16 item 5: with `database.auto_migrate = false` nothing migrates
/// by itself: a command refuses until `tessera migrate` ran.
#[test]
fn without_auto_migrate_an_upgrade_is_an_explicit_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let off = ("TESSERA_DATABASE__AUTO_MIGRATE", "false");
    let out = tessera(dir.path()).env(off.0, off.1).args(["client", "list", "--json"]).output().unwrap();
    assert_refused(&out, &["auto_migrate is false", "run `tessera migrate`"]);
    let out = tessera(dir.path()).env(off.0, off.1).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = tessera(dir.path()).env(off.0, off.1).args(["client", "list", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Issue #16 item 5: `tessera backup` copies the SQLite database while the
/// server runs and writes; a server started on the copy (with the same
/// master key) issues tokens to the clients in it. It never overwrites a
/// file, and on PostgreSQL it points to pg_dump.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_serving_gives_a_database_that_serves() {
    let server = TestServer::start(Backend::Sqlite);
    let aud = "https://backup.api.example";
    let (id, secret) = server.api_and_client(aud, "ES256", "read");
    let form = [("grant_type", "client_credentials"), ("audience", aud)];
    // Writes go on during the copy.
    let load = {
        let (url, id, secret) = (server.token_url(), id.clone(), secret.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for _ in 0..20 {
                let r = client.post(&url).basic_auth(&id, Some(&secret)).form(&form).send().await.unwrap();
                assert_eq!(r.status(), 200);
            }
        })
    };
    let backups = tempfile::tempdir().unwrap();
    let copy = backups.path().join("tessera-copy.db");
    let printed = server.cli_json(&["backup", copy.to_str().unwrap()]);
    assert_eq!(printed["path"], copy.to_str().unwrap());
    load.await.unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777, 0o600);

    let out = server.cli_output(&["backup", copy.to_str().unwrap()], None);
    assert_refused(&out, &["already exists"]);
    let out = server.cli_output(
        &["--database-url", "postgres://tessera:x@127.0.0.1:1/tessera", "backup", "/tmp/never-written.db"],
        None,
    );
    assert_refused(&out, &["pg_dump"]);

    let master = server.data_dir().join("master.key");
    let restored = TestServer::start_with(
        Backend::Sqlite,
        Options {
            env: vec![
                ("TESSERA_DATABASE_URL".into(), format!("sqlite://{}", copy.display())),
                ("TESSERA_MASTER_KEY_FILE".into(), master.display().to_string()),
            ],
            ..Default::default()
        },
    );
    let (status, body) = restored.token_form(&id, &secret, &form).await;
    assert_eq!(status, 200, "the copy serves: {body}");
    assert!(body["access_token"].is_string());
}

/// Issue #16 item 3: with `--admin-listen` the console lives on its own
/// address only; OAuth stays on the public one; both answer the probes,
/// whose JSON names each check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_serves_the_console_and_the_public_one_does_not() {
    let admin_port = free_port();
    let admin = format!("http://127.0.0.1:{admin_port}");
    let server = TestServer::start_with(
        Backend::Sqlite,
        Options { serve_args: vec!["--admin-listen".into(), format!("127.0.0.1:{admin_port}")], ..Default::default() },
    );
    let login = routes::console::LOGIN;
    assert_eq!(http_status(&server.base, login), Some(404), "no console on the public address");
    assert_eq!(http_status(&server.base, routes::console::HOME), Some(404));
    assert_eq!(http_status(&admin, login), Some(200), "the console on the admin address");
    assert_eq!(http_status(&admin, "/static/console.css"), Some(200), "with its assets");
    assert_eq!(http_status(&admin, routes::JWKS), Some(404), "no OAuth on the admin address");
    assert_eq!(http_status(&server.base, routes::JWKS), Some(200));
    assert_eq!(http_status(&server.base, routes::METRICS), Some(404), "no metrics on the public address");
    assert_eq!(http_status(&server.base, routes::api::CLIENTS), Some(404), "no management API on the public address");
    assert_eq!(http_status(&server.base, routes::api::OPENAPI), Some(404));
    assert_eq!(http_status(&admin, routes::api::CLIENTS), Some(401), "the management API on the admin address");
    let metrics = http_get_ok(&admin, routes::METRICS).expect("metrics on the admin address");
    assert!(metrics.contains("tessera_snapshot_generation"), "{metrics}");
    for base in [&server.base, &admin] {
        assert_eq!(http_status(base, routes::HEALTHZ), Some(200));
        let r = reqwest::get(format!("{base}{}", routes::READYZ)).await.unwrap();
        assert_eq!(r.status(), 200);
        let mut body: serde_json::Value = r.json().await.unwrap();
        assert!(body["config_generation"].is_u64(), "the snapshot's generation: {body}");
        body.as_object_mut().unwrap().remove("config_generation");
        assert_eq!(
            body,
            serde_json::json!({"status": "ready", "checks": {"database": "ok", "keys": "ok", "plugins": "ok"}})
        );
    }
    // The console works there: an administrator signs in and reads a page.
    crate::console::create_admin(&server);
    let http =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = http.get(format!("{admin}{login}")).send().await.unwrap().text().await.unwrap();
    let at = page.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    let csrf: String = page[at..].chars().take_while(|c| *c != '"').collect();
    let form =
        [("csrf", csrf.as_str()), ("username", crate::console::ADMIN), ("password", crate::console::ADMIN_PASSWORD)];
    assert_eq!(http.post(format!("{admin}{login}")).form(&form).send().await.unwrap().status(), 303);
    let clients = http.get(format!("{admin}{}", routes::console::CLIENTS)).send().await.unwrap();
    assert_eq!(clients.status(), 200);
}

/// Issue #16 item 3: readiness names the failing check and answers 503
/// within its short bound while the database is away (PostgreSQL refusing
/// connections), while liveness stays 200.
#[test]
fn readiness_names_the_database_when_it_is_away() {
    use diesel::{Connection, RunQueryDsl};
    let server = TestServer::start(Backend::Postgres);
    let name = server.db.url.clone().unwrap().rsplit('/').next().unwrap().to_owned();
    let mut admin = diesel::PgConnection::establish(&crate::support::postgres_admin_url()).unwrap();
    let mut sql = |q: String| diesel::sql_query(q).execute(&mut admin).unwrap();
    sql(format!("ALTER DATABASE {name} CONNECTION LIMIT 0"));
    sql(format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"));
    let started = Instant::now();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (status, body) = rt.block_on(async {
        let r = reqwest::get(format!("{}{}", server.base, routes::READYZ)).await.unwrap();
        (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
    });
    let took = started.elapsed();
    assert_eq!(status, 503);
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["database"], "unreachable", "{body}");
    assert!(took < Duration::from_secs(4), "bounded below the 5 s pool timeout: {took:?}");
    assert_eq!(http_status(&server.base, routes::HEALTHZ), Some(200));
    sql(format!("ALTER DATABASE {name} CONNECTION LIMIT -1"));
    let deadline = Instant::now() + Duration::from_secs(15);
    while http_status(&server.base, routes::READYZ) != Some(200) {
        assert!(Instant::now() < deadline, "ready again once the database is back");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The access log is one event per request whose fields a log pipeline
/// reads as keys (here in the JSON format): the client behind a trusted
/// proxy, the proxy, and never the query, where codes and tokens travel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_events_carry_fields_and_never_the_query() {
    let server = TestServer::start_with(
        Backend::Sqlite,
        Options {
            env: vec![
                ("TESSERA_TRUSTED_PROXIES".into(), "[\"127.0.0.1\"]".into()),
                ("TESSERA_LOG__FORMAT".into(), "json".into()),
            ],
            ..Default::default()
        },
    );
    let r = reqwest::Client::new()
        .get(format!("{}{}?client_id=nobody&code=SECRET-CODE-42", server.base, routes::AUTHORIZE))
        .header("X-Forwarded-For", "203.0.113.7")
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let log = server.log_text();
    assert!(!log.contains("SECRET-CODE-42"), "the query reached the log: {log}");
    let event = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["fields"]["message"] == "access" && e["span"]["request_id"] == id.as_str())
        .unwrap_or_else(|| panic!("no access event for {id}: {log}"));
    let fields = &event["fields"];
    assert_eq!(fields["client"], "203.0.113.7", "{event}");
    assert_eq!(fields["proxy"], "127.0.0.1", "{event}");
    assert_eq!(fields["method"], "GET", "{event}");
    assert_eq!(fields["path"], routes::AUTHORIZE, "{event}");
    assert_eq!(fields["status"], status, "{event}");
    assert!(fields["bytes"].as_u64().is_some_and(|b| b > 0), "{event}");
    assert!(fields["ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{event}");
}

/// Issue #16 item 2: every response carries `X-Request-Id`, and the access
/// log line names it; an incoming id is taken only from a trusted proxy,
/// and only if it is short and plain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_generated_or_taken_from_a_trusted_proxy() {
    let id_of = |r: &reqwest::Response| r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let get = |base: String, id: Option<&'static str>| async move {
        let mut req = reqwest::Client::new().get(format!("{base}{}", routes::JWKS));
        if let Some(id) = id {
            req = req.header("X-Request-Id", id);
        }
        req.send().await.unwrap()
    };
    let untrusting = TestServer::start(Backend::Sqlite);
    let generated = id_of(&get(untrusting.base.clone(), None).await);
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    let replaced = id_of(&get(untrusting.base.clone(), Some("from-the-client-1")).await);
    assert_ne!(replaced, "from-the-client-1", "not from an untrusted peer");
    assert_ne!(replaced, generated, "one id per request");
    let log = untrusting.log_text();
    assert!(log.contains(&format!("request_id={generated}")), "the access line names the id: {log}");

    let trusting = TestServer::start_with(
        Backend::Sqlite,
        Options { env: vec![("TESSERA_TRUSTED_PROXIES".into(), "[\"127.0.0.1\"]".into())], ..Default::default() },
    );
    assert_eq!(id_of(&get(trusting.base.clone(), Some("lb-4f2a:17")).await), "lb-4f2a:17");
    let forged = id_of(&get(trusting.base.clone(), Some("x\tforged=1")).await);
    assert_ne!(forged, "x\tforged=1", "only plain ids are passed on");
    assert_eq!(forged.len(), 36);
    // A failing request (401 at the token endpoint) carries its id too.
    let r = reqwest::Client::new()
        .post(trusting.token_url())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let id = id_of(&r);
    assert_eq!(id.len(), 36);
    // What the handler logs sits in the request's span.
    let log = trusting.log_text();
    let line = log.lines().find(|l| l.contains("request refused")).unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains(&format!("request{{request_id={id}}}")), "{line}");
}
