//! Issue #16 item 1: `/metrics` in the Prometheus text format counts token
//! requests, HTTP requests and plugin runs with bounded labels, and the
//! console's dashboard shows the same plugin runs' figures. (That the public
//! listener hides `/metrics` under `--admin-listen` is in `operations.rs`.)

use crate::console::Console;
use crate::plugins::component;
use crate::support::{Backend, TestServer, http_status};
use tessera::web::routes;

const AUD: &str = "https://metrics.api.example";

/// The value of the one sample of `name` whose labels include every pair
/// of `labels`; panics when there is none or more than one.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            (metric == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
                .then(|| value.parse().unwrap())
        })
        .collect();
    assert_eq!(found.len(), 1, "one sample of {name} {labels:?} in:\n{text}");
    found[0]
}

async fn scrape(base: &str) -> String {
    let r = reqwest::get(format!("{base}{}", routes::METRICS)).await.unwrap();
    assert_eq!(r.status(), 200);
    let ctype = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    r.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_request_with_bound_plugins_is_counted_with_its_labels() {
    let server = TestServer::start(Backend::Sqlite);
    let (id, secret) = server.api_and_client(AUD, "RS256", "read");
    let allow =
        server.cli_json(&["plugin", "upload", &component("fixtures", "allow-claim"), "--name", "metrics-allow"]);
    let trap = server.cli_json(&["plugin", "upload", &component("fixtures", "trap"), "--name", "metrics-trap"]);
    let bind = |plugin: &str, extra: &[&str]| {
        let mut args = vec!["binding", "create", "--plugin", plugin, "--grant-types", "client_credentials"];
        args.extend_from_slice(extra);
        server.cli_json(&args)["id"].as_str().unwrap().to_owned()
    };
    let allow_binding = bind("metrics-allow", &[]);
    let trap_binding = bind("metrics-trap", &["--failure-policy", "skip"]);
    server.wait_synced();

    let (status, body) =
        server.token_form(&id, &secret, &[("grant_type", "client_credentials"), ("audience", AUD)]).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = server.token_form(&id, "wrong secret", &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 401);

    let text = scrape(&server.base).await;
    let cc = ("grant_type", "client_credentials");
    assert_eq!(sample(&text, "tessera_token_requests_total", &[cc, ("outcome", "ok")]), 1.0);
    assert_eq!(sample(&text, "tessera_token_requests_total", &[cc, ("outcome", "invalid_client")]), 1.0);
    assert_eq!(sample(&text, "tessera_token_request_duration_seconds_count", &[cc]), 2.0);
    let token = ("endpoint", routes::TOKEN);
    assert_eq!(sample(&text, "tessera_http_requests_total", &[token, ("method", "POST"), ("status", "200")]), 1.0);
    assert_eq!(sample(&text, "tessera_http_requests_total", &[token, ("method", "POST"), ("status", "401")]), 1.0);
    for (up, binding, outcome) in [(&allow, &allow_binding, "ok"), (&trap, &trap_binding, "trap")] {
        let labels = [("plugin", up["plugin_id"].as_str().unwrap()), ("version", "1"), ("binding", binding.as_str())];
        let mut with_outcome = labels.to_vec();
        with_outcome.push(("outcome", outcome));
        assert_eq!(sample(&text, "tessera_plugin_runs_total", &with_outcome), 1.0, "{outcome}");
        assert_eq!(sample(&text, "tessera_plugin_run_duration_seconds_count", &labels), 1.0);
    }
    // Gauges are read at scrape time.
    assert_eq!(sample(&text, "tessera_plugin_pool_slots_in_use", &[]), 0.0);
    // The token with plugins ran on the CPU pool, whose thread now idles.
    assert!(sample(&text, "tessera_cpu_pool_threads", &[("state", "idle")]) >= 1.0);
    assert_eq!(sample(&text, "tessera_cpu_pool_threads", &[("state", "running")]), 0.0);
    assert_eq!(sample(&text, "tessera_cpu_pool_queued_jobs", &[]), 0.0);
    assert_eq!(sample(&text, "tessera_plugin_run_records_dropped_total", &[]), 0.0);
    assert!(sample(&text, "tessera_snapshot_generation", &[]) >= 1.0);
    assert!(sample(&text, "tessera_snapshot_age_seconds", &[]) < 5.0);
    assert!(sample(&text, "tessera_db_pool_connections", &[("state", "idle")]) >= 0.0);
    assert!(sample(&text, "tessera_db_transaction_duration_seconds_count", &[]) >= 1.0);
    // The scrape itself was counted under its route; an unknown path is
    // `unmatched`, never itself.
    assert_eq!(http_status(&server.base, "/no/such/path"), Some(404));
    let again = scrape(&server.base).await;
    assert_eq!(sample(&again, "tessera_http_requests_total", &[("endpoint", routes::METRICS), ("status", "200")]), 1.0);
    assert_eq!(sample(&again, "tessera_http_requests_total", &[("endpoint", "unmatched"), ("status", "404")]), 1.0);
    assert!(!again.contains("/no/such/path"));

    // The dashboard shows the same runs: one each, the trap's all failures.
    let console = Console::signed_in(&server).await;
    let page = console.get(routes::console::HOME).await.text().await.unwrap();
    let table = &page[page.find("id=\"plugin-figures\"").expect("the figures table")..];
    let row = |name: &str| {
        let at = table.find(&format!("<td>{name}</td>")).unwrap_or_else(|| panic!("a row for {name}"));
        table[at..table[at..].find("</tr>").unwrap() + at].to_owned()
    };
    assert!(row("metrics-allow").contains("<td>0.0 %</td>"), "{}", row("metrics-allow"));
    assert!(row("metrics-trap").contains("<td>100.0 %</td>"), "{}", row("metrics-trap"));
}
