//! The per-binding response cache of `http.fetch` (`http.rs`): a binding
//! with a cache TTL reuses a successful (2xx) answer to the same request
//! (method, URL, body, header names and values, secret header names) for
//! that long, on this node. Each binding keeps at most
//! [`crate::HostConfig::http_cache_entries`] answers: when full, expired
//! ones go first, then the one closest to expiry. Only the answer is kept
//! (status, the kept headers, the body, each under the response cap), never
//! a secret value. The lock is held only to look up or insert, never across
//! a request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::bindings::wit_http;
use crate::locks::lock;

/// What identifies a request in the cache: a digest of everything that can
/// change the answer, so plain header values (which may be credentials) are
/// not kept in memory as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey([u8; 32]);

impl CacheKey {
    pub(crate) fn new(
        method: &str,
        url: &str,
        body: Option<&str>,
        headers: &[(String, String)],
        secret_headers: &[wit_http::SecretHeader],
    ) -> Self {
        let mut h = Sha256::new();
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        };
        field(method.as_bytes());
        field(url.as_bytes());
        field(body.unwrap_or_default().as_bytes());
        for (n, v) in headers {
            field(n.to_ascii_lowercase().as_bytes());
            field(v.as_bytes());
        }
        field(b"secret-headers");
        for s in secret_headers {
            field(s.name.to_ascii_lowercase().as_bytes());
            field(s.secret.as_bytes());
        }
        Self(h.finalize().into())
    }
}

/// An answer as kept and as handed back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cached {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Cached {
    pub(crate) fn into_response(self, cached: bool) -> wit_http::Response {
        wit_http::Response { status: self.status, headers: self.headers, body: self.body, cached }
    }
}

/// One binding's answers, each with when it expires.
type BindingCache = HashMap<CacheKey, (Instant, Cached)>;

/// Every binding's cache.
#[derive(Debug)]
pub(crate) struct HttpCaches {
    per_binding: usize,
    bindings: Mutex<HashMap<String, BindingCache>>,
}

impl HttpCaches {
    /// Caches of at most `per_binding` answers each (0: nothing is kept).
    pub(crate) fn new(per_binding: usize) -> Self {
        Self { per_binding, bindings: Mutex::default() }
    }

    /// The unexpired answer to `key` for `binding`, if any.
    pub(crate) fn get(&self, binding: &str, key: &CacheKey, now: Instant) -> Option<Cached> {
        let bindings = lock(&self.bindings);
        let (expires, answer) = bindings.get(binding)?.get(key)?;
        (*expires > now).then(|| answer.clone())
    }

    /// Keeps `answer` until `expires`, making room first if the binding's
    /// cache is full.
    pub(crate) fn put(&self, binding: &str, key: CacheKey, answer: Cached, expires: Instant) {
        if self.per_binding == 0 {
            return;
        }
        let now = Instant::now();
        let mut bindings = lock(&self.bindings);
        let entries = bindings.entry(binding.to_owned()).or_default();
        if entries.len() >= self.per_binding && !entries.contains_key(&key) {
            entries.retain(|_, (e, _)| *e > now);
            if entries.len() >= self.per_binding {
                let soonest = entries.iter().min_by_key(|(_, (e, _))| *e).map(|(k, _)| k.clone());
                if let Some(k) = soonest {
                    entries.remove(&k);
                }
            }
        }
        entries.insert(key, (expires, answer));
    }

    /// Drops every answer kept for `binding` (and its map), so a deleted
    /// or changed binding's answers do not wait for a restart.
    pub(crate) fn forget(&self, binding: &str) {
        lock(&self.bindings).remove(binding);
    }

    /// Answers kept for `binding`.
    #[cfg(test)]
    pub(crate) fn len(&self, binding: &str) -> usize {
        lock(&self.bindings).get(binding).map_or(0, HashMap::len)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn key(url: &str) -> CacheKey {
        CacheKey::new("GET", url, None, &[], &[])
    }

    fn answer(body: &str) -> Cached {
        Cached { status: 200, headers: vec![], body: body.to_owned() }
    }

    #[test]
    fn an_answer_is_reused_until_it_expires() {
        let c = HttpCaches::new(4);
        let now = Instant::now();
        c.put("b", key("https://x/a"), answer("1"), now + Duration::from_secs(10));
        assert_eq!(c.get("b", &key("https://x/a"), now).map(|a| a.body), Some("1".to_owned()));
        assert_eq!(c.get("b", &key("https://x/a"), now + Duration::from_secs(11)), None);
        assert_eq!(c.get("other", &key("https://x/a"), now), None, "caches are per binding");
    }

    #[test]
    fn a_full_cache_evicts_expired_then_soonest_to_expire() {
        let c = HttpCaches::new(2);
        let now = Instant::now();
        c.put("b", key("https://x/1"), answer("1"), now + Duration::from_secs(5));
        c.put("b", key("https://x/2"), answer("2"), now + Duration::from_secs(50));
        c.put("b", key("https://x/3"), answer("3"), now + Duration::from_secs(60));
        assert_eq!(c.len("b"), 2);
        assert!(c.get("b", &key("https://x/1"), now).is_none());
        assert!(c.get("b", &key("https://x/3"), now).is_some());
    }

    #[test]
    fn forgetting_a_binding_drops_its_answers_and_no_others() {
        let c = HttpCaches::new(4);
        let later = Instant::now() + Duration::from_secs(60);
        c.put("gone", key("https://x/a"), answer("1"), later);
        c.put("gone", key("https://x/b"), answer("2"), later);
        c.put("kept", key("https://x/a"), answer("3"), later);
        c.forget("gone");
        c.forget("never-cached");
        assert_eq!((c.len("gone"), c.len("kept")), (0, 1));
        assert!(c.get("gone", &key("https://x/a"), Instant::now()).is_none());
        assert!(!lock(&c.bindings).contains_key("gone"), "the binding's map is gone too");
    }

    #[test]
    fn keys_differ_by_body_headers_and_secret_names() {
        let secret = |s: &str| wit_http::SecretHeader { name: "authorization".into(), secret: s.into() };
        let base = CacheKey::new("POST", "https://x/", Some("{}"), &[], &[secret("a")]);
        assert_ne!(base, CacheKey::new("POST", "https://x/", Some("[]"), &[], &[secret("a")]));
        assert_ne!(base, CacheKey::new("POST", "https://x/", Some("{}"), &[], &[secret("b")]));
        assert_ne!(base, CacheKey::new("POST", "https://x/", Some("{}"), &[("a".into(), "b".into())], &[secret("a")]));
        assert_ne!(base, CacheKey::new("GET", "https://x/", Some("{}"), &[], &[secret("a")]));
        assert_eq!(base, CacheKey::new("POST", "https://x/", Some("{}"), &[], &[secret("a")]));
    }
}
