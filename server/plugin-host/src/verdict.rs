//! [`PluginVerdict`]: the plugin's answer after the host has checked it.
//!
//! Guest output is untrusted. A [`ClaimsPatch`] can only be built here, by
//! [`validate`], after every claim name has passed the reserved-claim and
//! declared-claim filters and the whole output the size cap, so code that
//! receives a `ClaimsPatch` may apply it without checking again.

use serde::Serialize;
use serde_json::{Map, Value};
use tessera_protocol::claims::PluginClaims;

use crate::bindings::wit;
use crate::error::PluginFailure;

/// Claims only Tessera may set; one list, owned by the protocol crate.
pub use tessera_protocol::claims::RESERVED_CLAIMS;

/// What a plugin decided, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum PluginVerdict {
    /// Issue the token with these changes.
    Allow(ClaimsPatch),
    /// Refuse the request with this OAuth error.
    Deny {
        /// The OAuth `error` code.
        code: DenialCode,
        /// The `error_description`, already restricted to the RFC 6749 §5.2
        /// character set: `"` becomes `'`, `\` becomes `/`, anything else outside it `?`.
        description: String,
    },
}

/// Changes an allowing plugin makes to the token. Built only by the host after
/// validation (see the module docs), hence no public constructor.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClaimsPatch {
    access_token_claims: PluginClaims,
    id_token_claims: PluginClaims,
    drop_scopes: Vec<String>,
}

impl ClaimsPatch {
    /// Claims to set on the access token; no reserved or undeclared names.
    pub fn access_token_claims(&self) -> &Map<String, Value> {
        self.access_token_claims.as_map()
    }

    /// Claims to set on the ID token; empty when no ID token is issued.
    pub fn id_token_claims(&self) -> &Map<String, Value> {
        self.id_token_claims.as_map()
    }

    /// The access-token claims as the filtered type (for applying them).
    pub fn access(&self) -> &PluginClaims {
        &self.access_token_claims
    }

    /// The ID-token claims as the filtered type (for applying them).
    pub fn id(&self) -> &PluginClaims {
        &self.id_token_claims
    }

    /// Scopes to remove from the granted set (each a valid RFC 6749 scope token).
    pub fn drop_scopes(&self) -> &[String] {
        &self.drop_scopes
    }

    /// Takes the patch apart: (access-token claims, ID-token claims, dropped
    /// scopes), the claims already as the filtered type the token builder takes.
    pub fn into_parts(self) -> (PluginClaims, PluginClaims, Vec<String>) {
        (self.access_token_claims, self.id_token_claims, self.drop_scopes)
    }
}

/// The OAuth error codes a plugin may deny with (the WIT `denial-code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DenialCode {
    /// RFC 6749 §5.2 / §4.1.2.1 `access_denied`: the resource owner or server denied the request.
    AccessDenied,
    /// RFC 6749 §5.2 `invalid_scope`: the requested scope is invalid, unknown or too broad.
    InvalidScope,
    /// RFC 6749 §5.2 `invalid_request`: a parameter is missing or invalid.
    InvalidRequest,
    /// RFC 6749 §5.2 `invalid_grant`: the grant is invalid for this request.
    InvalidGrant,
    /// RFC 6749 §5.2 `unauthorized_client`: this client may not use this grant.
    UnauthorizedClient,
}

impl DenialCode {
    /// The RFC 6749 `error` value sent to the client.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessDenied => "access_denied",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
        }
    }
}

impl From<wit::DenialCode> for DenialCode {
    fn from(c: wit::DenialCode) -> Self {
        match c {
            wit::DenialCode::AccessDenied => Self::AccessDenied,
            wit::DenialCode::InvalidScope => Self::InvalidScope,
            wit::DenialCode::InvalidRequest => Self::InvalidRequest,
            wit::DenialCode::InvalidGrant => Self::InvalidGrant,
            wit::DenialCode::UnauthorizedClient => Self::UnauthorizedClient,
        }
    }
}

/// What [`validate`] checks guest output against.
pub(crate) struct OutputRules<'a> {
    pub max_output_bytes: usize,
    /// The binding's declared claims; `None` allows any non-reserved name.
    pub declared: Option<&'a [String]>,
    /// Whether the context carried ID-token claims (an ID token is issued).
    pub id_token_issued: bool,
}

