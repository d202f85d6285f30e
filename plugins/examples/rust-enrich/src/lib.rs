//! rust-enrich: adds claims taken from the company's own user service, with
//! `http.fetch` of `tessera:plugin@0.2.0`.
//!
//! For a token with a user it GETs `<config.url><user id>` (the id
//! percent-encoded), sending header `authorization` filled in by Tessera from
//! the binding secret `config.secret` (default `directory-token`): the plugin
//! names the secret and never sees it. From the JSON object that comes back
//! it copies the members named in `config.claims` (default `["department"]`)
//! onto the access token. A 404 adds nothing; any other failure is the
//! plugin's `err`, so the binding's failure policy decides.
//!
//! Binding: `--http-allow https://directory.example/users/` (the URL's
//! prefix), `--secret directory-token=Bearer ...`, optionally
//! `--http-cache-ttl 60`, and config
//! `{"url": "https://directory.example/users/", "claims": ["department", "cost_center"]}`.

use tessera_plugin_http::serde_json::Value;
use tessera_plugin_http::{Decision, Guest, Patch, TokenContext, http};

struct Enrich;

/// Percent-encodes everything but RFC 3986 unreserved characters, so a user
/// id cannot change the path it is appended to.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Guest for Enrich {
    fn on_token(ctx: TokenContext) -> Result<Decision, String> {
        let config = ctx.config()?;
        let Some(base) = config.get("url").and_then(Value::as_str) else {
            return Err("config: `url` (the user service's base URL) is required".to_owned());
        };
        let secret = config.get("secret").and_then(Value::as_str).unwrap_or("directory-token");
        let claims: Vec<String> = match config.get("claims") {
            None => vec!["department".to_owned()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            Some(_) => return Err("config: `claims` must be a list of names".to_owned()),
        };
        let Some(user) = &ctx.user else {
            return Ok(tessera_plugin_http::allow_unchanged());
        };
        let answer = http::get(format!("{base}{}", encode(&user.id)))
            .header("accept", "application/json")
            .secret_header("authorization", secret)
            .send()
            .map_err(|e| format!("user service: {}", e.code()))?;
        if answer.status == 404 {
            return Ok(tessera_plugin_http::allow_unchanged());
        }
        if answer.status != 200 {
            return Err(format!("user service answered HTTP {}", answer.status));
        }
        let found = answer.json()?;
        let mut patch = Patch::new();
        for name in &claims {
            if let Some(v) = found.get(name) {
                patch = patch.access_claim(name.as_str(), v.clone());
            }
        }
        Ok(patch.allow())
    }
}

tessera_plugin_http::export!(Enrich);
