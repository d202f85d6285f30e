//! Issue #16 item 2: OpenTelemetry traces over OTLP/HTTP. A collector inside
//! the test (plain TCP, `POST /v1/traces`, protobuf decoded with the OTLP
//! message types) receives the spans of a real token request: the `request`
//! span as the root, and `client_auth`, `plugin_call` and `sign` under it in
//! one trace, sent at the latest when the server stops on SIGTERM.

use crate::plugins::component;
use crate::support::{Backend, Options, TestServer};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const AUD: &str = "https://traced.api.example";

/// Every `POST /v1/traces` body received, decoded.
type Received = Arc<Mutex<Vec<ExportTraceServiceRequest>>>;

/// A minimal OTLP/HTTP collector on a free port; answers 200 to each export.
fn collector() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let received = Received::default();
    let sink = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            if let Some(export) = read_export(stream) {
                sink.lock().unwrap().push(export);
            }
        }
    });
    (endpoint, received)
}

fn read_export(stream: TcpStream) -> Option<ExportTraceServiceRequest> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    (&stream)
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n")
        .ok()?;
    assert!(request_line.starts_with("POST /v1/traces "), "{request_line}");
    Some(ExportTraceServiceRequest::decode(body.as_slice()).unwrap())
}

fn spans(received: &Received) -> Vec<Span> {
    let received = received.lock().unwrap();
    received
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| s.spans.iter().cloned())
        .collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    let kv = span.attributes.iter().find(|kv| kv.key == key)?;
    match kv.value.as_ref()?.value.as_ref()? {
        AnyValue::StringValue(s) => Some(s.clone()),
        AnyValue::IntValue(i) => Some(i.to_string()),
        other => Some(format!("{other:?}")),
    }
}

/// The token request's trace: a `sign` span whose trace also holds the
/// other three; `None` until all have arrived.
fn token_trace(spans: &[Span]) -> Option<Vec<Span>> {
    spans.iter().filter(|s| s.name == "sign").find_map(|sign| {
        let trace: Vec<Span> = spans.iter().filter(|s| s.trace_id == sign.trace_id).cloned().collect();
        let has = |name: &str| trace.iter().any(|s| s.name == name);
        (has("request") && has("client_auth") && has("plugin_call")).then_some(trace)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_request_is_one_trace_with_client_auth_plugin_call_and_sign() {
    let (endpoint, received) = collector();
    let server = TestServer::start_with(
        Backend::Sqlite,
        Options { env: vec![("TESSERA_TRACING__OTLP_ENDPOINT".into(), endpoint)], ..Default::default() },
    );
    let (id, secret) = server.api_and_client(AUD, "RS256", "read");
    server.cli_json(&["plugin", "upload", &component("fixtures", "allow-claim"), "--name", "allow-claim"]);
    let binding =
        server.cli_json(&["binding", "create", "--plugin", "allow-claim", "--grant-types", "client_credentials"])["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let (status, body) =
        server.token_form(&id, &secret, &[("grant_type", "client_credentials"), ("audience", AUD)]).await;
    assert_eq!(status, 200, "{body}");

    // SIGTERM: the shutdown hook sends what is still queued.
    let term = std::process::Command::new("kill").args(["-TERM", &server.pid().to_string()]).status().unwrap();
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let trace = loop {
        if let Some(trace) = token_trace(&spans(&received)) {
            break trace;
        }
        assert!(
            Instant::now() < deadline,
            "no complete trace; spans: {:#?}\nlog:\n{}",
            spans(&received),
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let named = |name: &str| trace.iter().find(|s| s.name == name).unwrap();
    let request = named("request");
    assert!(request.parent_span_id.is_empty(), "the request span is the root: {request:?}");
    assert!(attribute(request, "request_id").is_some_and(|v| v.len() == 36), "{request:?}");
    let ids: Vec<&Vec<u8>> = trace.iter().map(|s| &s.span_id).collect();
    for name in ["client_auth", "plugin_call", "sign"] {
        let span = named(name);
        assert!(ids.contains(&&span.parent_span_id), "{name} has a parent in the trace: {span:?}");
    }
    assert_eq!(named("client_auth").parent_span_id, request.span_id, "client_auth runs directly under the request");
    assert_eq!(attribute(named("client_auth"), "client_id").as_deref(), Some(id.as_str()));
    let call = named("plugin_call");
    assert_eq!(attribute(call, "binding_id").as_deref(), Some(binding.as_str()));
    assert_eq!(attribute(call, "outcome").as_deref(), Some("ok"));
    assert!(attribute(call, "plugin_id").is_some() && attribute(call, "plugin_version").as_deref() == Some("1"));
    let sign = named("sign");
    assert_eq!(attribute(sign, "alg").as_deref(), Some("RS256"));
    assert!(attribute(sign, "kid").is_some_and(|k| !k.is_empty()));
    // Ids only: nothing of the client secret or the token reaches the collector.
    let token = body["access_token"].as_str().unwrap();
    for span in spans(&received) {
        let text = format!("{span:?}");
        assert!(!text.contains(&secret) && !text.contains(token), "a secret in {text}");
    }
}
