//! Outbound HTTP for plugins of `tessera:plugin@0.2.0` (Issue #17 item 4):
//! the `http.fetch` import, made by the host on the plugin's behalf. There
//! are no WASI sockets; this is the only way out of the sandbox.
//!
//! Each request passes, in this order: the per-call request count
//! ([`crate::HostConfig::http_max_requests`]), the URL against the binding's
//! allow-list ([`AllowedPrefix`]: scheme, host and port exact, path prefix;
//! https, or plain http to a loopback host; the path under the prefix also
//! as a server decoding `%2F` or cutting `..;params` reads it), the headers (a few are
//! refused, secret headers are filled in from the binding's secrets by
//! name), the body (JSON, at most `http_max_request_bytes`), the binding's
//! response cache (`http_cache.rs`), and then the network, bounded by what
//! is left of the call's deadline, with no redirects followed, the body
//! cut at `http_max_response_bytes`, and plain http never sent to a proxy
//! (`ProxySettings`). Every request, allowed or not, is
//! recorded as an [`HttpExchange`] in the run: the URL without its query
//! values, never a header value.
//!
//! How the request is made: the plugin call runs synchronously inside
//! wasmtime on a blocking thread (the server calls [`crate::PluginHost::call`]
//! from `spawn_blocking`). A `reqwest::blocking` client fits that as it is:
//! it runs the exchange on its own runtime thread and blocks only this one,
//! with the request's timeout set to the call's remaining deadline, which
//! covers connecting, the headers and the whole body. Driving the async
//! client with `block_on` on the caller's runtime handle instead would put
//! the connection tasks on an actix worker's single-threaded runtime (only
//! that worker's own loop drives its I/O) and tie pooled connections to
//! whichever worker made them. The server already uses the blocking client
//! the same way for remote JWK Sets (`service/oauth/remote_jwks.rs`). The
//! client is built on first use, on the thread that needs it, so building it
//! never happens inside an async context. No lock is held while a request
//! is in flight.

use std::io::Read as _;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::context::PluginSecrets;
use crate::http_cache::{CacheKey, Cached, HttpCaches};
use crate::wait::WallDeadline;

/// The v0.2.0 `http` interface as generated.
use crate::bindings::wit_http;

/// Longest URL a plugin may ask for or an admin may allow, in bytes.
const MAX_URL_BYTES: usize = 2048;
/// Plain request headers one request may carry.
const MAX_HEADERS: usize = 16;
/// Bytes of one header name or value.
const MAX_HEADER_BYTES: usize = 1024;
/// Bytes kept of an error text in a run record.
const MAX_ERROR_TEXT: usize = 200;

/// Request headers a plugin may not set: they belong to the connection or
/// could smuggle a second request or the server's own cookies.
const REFUSED_HEADERS: [&str; 6] = ["host", "content-length", "transfer-encoding", "connection", "cookie", "upgrade"];

/// Response headers handed back to the plugin (lowercase); the others stay
/// in the host.
const KEPT_RESPONSE_HEADERS: [&str; 6] = ["content-type", "etag", "cache-control", "last-modified", "date", "location"];

/// Why an allow-list entry was refused when an admin set it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("http allow-list entry {entry:?}: {reason}")]
pub struct AllowListError {
    /// The entry as given.
    pub entry: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// One entry of a binding's HTTP allow-list: requests must use exactly this
/// scheme, host and port, and a path under this one. Parsed once when an
/// admin sets it and again when a call starts, so what is stored is what is
/// enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedPrefix {
    scheme: String,
    host: String,
    port: u16,
    path: String,
}

/// True for `localhost`, 127.0.0.0/8 and `::1`: the only hosts plain http
/// may reach, as for a client's `jwks_uri` (`tessera_protocol::client_assertion`).
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Parses a URL a plugin may use or an admin may allow: absolute, https (or
/// http to a loopback host), with a host, no credentials, at most
/// [`MAX_URL_BYTES`]. The fragment is dropped (it is never sent).
fn parse_url(text: &str) -> Result<url::Url, &'static str> {
    if text.len() > MAX_URL_BYTES {
        return Err("the URL is longer than 2048 bytes");
    }
    let mut url = url::Url::parse(text).map_err(|_| "not an absolute URL")?;
    if url.host().is_none() {
        return Err("the URL has no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL carries credentials");
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        _ => return Err("only https (plain http only to a loopback host)"),
    }
    url.set_fragment(None);
    Ok(url)
}

