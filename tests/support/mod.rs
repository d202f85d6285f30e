//! The one end-to-end helper: starts the real `tessera` binary on a free port
//! with a temporary data directory, on SQLite or on a fresh PostgreSQL
//! database, and runs CLI commands against the same data.
//!
//! PostgreSQL tests need `POSTGRES_TEST_URL`, an admin URL such as
//! `postgres://tessera:tessera@127.0.0.1/postgres` whose role may create
//! databases; `scripts/test` sets it up. Without it they fail, never skip.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod chrome;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tessera::web::routes;

/// The database behind a test server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default.
    Sqlite,
    /// A fresh database on the PostgreSQL of `POSTGRES_TEST_URL`.
    Postgres,
}

/// The whole answer (head and body) to a plain `GET path` (std only,
/// usable from sync and async code).
fn http_get(base: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    Some(buf)
}

/// The status of a plain `GET path`.
pub fn http_status(base: &str, path: &str) -> Option<u16> {
    http_get(base, path)?.split(' ').nth(1)?.parse().ok()
}

/// The `X-Request-Id` the server gave a plain `GET path`.
fn http_request_id(base: &str, path: &str) -> Option<String> {
    let answer = http_get(base, path)?;
    let head = answer.split_once("\r\n\r\n")?.0;
    head.lines()
        .find_map(|l| l.split_once(':').filter(|(name, _)| name.eq_ignore_ascii_case("x-request-id")))
        .map(|(_, v)| v.trim().to_owned())
}

/// The body of a plain `GET path`, if it answered 200.
pub fn http_get_ok(base: &str, path: &str) -> Option<String> {
    let answer = http_get(base, path)?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    (head.split(' ').nth(1)? == "200").then(|| body.to_owned())
}

/// Path of the binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_tessera")
}

/// Installs the rustls provider once (rustls panics without one when two crypto backends are linked).
pub fn init() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A database for one test; dropped with the test.
pub struct TestDb {
    /// The URL to give `--database-url`, or `None` for the SQLite default.
    pub url: Option<String>,
    pg_name: Option<String>,
}

impl TestDb {
    /// A fresh database on `backend`.
    pub fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => TestDb { url: None, pg_name: None },
            Backend::Postgres => {
                use diesel::{Connection, RunQueryDsl};
                let admin = postgres_admin_url();
                let name = format!("tessera_e2e_{}", uuid_like());
                let mut conn = diesel::PgConnection::establish(&admin)
                    .unwrap_or_else(|e| panic!("cannot connect to POSTGRES_TEST_URL ({admin}): {e}"));
                diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).expect("create test database");
                let mut url = url::Url::parse(&admin).expect("POSTGRES_TEST_URL is a URL");
                url.set_path(&format!("/{name}"));
                TestDb { url: Some(url.to_string()), pg_name: Some(name) }
            }
        }
    }
}

impl TestDb {
    /// The same PostgreSQL database reached through `127.0.0.1:port` (a
    /// proxy a fault test can cut). Dropping it drops nothing: `self` owns
    /// the database and must outlive it.
    pub fn through(&self, port: u16) -> TestDb {
        let mut url = url::Url::parse(self.url.as_deref().expect("a PostgreSQL test database")).expect("URL");
        url.set_host(Some("127.0.0.1")).expect("host");
        url.set_port(Some(port)).expect("port");
        TestDb { url: Some(url.to_string()), pg_name: None }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name {
            use diesel::{Connection, RunQueryDsl};
            if let Ok(mut conn) = diesel::PgConnection::establish(&postgres_admin_url()) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn);
            }
        }
    }
}

/// The PostgreSQL admin URL for tests.
pub fn postgres_admin_url() -> String {
    std::env::var("POSTGRES_TEST_URL").unwrap_or_else(|_| {
        panic!("POSTGRES_TEST_URL is not set: run the tests with scripts/test, which starts PostgreSQL and sets it")
    })
}

