//! Start-up: configuration layers, health probes, and clear failures (port
//! taken, database unreachable, bad config) with a non-zero exit and no panic.

use crate::support::{Backend, Options, TestServer, binary, free_port, http_status};
use std::process::Command;
use tessera::web::routes;

fn tessera(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(binary());
    for (k, _) in std::env::vars() {
        if k.starts_with("TESSERA_") {
            cmd.env_remove(k);
        }
    }
    cmd.arg("--data-dir").arg(dir);
    cmd
}

fn assert_clean_failure(out: &std::process::Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
}

#[test]
fn port_already_taken_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = tessera(dir.path()).args(["serve", "--listen", &format!("127.0.0.1:{port}")]).output().unwrap();
    assert_clean_failure(&out, 1, "cannot listen on");
}

#[test]
fn unreachable_database_is_a_clear_error_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = tessera(dir.path())
        .args(["--database-url", "postgres://tessera:hunter2@127.0.0.1:1/tessera", "migrate"])
        .env("TESSERA_DATABASE__CONNECT_TIMEOUT_SECS", "2")
        .output()
        .unwrap();
    assert_clean_failure(&out, 1, "cannot open the database");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"), "password redacted");
}

#[test]
fn unknown_config_key_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tessera.toml");
    std::fs::write(&file, "lisen = \"127.0.0.1:1\"\n").unwrap();
    let out = tessera(dir.path()).arg("--config").arg(&file).arg("migrate").output().unwrap();
    assert_clean_failure(&out, 2, "invalid configuration");
}

/// Issue #16 item 7: Kubernetes injects `TESSERA_PORT`, `TESSERA_SERVICE_HOST`
/// and friends into every pod beside a Service named `tessera`; they, and a
/// typo, are warned about (naming the closest key), not fatal, while known
/// variables still apply and an unknown key in a file still is.
#[test]
fn unknown_environment_variables_warn_and_unknown_file_keys_stay_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let out = tessera(dir.path())
        .env("TESSERA_PORT", "tcp://10.96.0.12:8080")
        .env("TESSERA_PORT_8080_TCP_ADDR", "10.96.0.12")
        .env("TESSERA_SERVICE_HOST", "10.96.0.12")
        .env("TESSERA_SERVICE_PORT", "8080")
        .env("TESSERA_LOG__FORMATT", "json")
        .env("TESSERA_LOG__LEVEL", "warn")
        .arg("migrate")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "started despite the unknown variables: {stderr}");
    for name in ["TESSERA_PORT", "TESSERA_PORT_8080_TCP_ADDR", "TESSERA_SERVICE_HOST", "TESSERA_SERVICE_PORT"] {
        assert!(stderr.contains(&format!("variable={name} ")), "{name} warned about: {stderr}");
    }
    assert!(
        stderr.contains("variable=TESSERA_LOG__FORMATT closest=TESSERA_LOG__FORMAT"),
        "the typo names the closest key: {stderr}"
    );
    // TESSERA_LOG__LEVEL=warn was read: the info line of a first migration is gone.
    assert!(!stderr.contains("database migrated"), "known variables still apply: {stderr}");

    let file = dir.path().join("tessera.toml");
    std::fs::write(&file, "[log]\nformatt = \"json\"\n").unwrap();
    let out = tessera(dir.path())
        .env("TESSERA_SERVICE_HOST", "10.96.0.12")
        .arg("--config")
        .arg(&file)
        .arg("migrate")
        .output()
        .unwrap();
    assert_clean_failure(&out, 2, "unknown field");
}

