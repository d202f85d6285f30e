#!/usr/bin/env bash
# Builds plugin.wasm with jco's QuickJS backend. Needs Node.js 20.19+.
set -euo pipefail
cd "$(dirname "$0")"
[[ -d node_modules ]] || npm install --no-audit --no-fund
npx jco componentize "$PWD/plugin.js" --wit wit --world-name token-plugin \
    --backend qjs --backend-qjs-disable-async -o plugin.wasm
echo "built plugin.wasm"