/// Turns the guest's decision into a verdict, or the first contract breach.
pub(crate) fn validate(decision: wit::Decision, rules: &OutputRules<'_>) -> Result<PluginVerdict, PluginFailure> {
    match decision {
        wit::Decision::Allow(p) => validate_patch(p, rules).map(PluginVerdict::Allow),
        wit::Decision::Deny(d) => {
            check_size(d.description.len(), rules.max_output_bytes)?;
            Ok(PluginVerdict::Deny { code: d.code.into(), description: sanitize_description(&d.description) })
        }
    }
}

fn check_size(size: usize, limit: usize) -> Result<(), PluginFailure> {
    if size > limit {
        return Err(PluginFailure::OversizedOutput { size, limit });
    }
    Ok(())
}

fn validate_patch(p: wit::ClaimsPatch, rules: &OutputRules<'_>) -> Result<ClaimsPatch, PluginFailure> {
    let size = p.access_token_claims_json.len()
        + p.id_token_claims_json.len()
        + p.drop_scopes.iter().map(String::len).sum::<usize>();
    check_size(size, rules.max_output_bytes)?;

    let access = parse_object("access-token-claims-json", &p.access_token_claims_json)?;
    let id = parse_object("id-token-claims-json", &p.id_token_claims_json)?;
    // Reserved first: it is the more serious breach and must win in reports.
    // The protocol crate's filter is the one reserved-claim check; what
    // passes it is the type the token builder accepts, so nobody filters again.
    let access = PluginClaims::filter(access).map_err(|r| PluginFailure::ReservedClaim(r.0))?;
    let id = PluginClaims::filter(id).map_err(|r| PluginFailure::ReservedClaim(r.0))?;
    let names = || access.as_map().keys().chain(id.as_map().keys());
    if let Some(declared) = rules.declared
        && let Some(name) = names().find(|n| !declared.iter().any(|d| d == *n))
    {
        return Err(PluginFailure::UndeclaredClaim(name.clone()));
    }
    if let Some(bad) = p.drop_scopes.iter().find(|s| !is_scope_token(s)) {
        return Err(PluginFailure::InvalidOutput(format!("drop-scopes entry {bad:?} is not a valid scope token")));
    }
    Ok(ClaimsPatch {
        access_token_claims: access,
        // The WIT says ID-token claims are ignored without an ID token; drop
        // them here so no caller can apply them by mistake.
        id_token_claims: if rules.id_token_issued { id } else { PluginClaims::default() },
        drop_scopes: p.drop_scopes,
    })
}

