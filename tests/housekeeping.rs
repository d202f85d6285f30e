//! What the server does to its own data: file modes in the data directory,
//! HSTS under an https issuer, and the background purge of expired state.

use crate::on_both_backends;
use crate::plugins::component;
use crate::support::{Backend, Options, TestServer, http_status};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};
use tessera::web::routes;

/// Every folder and file below `dir`, with its permission bits.
fn modes(dir: &Path) -> Vec<(String, bool, u32)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            let path = entry.path();
            out.push((path.display().to_string(), meta.is_dir(), meta.permissions().mode() & 0o777));
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    out
}

/// Issue #11 item 10: under a permissive umask (000), the data directory and
/// everything in it (database, WAL and shared memory, keys, plugin cache)
/// are still 0700 folders and 0600 files, while the server runs.
#[test]
fn data_directory_is_private_whatever_the_umask() {
    let server = TestServer::start_with(Backend::Sqlite, Options { umask: Some(0o000), ..Default::default() });
    // A plugin upload fills the compile cache; a client makes the server write.
    server.cli_json(&["plugin", "upload", &component("fixtures", "allow-claim"), "--name", "modes"]);
    server.cli_json(&["client", "create", "--name", "modes", "--grant-types", "client_credentials"]);
    let data = server.data_dir();
    assert_eq!(std::fs::metadata(data).unwrap().permissions().mode() & 0o777, 0o700, "the data directory");
    let found = modes(data);
    for name in ["tessera.db", "tessera.db-wal", "tessera.db-shm", "master.key"] {
        assert!(found.iter().any(|(p, _, _)| p.ends_with(name)), "{name} exists: {found:?}");
    }
    assert!(found.iter().any(|(p, _, _)| p.ends_with(".cwasm")), "the plugin cache holds an artefact: {found:?}");
    // server.log is the test harness's own capture of the server's output.
    for (path, is_dir, mode) in found.iter().filter(|(p, _, _)| !p.ends_with("server.log")) {
        let want = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, want, "{path} is {mode:o}, want {want:o}");
    }
}

/// The response headers of `GET path`.
async fn headers(base: &str, path: &str) -> reqwest::header::HeaderMap {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap()
        .headers()
        .clone()
}

/// Issue #11 item 13: with an https issuer every response carries
/// `Strict-Transport-Security` (pages, JSON, errors, the console); with the
/// development http issuer none does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_on_every_response_under_an_https_issuer() {
    let port = crate::support::free_port();
    let https = TestServer::start_with(
        Backend::Sqlite,
        Options { serve_args: vec!["--issuer".into(), format!("https://127.0.0.1:{port}")], ..Default::default() },
    );
    let plain = TestServer::start(Backend::Sqlite);
    let paths = [routes::HEALTHZ, routes::OPENID_CONFIGURATION, routes::TOKEN, "/admin/login", "/no-such-page"];
    for path in paths {
        let h = headers(&https.base, path).await;
        assert_eq!(
            h.get("strict-transport-security").map(|v| v.to_str().unwrap()),
            Some("max-age=31536000; includeSubDomains"),
            "{path}"
        );
        assert!(headers(&plain.base, path).await.get("strict-transport-security").is_none(), "{path} over http");
    }
    assert_eq!(http_status(&https.base, routes::HEALTHZ), Some(200));
}

on_both_backends!(expired_state_is_purged_in_the_background, |backend: Backend| async move {
    // Issue #11 item 15 (docs/security-checklist.md R-4): refresh-token families past their
    // absolute end and throttle rows past their window (and past the time a
    // "known address" marker is trusted) disappear from the database without
    // anyone asking, on both backends.
    let env = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    let server = TestServer::start_with(
        backend,
        Options {
            env: vec![
                env("TESSERA_PURGE__INTERVAL_SECS", "1"),
                env("TESSERA_TOKENS__REFRESH_TOKEN_ABSOLUTE_SECS", "5"),
                env("TESSERA_LOGIN__WINDOW_SECS", "5"),
                env("TESSERA_LOGIN__KNOWN_ADDRESS_SECS", "5"),
            ],
            ..Default::default()
        },
    );
    let aud = "https://purge.api.example";
    server.cli_json(&["api", "create", "--identifier", aud, "--scopes", "read"]);
    server.create_user("purge-user", "a long enough password", &[]);
    let c = server.cli_json(&["client", "create", "--name", "ci", "--grant-types", "password,refresh_token"]);
    let (id, secret) = (c["client_id"].as_str().unwrap(), c["client_secret"].as_str().unwrap());
    let http = reqwest::Client::new();
    let login = |password: &'static str| {
        http.post(server.token_url()).basic_auth(id, Some(secret)).form(&[
            ("grant_type", "password"),
            ("username", "purge-user"),
            ("password", password),
            ("audience", aud),
        ])
    };
    let ok = login("a long enough password").send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(login("wrong").send().await.unwrap().status(), 400);
    // Lifetimes of 5 s leave room to see the rows before the purge may take them.
    assert!(server.count_rows("refresh_tokens") > 0, "a refresh token was stored");
    assert!(server.count_rows("login_failures") > 0, "a failure was counted");
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.count_rows("refresh_tokens") + server.count_rows("login_failures") > 0 {
        assert!(Instant::now() < deadline, "expired rows were not purged:\n{}", server.log_text());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
});
