//! A plugin author's loop without a server: `tessera plugin new --lang L
//! NAME` writes a project from a template embedded in this binary
//! (plugins/templates/), and `tessera plugin test FILE --cases DIR` runs a
//! component on a directory of contexts and compares each result with the
//! one expected, for the author's CI.
//!
//! A case is a pair of files in DIR: `NAME.context.json`, a context as
//! `plugin run --context` reads it, and `NAME.expected.json`, a JSON object
//! matched against what `plugin run` would print for it. The match is a
//! subset match on objects (every key written must be there, with a matching
//! value; other keys are ignored) and exact on arrays and scalars, so a case
//! says only what it cares about: `{"outcome": "denied"}`, or
//! `{"verdict": {"access_token_claims": {"tenant": "acme"}}}`.

use crate::cli::{PluginLang, PluginNewArgs, PluginTestArgs, WitVersion};
use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use tessera_plugin_host::{Compiler, PluginHost, TokenContext};

/// A template file: its path in the new project and its text, where
/// `{{name}}` becomes the project's name.
type TemplateFile = (&'static str, &'static str);

/// The contract a project builds against, by version.
fn contract(version: WitVersion) -> TemplateFile {
    match version {
        WitVersion::V0_1_0 => ("wit/tessera.wit", include_str!("../../../../plugins/wit/tessera.wit")),
        WitVersion::V0_2_0 => ("wit/tessera.wit", include_str!("../../../../plugins/wit/0.2.0/tessera.wit")),
    }
}

/// What every project gets besides the contract: a test case for the
/// template's rule on the sample context, and the test command.
const COMMON: &[TemplateFile] = &[
    ("cases/sample.context.json", include_str!("../../../../plugins/examples/context.sample.json")),
    (
        "cases/sample.expected.json",
        "{\"outcome\": \"ok\", \"verdict\": {\"access_token_claims\": {\"hello\": \"billing-api-tests\"}}}\n",
    ),
    (
        "test.sh",
        "#!/usr/bin/env bash\n# Runs every case in cases/ on plugin.wasm in Tessera's sandbox (build.sh first).\n\
         set -euo pipefail\ncd \"$(dirname \"$0\")\"\nexec \"${TESSERA:-tessera}\" plugin test plugin.wasm --cases cases\n",
    ),
];

/// The files of one language's template.
fn template(lang: PluginLang) -> &'static [TemplateFile] {
    macro_rules! files {
        ($($path:literal => $src:literal),* $(,)?) => {
            &[$(($path, include_str!(concat!("../../../../plugins/templates/", $src)))),*]
        };
    }
    match lang {
        PluginLang::Rust => files![
            "Cargo.toml" => "rust/Cargo.toml",
            ".cargo/config.toml" => "rust/.cargo/config.toml",
            "src/lib.rs" => "rust/src/lib.rs",
            "build.sh" => "rust/build.sh",
        ],
        PluginLang::Js => files![
            "plugin.js" => "js/plugin.js",
            "package.json" => "js/package.json",
            "build.sh" => "js/build.sh",
        ],
        PluginLang::Python => files![
            "plugin.py" => "python/plugin.py",
            "build.sh" => "python/build.sh",
        ],
        PluginLang::Go => &[
            ("plugin.go", include_str!("../../../../plugins/templates/go/plugin.go")),
            ("build.sh", include_str!("../../../../plugins/templates/go/build.sh")),
            ("go-runtime/go.mod", include_str!("../../../../plugins/sdk/go/go.mod")),
            ("go-runtime/wit/types/types.go", include_str!("../../../../plugins/sdk/go/wit/types/types.go")),
            ("go-runtime/wit/runtime/runtime.go", include_str!("../../../../plugins/sdk/go/wit/runtime/runtime.go")),
        ],
        PluginLang::Zig => files![
            "plugin.zig" => "zig/plugin.zig",
            "build.sh" => "zig/build.sh",
        ],
        PluginLang::C => files![
            "plugin.c" => "c/plugin.c",
            "build.sh" => "c/build.sh",
        ],
    }
}

