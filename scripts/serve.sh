#!/usr/bin/env bash
# One command for a newcomer: install what is missing, build, and start `autonoma serve`
# on embedded defaults at http://127.0.0.1:3000 (data in ./data).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/env.sh
echo "==> building the web UI (wasm)"
$CARGO run --quiet --release -p xtask -- build-site --release
echo "==> building autonoma"
$CARGO build --release -p autonoma
echo "==> starting: open http://127.0.0.1:3000"
exec "$CARGO_TARGET_DIR/release/autonoma" serve "$@"
