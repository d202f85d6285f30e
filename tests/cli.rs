//! The CLI interface scripts rely on (README, and scripts written against earlier versions): `--json` output, flags,
//! and clear refusals that change nothing.

use crate::on_both_backends;
use crate::support::{Backend, TestServer};
use serde_json::Value;

#[test]
fn creating_commands_print_one_json_object() {
    let server = TestServer::start(Backend::Sqlite);
    let out = server.cli_output(
        &[
            "user",
            "create",
            "--username",
            "svc-reporting",
            "--password-stdin",
            "--email",
            "svc@example.com",
            "--metadata",
            "{\"team\":\"data\"}",
            "--json",
        ],
        Some("a long enough password\n"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let user: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(user["username"], "svc-reporting");

    let c = server.cli_json(&[
        "client",
        "create",
        "--name",
        "reporting",
        "--grant-types",
        "client_credentials",
        "--metadata",
        "{\"tier\":\"gold\"}",
        "--service-account",
        "svc-reporting",
    ]);
    assert_eq!(c["service_account_user_id"], user["id"]);
    assert!(c["client_secret"].as_str().is_some_and(|s| s.len() >= 43), "256-bit secret");
    let api = server.cli_json(&[
        "api",
        "create",
        "--identifier",
        "https://cli.api.example",
        "--alg",
        "EdDSA",
        "--scopes",
        "a,b",
    ]);
    assert_eq!(api["alg"], "EdDSA");
}

#[test]
fn invalid_input_is_refused_with_a_message_and_saves_nothing() {
    let server = TestServer::start(Backend::Sqlite);
    let cases: &[(&[&str], &str)] = &[
        (&["client", "create", "--name", "x", "--grant-types", "client_credentials", "--metadata", "[1]"], "metadata"),
        (&["client", "create", "--name", "x", "--grant-types", "teleport"], "unknown grant type"),
        (
            &[
                "client",
                "create",
                "--name",
                "x",
                "--grant-types",
                "authorization_code",
                "--redirect-uri",
                "http://evil.example/cb",
            ],
            "loopback",
        ),
        (&["client", "create", "--name", "x", "--public", "--grant-types", "client_credentials"], "public client"),
        (
            &["client", "create", "--name", "x", "--grant-types", "client_credentials", "--service-account", "ghost"],
            "not found",
        ),
        (&["api", "create", "--identifier", "https://x", "--alg", "none"], "unsupported algorithm"),
        (&["user", "create", "--username", "u", "--password", "short"], "at least 8"),
    ];
    for (args, needle) in cases {
        let out = server.cli_output(args, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr.contains(needle), "{args:?}: expected {needle:?} in {stderr}");
    }
    server.cli_json(&["api", "create", "--identifier", "https://dup.example"]);
    let dup = server.cli_output(&["api", "create", "--identifier", "https://dup.example"], None);
    assert!(String::from_utf8_lossy(&dup.stderr).contains("exists"));
    let audit = server.cli_output(&["keys", "list", "--json"], None);
    assert!(audit.status.success());
}

/// The status and body of a client_credentials token request.
async fn token_status(server: &TestServer, id: &str, secret: &str, audience: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(server.token_url())
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("audience", audience)])
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json body"))
}

/// The client with `id` in `client list --json`, if listed.
fn listed(server: &TestServer, id: &str) -> Option<Value> {
    let list = server.cli_json(&["client", "list"]);
    list["clients"].as_array().expect("clients array").iter().find(|c| c["id"] == id).cloned()
}