/// Why a URL under a prefix as parsed is still refused: read as some servers
/// read it, its path leaves every allowed prefix.
const LEAVES_PREFIX: &str = "the URL path leaves the allowed prefix when %2F or %5C is read as / (also encoded twice, %252F) or a ;params is cut from a . or .. segment, as some servers do";

/// The path as a lenient server or proxy behind the prefix may read it.
/// The parser resolves `..` and `%2e%2e` segments, but some servers also
/// decode `%2F`/`%5C` into a separator after routing (`/v1/..%2fadmin` is
/// `/admin`), or cut a segment's `;params` (`;` or `%3B`) before resolving
/// dot segments (Tomcat: `/v1/..;/admin` is `/admin`). Here both happen, then the dot
/// segments are resolved (RFC 3986 §5.2.4); a request must be under an
/// allowed prefix read either way. Other segments are kept as they are, so
/// an ordinary path reads the same both ways, and an id with an encoded
/// `/` in it (the enrich examples encode one as a single segment) stays
/// allowed as long as it cannot climb out. A server or a proxy in front of
/// it that decodes twice reads `%252F` as `/`, so `%25` is read as `%`
/// first, as often as it is nested.
fn lenient_path(path: &str) -> String {
    let mut decoded = path.to_owned();
    while decoded.contains("%25") {
        decoded = decoded.replace("%25", "%");
    }
    // A server that decodes before cutting params reads `..%3b` as `..;`.
    for (encoded, read) in [("%2f", "/"), ("%2F", "/"), ("%5c", "/"), ("%5C", "/"), ("%3b", ";"), ("%3B", ";")] {
        decoded = decoded.replace(encoded, read);
    }
    let mut kept: Vec<&str> = Vec::new();
    // A path ending in a dot segment names a directory: it keeps its `/`.
    let mut ends_in_dot = false;
    for segment in decoded.split('/').skip(1) {
        let name = segment.split(';').next().unwrap_or_default().to_ascii_lowercase().replace("%2e", ".");
        ends_in_dot = matches!(name.as_str(), "." | "..");
        match name.as_str() {
            "." => {}
            ".." => {
                kept.pop();
            }
            _ => kept.push(segment),
        }
    }
    let mut out = format!("/{}", kept.join("/"));
    if ends_in_dot && !kept.is_empty() {
        out.push('/');
    }
    out
}

impl AllowedPrefix {
    /// Parses an allow-list entry such as `https://api.example.com/v1/`:
    /// https, or http to a loopback host; no credentials, query or fragment.
    pub fn parse(entry: &str) -> Result<Self, AllowListError> {
        let refuse = |reason| AllowListError { entry: entry.to_owned(), reason };
        let url = parse_url(entry).map_err(refuse)?;
        if url.query().is_some() || entry.contains('#') {
            return Err(refuse("an allowed prefix has no query or fragment"));
        }
        Ok(Self {
            scheme: url.scheme().to_owned(),
            host: url.host_str().unwrap_or_default().to_owned(),
            port: url.port_or_known_default().unwrap_or(0),
            path: url.path().to_owned(),
        })
    }

    /// True if `url` (already parsed, so its path is normalised: `..` and
    /// `%2e%2e` segments are resolved) is under this prefix, and its path
    /// is still under it as a lenient server reads it ([`lenient_path`]).
    /// The path must equal the prefix or continue it at a `/`: `/v1` allows
    /// `/v1/users`, never `/v1-admin`.
    pub(crate) fn allows(&self, url: &url::Url) -> bool {
        self.allows_as_parsed(url) && self.path_under(&lenient_path(url.path()))
    }

    /// [`AllowedPrefix::allows`] without the lenient reading: scheme, host
    /// and port exact, the parsed path under this one.
    fn allows_as_parsed(&self, url: &url::Url) -> bool {
        url.scheme() == self.scheme
            && url.host_str() == Some(self.host.as_str())
            && url.port_or_known_default() == Some(self.port)
            && self.path_under(url.path())
    }

