//! `http.fetch` without wasm: allow-list matching, the request cap, the
//! deadline, the response cap, the cache and secret headers, against a
//! loopback server in the test.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A loopback HTTP/1.1 server: answers every request with `reply(path)`
/// after `delay`, and keeps every request's head and body.
struct Server {
    base: String,
    seen: Arc<Mutex<Vec<String>>>,
    hits: Arc<AtomicUsize>,
}

fn serve(delay: Duration, reply: fn(&str) -> (u16, String)) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let hits = Arc::new(AtomicUsize::new(0));
    let (seen2, hits2) = (Arc::clone(&seen), Arc::clone(&hits));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let (seen, hits) = (Arc::clone(&seen2), Arc::clone(&hits2));
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    let end = line == "\r\n";
                    head.push_str(&line);
                    if end {
                        break;
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                head.push_str(&String::from_utf8_lossy(&body));
                let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
                seen.lock().unwrap().push(head);
                hits.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(delay);
                let (status, body) = reply(&path);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\nx-internal: no\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    Server { base, seen, hits }
}

fn json_reply(path: &str) -> (u16, String) {
    (200, format!("{{\"path\":\"{path}\"}}"))
}

fn limits() -> HttpLimits {
    HttpLimits { max_requests: 4, max_request_bytes: 1024, max_response_bytes: 64 << 10 }
}

fn call_for(allow: &[&str], ttl: Option<Duration>, limits: HttpLimits) -> HttpCall {
    let mut secrets = std::collections::BTreeMap::new();
    secrets.insert("api-key".to_owned(), "s3cr3t-value".to_owned());
    let grant = HttpGrant {
        binding_id: "b1".into(),
        allow: allow.iter().map(|a| AllowedPrefix::parse(a).unwrap()).collect(),
        cache_ttl: ttl,
        secrets: PluginSecrets(secrets),
    };
    HttpCall::new(Arc::new(grant), limits, Arc::default(), Arc::new(HttpCaches::new(8)))
}

fn get(url: &str) -> wit_http::Request {
    wit_http::Request {
        method: wit_http::Method::Get,
        url: url.to_owned(),
        headers: vec![],
        secret_headers: vec![],
        body_json: None,
    }
}

fn soon() -> WallDeadline {
    WallDeadline::after(Duration::from_secs(5))
}

fn allowed(prefix: &str, url: &str) -> bool {
    AllowedPrefix::parse(prefix).unwrap().allows(&parse_url(url).unwrap())
}

#[test]
fn allow_list_matches_scheme_host_port_exactly_and_the_path_by_segment() {
    let p = "https://api.example.com/v1";
    assert!(allowed(p, "https://api.example.com/v1"));
    assert!(allowed(p, "https://api.example.com/v1/users/7?x=1"));
    assert!(allowed(p, "https://API.example.com:443/v1/users"));
    assert!(!allowed(p, "https://api.example.com/v1-admin"));
    assert!(!allowed(p, "https://api.example.com/v2/users"));
    assert!(!allowed(p, "https://api.example.com/v1/../admin"), "dot segments are resolved before matching");
    assert!(!allowed(p, "https://api.example.com/v1/%2e%2e/admin"));
    assert!(!allowed(p, "https://api.example.com:8443/v1/users"));
    assert!(!allowed(p, "https://api.example.com.evil.test/v1/users"));
    assert!(!allowed(p, "https://evil.test/v1/users"));
    assert!(allowed("https://api.example.com/", "https://api.example.com/anything"));
    assert!(allowed("http://127.0.0.1:8080/a/", "http://127.0.0.1:8080/a/b"));
    assert!(!allowed("http://127.0.0.1:8080/a/", "http://127.0.0.1:8081/a/b"));
}

#[test]
fn allow_list_entries_must_be_https_or_loopback_http_without_credentials_or_query() {
    for bad in [
        "http://api.example.com/",
        "ftp://127.0.0.1/",
        "https://user:pw@api.example.com/",
        "https://api.example.com/?a=1",
        "https://api.example.com/#x",
        "/relative",
    ] {
        assert!(AllowedPrefix::parse(bad).is_err(), "{bad}");
    }
    for good in ["https://api.example.com", "http://localhost:9000/x", "http://[::1]/", "http://127.0.0.2/"] {
        assert!(AllowedPrefix::parse(good).is_ok(), "{good}");
    }
}

