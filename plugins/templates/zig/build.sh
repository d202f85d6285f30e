#!/usr/bin/env bash
# Builds plugin.wasm. Needs Zig 0.17 (`pip install ziglang==0.17.0`; set
# ZIG="python3 -m ziglang" if it is not on PATH), wit-bindgen 0.63 and
# wasm-tools on PATH, and ADAPTER=the WASI preview1 reactor adapter of the
# server's wasmtime version (Tessera's plugins/tools/wasi-adapter writes it).
set -euo pipefail
cd "$(dirname "$0")"
: "${ADAPTER:?set ADAPTER to wasi_snapshot_preview1.reactor.wasm}"
read -r -a zig <<<"${ZIG:-zig}"
mkdir -p build
wit-bindgen c wit --world token-plugin --out-dir build/gen
"${zig[@]}" translate-c -target wasm32-wasi -lc -Ibuild/gen build/gen/token_plugin.h >build/token_plugin.zig
cp plugin.zig build/
# --stack 65536: Zig's default 16 MiB stack makes every call several times dearer.
(cd build && "${zig[@]}" build-exe -target wasm32-wasi -O ReleaseSmall -fno-entry -mexec-model=reactor \
    --stack 65536 -lc -Igen plugin.zig gen/token_plugin.c gen/token_plugin_component_type.o -femit-bin=core.wasm)
wasm-tools component new build/core.wasm --adapt "wasi_snapshot_preview1=$ADAPTER" -o plugin.wasm
echo "built plugin.wasm"
