#!/usr/bin/env bash
# Builds plugin.wasm with componentize-py (in .venv).
set -euo pipefail
cd "$(dirname "$0")"
[[ -x .venv/bin/componentize-py ]] || { python3 -m venv .venv && .venv/bin/pip install --quiet componentize-py==0.25.1; }
.venv/bin/componentize-py -d wit -w token-plugin componentize plugin --stub-wasi -o plugin.wasm
echo "built plugin.wasm"
