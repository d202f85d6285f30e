//! Public keys fetched from a `jwks_uri`: a client's keys for
//! `private_key_jwt` and a trusted issuer's keys for the JWT bearer grant.
//!
//! Bounded at every step: HTTPS only (plain HTTP to loopback hosts, see
//! `client_assertion::check_jwks_uri`), no redirects, a connect and a total
//! timeout, a size cap on the document. Each node caches a fetched set per
//! URL for `cache_secs`; a key id the cached set lacks (the signer rotated
//! its keys) fetches again, but at most once per `refetch_secs` per URL, and
//! so does a failed fetch, so a flood of assertions cannot turn into a flood
//! of fetches. The fetch runs with no lock held and no database connection
//! (callers get the keys before they take one).

use crate::clock::SharedClock;
use jsonwebtoken::jwk::JwkSet;
use std::collections::HashMap;
use std::io::Read as _;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tessera_protocol::client_assertion::check_jwks_uri;

/// How keys are fetched and cached (config `[remote_jwks]`).
#[derive(Debug, Clone)]
pub struct RemoteJwksSettings {
    /// A fetched set is used this long before it is fetched again.
    pub cache_secs: i64,
    /// At most one fetch per URL this often for an unknown key id or after
    /// a failure.
    pub refetch_secs: i64,
    /// Connect timeout, and the bound on the whole exchange.
    pub timeout: Duration,
    /// Larger documents are refused.
    pub max_bytes: usize,
}

/// Why no key set could be had; shown in the log detail of the refusal.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL is not one a key set may come from.
    #[error("{0}")]
    Url(&'static str),
    /// Connection refused, DNS, TLS, timeout.
    #[error("cannot fetch: {0}")]
    Unreachable(String),
    /// The server answered, but not 200.
    #[error("the key server answered HTTP {0}")]
    Status(u16),
    /// The document is larger than the cap.
    #[error("the JWK Set is larger than {0} bytes")]
    TooLarge(usize),
    /// Not a JWK Set of public keys.
    #[error("not a usable JWK Set: {0}")]
    Invalid(String),
    /// A fetch failed recently; the next one waits for `refetch_secs`.
    #[error("the last fetch failed and the next may start in {0} s")]
    Backoff(i64),
}

/// One URL's cached set and when it was last fetched or tried.
#[derive(Clone)]
struct Entry {
    keys: Option<Arc<JwkSet>>,
    fetched_at: i64,
    attempted_at: i64,
}

/// The per-node cache of remote key sets.
pub struct RemoteJwks {
    settings: RemoteJwksSettings,
    clock: SharedClock,
    http: OnceLock<Result<reqwest::blocking::Client, String>>,
    cache: Mutex<HashMap<String, Entry>>,
}

impl RemoteJwks {
    /// An empty cache; the HTTP client is built on first use (on the
    /// blocking thread that needs it).
    pub fn new(settings: RemoteJwksSettings, clock: SharedClock) -> RemoteJwks {
        RemoteJwks { settings, clock, http: OnceLock::new(), cache: Mutex::new(HashMap::new()) }
    }

    /// The key set published at `url`, to verify a signature whose header
    /// names `kid`: from the cache while fresh and holding `kid`, otherwise
    /// fetched (rate-limited as the module says). A fresh set without
    /// `kid` that may not be fetched again yet is returned as it is, and
    /// the signature check fails on it.
    pub fn keys(&self, url: &str, kid: Option<&str>) -> Result<Arc<JwkSet>, FetchError> {
        let now = self.clock.now();
        let s = &self.settings;
        let cached = {
            let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let entry = cache.get(url).cloned();
            let fresh = entry.as_ref().and_then(|e| e.keys.clone().filter(|_| now - e.fetched_at < s.cache_secs));
            let knows_kid = |set: &JwkSet| kid.is_none_or(|k| set.find(k).is_some());
            if let Some(set) = fresh.as_ref().filter(|set| knows_kid(set)) {
                return Ok(set.clone());
            }
            let may_fetch = entry.as_ref().is_none_or(|e| now - e.attempted_at >= s.refetch_secs);
            if !may_fetch {
                return match fresh {
                    Some(set) => Ok(set),
                    None => Err(FetchError::Backoff(entry.map_or(0, |e| e.attempted_at + s.refetch_secs - now).max(1))),
                };
            }
            // Claimed under the lock, so concurrent requests do not all fetch.
            let claimed = Entry {
                keys: entry.as_ref().and_then(|e| e.keys.clone()),
                fetched_at: entry.as_ref().map_or(0, |e| e.fetched_at),
                attempted_at: now,
            };
            cache.insert(url.to_owned(), claimed);
            fresh
        };
        match self.fetch(url) {
            Ok(set) => {
                let set = Arc::new(set);
                let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                cache.insert(url.to_owned(), Entry { keys: Some(set.clone()), fetched_at: now, attempted_at: now });
                Ok(set)
            }
            Err(e) => {
                tracing::warn!(url, error = %e, "fetching a JWK Set failed");
                // A rotation fetch that failed leaves the cached set in use
                // until it expires; a failed first or expiry fetch has none.
                cached.ok_or(e)
            }
        }
    }

