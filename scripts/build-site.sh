#!/usr/bin/env bash
# Builds the web UI's static assets (hydrate wasm + JS + CSS) into site/pkg.
#
#   scripts/build-site.sh [--release] [--out-dir DIR] [--target-dir DIR]
#
# A thin wrapper around `cargo run -p xtask -- build-site`; see xtask/src/main.rs for
# what it does and how it picks the wasm32 toolchain (rustup target, or Debian's
# rustc-web with -Zbuild-std).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet -p xtask -- build-site "$@"
