//! Rebuilds when templates or assets change: askama and rust-embed read
//! files outside this package, which cargo does not track by itself.
//!
//! Release builds for x86_64 Linux also link the server's code in the
//! order of `link/code-order.txt` (written by `scripts/code-order`): the
//! functions that start-up and the token path run sit next to each other,
//! so the server keeps few pages of its code resident (docs/architecture.md,
//! "Memory: the code's link order"). That target links with rust-lld by
//! default, which reads the file. A build that names another linker is left
//! alone, and `TESSERA_NO_CODE_ORDER=1` turns it off by hand.

use std::env;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=../../admin-ui");
    println!("cargo:rerun-if-changed=link/code-order.txt");
    println!("cargo:rerun-if-env-changed=TESSERA_NO_CODE_ORDER");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    let var = |name: &str| env::var(name).unwrap_or_default();
    let release = var("PROFILE") == "release";
    let target = var("TARGET") == "x86_64-unknown-linux-gnu";
    let opted_out = !matches!(var("TESSERA_NO_CODE_ORDER").as_str(), "" | "0");
    // GNU ld does not know the option: with a linker of the builder's
    // choosing, link as before.
    let other_linker = var("CARGO_ENCODED_RUSTFLAGS").contains("linker")
        || !var("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_empty();
    let order = Path::new(&var("CARGO_MANIFEST_DIR")).join("link/code-order.txt");
    if release && target && !opted_out && !other_linker && order.exists() {
        // Linked from a copy in OUT_DIR: the link argument is cached with
        // this script's output, and a checkout that shares the target
        // directory may be gone by the next link.
        let copy = Path::new(&var("OUT_DIR")).join("code-order.txt");
        if let Err(e) = std::fs::copy(&order, &copy) {
            println!("cargo:warning=linking without the code order: cannot copy {}: {e}", order.display());
            return;
        }
        // The server binary only; tests and benches gain nothing from it.
        println!("cargo:rustc-link-arg-bin=tessera=-Wl,--symbol-ordering-file={}", copy.display());
        // Names the binary no longer has (the file went stale) are skipped.
        println!("cargo:rustc-link-arg-bin=tessera=-Wl,--no-warn-symbol-ordering");
    }
}
