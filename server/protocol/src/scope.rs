//! Scope sets (RFC 6749 §3.3): space-delimited, case-sensitive, order-free.

use crate::error::OAuthError;
use std::collections::BTreeSet;
use std::fmt;

/// A validated set of scope tokens. Sorted, so rendering is deterministic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<String>);

impl ScopeSet {
    /// Parses a `scope` parameter. RFC 6749 §3.3: `scope-token = 1*NQCHAR`,
    /// NQCHAR = %x21 / %x23-5B / %x5D-7E, separated by single spaces; we accept
    /// runs of spaces but nothing else.
    pub fn parse(s: &str) -> Result<Self, OAuthError> {
        let mut set = BTreeSet::new();
        for token in s.split(' ').filter(|t| !t.is_empty()) {
            if !token.chars().all(|c| matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')) {
                return Err(OAuthError::new(crate::ErrorCode::InvalidScope, "scope contains an invalid character"));
            }
            set.insert(token.to_owned());
        }
        Ok(Self(set))
    }

    /// A set from already-validated tokens (e.g. stored API scopes).
    pub fn from_tokens<I: IntoIterator<Item = S>, S: Into<String>>(tokens: I) -> Self {
        Self(tokens.into_iter().map(Into::into).filter(|t: &String| !t.is_empty()).collect())
    }

    /// True when no scope is present.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True if `scope` is in the set.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// The scopes in `self` that are not in `other`.
    pub fn difference(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.difference(&other.0).cloned().collect())
    }

    /// The scopes in both sets.
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.intersection(&other.0).cloned().collect())
    }

    /// True when every scope of `self` is in `other`.
    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// Removes scopes (plugins may only narrow a grant).
    pub fn remove_all<'a>(&mut self, scopes: impl IntoIterator<Item = &'a str>) {
        for s in scopes {
            self.0.remove(s);
        }
    }

    /// Iterates in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The scopes as owned strings, sorted.
    pub fn to_vec(&self) -> Vec<String> {
        self.0.iter().cloned().collect()
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sorted_and_deduplicated() {
        let s = ScopeSet::parse("write  read read").unwrap();
        assert_eq!(s.to_string(), "read write");
    }

    #[test]
    fn scope_with_quote_or_backslash_is_invalid_scope() {
        assert!(ScopeSet::parse("a\"b").is_err());
        assert!(ScopeSet::parse("a\\b").is_err());
        assert!(ScopeSet::parse("a\tb").is_err());
    }

    #[test]
    fn subset_and_difference() {
        let a = ScopeSet::parse("a b").unwrap();
        let b = ScopeSet::parse("a b c").unwrap();
        assert!(a.is_subset(&b));
        assert_eq!(b.difference(&a).to_string(), "c");
    }
}
