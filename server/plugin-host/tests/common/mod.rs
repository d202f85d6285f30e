//! Helpers shared by the plugin-host integration tests: where the components
//! built by `plugins/build.sh` live.

#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::json;
use tessera_plugin_host::TokenContext;

/// The top-level `plugins/` folder.
pub fn plugins_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../plugins")
}

/// A fixture component's bytes; a missing file fails the test with the fix.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = plugins_dir().join(format!("build/fixtures/{name}.wasm"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("fixture {} is missing ({e}): run plugins/build.sh --fixtures", path.display()))
}

/// A `client_credentials` context with no user: what most host tests run on.
pub fn client_credentials_context() -> TokenContext {
    serde_json::from_value(json!({
        "grant_type": "client_credentials",
        "client": {"id": "svc", "name": "Service", "metadata": {}, "confidential": true},
        "user": null,
        "requested_scopes": ["read"],
        "granted_scopes": ["read"],
        "audience": [],
        "access_token_claims": {"sub": "svc"},
        "id_token_claims": null,
        "config": {},
        "secrets": {}
    }))
    .expect("a valid token context")
}