    /// True if every URL `inner` allows, this prefix allows too: the same
    /// scheme, host and port, and `inner`'s path under this one by the rule
    /// of [`AllowedPrefix::allows`]. Lets an allow-list be limited to what
    /// another one already allows (the console's test panel).
    pub fn covers(&self, inner: &AllowedPrefix) -> bool {
        self.scheme == inner.scheme
            && self.host == inner.host
            && self.port == inner.port
            && self.path_under(&inner.path)
    }

    /// The path rule: `path` equals this prefix's path or continues it at a `/`.
    fn path_under(&self, path: &str) -> bool {
        match path.strip_prefix(self.path.as_str()) {
            Some(rest) => rest.is_empty() || self.path.ends_with('/') || rest.starts_with('/'),
            None => false,
        }
    }
}

/// What one binding lets its plugin do over HTTP, handed to
/// [`crate::PluginHost::call_with_http`] for each call.
#[derive(Clone, Default)]
pub struct HttpGrant {
    /// The binding, which keys its response cache.
    pub binding_id: String,
    /// The allowed URL prefixes; empty allows nothing.
    pub allow: Vec<AllowedPrefix>,
    /// How long a successful (2xx) answer is reused; `None`: no cache.
    pub cache_ttl: Option<Duration>,
    /// The binding's secrets, for secret headers only; a 0.2.0 plugin never
    /// receives their values.
    pub secrets: PluginSecrets,
}

impl std::fmt::Debug for HttpGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpGrant")
            .field("binding_id", &self.binding_id)
            .field("allow", &self.allow)
            .field("cache_ttl", &self.cache_ttl)
            .field("secrets", &self.secrets)
            .finish()
    }
}

/// One request a plugin made, as the run record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpExchange {
    /// `GET` or `POST`.
    pub method: String,
    /// The URL without query values (`?a=…&b=…`), so a token or key a plugin
    /// put in the query never lands in the run record.
    pub url: String,
    /// The HTTP status, when an answer came.
    #[serde(default)]
    pub status: Option<u16>,
    /// Bytes of the response body.
    #[serde(default)]
    pub bytes: u64,
    /// Time the request took, in microseconds.
    #[serde(default)]
    pub duration_us: u64,
    /// True when the answer came from the binding's cache.
    #[serde(default)]
    pub cached: bool,
    /// The error code (`not_allowed`, `timeout`, `too_large`, `network`,
    /// `bad_response`) and its detail, when the request failed.
    #[serde(default)]
    pub error: Option<String>,
}

/// The URL as recorded: no credentials, no fragment, query values replaced
/// by `…`; text that is not a URL is not recorded at all.
fn redacted(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else { return "(not an absolute URL)".to_owned() };
    // Refused before any request, but the record must not keep them either.
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    parsed.set_fragment(None);
    let names: Option<Vec<String>> = parsed
        .query()
        .map(|q| q.split('&').map(|pair| format!("{}=…", pair.split('=').next().unwrap_or_default())).collect());
    parsed.set_query(None);
    let base = parsed.to_string();
    let text = match names {
        Some(names) => format!("{base}?{}", names.join("&")),
        None => base,
    };
    truncated(&text, MAX_URL_BYTES)
}

fn truncated(s: &str, max: usize) -> String {
    let mut s = s.to_owned();
    crate::error::truncate_utf8(&mut s, max);
    s
}

/// The limits one call's requests share, from [`crate::HostConfig`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpLimits {
    pub max_requests: usize,
    pub max_request_bytes: usize,
    pub max_response_bytes: usize,
}

/// Which proxy the client may use, decided from explicit inputs so that the
/// decision is tested without the process environment.
///
/// Plain http goes only to a loopback host and is never proxied: a proxy
/// named by `HTTP_PROXY` would receive the binding's secret headers in
/// clear and reach its own loopback, not ours. https requests go through
/// `HTTPS_PROXY` (else `ALL_PROXY`) when one is set, minus the hosts in
/// `NO_PROXY`, as reqwest's automatic system proxy would send them; an
/// explicit proxy turns that automatic one off (reqwest
/// `ClientBuilder::proxy`), so nothing else is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProxySettings {
    /// The proxy URL for https requests.
    https: Option<String>,
    /// The `NO_PROXY` list, as given.
    no_proxy: Option<String>,
}