fn uuid_like() -> String {
    let mut b = [0u8; 8];
    aws_lc_rs::rand::fill(&mut b).expect("rng");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A free TCP port on loopback (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// A running server plus the data it uses.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`, also the issuer.
    pub base: String,
    /// The data directory.
    pub dir: tempfile::TempDir,
    /// The database.
    pub db: std::sync::Arc<TestDb>,
    child: Option<Child>,
    log: PathBuf,
    extra_env: Vec<(String, String)>,
    umask: Option<u32>,
}

/// Builder for a test server.
#[derive(Default)]
pub struct Options {
    /// Environment for the server and the CLI (e.g. `TESSERA_MASTER_KEY`).
    pub env: Vec<(String, String)>,
    /// Share another server's database (several nodes).
    pub share_db: Option<std::sync::Arc<TestDb>>,
    /// Extra `serve` flags.
    pub serve_args: Vec<String>,
    /// Run the server and the CLI under this umask (through `sh`).
    pub umask: Option<u32>,
    /// Publish `http://localhost:PORT` as the issuer (and `base`) instead of
    /// `http://127.0.0.1:PORT`: WebAuthn needs a host name as its relying
    /// party id, and browsers refuse an IP address.
    pub localhost: bool,
}

impl TestServer {
    /// Starts a server on `backend` with default options.
    pub fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, Options::default())
    }

    /// Starts a server and waits until `/healthz` answers.
    pub fn start_with(backend: Backend, opts: Options) -> TestServer {
        init();
        let dir = tempfile::tempdir().expect("tempdir");
        let db = opts.share_db.unwrap_or_else(|| std::sync::Arc::new(TestDb::new(backend)));
        let log = dir.path().join("server.log");
        let host = if opts.localhost { "localhost" } else { "127.0.0.1" };
        let mut s =
            TestServer { base: String::new(), dir, db, child: None, log, extra_env: opts.env, umask: opts.umask };
        // A free port can be taken by another test's server between
        // `free_port` and our bind: then ours exits, and we try another.
        for _ in 0..5 {
            let port = free_port();
            s.base = format!("http://{host}:{port}");
            let log_file = std::fs::File::create(&s.log).expect("log file");
            let mut cmd = s.command();
            cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")]).args(&opts.serve_args);
            if opts.localhost {
                cmd.args(["--issuer", &s.base]);
            }
            cmd.stdout(log_file.try_clone().expect("log")).stderr(log_file);
            s.child = Some(cmd.spawn().expect("spawn tessera"));
            if s.wait_healthy() {
                return s;
            }
        }
        panic!("tessera found no free port in five tries:\n{}", s.log_text());
    }

    /// A `tessera` command with this server's data directory, database and env.
    pub fn command(&self) -> Command {
        let mut cmd = match self.umask {
            None => Command::new(binary()),
            Some(mask) => {
                let mut sh = Command::new("sh");
                sh.args(["-c", &format!("umask {mask:03o} && exec \"$0\" \"$@\""), binary()]);
                sh
            }
        };
        for (k, _) in std::env::vars() {
            if k.starts_with("TESSERA_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("RUST_LOG", "info,actix_server=warn");
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        cmd.arg("--data-dir").arg(self.dir.path());
        if let Some(url) = &self.db.url {
            cmd.arg("--database-url").arg(url);
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Waits until this server answers `/healthz`; `false` if it exited
    /// because its port was taken. The answer counts only once our own log
    /// says the server is serving (it has bound its port): another test's
    /// server that took the port first would answer too, while ours still
    /// migrates the database.
    fn wait_healthy(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                if log.contains("Address already in use") {
                    return false;
                }
                panic!("tessera exited with {status} before becoming healthy:\n{log}");
            }
            let serving = std::fs::read_to_string(&self.log).is_ok_and(|log| log.contains("tessera is serving"));
            if serving && http_status(&self.base, routes::HEALTHZ) == Some(200) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("tessera did not become healthy in 60 s:\n{}", self.log_text());
    }

    /// The server's log, with every line logged before this call.
    ///
    /// The server writes its log from a thread of its own (`init_tracing` in
    /// server/tessera/src/main.rs), so a line logged while a request was
    /// answered may reach the file just after the response did. One queue
    /// carries every line in order: this sends a request of its own and
    /// waits (up to 5 s) for its access line, and what was queued before it
    /// is written by then. A server that does not answer, or logs no access
    /// lines, gets its file read as it is.
    pub fn log_text(&self) -> String {
        let read = || std::fs::read_to_string(&self.log).unwrap_or_default();
        let Some(id) = http_request_id(&self.base, routes::HEALTHZ) else { return read() };
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = read();
            if log.contains(&id) || Instant::now() >= deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Runs a CLI command; panics with its output if it fails. Returns once
    /// the running server serves what the command changed ([`Self::wait_synced`]).
    pub fn cli(&self, args: &[&str]) -> String {
        let out = self.cli_output(args, None);
        self.wait_synced();
        assert!(
            out.status.success(),
            "tessera {args:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a CLI command with `--json` appended and parses its one JSON object.
    pub fn cli_json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let text = self.cli(&a);
        serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("tessera {args:?} printed no JSON object ({e}):\n{text}"))
    }

    /// Runs a `--json` CLI command until `ready` holds for its output (at
    /// most 5 s) and returns the last output: plugin run records are written
    /// asynchronously (`service::run_log`), so a read right after a token
    /// request polls instead of sleeping. The caller asserts on the result.
    pub fn cli_json_until(&self, args: &[&str], ready: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let out = self.cli_json(args);
            if ready(&out) || Instant::now() >= deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (at most 5 s) until `table` holds at least `n` rows, e.g. the
    /// asynchronously written `plugin_runs`; the caller asserts afterwards.
    pub fn wait_for_rows(&self, table: &str, n: i64) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.count_rows(table) < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs a CLI command and returns its raw output (for failure tests);
    /// does not wait for the server to see a change (see [`Self::wait_synced`]).
    pub fn cli_output(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = self.command();
        cmd.args(args);
        match stdin {
            None => cmd.output().expect("run tessera"),
            Some(input) => {
                use std::io::Write;
                cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
                let mut child = cmd.spawn().expect("spawn");
                child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
                child.wait_with_output().expect("wait")
            }
        }
    }

    /// Creates a user with `--password-stdin` (plus `extra` flags) and
    /// returns the command's JSON object; panics if the command fails.
    pub fn create_user(&self, username: &str, password: &str, extra: &[&str]) -> Value {
        let mut args = vec!["user", "create", "--username", username, "--password-stdin", "--json"];
        args.extend_from_slice(extra);
        let out = self.cli_output(&args, Some(&format!("{password}\n")));
        assert!(out.status.success(), "user create failed: {}", String::from_utf8_lossy(&out.stderr));
        self.wait_synced();
        serde_json::from_slice(&out.stdout).expect("user create printed one JSON object")
    }

    /// Token endpoint URL.
    pub fn token_url(&self) -> String {
        format!("{}{}", self.base, tessera::web::routes::TOKEN)
    }

    /// A token request as `client_id` (HTTP Basic) with form `pairs`: the
    /// status and the JSON body. Every token response, success or error,
    /// must carry `Cache-Control: no-store` (RFC 6749 §5.1), so that is
    /// checked here for every caller.
    pub async fn token_form(&self, client_id: &str, secret: &str, pairs: &[(&str, &str)]) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(self.token_url())
            .basic_auth(client_id, Some(secret))
            .form(pairs)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert_eq!(r.headers()["cache-control"], "no-store");
        (status, r.json().await.unwrap())
    }

    /// Creates an API and a confidential client_credentials client; returns
    /// (client_id, client_secret).
    pub fn api_and_client(&self, audience: &str, alg: &str, scopes: &str) -> (String, String) {
        self.cli_json(&["api", "create", "--identifier", audience, "--alg", alg, "--scopes", scopes]);
        let c = self.cli_json(&["client", "create", "--name", "m2m", "--grant-types", "client_credentials"]);
        (
            c["client_id"].as_str().expect("client_id").to_owned(),
            c["client_secret"].as_str().expect("client_secret").to_owned(),
        )
    }

    /// Stops the server (also done on drop).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The server's process id (for /proc measurements).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// `SELECT COUNT(*) FROM <table>` on this server's database (either
    /// backend), for tests that check what is stored.
    pub fn count_rows(&self, table: &str) -> i64 {
        self.query_i64(&format!("SELECT COUNT(*) AS n FROM {table}"))
    }

    /// The configuration change counter in the database (migration 000014):
    /// what every node's snapshot catches up with.
    pub fn db_generation(&self) -> i64 {
        self.query_i64("SELECT config AS n FROM config_generation WHERE id = 1")
    }

    /// The change counter this server's snapshot serves (`/readyz`), or
    /// `None` when it is not ready.
    pub fn served_generation(&self) -> Option<i64> {
        let body = http_get_ok(&self.base, routes::READYZ)?;
        serde_json::from_str::<Value>(&body).ok()?["config_generation"].as_i64()
    }

    /// Waits until this server serves the configuration now in the database
    /// (it polls the change counter every 200 ms): the explicit wait after a
    /// change made by a CLI process, never a bare sleep. Returns at once if
    /// the server is not running; gives up quietly after 5 s if it is not
    /// ready (a test of an outage); panics if it answered with an older
    /// generation for 5 s (the contract is one second).
    pub fn wait_synced(&self) {
        if self.child.is_none() {
            return;
        }
        let target = self.db_generation();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let served = self.served_generation();
            if served.is_some_and(|g| g >= target) {
                return;
            }
            if Instant::now() >= deadline {
                assert!(
                    served.is_none(),
                    "the server serves generation {served:?}, the database is at {target}:\n{}",
                    self.log_text()
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `SELECT <i64> AS n ...` on this server's database.
    fn query_i64(&self, sql: &str) -> i64 {
        use diesel::{Connection, RunQueryDsl};
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let q = diesel::sql_query(sql);
        let rows: Vec<Count> = match &self.db.url {
            Some(url) => q.load(&mut diesel::PgConnection::establish(url).expect("connect to the test database")),
            None => {
                let path = self.dir.path().join("tessera.db");
                q.load(&mut diesel::SqliteConnection::establish(&path.display().to_string()).expect("open tessera.db"))
            }
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows[0].n
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Fetches discovery, then the JWKS it names, and verifies `token` with the
/// key its `kid` names; returns the claims. `typ` must be `at+jwt`.
pub async fn verify_with_discovery(base: &str, token: &str, audience: &str) -> Value {
    let http = reqwest::Client::new();
    let disco: Value = http
        .get(format!("{base}/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    let jwks: jsonwebtoken::jwk::JwkSet = http
        .get(disco["jwks_uri"].as_str().expect("jwks_uri"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks json");
    let header = jsonwebtoken::decode_header(token).expect("header");
    assert_eq!(header.typ.as_deref(), Some("at+jwt"), "RFC 9068 typ");
    let kid = header.kid.expect("kid");
    let jwk = jwks.find(&kid).unwrap_or_else(|| panic!("kid {kid} not in JWKS"));
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("decoding key");
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[audience]);
    v.set_issuer(&[disco["issuer"].as_str().expect("issuer")]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(token, &key, &v).unwrap_or_else(|e| panic!("token does not verify: {e}")).claims
}

/// Runs `body` once per backend as separate tests.
#[macro_export]
macro_rules! on_both_backends {
    ($(#[$meta:meta])* $name:ident, $body:expr) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)($crate::support::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)($crate::support::Backend::Postgres).await
            }
        }
    };
}
