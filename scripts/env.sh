# Sourced by the scripts: picks cargo and a build cache outside the clone.
# Build outputs live under ~/.cache so a fresh clone reuses them (never committed).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/autonoma-target}"
if command -v cargo >/dev/null 2>&1; then CARGO=cargo; else CARGO=/usr/bin/cargo; fi
export CARGO
