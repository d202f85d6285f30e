//! Writes the WASI preview1 reactor adapter (the one shipped with wasmtime
//! 48.0.8) to the path given as the only argument.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(path), None) = (args.next(), args.next()) else {
        eprintln!("usage: tessera-wasi-adapter OUTPUT.wasm");
        return ExitCode::from(2);
    };
    let bytes = wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER;
    match std::fs::write(&path, bytes) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "tessera-wasi-adapter: cannot write {}: {e}",
                path.to_string_lossy()
            );
            ExitCode::FAILURE
        }
    }
}