on_both_backends!(a_client_is_listed_shown_changed_disabled_and_deleted_from_the_cli, |backend: Backend| async move {
    let server = TestServer::start(backend);
    let aud = "https://life.api.example";
    server.cli_json(&["api", "create", "--identifier", aud, "--scopes", "read,write"]);
    server.create_user("svc-life", "a long enough password", &[]);
    let created = server.cli_json(&[
        "client",
        "create",
        "--name",
        "m2m",
        "--grant-types",
        "client_credentials,urn:ietf:params:oauth:grant-type:token-exchange",
        "--audiences",
        aud,
        "--scopes",
        "read",
        "--metadata",
        "{\"tier\":\"gold\"}",
        "--exchange-audiences",
        aud,
        "--exchange-scopes",
        "read",
        "--first-party",
    ]);
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let spa = server.cli_json(&[
        "client",
        "create",
        "--name",
        "spa",
        "--public",
        "--grant-types",
        "authorization_code",
        "--redirect-uri",
        "http://127.0.0.1:9000/cb",
    ]);
    let spa_id = spa["client_id"].as_str().unwrap();

    // list
    let row = listed(&server, &id).expect("listed");
    assert_eq!(row["name"], "m2m");
    assert_eq!(row["type"], "confidential");
    assert_eq!(row["disabled"], false);
    assert_eq!(
        row["grant_types"],
        serde_json::json!(["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"])
    );
    assert_eq!(listed(&server, spa_id).expect("spa listed")["type"], "public");

    // show: the settings and the secret's id and state, never the secret
    let shown = server.cli_json(&["client", "show", &id]);
    assert_eq!(shown["id"], id.as_str());
    assert_eq!(shown["allowed_audiences"], serde_json::json!([aud]));
    assert_eq!(shown["metadata"]["tier"], "gold");
    assert_eq!(shown["exchange_audiences"], serde_json::json!([aud]));
    assert_eq!(shown["exchange_impersonation"], false);
    assert_eq!(shown["first_party"], true);
    assert!(shown["service_account"].is_null());
    let secrets = shown["secrets"].as_array().expect("secrets");
    assert_eq!(secrets.len(), 1);
    assert_eq!(secrets[0]["active"], true);
    assert!(secrets[0]["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(secrets[0].get("hint").is_none() && secrets[0].get("secret_hash").is_none(), "{shown}");
    let human = server.cli(&["client", "show", &id]);
    for text in [shown.to_string(), human.clone()] {
        assert!(!text.contains(&secret), "the secret is printed: {text}");
    }
    assert!(human.contains("m2m") && human.contains("confidential"), "{human}");

    // update two fields; the others keep their stored values
    let updated = server.cli_json(&[
        "client",
        "update",
        &id,
        "--name",
        "reporting",
        "--exchange-impersonation",
        "true",
        "--service-account",
        "svc-life",
    ]);
    assert_eq!(updated["name"], "reporting");
    assert_eq!(updated["exchange_impersonation"], true);
    assert_eq!(updated["service_account"], "svc-life");
    let again = server.cli_json(&["client", "show", &id]);
    assert_eq!(again["name"], "reporting");
    for kept in [
        "grant_types",
        "allowed_scopes",
        "allowed_audiences",
        "metadata",
        "exchange_audiences",
        "exchange_scopes",
        "first_party",
        "redirect_uris",
        "disabled",
        "secrets",
    ] {
        assert_eq!(again[kept], shown[kept], "{kept} changed");
    }
    let narrowed = server.cli_json(&["client", "update", &id, "--first-party", "false", "--scopes", "read,write"]);
    assert_eq!(narrowed["first_party"], false);
    assert_eq!(narrowed["allowed_scopes"], serde_json::json!(["read", "write"]));
    assert_eq!(narrowed["name"], "reporting");
    assert_eq!(narrowed["service_account"], "svc-life");

    // a refused change saves nothing
    let out = server.cli_output(&["client", "update", &id, "--grant-types", "teleport"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown grant type"));
    let out = server.cli_output(&["client", "update", spa_id, "--grant-types", "client_credentials"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("public client"));
    assert_eq!(server.cli_json(&["client", "show", &id])["grant_types"], shown["grant_types"]);

    // disable: the client cannot authenticate; enable: it can again
    assert_eq!(token_status(&server, &id, &secret, aud).await.0, 200);
    server.cli(&["client", "disable", &id]);
    assert_eq!(listed(&server, &id).expect("listed")["disabled"], true);
    let (status, body) = token_status(&server, &id, &secret, aud).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");
    server.cli(&["client", "enable", &id]);
    assert_eq!(server.cli_json(&["client", "show", &id])["disabled"], false);
    assert_eq!(token_status(&server, &id, &secret, aud).await.0, 200);

    // delete
    server.cli(&["client", "delete", &id]);
    assert!(listed(&server, &id).is_none());
    assert!(listed(&server, spa_id).is_some());
    let (status, body) = token_status(&server, &id, &secret, aud).await;
    assert_eq!((status, &body["error"]), (401, &Value::from("invalid_client")));

    // every change is in the audit log, by the CLI
    let events: Vec<Value> =
        server.cli(&["audit", "export"]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let by_cli = |action: &str| {
        events.iter().filter(|e| e["action"] == action && e["target"] == id.as_str() && e["actor"] == "cli").count()
    };
    assert_eq!(by_cli("client.update"), 4, "two updates, disable, enable");
    assert_eq!(by_cli("client.delete"), 1);
});

#[test]
fn an_unknown_client_id_is_one_clear_line_and_a_failure() {
    let server = TestServer::start(Backend::Sqlite);
    let commands: &[&[&str]] = &[
        &["client", "show", "nope"],
        &["client", "show", "nope", "--json"],
        &["client", "update", "nope", "--name", "x"],
        &["client", "disable", "nope"],
        &["client", "enable", "nope"],
        &["client", "delete", "nope"],
    ];
    for args in commands {
        let out = server.cli_output(args, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr.contains("no client nope"), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed {}", String::from_utf8_lossy(&out.stdout));
    }
    assert_eq!(server.cli_json(&["client", "list"])["clients"], serde_json::json!([]));
}