/// `tessera plugin new --lang L NAME`: writes the project into a new folder
/// NAME (under `--dir`, default the current one). Refuses a name that is not
/// a plain identifier and a folder that exists, so nothing is overwritten.
pub fn new_project(a: PluginNewArgs) -> anyhow::Result<()> {
    let name = a.name.as_str();
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !valid {
        bail!("invalid name {name:?}: use lowercase letters, digits and '-', starting with a letter (at most 64)");
    }
    if matches!(a.lang, PluginLang::Go) && a.wit != WitVersion::V0_1_0 {
        bail!(
            "the Go template's bindings are generated for tessera:plugin@0.1.0: use --wit 0.1.0 \
             (for HTTP, another language's template)"
        );
    }
    let root = a.dir.unwrap_or_else(|| PathBuf::from(".")).join(name);
    if root.exists() {
        bail!("{} already exists", root.display());
    }
    for (path, text) in std::iter::once(&contract(a.wit)).chain(COMMON).chain(template(a.lang)) {
        let dest = root.join(path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&dest, text.replace("{{name}}", name))
            .with_context(|| format!("cannot write {}", dest.display()))?;
        if path.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    println!("created {}: ./build.sh builds plugin.wasm, ./test.sh runs cases/ on it", root.display());
    Ok(())
}

const CONTEXT_SUFFIX: &str = ".context.json";
const EXPECTED_SUFFIX: &str = ".expected.json";

/// One case's verdict: its name and the differences found (none: passed).
struct CaseResult {
    name: String,
    differences: Vec<String>,
}

/// Runs every case in `--cases DIR` on the component in the production
/// sandbox (same limits as `plugin run`), prints one line per case (or one
/// JSON object with `--json`) and returns whether all of them passed.
pub fn test_cases(config: &crate::config::Config, a: PluginTestArgs) -> anyhow::Result<bool> {
    let wasm = std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let cases = find_cases(&a.cases)?;
    let cache = std::env::temp_dir().join(format!("tessera-plugin-test-{}", crate::clock::random_id(12)?));
    crate::files::private_dir(&cache)?;
    let results = run_cases(config, &cache, &wasm, &cases, &a.http_allow);
    let _ = std::fs::remove_dir_all(&cache);
    let results = results?;
    let failed = results.iter().filter(|r| !r.differences.is_empty()).count();
    if a.json {
        let cases: Vec<Value> = results
            .iter()
            .map(|r| json!({"name": r.name, "passed": r.differences.is_empty(), "differences": r.differences}))
            .collect();
        println!("{}", json!({"passed": results.len() - failed, "failed": failed, "cases": cases}));
    } else {
        for r in &results {
            if r.differences.is_empty() {
                println!("ok   {}", r.name);
            } else {
                println!("FAIL {}", r.name);
                for d in &r.differences {
                    println!("     {d}");
                }
            }
        }
        println!("{} passed, {failed} failed", results.len() - failed);
    }
    Ok(failed == 0)
}

/// The cases in `dir`, sorted by name: every `NAME.context.json` with its
/// `NAME.expected.json`. A context without its expectation is an error, not
/// a skipped case.
fn find_cases(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf, PathBuf)>> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot read the cases folder {}", dir.display()))?;
    let mut cases = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(CONTEXT_SUFFIX)) else {
            continue;
        };
        let expected = dir.join(format!("{name}{EXPECTED_SUFFIX}"));
        if !expected.is_file() {
            bail!("case {name}: {} is missing", expected.display());
        }
        cases.push((name.to_owned(), path.clone(), expected));
    }
    if cases.is_empty() {
        bail!("no cases in {}: expected NAME{CONTEXT_SUFFIX} and NAME{EXPECTED_SUFFIX} pairs", dir.display());
    }
    cases.sort();
    Ok(cases)
}

fn run_cases(
    config: &crate::config::Config,
    cache: &Path,
    wasm: &[u8],
    cases: &[(String, PathBuf, PathBuf)],
    http_allow: &[String],
) -> anyhow::Result<Vec<CaseResult>> {
    let mut host_config = config.plugins.host.clone();
    host_config.cache_dir = cache.to_owned();
    host_config.standby_instances = 0;
    let host = PluginHost::new(host_config, crate::clock::random::<32>()?, Compiler::InProcess)?;
    // A component that does not load fails every case the same way.
    let sha256 = host.inspect(wasm).map(|info| info.sha256);
    let mut results = Vec::with_capacity(cases.len());
    for (name, context, expected) in cases {
        let text = std::fs::read_to_string(context).with_context(|| format!("cannot read {}", context.display()))?;
        let ctx: TokenContext =
            serde_json::from_str(&text).with_context(|| format!("{} is not a valid context", context.display()))?;
        let text = std::fs::read_to_string(expected).with_context(|| format!("cannot read {}", expected.display()))?;
        let want: Value =
            serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", expected.display()))?;
        let got = match &sha256 {
            Err(e) => json!({"outcome": "rejected", "error": e.to_string()}),
            Ok(sha) => {
                let http = crate::service::plugin_trial::trial_grant(http_allow, ctx.secrets.clone())
                    .context("--http-allow")?;
                serde_json::to_value(crate::service::plugin_trial::trial_run(
                    &host,
                    sha,
                    || Ok(wasm.to_vec()),
                    &ctx,
                    None,
                    http,
                ))?
            }
        };
        let mut differences = Vec::new();
        compare("", &want, &got, &mut differences);
        results.push(CaseResult { name: name.clone(), differences });
    }
    Ok(results)
}

/// Appends to `out` one line per place where `got` does not match `want`:
/// objects match as subsets, everything else exactly.
fn compare(path: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (key, wv) in w {
                let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                match g.get(key) {
                    Some(gv) => compare(&here, wv, gv, out),
                    None => out.push(format!("{here}: expected {wv}, missing")),
                }
            }
        }
        _ if want == got => {}
        _ => out.push(format!("{}: expected {want}, got {got}", if path.is_empty() { "(result)" } else { path })),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::compare;
    use serde_json::json;

    fn diff(want: serde_json::Value, got: serde_json::Value) -> Vec<String> {
        let mut out = Vec::new();
        compare("", &want, &got, &mut out);
        out
    }

    #[test]
    fn objects_match_as_subsets_and_the_rest_exactly() {
        let got = json!({"outcome": "ok", "verdict": {"access_token_claims": {"a": 1, "b": [1, 2]}}, "logs": []});
        assert!(diff(json!({"outcome": "ok"}), got.clone()).is_empty());
        assert!(diff(json!({"verdict": {"access_token_claims": {"b": [1, 2]}}}), got.clone()).is_empty());
        assert_eq!(
            diff(json!({"verdict": {"access_token_claims": {"a": 2, "c": true}}, "logs": [1]}), got),
            vec![
                "logs: expected [1], got []",
                "verdict.access_token_claims.a: expected 2, got 1",
                "verdict.access_token_claims.c: expected true, missing",
            ]
        );
        assert_eq!(diff(json!([1]), json!([1, 2])), vec!["(result): expected [1], got [1,2]"]);
    }
}