#[test]
fn a_url_outside_the_allow_list_is_refused_and_recorded() {
    let mut call = call_for(&["https://api.example.com/v1/"], None, limits());
    let err = call.fetch(soon(), get("https://evil.test/v1/x?token=abc")).unwrap_err();
    assert!(matches!(err, wit_http::Error::NotAllowed(_)), "{err:?}");
    let err = call.fetch(soon(), get("http://api.example.com/v1/x")).unwrap_err();
    assert!(matches!(err, wit_http::Error::NotAllowed(_)), "plain http to a remote host: {err:?}");
    let log = call.take_exchanges();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].url, "https://evil.test/v1/x?token=…", "query values never reach the record");
    assert!(log[0].error.as_deref().unwrap().starts_with("not_allowed"), "{:?}", log[0]);
    assert_eq!(log[0].status, None);
}

#[test]
fn a_call_makes_at_most_its_request_count() {
    let server = serve(Duration::ZERO, json_reply);
    let mut call = call_for(&[&server.base], None, HttpLimits { max_requests: 2, ..limits() });
    let url = format!("{}/x", server.base);
    assert!(call.fetch(soon(), get(&url)).is_ok());
    assert!(call.fetch(soon(), get("https://evil.test/")).is_err());
    let err = call.fetch(soon(), get(&url)).unwrap_err();
    assert!(matches!(&err, wit_http::Error::NotAllowed(why) if why.contains("2 requests")), "{err:?}");
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    for _ in 0..100 {
        assert!(call.fetch(soon(), get(&url)).is_err());
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    let log = call.take_exchanges();
    assert_eq!(log.len(), 3, "two within the count and the first one over it");
    assert!(log[2].error.as_deref().unwrap().contains("2 requests"), "{:?}", log[2]);
}

#[test]
fn a_server_slower_than_the_deadline_is_cut_off_at_the_deadline() {
    let server = serve(Duration::from_secs(3), json_reply);
    let mut call = call_for(&[&server.base], None, limits());
    let start = Instant::now();
    let err = call.fetch(WallDeadline::after(Duration::from_millis(150)), get(&format!("{}/slow", server.base)));
    let took = start.elapsed();
    assert!(matches!(err, Err(wit_http::Error::Timeout)), "{err:?}");
    assert!(took < Duration::from_millis(600), "the request ran {took:?} past a 150 ms deadline");
    let log = call.take_exchanges();
    assert_eq!(log[0].error.as_deref(), Some("timeout"));
}

#[test]
fn no_time_left_means_no_request() {
    let server = serve(Duration::ZERO, json_reply);
    let mut call = call_for(&[&server.base], None, limits());
    let err = call.fetch(WallDeadline::after(Duration::ZERO), get(&server.base));
    assert!(matches!(err, Err(wit_http::Error::Timeout)), "{err:?}");
    assert_eq!(server.hits.load(Ordering::SeqCst), 0);
}

#[test]
fn a_response_over_the_cap_is_too_large() {
    let server = serve(Duration::ZERO, |_| (200, "x".repeat(100_000)));
    let mut call = call_for(&[&server.base], None, limits());
    let err = call.fetch(soon(), get(&server.base));
    assert!(matches!(err, Err(wit_http::Error::TooLarge)), "{err:?}");
}

#[test]
fn a_second_identical_request_within_the_ttl_is_served_from_the_cache() {
    let server = serve(Duration::ZERO, json_reply);
    let mut call = call_for(&[&server.base], Some(Duration::from_secs(60)), limits());
    let url = format!("{}/users/7", server.base);
    let first = call.fetch(soon(), get(&url)).unwrap();
    let second = call.fetch(soon(), get(&url)).unwrap();
    assert!(!first.cached && second.cached);
    assert_eq!(first.body, second.body);
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    let log = call.take_exchanges();
    assert_eq!((log[0].cached, log[1].cached), (false, true));
    assert_eq!(log[1].status, Some(200));
    // Without a TTL nothing is cached.
    let mut uncached = call_for(&[&server.base], None, limits());
    assert!(!uncached.fetch(soon(), get(&url)).unwrap().cached);
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);
}

