//! rust-username: adds the user's login name as a claim, for every grant that
//! has a user: a signed-in user, the service-account user of a confidential
//! client on client_credentials, or an impersonated user in token exchange.
//!
//! The claim goes on the access token and, when one is issued, on the ID token.
//! Without a user (client_credentials of a client with no service account) it
//! adds nothing. The claim name defaults to `https://example.com/username`;
//! the binding's config may override it: `{"claim": "https://acme.test/login"}`.

use tessera_plugin::serde_json::Value;
use tessera_plugin::{Decision, Guest, Patch, TokenContext};

/// The claim set when the config names none.
const DEFAULT_CLAIM: &str = "https://example.com/username";

struct Username;

impl Guest for Username {
    fn on_token(ctx: TokenContext) -> Result<Decision, String> {
        let config = ctx.config()?;
        let claim = match config.get("claim") {
            None | Some(Value::Null) => DEFAULT_CLAIM,
            Some(Value::String(name)) if !name.is_empty() => name.as_str(),
            // A misconfigured binding is a broken plugin, not a client error:
            // err lets the binding's failure policy decide.
            Some(_) => return Err("config: `claim` must be a non-empty string".to_owned()),
        };
        let Some(user) = &ctx.user else {
            return Ok(tessera_plugin::allow_unchanged());
        };
        let mut patch = Patch::new().access_claim(claim, user.username.as_str());
        if ctx.issues_id_token() {
            patch = patch.id_claim(claim, user.username.as_str());
        }
        Ok(patch.allow())
    }
}

tessera_plugin::export!(Username);
