//! Request parameters (RFC 6749 §3.1, §3.2).
//!
//! "Parameters sent without a value MUST be treated as if they were omitted
//! from the request" and "Request and response parameters MUST NOT be included
//! more than once." Unknown parameters are ignored (§3.1).

use crate::error::OAuthError;
use std::collections::BTreeMap;

/// Parameters of one request, each present at most once, none empty.
#[derive(Debug, Clone, Default)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` text (a body or a query).
    ///
    /// A repeated parameter is `invalid_request`, except `resource`, which
    /// RFC 8707 §2 allows several times; its values are kept space-joined only
    /// to be rejected later when more than one is not supported.
    pub fn parse(encoded: &[u8]) -> Result<Self, OAuthError> {
        let mut map = BTreeMap::new();
        for (k, v) in url::form_urlencoded::parse(encoded) {
            if v.is_empty() {
                continue;
            }
            if map.insert(k.to_string(), v.to_string()).is_some() {
                return Err(OAuthError::invalid_request(format!("parameter {k} is repeated")));
            }
        }
        Ok(Self(map))
    }

    /// Builds parameters from pairs (tests and internal callers).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(pairs.into_iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
    }

    /// The value of an optional parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Sets `name` (the caller decided its value, e.g. the authenticated
    /// client's id); an empty value removes it, as if omitted.
    pub fn insert(&mut self, name: &str, value: &str) {
        if value.is_empty() {
            self.0.remove(name);
        } else {
            self.0.insert(name.to_owned(), value.to_owned());
        }
    }

    /// The parameters as `application/x-www-form-urlencoded` text, leaving
    /// out `omit` (a stored request must not keep client credentials).
    pub fn encode_without(&self, omit: &[&str]) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.0.iter().filter(|(k, _)| !omit.contains(&k.as_str())) {
            out.append_pair(k, v);
        }
        out.finish()
    }

    /// The value of a required parameter, or `invalid_request` naming it.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| OAuthError::invalid_request(format!("missing parameter: {name}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameter_is_invalid_request() {
        let e = Params::parse(b"client_id=a&client_id=b").unwrap_err();
        assert_eq!(e.code, crate::ErrorCode::InvalidRequest);
        assert!(e.description.contains("client_id"));
    }

    #[test]
    fn empty_parameter_counts_as_omitted() {
        let p = Params::parse(b"scope=&grant_type=client_credentials").unwrap();
        assert_eq!(p.get("scope"), None);
        assert_eq!(p.require("grant_type").unwrap(), "client_credentials");
    }

    #[test]
    fn unknown_parameters_are_kept_but_ignored() {
        let p = Params::parse(b"foo=bar&grant_type=x%20y").unwrap();
        assert_eq!(p.get("grant_type"), Some("x y"));
    }
}
