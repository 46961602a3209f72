# Sourced by the scripts: picks cargo and a build cache outside the clone.
# Build outputs live under ~/.cache so a fresh clone reuses them (never committed).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/autonoma-target}"
if command -v cargo >/dev/null 2>&1; then CARGO=cargo; else CARGO=/usr/bin/cargo; fi
export CARGO
# wasm-opt from npm binaryen (installed by setup.sh) unless the caller chose one.
_wo="${AUTONOMA_TOOLS_DIR:-$HOME/.cache/autonoma/tools}/node_modules/binaryen/bin/wasm-opt"
if [ -z "${WASM_OPT:-}" ] && [ -x "$_wo" ]; then export WASM_OPT="$_wo"; fi
unset _wo
