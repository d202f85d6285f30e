//! OpenTelemetry traces over OTLP/HTTP (issue #16 item 2), off unless
//! `[tracing] otlp_endpoint` is set (config.rs, `TracingConfig`).
//!
//! [`otlp_layer`] builds a `tracing` layer that turns the spans the server
//! opens (`request`, `client_auth`, `plugin_call`, `sign`) into OpenTelemetry
//! spans, batched and sent from the SDK's own thread as protobuf to
//! `<otlp_endpoint>/v1/traces`. It goes through [`PlainHttp`], a blocking
//! HTTP/1.1 client over a plain TCP connection: the normal deployment sends
//! to a collector or sidecar on the same host or network, which forwards
//! over TLS if needed, and this keeps reqwest, hyper and a TLS stack out of
//! the server. The provider it returns must be shut down at exit
//! ([`Otlp::shutdown`]) or the last batch is lost.

use crate::config::TracingConfig;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::pin::Pin;
use std::time::Duration;
use tracing_subscriber::registry::LookupSpan;

/// How long one export may take, connect to last byte.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest collector answer read; OTLP answers are tiny.
const MAX_RESPONSE: u64 = 64 * 1024;

/// The exporter's tracer provider: kept by the process so that shutdown can
/// send the spans still queued.
#[derive(Debug, Clone)]
pub struct Otlp {
    provider: SdkTracerProvider,
}

impl Otlp {
    /// Sends the queued spans and stops the export thread; a collector that
    /// does not answer makes this fail after the export timeout, not hang.
    pub fn shutdown(&self) -> anyhow::Result<()> {
        self.provider.shutdown_with_timeout(EXPORT_TIMEOUT).map_err(|e| anyhow::anyhow!("OTLP export: {e}"))
    }
}

/// The OTLP layer and its provider when `config.otlp_endpoint` is set;
/// `None` (nothing exported, nothing started) otherwise.
pub fn otlp_layer<S>(
    config: &TracingConfig,
) -> anyhow::Result<Option<(tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>, Otlp)>>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    let Some(endpoint) = &config.otlp_endpoint else {
        return Ok(None);
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(PlainHttp { timeout: EXPORT_TIMEOUT })
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces_url(endpoint))
        .with_timeout(EXPORT_TIMEOUT)
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sampling_ratio))))
        .with_resource(Resource::builder().with_service_name(config.service_name.clone()).build())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("tessera"));
    Ok(Some((layer, Otlp { provider })))
}

/// `<base>/v1/traces`, the OTLP/HTTP path for traces, as the SDK's own
/// `OTEL_EXPORTER_OTLP_ENDPOINT` convention builds it.
fn traces_url(base: &str) -> String {
    format!("{}/v1/traces", base.trim_end_matches('/'))
}

/// A blocking HTTP/1.1 client for plain `http://` URLs: one connection per
/// export (a batch every few seconds), `Connection: close`, the answer read
/// to its end. The SDK runs exports on its own thread, so blocking here
/// holds up no request.
#[derive(Debug)]
struct PlainHttp {
    timeout: Duration,
}

impl PlainHttp {
    fn send(&self, request: &Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let uri = request.uri();
        if uri.scheme_str() != Some("http") {
            return Err(format!("only plain http endpoints are supported, not {uri}").into());
        }
        let host = uri.host().ok_or("the endpoint has no host")?;
        let port = uri.port_u16().unwrap_or(80);
        let addr = (host, port).to_socket_addrs()?.next().ok_or("the endpoint's host has no address")?;
        let mut stream = TcpStream::connect_timeout(&addr, self.timeout)?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let authority = uri.authority().map_or(host, |a| a.as_str());
        let mut head = format!("{} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n", request.method());
        for (name, value) in request.headers() {
            // The SDK sets Content-Type; the length is ours to state.
            if name.as_str() != "content-length" {
                head.push_str(&format!("{name}: {}\r\n", value.to_str()?));
            }
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", request.body().len()));
        stream.write_all(head.as_bytes())?;
        stream.write_all(request.body())?;
        stream.flush()?;
        let mut reader = BufReader::new(stream.take(MAX_RESPONSE));
        let mut status_line = String::new();
        reader.read_line(&mut status_line)?;
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("not an HTTP answer: {status_line:?}"))?;
        let mut length = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 || line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse::<u64>().ok();
            }
        }
        // The body by its length, or to the close we asked for.
        let mut body = Vec::new();
        match length {
            Some(n) => reader.take(n).read_to_end(&mut body)?,
            None => reader.read_to_end(&mut body)?,
        };
        Ok(Response::builder().status(status).body(Bytes::from(body))?)
    }
}

impl HttpClient for PlainHttp {
    // What `#[async_trait]` expands to, written out (no macro crate for one
    // method). The work is blocking and done before the future is returned:
    // the SDK's export thread waits for it either way.
    fn send_bytes<'life0, 'async_trait>(
        &'life0 self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        let answer = self.send(&request);
        Box::pin(std::future::ready(answer))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn no_endpoint_builds_no_layer() {
        let layer = otlp_layer::<tracing_subscriber::Registry>(&TracingConfig::default()).unwrap();
        assert!(layer.is_none(), "tracing is off by default");
    }

    #[test]
    fn an_endpoint_builds_a_layer_that_posts_to_v1_traces() {
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = TracingConfig { otlp_endpoint: Some(format!("http://127.0.0.1:{port}")), ..Default::default() };
        let (layer, otlp) = otlp_layer::<tracing_subscriber::Registry>(&config).unwrap().expect("configured");
        let collector = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                head.push_str(&line);
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            (&stream).write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap();
            (head, body)
        });
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info_span!("unit_test_span").in_scope(|| tracing::info!("inside"));
        });
        otlp.shutdown().unwrap();
        let (head, body) = collector.join().unwrap();
        assert!(head.starts_with("POST /v1/traces HTTP/1.1\r\n"), "{head}");
        assert!(head.to_ascii_lowercase().contains("content-type: application/x-protobuf"), "{head}");
        let found = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
        assert!(found(b"unit_test_span"), "the span's name is in the protobuf body");
        assert!(found(b"tessera"), "and the service name");
    }
}
