//! The CLI interface scripts rely on (README, and scripts written against earlier versions): `--json` output, flags,
//! and clear refusals that change nothing.

use crate::support::{Backend, TestServer};

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
