//! Rate limits against the real binary (issue #16 item 4): a low limit set
//! through the environment refuses the request over it with 429 and
//! `Retry-After`, per address taken from `X-Forwarded-For` of a trusted
//! proxy, on the token endpoint (OAuth JSON) and the authorization endpoint
//! (an HTML page).

use crate::support::{Backend, Options, TestServer};
use serde_json::Value;
use tessera::web::routes;

const AUD: &str = "https://limits.api.example";

fn server() -> TestServer {
    let env = [
        ("TESSERA_TRUSTED_PROXIES", "[\"127.0.0.1\"]"),
        ("TESSERA_RATE_LIMITS__TOKEN__PER_ADDRESS__PER_MINUTE", "60"),
        ("TESSERA_RATE_LIMITS__TOKEN__PER_ADDRESS__BURST", "3"),
        ("TESSERA_RATE_LIMITS__AUTHORIZE__PER_ADDRESS__PER_MINUTE", "1"),
        ("TESSERA_RATE_LIMITS__AUTHORIZE__PER_ADDRESS__BURST", "1"),
    ];
    let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    TestServer::start_with(Backend::Sqlite, Options { env, ..Options::default() })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_limit_answers_429_with_retry_after() {
    let server = server();
    let (id, secret) = server.api_and_client(AUD, "ES256", "read");
    let http = reqwest::Client::new();
    let token = |addr: &'static str| {
        http.post(server.token_url())
            .header("X-Forwarded-For", addr)
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials"), ("audience", AUD)])
            .send()
    };
    for i in 0..3 {
        assert_eq!(token("198.51.100.1").await.unwrap().status(), 200, "request {i} within the burst");
    }
    let r = token("198.51.100.1").await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1", "one a second refills");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(token("198.51.100.2").await.unwrap().status(), 200, "another client address");
    // Issue #16 item 1: the refusal is counted for Prometheus.
    let metrics = http.get(format!("{}{}", server.base, routes::METRICS)).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l == r#"tessera_rate_limit_refusals_total{class="token",scope="address"} 1"#),
        "{metrics}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(token("198.51.100.1").await.unwrap().status(), 200, "refilled after Retry-After");

    let authorize = format!("{}{}?client_id={id}", server.base, routes::AUTHORIZE);
    let page = || http.get(&authorize).header("X-Forwarded-For", "198.51.100.1").send();
    assert_ne!(page().await.unwrap().status(), 429);
    let r = page().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "60");
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(r.text().await.unwrap().contains("Too many requests"));
}
