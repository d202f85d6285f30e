//! {{name}}: a Tessera token plugin. Sets the access-token claim `hello` to
//! the client id.

wit_bindgen::generate!({ path: "wit", world: "token-plugin" });

use tessera::plugin::types::ClaimsPatch;

struct Plugin;

impl Guest for Plugin {
    fn on_token(ctx: TokenContext) -> Result<Decision, String> {
        let claims = serde_json::json!({ "hello": ctx.client.id });
        Ok(Decision::Allow(ClaimsPatch {
            access_token_claims_json: claims.to_string(),
            id_token_claims_json: "{}".to_owned(),
            drop_scopes: Vec::new(),
        }))
        // deny: Ok(Decision::Deny(tessera::plugin::types::Denial { code: DenialCode::AccessDenied, description: "...".into() }))
        // err:  Err("...".to_owned())
    }
}

export!(Plugin);