impl ProxySettings {
    /// Reads the variables through `var`, upper case before lower case as
    /// reqwest does; an empty value counts as unset.
    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let first = |names: &[&str]| names.iter().find_map(|n| var(n).filter(|v| !v.trim().is_empty()));
        Self {
            https: first(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]),
            no_proxy: first(&["NO_PROXY", "no_proxy"]),
        }
    }

    /// The client for plugin requests: no redirects, and only the proxy
    /// above.
    fn client(&self) -> Result<reqwest::blocking::Client, String> {
        self.builder()?
            .user_agent(concat!("tessera-plugin/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))
    }

    /// A client builder with no redirects and only the proxy above.
    fn builder(&self) -> Result<reqwest::blocking::ClientBuilder, String> {
        let builder = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none());
        Ok(match &self.https {
            Some(url) => {
                // The URL may carry the proxy's credentials: not in the error text.
                let proxy = reqwest::Proxy::https(url.as_str())
                    .map_err(|_| "HTTPS_PROXY (or ALL_PROXY) is not a proxy URL".to_owned())?;
                builder.proxy(proxy.no_proxy(self.no_proxy.as_deref().and_then(reqwest::NoProxy::from_string)))
            }
            None => builder.no_proxy(),
        })
    }
}

/// A blocking HTTP client builder for the server's other outbound requests
/// to addresses an administrator configured (a client's `jwks_uri`): no
/// redirects, and the proxy rule of [`ProxySettings`] read from the process
/// environment, so plain http (loopback only there too) is never sent to
/// `HTTP_PROXY`.
pub fn outbound_client_builder() -> Result<reqwest::blocking::ClientBuilder, String> {
    ProxySettings::from_vars(|name| std::env::var(name).ok()).builder()
}

/// The lazily built client every call shares.
#[derive(Default)]
pub(crate) struct HttpClient(OnceLock<Result<reqwest::blocking::Client, String>>);

