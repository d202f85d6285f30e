#!/usr/bin/env bash
# Builds plugin.wasm with the standard Go toolchain (1.25 or newer). Needs go,
# wit-bindgen 0.63 and wasm-tools on PATH, and ADAPTER=the WASI preview1
# reactor adapter of the server's wasmtime version (Tessera's
# plugins/tools/wasi-adapter writes it). go-runtime/ stands in for the module
# the generated bindings import (Tessera's plugins/README.md, Go).
set -euo pipefail
cd "$(dirname "$0")"
: "${ADAPTER:?set ADAPTER to wasi_snapshot_preview1.reactor.wasm}"
rm -rf build
mkdir -p build
wit-bindgen go wit --world token-plugin --out-dir build/src
mkdir -p build/src/export_wit_world
cp plugin.go build/src/export_wit_world/
(cd build/src && go mod edit -replace "go.bytecodealliance.org/pkg=$PWD/../../go-runtime" \
    && GOOS=wasip1 GOARCH=wasm GOFLAGS=-mod=mod go build -buildmode=c-shared -ldflags=-s -o ../core.wasm .)
wasm-tools component embed --world token-plugin wit build/core.wasm -o build/embedded.wasm
wasm-tools component new build/embedded.wasm --adapt "wasi_snapshot_preview1=$ADAPTER" -o plugin.wasm
echo "built plugin.wasm"