#[test]
fn secret_headers_reach_the_server_and_never_the_record_or_the_plugin() {
    let server = serve(Duration::ZERO, json_reply);
    let mut call = call_for(&[&server.base], None, limits());
    let req = wit_http::Request {
        method: wit_http::Method::Post,
        url: format!("{}/lookup?key=qv", server.base),
        headers: vec![("accept".into(), "application/json".into())],
        secret_headers: vec![wit_http::SecretHeader { name: "X-Api-Key".into(), secret: "api-key".into() }],
        body_json: Some(r#"{"sub":"u1"}"#.into()),
    };
    let answer = call.fetch(soon(), req).unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers, vec![("content-type".to_owned(), "application/json".to_owned())]);
    let seen = server.seen.lock().unwrap().join("\n");
    assert!(seen.contains("x-api-key: s3cr3t-value"), "{seen}");
    assert!(seen.contains(r#"{"sub":"u1"}"#), "{seen}");
    let record = serde_json::to_string(&call.take_exchanges()).unwrap();
    assert!(!record.contains("s3cr3t"), "{record}");
    assert!(record.contains("/lookup?key=…"), "{record}");
}

#[test]
fn refused_headers_unknown_secrets_and_non_json_bodies_are_not_allowed() {
    let server = serve(Duration::ZERO, json_reply);
    let mut call = call_for(&[&server.base], None, HttpLimits { max_requests: 10, ..limits() });
    let mut host = get(&server.base);
    host.headers.push(("Host".into(), "internal".into()));
    let mut secret = get(&server.base);
    secret.secret_headers.push(wit_http::SecretHeader { name: "authorization".into(), secret: "nope".into() });
    let mut body = get(&server.base);
    body.method = wit_http::Method::Post;
    body.body_json = Some("not json".into());
    for req in [host, secret, body] {
        assert!(matches!(call.fetch(soon(), req), Err(wit_http::Error::NotAllowed(_))));
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), 0);
}

#[test]
fn redirects_are_returned_not_followed() {
    let server = serve(Duration::ZERO, |_| (302, String::new()));
    let mut call = call_for(&[&server.base], None, limits());
    assert_eq!(call.fetch(soon(), get(&server.base)).unwrap().status, 302);
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}

#[test]
fn recorded_urls_keep_no_credentials_query_values_or_fragments() {
    assert_eq!(redacted("https://u:pw@api.example.com/a?token=x&b=1#frag"), "https://api.example.com/a?token=…&b=…");
    assert_eq!(redacted("https://api.example.com/a"), "https://api.example.com/a");
    assert_eq!(redacted("not a url with secret"), "(not an absolute URL)");
}

#[test]
fn outside_a_call_nothing_is_allowed_and_one_refusal_is_recorded() {
    let mut idle = HttpCall::none();
    for _ in 0..10 {
        let err = idle.fetch(soon(), get("https://api.example.com/")).unwrap_err();
        assert!(matches!(err, wit_http::Error::NotAllowed(_)), "{err:?}");
    }
    let log = idle.take_exchanges();
    assert_eq!(log.len(), 1);
    assert!(log[0].error.as_deref().unwrap().contains("outside the call"), "{:?}", log[0]);
}

#[test]
fn paths_that_leave_the_prefix_once_percent_2f_or_dot_params_are_read_are_refused_and_recorded() {
    let server = serve(Duration::ZERO, json_reply);
    let prefix = format!("{}/v1/", server.base);
    let mut call = call_for(&[&prefix], None, HttpLimits { max_requests: 32, ..limits() });
    let tricks = [
        "v1/..%2fadmin",
        "v1/..%2Fadmin",
        "v1/%2e%2e%5cadmin",
        "v1/..%5Cadmin",
        "v1/..;/admin",
        "v1/..;x/admin",
        "v1/.;/%2e%2e;/admin",
        "v1/%2e%2e;/admin",
        "v1/a/..;jsessionid=1/..;/admin",
        "v1/x%2F..%2F..%2Fadmin",
        "v1/..%3b/admin",
        "v1/..%252fadmin",
        "v1/..%25252Fadmin",
        "v1/%252e%252e%255cadmin",
    ];
    for trick in tricks {
        let err = call.fetch(soon(), get(&format!("{}/{trick}", server.base))).unwrap_err();
        assert!(matches!(&err, wit_http::Error::NotAllowed(why) if why.contains("path leaves")), "{trick}: {err:?}");
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), 0, "no trick reached the server");
    let log = call.take_exchanges();
    assert_eq!(log.len(), tricks.len());
    assert!(log.iter().all(|x| x.error.as_deref().unwrap().starts_with("not_allowed")), "{log:?}");
    // Plain paths, a `;` that is not a dot segment, encoded bytes other than
    // a slash, and tricks that stay under the prefix however they are read
    // (an id with an encoded `/`, as the enrich examples send one) keep
    // working.
    for fine in [
        "v1/users/7",
        "v1/a;b/c",
        "v1/..a/b",
        "v1/a%20b",
        "v1/...;/x",
        "v1/a%2Fb",
        "v1/u%201%2F..",
        "v1/.;/x",
        "v1/a/..;/b",
        "v1/a%252Fb",
        "v1/100%25",
    ] {
        assert!(call.fetch(soon(), get(&format!("{}/{fine}", server.base))).is_ok(), "{fine}");
    }
}

