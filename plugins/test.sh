#!/usr/bin/env bash
# Checks the plugins that build.sh built: runs every example and fixture on
# contexts derived from examples/context.sample.json under Node.js (jco
# transpile, a fresh instance per call) and asserts each one's contract.
# Tests: tools/js/plugins.test.mjs. loop-forever and grow-memory are left to
# the server's plugin-host tests, which have the deadline and the memory cap.
#
#   plugins/build.sh && plugins/test.sh
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${TESSERA_PLUGIN_OUT:-$HERE/build}
NPM_DIR=$HOME/.cache/tessera-plugin-tools/npm

if [[ ! -d $NPM_DIR/node_modules ]] || ! cmp -s "$HERE/tools/js/package-lock.json" "$NPM_DIR/package-lock.json"; then
    echo "test.sh: JavaScript tools missing or out of date: run plugins/build.sh first" >&2
    exit 1
fi
[[ -d $OUT/fixtures && -d $OUT/examples ]] || { echo "test.sh: nothing built in $OUT: run plugins/build.sh first" >&2; exit 1; }

# The tests import jco from $NPM_DIR/node_modules, so they run from there.
RUN_DIR=$NPM_DIR/tessera-tests
mkdir -p "$RUN_DIR"
cp "$HERE/tools/js/run-plugin.mjs" "$HERE/tools/js/plugins.test.mjs" "$RUN_DIR/"
# Node 20 needs a flag for the extended-const wasm feature the Python component uses.
node_flags=()
if node --experimental-wasm-extended-const -e 0 2>/dev/null; then
    node_flags+=(--experimental-wasm-extended-const)
fi
TESSERA_PLUGIN_OUT=$OUT TESSERA_PLUGIN_SAMPLE_CONTEXT=$HERE/examples/context.sample.json \
    node "${node_flags[@]}" --test --test-reporter=spec "$RUN_DIR/plugins.test.mjs"
