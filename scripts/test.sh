#!/usr/bin/env bash
# Runs every test: installs what is missing, builds the web UI, then the whole workspace's
# tests (unit, API integration on a real server with temporary SQLite, the real SmolLM2
# model, and the browser end-to-end test in headless Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/env.sh
echo "==> building the web UI (wasm)"
$CARGO run --quiet -p xtask -- build-site
echo "==> running tests"
export AUTONOMA_TEST_OUTPUT="${AUTONOMA_TEST_OUTPUT:-$PWD/test-output}"
mkdir -p "$AUTONOMA_TEST_OUTPUT"
$CARGO test --workspace --no-fail-fast -- --test-threads=2
