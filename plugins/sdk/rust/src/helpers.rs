// Helpers over the generated bindings: included by `lib.rs` of this crate
// (WIT 0.1.0) and of `sdk/rust-http` (WIT 0.2.0), whose types have the same
// names and shapes. Needs `Map`, `Value`, `Decision`, `Denial`, `DenialCode`,
// `ClaimsPatch`, `TokenContext` and `UserSource` in scope.

/// Allows the token unchanged.
pub fn allow_unchanged() -> Decision {
    Patch::new().allow()
}

/// Refuses the request with an OAuth error. `description` is shown to the
/// client: keep it printable ASCII and free of secrets.
pub fn deny(code: DenialCode, description: impl Into<String>) -> Decision {
    Decision::Deny(Denial {
        code,
        description: description.into(),
    })
}

/// Builder for the changes an allowing plugin makes to a token.
#[derive(Debug, Default, Clone)]
pub struct Patch {
    access: Map<String, Value>,
    id: Map<String, Value>,
    drop: Vec<String>,
}

impl Patch {
    /// An empty patch: no claims, no dropped scopes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a claim on the access token.
    pub fn access_claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.access.insert(name.into(), value.into());
        self
    }

    /// Sets a claim on the ID token (ignored by Tessera when none is issued).
    pub fn id_claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.id.insert(name.into(), value.into());
        self
    }

    /// Removes a scope from the granted set.
    pub fn drop_scope(mut self, scope: impl Into<String>) -> Self {
        self.drop.push(scope.into());
        self
    }

    /// The patch in its wire form.
    pub fn into_claims_patch(self) -> ClaimsPatch {
        ClaimsPatch {
            access_token_claims_json: Value::Object(self.access).to_string(),
            id_token_claims_json: Value::Object(self.id).to_string(),
            drop_scopes: self.drop,
        }
    }

    /// Allows the token with this patch.
    pub fn allow(self) -> Decision {
        Decision::Allow(self.into_claims_patch())
    }
}

impl TokenContext {
    /// The binding's configuration, parsed. An `Err` here means the host
    /// broke the contract (config-json is always valid JSON).
    pub fn config(&self) -> Result<Value, String> {
        parse("config-json", &self.config_json)
    }

    /// The binding's secrets, parsed: name to value.
    pub fn secrets(&self) -> Result<Map<String, Value>, String> {
        match parse("secrets-json", &self.secrets_json)? {
            Value::Object(map) => Ok(map),
            _ => Err("secrets-json is not a JSON object".to_owned()),
        }
    }

    /// True when an ID token is being issued with this access token.
    pub fn issues_id_token(&self) -> bool {
        self.id_token_claims_json.is_some()
    }
}

impl UserSource {
    /// The name used in JSON and in the WIT: `signed-in`, `service-account`, `impersonated`.
    pub fn as_str(&self) -> &'static str {
        match self {
            UserSource::SignedIn => "signed-in",
            UserSource::ServiceAccount => "service-account",
            UserSource::Impersonated => "impersonated",
        }
    }
}

fn parse(what: &str, text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("{what} is not valid JSON: {e}"))
}
