#!/usr/bin/env bash
# Builds plugin.wasm. Needs clang with wasi-libc (Debian: clang lld wasi-libc
# libclang-rt-dev-wasm32), wit-bindgen 0.63 and wasm-tools on PATH, and
# ADAPTER=the WASI preview1 reactor adapter of the server's wasmtime version
# (Tessera's plugins/tools/wasi-adapter writes it).
set -euo pipefail
cd "$(dirname "$0")"
: "${ADAPTER:?set ADAPTER to wasi_snapshot_preview1.reactor.wasm}"
mkdir -p build
wit-bindgen c wit --world token-plugin --out-dir build/gen
clang --target=wasm32-wasi -O2 -mexec-model=reactor -Wl,--strip-all -Ibuild/gen -o build/core.wasm \
    plugin.c build/gen/token_plugin.c build/gen/token_plugin_component_type.o
wasm-tools component new build/core.wasm --adapt "wasi_snapshot_preview1=$ADAPTER" -o plugin.wasm
echo "built plugin.wasm"