#[test]
fn environment_sets_listen_and_flags_override_it() {
    let port = free_port();
    let server = TestServer::start_with(
        Backend::Sqlite,
        Options {
            env: vec![("TESSERA_LISTEN".into(), "127.0.0.1:1".into())],
            serve_args: vec![],
            ..Default::default()
        },
    );
    // The helper passes --listen, which beats TESSERA_LISTEN=127.0.0.1:1.
    assert_eq!(http_status(&server.base, routes::READYZ), Some(200));
    drop(server);

    let dir = tempfile::tempdir().unwrap();
    // Its log goes nowhere: a test's output carries only its own messages.
    let mut child = tessera(dir.path())
        .env("TESSERA_LISTEN", format!("127.0.0.1:{port}"))
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..600 {
        if http_status(&base, routes::HEALTHZ) == Some(200) {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(up, "TESSERA_LISTEN was honoured");
}

/// docs/security-checklist.md O-42: forwarded host and scheme headers move
/// nothing, even from a trusted proxy (whose `X-Forwarded-For` is believed):
/// the issuer is configuration, so discovery and a token's `iss` stay the
/// configured issuer whatever `Host`, `X-Forwarded-Host`,
/// `X-Forwarded-Proto` or `Forwarded` say.
#[test]
fn forwarded_host_and_scheme_headers_never_change_the_issuer() {
    let opts =
        Options { env: vec![("TESSERA_TRUSTED_PROXIES".into(), "[\"127.0.0.1\"]".into())], ..Options::default() };
    let server = TestServer::start_with(Backend::Sqlite, opts);
    let (id, secret) = server.api_and_client("https://fwd.api.example", "ES256", "read");
    let forged = [
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-proto", "https"),
        ("forwarded", "host=evil.example;proto=https"),
        ("x-forwarded-for", "203.0.113.7"),
    ];
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        for path in [routes::OPENID_CONFIGURATION, routes::OAUTH_AUTHORIZATION_SERVER] {
            let mut req = http.get(format!("{}{path}", server.base)).header("host", "evil.example");
            for (name, value) in forged {
                req = req.header(name, value);
            }
            let text = req.send().await.unwrap().text().await.unwrap();
            let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(doc["issuer"], serde_json::Value::from(server.base.clone()), "{path}");
            assert!(!text.contains("evil.example"), "{path}: {text}");
        }
        let mut req = http
            .post(server.token_url())
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials"), ("audience", "https://fwd.api.example")]);
        for (name, value) in forged {
            req = req.header(name, value);
        }
        let body: serde_json::Value = req.send().await.unwrap().json().await.unwrap();
        let token = body["access_token"].as_str().unwrap_or_else(|| panic!("{body}"));
        let claims = crate::support::verify_with_discovery(&server.base, token, "https://fwd.api.example").await;
        assert_eq!(claims["iss"], serde_json::Value::from(server.base.clone()));
    });
}

/// docs/security-checklist.md O-43 (metadata, issuer = URL prefix), O-14 (S256 only,
/// advertised), O-12 (`authorization_response_iss_parameter_supported`).
#[test]
fn probes_answer_and_discovery_is_truthful() {
    let server = TestServer::start(Backend::Sqlite);
    assert_eq!(http_status(&server.base, routes::HEALTHZ), Some(200));
    assert_eq!(http_status(&server.base, routes::READYZ), Some(200));
    server.cli_json(&["api", "create", "--identifier", "https://d.api.example", "--scopes", "read,write"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for path in [routes::OPENID_CONFIGURATION, routes::OAUTH_AUTHORIZATION_SERVER] {
            let d: serde_json::Value =
                reqwest::get(format!("{}{path}", server.base)).await.unwrap().json().await.unwrap();
            assert_eq!(
                d["issuer"],
                serde_json::Value::from(server.base.clone()),
                "RFC 8414: issuer equals the URL prefix"
            );
            assert_eq!(d["token_endpoint"], serde_json::Value::from(format!("{}{}", server.base, routes::TOKEN)));
            assert_eq!(
                d["grant_types_supported"],
                serde_json::json!([
                    "authorization_code",
                    "client_credentials",
                    "implicit",
                    "password",
                    "refresh_token",
                    "urn:ietf:params:oauth:grant-type:device_code",
                    "urn:ietf:params:oauth:grant-type:jwt-bearer",
                    "urn:ietf:params:oauth:grant-type:token-exchange"
                ])
            );
            assert_eq!(
                d["device_authorization_endpoint"],
                serde_json::Value::from(format!("{}{}", server.base, routes::DEVICE_AUTHORIZATION)),
                "RFC 8628 §4: listed with the device grant"
            );
            assert_eq!(
                d["token_endpoint_auth_methods_supported"],
                serde_json::json!(["client_secret_basic", "client_secret_post", "private_key_jwt"])
            );
            assert_eq!(
                d["scopes_supported"],
                serde_json::json!(["openid", "profile", "email", "offline_access", "read", "write"])
            );
            assert_eq!(
                d["authorization_endpoint"],
                serde_json::Value::from(format!("{}{}", server.base, routes::AUTHORIZE))
            );
            assert_eq!(d["userinfo_endpoint"], serde_json::Value::from(format!("{}{}", server.base, routes::USERINFO)));
            assert_eq!(
                d["response_types_supported"],
                serde_json::json!(["code", "token", "id_token token"]),
                "implicit types exist, per client, off by default"
            );
            assert_eq!(d["code_challenge_methods_supported"], serde_json::json!(["S256"]), "plain is not offered");
            assert_eq!(d["authorization_response_iss_parameter_supported"], true);
            let jwks = reqwest::get(d["jwks_uri"].as_str().unwrap()).await.unwrap();
            assert_eq!(jwks.status(), 200);
        }
    });
}