/// Set in the child process of the test below, which runs the child test.
const PROXY_CHILD: &str = "TESSERA_TEST_PROXY_CHILD";

/// With every proxy variable pointing at a recording listener, a plain http
/// request to a loopback host reaches its target directly. Proxy variables
/// are process-wide, so the request runs in a child process of this test
/// binary, with the production client built from that environment.
#[test]
fn with_proxy_variables_set_plain_http_to_loopback_is_not_proxied() {
    let proxy = serve(Duration::ZERO, json_reply);
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "http::tests::proxy_child_plain_http_reaches_its_target", "--nocapture"])
        .env(PROXY_CHILD, "1")
        .env("HTTP_PROXY", &proxy.base)
        .env("http_proxy", &proxy.base)
        .env("HTTPS_PROXY", &proxy.base)
        .env("ALL_PROXY", &proxy.base)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env_remove("REQUEST_METHOD")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{text}");
    assert!(text.contains("1 passed"), "the child test ran: {text}");
    assert_eq!(proxy.hits.load(Ordering::SeqCst), 0, "the proxy saw: {:?}", proxy.seen.lock().unwrap());
}

/// The child half of the test above; does nothing when run on its own.
#[test]
fn proxy_child_plain_http_reaches_its_target() {
    if std::env::var_os(PROXY_CHILD).is_none() {
        return;
    }
    let target = serve(Duration::ZERO, json_reply);
    let mut call = call_for(&[&target.base], None, limits());
    let answer = call.fetch(soon(), get(&format!("{}/direct", target.base))).unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(target.hits.load(Ordering::SeqCst), 1, "the request reached its target itself");
}

#[test]
fn https_uses_https_proxy_then_all_proxy_and_http_proxy_is_never_read() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        ProxySettings::from_vars(move |n| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| (*v).to_owned()))
    };
    let only_http = vars(&[("HTTP_PROXY", "http://p:3128"), ("http_proxy", "http://p:3128")]);
    assert_eq!(only_http, ProxySettings::default(), "HTTP_PROXY alone: no proxy at all");
    let both = vars(&[("ALL_PROXY", "http://all:1"), ("HTTPS_PROXY", "http://tls:2"), ("NO_PROXY", "internal")]);
    assert_eq!(both.https.as_deref(), Some("http://tls:2"));
    assert_eq!(both.no_proxy.as_deref(), Some("internal"));
    assert_eq!(vars(&[("all_proxy", "http://all:1")]).https.as_deref(), Some("http://all:1"));
    assert_eq!(vars(&[("HTTPS_PROXY", " "), ("ALL_PROXY", "http://all:1")]).https.as_deref(), Some("http://all:1"));
}