impl HttpClient {
    fn get(&self) -> Result<&reqwest::blocking::Client, String> {
        self.0
            .get_or_init(|| ProxySettings::from_vars(|name| std::env::var(name).ok()).client())
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// What a running call may use: the grant and what is shared with the host.
struct Access {
    grant: Arc<HttpGrant>,
    limits: HttpLimits,
    client: Arc<HttpClient>,
    caches: Arc<HttpCaches>,
}

/// One call's HTTP state, in its store: what it may use (nothing outside a
/// call, e.g. while a start function runs) and what it did so far.
pub(crate) struct HttpCall {
    access: Option<Access>,
    /// Calls of `fetch` so far, refused ones included.
    attempts: usize,
    exchanges: Vec<HttpExchange>,
}

impl HttpCall {
    pub(crate) fn new(
        grant: Arc<HttpGrant>,
        limits: HttpLimits,
        client: Arc<HttpClient>,
        caches: Arc<HttpCaches>,
    ) -> Self {
        Self { access: Some(Access { grant, limits, client, caches }), attempts: 0, exchanges: Vec::new() }
    }

    /// No request at all: the state of a store outside its call (made
    /// ahead, or spent). Allocates nothing.
    pub(crate) fn none() -> Self {
        Self { access: None, attempts: 0, exchanges: Vec::new() }
    }

    /// The requests recorded so far; leaves the list empty.
    pub(crate) fn take_exchanges(&mut self) -> Vec<HttpExchange> {
        std::mem::take(&mut self.exchanges)
    }

    /// `http.fetch`: checks, cache, request; never traps. Every request
    /// within the count is recorded, and the first one over it: a plugin
    /// looping on refusals costs a counter, not a run record per iteration.
    pub(crate) fn fetch(
        &mut self,
        deadline: WallDeadline,
        req: wit_http::Request,
    ) -> Result<wit_http::Response, wit_http::Error> {
        let start = Instant::now();
        let method = match req.method {
            wit_http::Method::Get => "GET",
            wit_http::Method::Post => "POST",
        };
        // Counted before any check: a loop of refused requests stops too.
        let attempt = self.attempts;
        self.attempts = self.attempts.saturating_add(1);
        // Outside a call nothing is allowed, and only the first refusal is
        // recorded, as over the count.
        let (max, refusal) = match &self.access {
            Some(access) => (access.limits.max_requests, None),
            None => (0, Some("no request outside the call")),
        };
        if attempt > max {
            return Err(refusal.map_or_else(|| over_count(max), |why| not_allowed(why.to_owned())));
        }
        let mut record = HttpExchange {
            method: method.to_owned(),
            url: redacted(&req.url),
            status: None,
            bytes: 0,
            duration_us: 0,
            cached: false,
            error: None,
        };
        let result = match (&self.access, refusal) {
            (_, Some(why)) => Err(not_allowed(why.to_owned())),
            (Some(access), None) if attempt < max => access.checked_fetch(deadline, &req, &mut record),
            _ => Err(over_count(max)),
        };
        record.duration_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        if let Err(e) = &result {
            record.error = Some(truncated(&error_text(e), MAX_ERROR_TEXT));
        }
        self.exchanges.push(record);
        result
    }
}

impl Access {
    fn checked_fetch(
        &self,
        deadline: WallDeadline,
        req: &wit_http::Request,
        record: &mut HttpExchange,
    ) -> Result<wit_http::Response, wit_http::Error> {
        let url = parse_url(&req.url).map_err(|why| not_allowed(why.to_owned()))?;
        if !self.grant.allow.iter().any(|p| p.allows(&url)) {
            let why = if self.grant.allow.iter().any(|p| p.allows_as_parsed(&url)) {
                LEAVES_PREFIX
            } else {
                "the URL is not under an allowed prefix of this binding"
            };
            return Err(not_allowed(why.to_owned()));
        }
        let headers = self.headers(req)?;
        let body = match (req.method, &req.body_json) {
            (wit_http::Method::Post, Some(b)) => {
                if b.len() > self.limits.max_request_bytes {
                    return Err(not_allowed(format!(
                        "the body is larger than {} bytes",
                        self.limits.max_request_bytes
                    )));
                }
                serde_json::from_str::<serde_json::Value>(b)
                    .map_err(|_| not_allowed("the body is not JSON".to_owned()))?;
                Some(b.clone())
            }
            _ => None,
        };
        let key =
            CacheKey::new(record.method.as_str(), url.as_str(), body.as_deref(), &req.headers, &req.secret_headers);
        let ttl = self.grant.cache_ttl;
        if ttl.is_some()
            && let Some(hit) = self.caches.get(&self.grant.binding_id, &key, Instant::now())
        {
            record.cached = true;
            record.status = Some(hit.status);
            record.bytes = hit.body.len() as u64;
            return Ok(hit.into_response(true));
        }
        let answer = self.send(deadline, url, headers, body, record.method.as_str())?;
        record.status = Some(answer.status);
        record.bytes = answer.body.len() as u64;
        if let Some(ttl) = ttl
            && (200..300).contains(&answer.status)
        {
            self.caches.put(&self.grant.binding_id, key, answer.clone(), Instant::now() + ttl);
        }
        Ok(answer.into_response(false))
    }

    /// The request headers: the plain ones (refused names checked) and the
    /// secret ones filled in. A header value is never recorded.
    fn headers(&self, req: &wit_http::Request) -> Result<reqwest::header::HeaderMap, wit_http::Error> {
        use reqwest::header::{HeaderName, HeaderValue};
        if req.headers.len() + req.secret_headers.len() > MAX_HEADERS {
            return Err(not_allowed(format!("more than {MAX_HEADERS} headers")));
        }
        let mut map = reqwest::header::HeaderMap::new();
        let mut add = |name: &str, value: &str| {
            if name.len() > MAX_HEADER_BYTES || value.len() > MAX_HEADER_BYTES {
                return Err(not_allowed(format!("header {name:?} is too long")));
            }
            let lower = name.to_ascii_lowercase();
            if REFUSED_HEADERS.contains(&lower.as_str()) {
                return Err(not_allowed(format!("header {lower:?} may not be set")));
            }
            let name = HeaderName::from_bytes(lower.as_bytes())
                .map_err(|_| not_allowed(format!("{lower:?} is not a header name")))?;
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| not_allowed(format!("the value of header {name} is not valid")))?;
            value.set_sensitive(true);
            map.append(name, value);
            Ok(())
        };
        for (name, value) in &req.headers {
            add(name, value)?;
        }
        for h in &req.secret_headers {
            let value = self
                .grant
                .secrets
                .0
                .get(&h.secret)
                .ok_or_else(|| not_allowed(format!("the binding has no secret named {:?}", h.secret)))?;
            add(&h.name, value)?;
        }
        Ok(map)
    }

    /// The network part, bounded by what is left of the call's deadline.
    fn send(
        &self,
        deadline: WallDeadline,
        url: url::Url,
        headers: reqwest::header::HeaderMap,
        body: Option<String>,
        method: &str,
    ) -> Result<Cached, wit_http::Error> {
        let left = deadline.left();
        if left.is_zero() {
            return Err(wit_http::Error::Timeout);
        }
        let client = self.client.get().map_err(wit_http::Error::Network)?;
        let builder = match (method, body) {
            ("POST", Some(b)) => client.post(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(b),
            ("POST", None) => client.post(url),
            _ => client.get(url),
        };
        let response = builder.headers(headers).timeout(left).send().map_err(transport_error)?;
        let status = response.status().as_u16();
        let cap = self.limits.max_response_bytes;
        if response.content_length().is_some_and(|n| n > cap as u64) {
            return Err(wit_http::Error::TooLarge);
        }
        let headers: Vec<(String, String)> = KEPT_RESPONSE_HEADERS
            .iter()
            .filter_map(|name| {
                let v = response.headers().get(*name)?.to_str().ok()?;
                Some(((*name).to_owned(), truncated(v, MAX_HEADER_BYTES)))
            })
            .collect();
        let mut body = Vec::new();
        response.take(cap as u64 + 1).read_to_end(&mut body).map_err(|e| io_error(&e, deadline))?;
        if body.len() > cap {
            return Err(wit_http::Error::TooLarge);
        }
        if deadline.left().is_zero() {
            return Err(wit_http::Error::Timeout);
        }
        let body =
            String::from_utf8(body).map_err(|_| wit_http::Error::BadResponse("the body is not UTF-8".to_owned()))?;
        Ok(Cached { status, headers, body })
    }
}

fn over_count(max: usize) -> wit_http::Error {
    not_allowed(format!("this call already made its {max} requests"))
}

fn not_allowed(why: String) -> wit_http::Error {
    wit_http::Error::NotAllowed(why)
}

/// What went wrong before the body: the deadline, the connection, or HTTP.
fn transport_error(e: reqwest::Error) -> wit_http::Error {
    if e.is_timeout() {
        return wit_http::Error::Timeout;
    }
    let connection = e.is_connect() || e.is_request();
    // Without the URL, which may carry query values; the causes say why.
    let e = e.without_url();
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    let text = truncated(&text, MAX_ERROR_TEXT);
    if connection { wit_http::Error::Network(text) } else { wit_http::Error::BadResponse(text) }
}

/// A failed body read: a timeout if the deadline is gone, else the
/// connection broke.
fn io_error(e: &std::io::Error, deadline: WallDeadline) -> wit_http::Error {
    if deadline.left().is_zero() || e.kind() == std::io::ErrorKind::TimedOut || e.to_string().contains("timed out") {
        return wit_http::Error::Timeout;
    }
    wit_http::Error::Network(truncated(&e.to_string(), MAX_ERROR_TEXT))
}

/// `code: detail`, as the run record keeps an error.
fn error_text(e: &wit_http::Error) -> String {
    match e {
        wit_http::Error::NotAllowed(why) => format!("not_allowed: {why}"),
        wit_http::Error::Timeout => "timeout".to_owned(),
        wit_http::Error::TooLarge => "too_large".to_owned(),
        wit_http::Error::Network(why) => format!("network: {why}"),
        wit_http::Error::BadResponse(why) => format!("bad_response: {why}"),
    }
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