/// A database that goes away: the server stays up, keeps issuing
/// client_credentials tokens from memory, answers what needs the database
/// with `temporarily_unavailable` (503, Retry-After) and not-ready, and
/// recovers by itself when the database comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_is_503_and_the_server_recovers() {
    use diesel::{Connection, RunQueryDsl};
    let server = TestServer::start_with(
        Backend::Postgres,
        Options { env: vec![("TESSERA_DATABASE__CONNECT_TIMEOUT_SECS".into(), "1".into())], ..Default::default() },
    );
    let aud = "https://outage.api.example";
    let (id, secret) = server.api_and_client(aud, "RS256", "read");
    let token = |id: String, secret: String, url: String| async move {
        reqwest::Client::new()
            .post(url)
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("audience", aud)])
            .send()
            .await
            .unwrap()
    };
    assert_eq!(token(id.clone(), secret.clone(), server.token_url()).await.status(), 200);
    crate::console::create_admin(&server);
    let console = crate::console::Console::new(&server);
    assert_eq!(console.login(crate::console::ADMIN, crate::console::ADMIN_PASSWORD).await.status(), 303);

    let url = server.db.url.clone().unwrap();
    let name = url.rsplit('/').next().unwrap().to_owned();
    let mut admin = diesel::PgConnection::establish(&crate::support::postgres_admin_url()).unwrap();
    let sql = |c: &mut diesel::PgConnection, q: String| diesel::sql_query(q).execute(c).unwrap();
    sql(&mut admin, format!("ALTER DATABASE {name} CONNECTION LIMIT 0"));
    sql(&mut admin, format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"));

    // Issue #13 item 2: client_credentials is served from the node's
    // in-memory snapshot and loaded keys, so the right secret still gets a
    // token through the outage...
    let r = token(id.clone(), secret.clone(), server.token_url()).await;
    assert_eq!(r.status(), 200, "served from memory during the outage");
    // ...while what needs the database (counting a wrong secret) is 503.
    let r = token(id.clone(), "not-the-secret".into(), server.token_url()).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "5");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "an outage is never a client error");
    assert_eq!(http_status(&server.base, routes::READYZ), Some(503));
    assert_eq!(http_status(&server.base, routes::HEALTHZ), Some(200), "the process stays up");
    let page = console.get("/admin/clients").await;
    assert_eq!(page.status(), 503, "the console says the database is away, not that the admin is signed out");
    assert!(page.text().await.unwrap().contains("The database is unavailable"));

    sql(&mut admin, format!("ALTER DATABASE {name} CONNECTION LIMIT -1"));
    assert_eq!(token(id, secret, server.token_url()).await.status(), 200, "recovered without restart");
    // Issue #16 item 6: while the database was away the node fails fast and
    // probes again after a back-off of at most 2 s; it recovers by itself.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while http_status(&server.base, routes::READYZ) != Some(200) {
        assert!(std::time::Instant::now() < deadline, "ready again within the back-off");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(console.get("/admin/clients").await.status(), 200, "the console session survived the outage");
}
