//! The compile child as the server's hidden subcommand
//! (`tessera plugin compile-worker`) runs it, as a binary of this package:
//! `tessera-compile-worker <wasm-in> <cwasm-out>`. It is a `[[bin]]` rather
//! than an example so that cargo builds it before `tests/subprocess.rs`,
//! which finds it through `CARGO_BIN_EXE_tessera-compile-worker`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [wasm_in, cwasm_out] = args.as_slice() else {
        eprintln!("usage: tessera-compile-worker <wasm-in> <cwasm-out>");
        return ExitCode::from(2);
    };
    match tessera_plugin_host::compile_worker_main(wasm_in, cwasm_out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
