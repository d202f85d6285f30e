//! The compile child as the server's hidden subcommand runs it:
//! `compile_worker <wasm-in> <cwasm-out>`. Built by `cargo test` so the
//! subprocess tests in `tests/subprocess.rs` exercise the real worker.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [wasm_in, cwasm_out] = args.as_slice() else {
        eprintln!("usage: compile_worker <wasm-in> <cwasm-out>");
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