    /// One bounded GET of `url`, parsed as a set of public keys.
    fn fetch(&self, url: &str) -> Result<JwkSet, FetchError> {
        let url = check_jwks_uri(url).map_err(FetchError::Url)?;
        let http = self.http().map_err(FetchError::Unreachable)?;
        let max = self.settings.max_bytes;
        let response = http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/jwk-set+json, application/json")
            .send()
            .map_err(|e| FetchError::Unreachable(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        if response.content_length().is_some_and(|n| n > max as u64) {
            return Err(FetchError::TooLarge(max));
        }
        let mut body = Vec::new();
        response
            .take(max as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| FetchError::Unreachable(format!("reading the body: {e}")))?;
        if body.len() > max {
            return Err(FetchError::TooLarge(max));
        }
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| FetchError::Invalid(format!("not JSON: {e}")))?;
        super::client_assertion::parse_public_jwks(&value).map_err(FetchError::Invalid)
    }

    /// The HTTP client, built once: the timeouts, no redirects, and plain
    /// http (loopback only) never through a proxy
    /// (`tessera_plugin_host::outbound_client_builder`).
    fn http(&self) -> Result<&reqwest::blocking::Client, String> {
        let timeout = self.settings.timeout;
        self.http
            .get_or_init(|| {
                tessera_plugin_host::outbound_client_builder()?
                    .connect_timeout(timeout)
                    .timeout(timeout)
                    .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| format!("cannot build the HTTP client: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::clock::SetClock;
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A loopback server answering every request with the current document
    /// of `doc` and counting the requests.
    fn serve(doc: Arc<Mutex<String>>, hits: Arc<AtomicUsize>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                hits.fetch_add(1, Ordering::SeqCst);
                let body = doc.lock().unwrap().clone();
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes()));
            }
        });
        url
    }

    fn jwks(kid: &str) -> String {
        serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": kid,
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]})
        .to_string()
    }

    fn settings() -> RemoteJwksSettings {
        RemoteJwksSettings { cache_secs: 300, refetch_secs: 30, timeout: Duration::from_secs(3), max_bytes: 4096 }
    }

    /// The cache serves a known kid without fetching; an unknown kid fetches
    /// again at most once per refetch_secs; an expired set is fetched again.
    #[test]
    fn unknown_kids_refetch_at_most_once_per_interval_and_sets_expire() {
        let doc = Arc::new(Mutex::new(jwks("a")));
        let hits = Arc::new(AtomicUsize::new(0));
        let url = serve(doc.clone(), hits.clone());
        let clock = SetClock::at(1_000);
        let remote = RemoteJwks::new(settings(), clock.clone());
        assert!(remote.keys(&url, Some("a")).unwrap().find("a").is_some());
        assert!(remote.keys(&url, Some("a")).is_ok());
        assert_eq!(hits.load(Ordering::SeqCst), 1, "cached");

        *doc.lock().unwrap() = jwks("b");
        clock.advance(5);
        assert!(remote.keys(&url, Some("b")).unwrap().find("b").is_none(), "within the interval: the cached set");
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        clock.advance(30);
        assert!(remote.keys(&url, Some("b")).unwrap().find("b").is_some(), "rotation picked up");
        assert_eq!(hits.load(Ordering::SeqCst), 2);

        clock.advance(301);
        assert!(remote.keys(&url, None).is_ok());
        assert_eq!(hits.load(Ordering::SeqCst), 3, "expired, fetched again");
    }

    #[test]
    fn oversized_junk_and_unreachable_documents_are_refused() {
        let doc = Arc::new(Mutex::new("x".repeat(5000)));
        let url = serve(doc.clone(), Arc::new(AtomicUsize::new(0)));
        let remote = RemoteJwks::new(RemoteJwksSettings { refetch_secs: 0, ..settings() }, SetClock::at(1));
        assert!(matches!(remote.keys(&url, None), Err(FetchError::TooLarge(4096))));
        *doc.lock().unwrap() = "{}".into();
        assert!(matches!(remote.keys(&url, None), Err(FetchError::Invalid(_))));
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        assert!(matches!(remote.keys(&format!("http://{closed}/jwks"), None), Err(FetchError::Unreachable(_))));
        assert!(matches!(remote.keys("http://keys.example/jwks", None), Err(FetchError::Url(_))));
    }

    #[test]
    fn a_failed_fetch_is_not_retried_within_the_interval() {
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let url = format!("http://{closed}/jwks");
        let remote = RemoteJwks::new(settings(), SetClock::at(1));
        assert!(matches!(remote.keys(&url, None), Err(FetchError::Unreachable(_))));
        assert!(matches!(remote.keys(&url, None), Err(FetchError::Backoff(30))));
    }
}
