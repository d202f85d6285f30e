//! Helpers shared by the plugin-host integration tests: where the components
//! built by `plugins/build.sh` live.

#![allow(dead_code)]

use std::path::PathBuf;

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