fn parse_object(field: &str, text: &str) -> Result<Map<String, Value>, PluginFailure> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(PluginFailure::InvalidOutput(format!("{field} is not a JSON object"))),
        Err(e) => Err(PluginFailure::InvalidOutput(format!("{field} is not valid JSON: {e}"))),
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Restricts a denial description to RFC 6749 §5.2's `error_description`
/// set (%x20-21 / %x23-5B / %x5D-7E): `"` becomes `'`, `\` becomes `/`,
/// tab/CR/LF become a space and any other character becomes `?`.
///
/// We sanitize rather than fail: a failure would hand the request to the
/// binding's failure policy, and under "skip" a denial with a typographic
/// quote would turn into an issued token. A denial always stays a denial.
pub(crate) fn sanitize_description(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            '\t' | '\n' | '\r' => ' ',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(declared: Option<&[String]>) -> OutputRules<'_> {
        OutputRules { max_output_bytes: 200, declared, id_token_issued: true }
    }

    fn allow(access: &str, id: &str, drop: &[&str]) -> wit::Decision {
        wit::Decision::Allow(wit::ClaimsPatch {
            access_token_claims_json: access.into(),
            id_token_claims_json: id.into(),
            drop_scopes: drop.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    #[test]
    fn valid_patch_is_allowed() {
        let v = validate(allow(r#"{"tenant":"t1"}"#, r#"{"nick":"a"}"#, &["write"]), &rules(None)).unwrap();
        let PluginVerdict::Allow(p) = v else { panic!("{v:?}") };
        assert_eq!(p.access_token_claims().get("tenant"), Some(&json!("t1")));
        assert_eq!(p.id_token_claims().get("nick"), Some(&json!("a")));
        assert_eq!(p.drop_scopes(), ["write"]);
    }

    /// docs/security-checklist.md W-13: reserved claims cannot be set.
    #[test]
    fn every_reserved_claim_is_refused_in_either_token() {
        for name in RESERVED_CLAIMS {
            let claims = json!({ *name: "x" }).to_string();
            let r = validate(allow(&claims, "{}", &[]), &rules(None));
            assert_eq!(r, Err(PluginFailure::ReservedClaim((*name).into())));
            let r = validate(allow("{}", &claims, &[]), &rules(None));
            assert_eq!(r, Err(PluginFailure::ReservedClaim((*name).into())));
        }
    }

    #[test]
    fn reserved_wins_over_undeclared() {
        let declared = vec!["tenant".to_owned()];
        let r = validate(allow(r#"{"a":1,"sub":"x"}"#, "{}", &[]), &rules(Some(&declared)));
        assert_eq!(r, Err(PluginFailure::ReservedClaim("sub".into())));
    }

    #[test]
    fn undeclared_claim_is_refused_only_when_a_list_is_given() {
        let declared = vec!["tenant".to_owned()];
        let r = validate(allow(r#"{"tenant":1,"x":2}"#, "{}", &[]), &rules(Some(&declared)));
        assert_eq!(r, Err(PluginFailure::UndeclaredClaim("x".into())));
        assert!(validate(allow(r#"{"tenant":1,"x":2}"#, "{}", &[]), &rules(None)).is_ok());
    }

    /// docs/security-checklist.md W-13: not an object, invalid JSON, nesting 1,000 deep.
    #[test]
    fn non_objects_and_garbage_are_invalid_output() {
        for bad in ["[]", "\"s\"", "{", "", "null"] {
            let r = validate(allow(bad, "{}", &[]), &rules(None));
            assert!(matches!(r, Err(PluginFailure::InvalidOutput(_))), "{bad}: {r:?}");
        }
        let deep = "[".repeat(1000) + &"]".repeat(1000);
        let r = validate(
            allow(&format!(r#"{{"a":{deep}}}"#), "{}", &[]),
            &OutputRules { max_output_bytes: 10_000, declared: None, id_token_issued: true },
        );
        assert!(matches!(r, Err(PluginFailure::InvalidOutput(_))), "{r:?}");
    }

    #[test]
    fn bad_scope_tokens_are_invalid_output() {
        for bad in ["", "a b", "quote\"", "back\\slash", "é"] {
            let r = validate(allow("{}", "{}", &[bad]), &rules(None));
            assert!(matches!(r, Err(PluginFailure::InvalidOutput(_))), "{bad}: {r:?}");
        }
    }

    #[test]
    fn output_over_the_cap_is_oversized() {
        let big = json!({ "x": "y".repeat(300) }).to_string();
        let r = validate(allow(&big, "{}", &[]), &rules(None));
        assert!(matches!(r, Err(PluginFailure::OversizedOutput { limit: 200, .. })), "{r:?}");
        let r = validate(
            wit::Decision::Deny(wit::Denial { code: wit::DenialCode::AccessDenied, description: "d".repeat(201) }),
            &rules(None),
        );
        assert_eq!(r, Err(PluginFailure::OversizedOutput { size: 201, limit: 200 }));
    }

    #[test]
    fn id_token_claims_are_dropped_without_an_id_token() {
        let r = validate(
            allow("{}", r#"{"nick":"a"}"#, &[]),
            &OutputRules { max_output_bytes: 200, declared: None, id_token_issued: false },
        );
        let Ok(PluginVerdict::Allow(p)) = r else { panic!("{r:?}") };
        assert!(p.id_token_claims().is_empty());
    }

    #[test]
    fn denial_maps_code_and_sanitizes_description() {
        let r = validate(
            wit::Decision::Deny(wit::Denial {
                code: wit::DenialCode::UnauthorizedClient,
                description: "no \"evil\"\\ client\né".into(),
            }),
            &rules(None),
        );
        assert_eq!(
            r,
            Ok(PluginVerdict::Deny { code: DenialCode::UnauthorizedClient, description: "no 'evil'/ client ?".into() })
        );
        assert_eq!(DenialCode::UnauthorizedClient.as_str(), "unauthorized_client");
    }

    #[test]
    fn denial_code_serializes_as_the_rfc_string() {
        for c in [
            DenialCode::AccessDenied,
            DenialCode::InvalidScope,
            DenialCode::InvalidRequest,
            DenialCode::InvalidGrant,
            DenialCode::UnauthorizedClient,
        ] {
            assert_eq!(serde_json::to_value(c).unwrap(), json!(c.as_str()));
        }
    }
}
