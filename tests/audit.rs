//! The tamper-evident audit log (issue #18 item 8) through the real binary:
//! `tessera audit verify` accepts the chain the server and the CLI wrote,
//! finds the entry a raw SQL update changed (exit status 1), and `tessera
//! audit export` writes JSON lines in a date range.

use crate::on_both_backends;
use crate::support::{Backend, TestServer};
use serde_json::Value;

/// Runs raw SQL on the server's database, as an attacker with database
/// access would, around the application.
pub fn execute(server: &TestServer, sql: &str) {
    use diesel::{Connection, RunQueryDsl};
    let q = diesel::sql_query(sql);
    match &server.db.url {
        Some(url) => q.execute(&mut diesel::PgConnection::establish(url).expect("connect to the test database")),
        None => {
            let path = server.data_dir().join("tessera.db");
            q.execute(&mut diesel::SqliteConnection::establish(&path.display().to_string()).expect("open tessera.db"))
        }
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))).collect()
}

on_both_backends!(audit_log_verifies_exports_and_reports_tampering, |backend: Backend| async move {
    let server = TestServer::start(backend);
    server.api_and_client("https://audit.example", "RS256", "read");
    server.create_user("alice", "a long enough password", &[]);
    server.cli_json(&["keys", "rotate"]);

    let ok = server.cli_json(&["audit", "verify"]);
    assert_eq!(ok["ok"], true, "{ok}");
    let count = ok["count"].as_i64().unwrap();
    assert!(count >= 4, "{ok}");
    assert!(server.cli(&["audit", "verify"]).contains(&format!("audit log OK: {count} entries")));

    // Every event, in chain order, linked by its hashes.
    let out = server.data_dir().join("audit.jsonl");
    server.cli(&["audit", "export", "--out", out.to_str().unwrap()]);
    let all = lines(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(all.len() as i64, count);
    assert_eq!(all[0]["prev_hash"], "0".repeat(64));
    for (i, pair) in all.windows(2).enumerate() {
        assert_eq!(pair[0]["seq"], i as i64 + 1);
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
    }
    assert_eq!(all.last().unwrap()["hash"], ok["head"]);
    assert!(all.iter().any(|e| e["action"] == "user.create" && e["actor"] == "cli"), "{all:?}");

    // Date ranges: a UTC day includes the whole day, RFC 3339 bounds are instants.
    let today = &all[0]["time"].as_str().unwrap()[..10];
    let first_at = all[0]["at"].as_i64().unwrap();
    assert_eq!(lines(&server.cli(&["audit", "export", "--since", today, "--until", today])).len(), all.len());
    assert!(server.cli(&["audit", "export", "--until", "2000-01-01"]).is_empty());
    assert!(server.cli(&["audit", "export", "--since", "2999-01-01T00:00:00Z"]).is_empty());
    let until_first = server.cli(&["audit", "export", "--until", all[0]["time"].as_str().unwrap()]);
    let until_first = lines(&until_first);
    assert!(!until_first.is_empty() && until_first.iter().all(|e| e["at"].as_i64().unwrap() == first_at));
    let bad = server.cli_output(&["audit", "export", "--since", "yesterday"], None);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--since"));

    // A detail changed behind the application's back is found, with its entry.
    let victim = &all[1];
    execute(
        &server,
        &format!(
            "UPDATE audit_events SET detail = '{{\"forged\":true}}' WHERE id = '{}'",
            victim["id"].as_str().unwrap()
        ),
    );
    let broken = server.cli_output(&["audit", "verify"], None);
    assert_eq!(broken.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&broken.stdout);
    assert!(
        stdout.contains(&format!(
            "BROKEN at entry 2 (id {}, {})",
            victim["id"].as_str().unwrap(),
            victim["time"].as_str().unwrap()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("the entry was changed"), "{stdout}");
    let json = server.cli_output(&["audit", "verify", "--json"], None);
    assert_eq!(json.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        (report["ok"].clone(), report["seq"].clone(), report["id"].clone()),
        (Value::Bool(false), 2.into(), victim["id"].clone())
    );

    // Put back, the chain holds again; a removed entry breaks the next link.
    execute(
        &server,
        &format!(
            "UPDATE audit_events SET detail = '{}' WHERE id = '{}'",
            victim["detail"].as_str().unwrap(),
            victim["id"].as_str().unwrap()
        ),
    );
    assert_eq!(server.cli_json(&["audit", "verify"])["ok"], true);
    execute(&server, &format!("DELETE FROM audit_events WHERE id = '{}'", victim["id"].as_str().unwrap()));
    let report: Value =
        serde_json::from_slice(&server.cli_output(&["audit", "verify", "--json"], None).stdout).unwrap();
    assert_eq!(report["seq"], 3);
    assert_eq!(report["id"], all[2]["id"]);
    assert!(report["problem"].as_str().unwrap().contains("entry 2 is missing"), "{report}");
});