/// An explicit https proxy takes https requests (the proxy sees a CONNECT)
/// and never plain http ones, and `NO_PROXY` hosts bypass it.
#[test]
fn the_https_proxy_sees_https_requests_only_and_no_proxy_hosts_bypass_it() {
    let proxy = serve(Duration::ZERO, json_reply);
    let target = serve(Duration::ZERO, json_reply);
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = |no_proxy: Option<&str>| {
        let settings = ProxySettings { https: Some(proxy.base.clone()), no_proxy: no_proxy.map(str::to_owned) };
        HttpClient(OnceLock::from(settings.client()))
    };
    let via_proxy = client(None);
    let c = via_proxy.get().unwrap();
    assert_eq!(c.get(format!("{}/plain", target.base)).send().unwrap().status(), 200);
    assert_eq!((target.hits.load(Ordering::SeqCst), proxy.hits.load(Ordering::SeqCst)), (1, 0));
    assert!(c.get(format!("https://127.0.0.1:{closed}/tls")).send().is_err(), "the proxy answers no TLS");
    assert_eq!(proxy.hits.load(Ordering::SeqCst), 1);
    assert!(proxy.seen.lock().unwrap()[0].starts_with(&format!("CONNECT 127.0.0.1:{closed} ")));
    let bypass = client(Some("127.0.0.1"));
    assert!(bypass.get().unwrap().get(format!("https://127.0.0.1:{closed}/tls")).send().is_err());
    assert_eq!(proxy.hits.load(Ordering::SeqCst), 1, "a NO_PROXY host goes direct");
    let bad = ProxySettings { https: Some("not a url at all".into()), no_proxy: None };
    assert!(bad.client().is_err());
}

#[test]
fn a_prefix_covers_the_prefixes_under_it_by_the_same_rule() {
    let covers =
        |outer: &str, inner: &str| AllowedPrefix::parse(outer).unwrap().covers(&AllowedPrefix::parse(inner).unwrap());
    assert!(covers("https://api.example.com/v1", "https://api.example.com/v1"));
    assert!(covers("https://api.example.com/v1", "https://API.example.com:443/v1/users/"));
    assert!(covers("https://api.example.com/v1/", "https://api.example.com/v1/users"));
    assert!(!covers("https://api.example.com/v1/", "https://api.example.com/v1"), "/v1 itself is not under /v1/");
    assert!(!covers("https://api.example.com/v1", "https://api.example.com/v1-admin"));
    assert!(!covers("https://api.example.com/v1/users", "https://api.example.com/v1"));
    assert!(!covers("https://api.example.com/", "http://localhost/"));
    assert!(!covers("http://127.0.0.1:8080/", "http://127.0.0.1:8081/"));
    assert!(!covers("https://api.example.com/", "https://api.example.com.evil.test/"));
}

#[test]
fn the_lenient_reading_decodes_separators_cuts_dot_params_and_resolves() {
    assert_eq!(lenient_path("/v1/users/7"), "/v1/users/7");
    assert_eq!(lenient_path("/"), "/");
    assert_eq!(lenient_path("/v1/"), "/v1/");
    assert_eq!(lenient_path("/v1/..%2fadmin"), "/admin");
    assert_eq!(lenient_path("/v1/..%5Cadmin"), "/admin");
    assert_eq!(lenient_path("/v1/..;/admin"), "/admin");
    assert_eq!(lenient_path("/v1/..%3b/admin"), "/admin", "an encoded ; cut too");
    assert_eq!(lenient_path("/v1/..%3Bx/admin"), "/admin");
    assert_eq!(lenient_path("/v1/%2E%2e;x/admin"), "/admin");
    assert_eq!(lenient_path("/v1/.;/x"), "/v1/x");
    assert_eq!(lenient_path("/users/u%201%2F.."), "/users/", "a trailing dot segment names a directory");
    assert_eq!(lenient_path("/v1/a;b/c"), "/v1/a;b/c", "params of other segments are kept");
    assert_eq!(lenient_path("/..;/..;/x"), "/x", "never above the root");
    assert_eq!(lenient_path("/v1/..%252fadmin"), "/admin", "encoded twice");
    assert_eq!(lenient_path("/v1/%25252e%25252E/admin"), "/admin", "encoded three times");
    assert_eq!(lenient_path("/v1/100%25"), "/v1/100%", "a lone %25 only loses its encoding");
}
