#!/usr/bin/env bash
# Builds Autonoma's edge worker and writes a workerd config for it; installs the tools it
# needs when they are missing (idempotent; with nothing changed it takes a few seconds).
#
#   bash functions/edge/build.sh
#
# Steps:
#   1. cargo build --release of functions/edge for wasm32-unknown-unknown (rustup's target
#      when installed, else Debian's rustc-web with -Zbuild-std, as xtask build-site does);
#   2. wasm-bindgen --target module (the CLI of exactly the version in functions/edge/Cargo.lock,
#      `cargo install`ed into the tools folder if missing), skipped when the wasm is unchanged;
#   3. copies shim.mjs and writes workerd.capnp from workerd.capnp.in;
#   4. installs workerd from npm (pinned below) into the tools folder if missing.
#
# Environment (all optional):
#   AUTONOMA_EDGE_OUT         output folder   (default ~/.cache/autonoma/edge-build)
#   AUTONOMA_EDGE_TARGET_DIR  cargo target    (default ~/.cache/autonoma-edge-target; not the
#                             workspace's: another compiler, and builds must not invalidate each other)
#   AUTONOMA_TOOLS_DIR        tools folder    (default ~/.cache/autonoma/tools, as scripts/setup.sh)
#   AUTONOMA_SITE_PKG         the assets      (default <repo>/site/pkg; overridable at run time
#                             with workerd's --directory-path site-pkg=PATH)
#
# The last two lines of standard output are `EDGE_CONFIG=<path of workerd.capnp>` and
# `WORKERD=<path of the workerd binary>`; progress goes to standard error.
set -euo pipefail

WORKERD_VERSION="1.20261117.1"   # npm workerd; the runtime's own date is 2026-11-17
COMPAT_DATE="2026-11-01"         # compatibility date of the worker (<= workerd's date)
PIPELINE="edge-build-1"          # bump when step 2 changes, to invalidate stamps

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="${AUTONOMA_EDGE_OUT:-$HOME/.cache/autonoma/edge-build}"
TARGET_DIR="${AUTONOMA_EDGE_TARGET_DIR:-$HOME/.cache/autonoma-edge-target}"
TOOLS="${AUTONOMA_TOOLS_DIR:-$HOME/.cache/autonoma/tools}"
SITE_PKG="${AUTONOMA_SITE_PKG:-$ROOT/site/pkg}"
TARGET=wasm32-unknown-unknown

log() { echo "[edge-build] $*" >&2; }

# A calling cargo (`cargo test`, `cargo run`) exports settings for its own host build;
# none of them may leak into this one.
unset CARGO_TARGET_DIR CARGO_BUILD_TARGET CARGO_MANIFEST_DIR CARGO_MANIFEST_PATH CARGO_PKG_NAME \
  CARGO_PRIMARY_PACKAGE RUSTC RUSTDOC RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER RUSTFLAGS \
  CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_MAKEFLAGS MAKEFLAGS MFLAGS

mkdir -p "$OUT" "$TOOLS"
# One build at a time per output folder.
exec 9>"$OUT/.lock"
flock 9

host_cargo() { if command -v cargo >/dev/null 2>&1; then echo cargo; else echo /usr/bin/cargo; fi; }

# --- 1. the wasm -----------------------------------------------------------------------
build_std=()
if command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  CARGO_BIN="$(host_cargo)"
  log "building with $CARGO_BIN (rustup target $TARGET)"
else
  if [ ! -x /usr/bin/cargo ] || [ ! -x /usr/bin/rustc ]; then
    log "no wasm32 toolchain: 'rustup target add $TARGET', or on Debian 'apt-get install rustc-web cargo-web rust-web-src'"
    exit 1
  fi
  CARGO_BIN=/usr/bin/cargo
  export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
  unset RUSTUP_TOOLCHAIN
  build_std=(-Zbuild-std=std,panic_abort)
  if [ -z "${CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER:-}" ]; then
    linker=""
    if command -v rustup >/dev/null 2>&1; then
      sysroot="$(rustup run stable rustc --print sysroot 2>/dev/null || true)"
      host="$(rustup run stable rustc -vV 2>/dev/null | sed -n 's/^host: //p')"
      cand="$sysroot/lib/rustlib/${host:-x86_64-unknown-linux-gnu}/bin/rust-lld"
      if [ -n "$sysroot" ] && [ -x "$cand" ]; then linker="$cand"; fi
    fi
    if [ -z "$linker" ]; then
      for cand in /usr/bin/wasm-ld-19 /usr/lib/llvm-19/bin/wasm-ld /usr/lib/llvm-19/bin/rust-lld; do
        if [ -x "$cand" ]; then linker="$cand"; break; fi
      done
    fi
    if [ -z "$linker" ]; then
      log "no wasm linker: install rustup's stable toolchain (rust-lld) or 'apt-get install lld-19'"
      exit 1
    fi
    export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$linker"
  fi
  log "building with /usr/bin/cargo + -Zbuild-std (linker $CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER)"
fi
locked=()
if [ -f "$HERE/Cargo.lock" ]; then locked=(--locked); fi
"$CARGO_BIN" build --release --lib --target "$TARGET" --manifest-path "$HERE/Cargo.toml" \
  --target-dir "$TARGET_DIR" "${locked[@]}" "${build_std[@]}" >&2
WASM="$TARGET_DIR/$TARGET/release/autonoma_edge.wasm"

# --- 2. wasm-bindgen -------------------------------------------------------------------
WB_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$HERE/Cargo.lock")"
if [ -z "$WB_VERSION" ]; then log "no wasm-bindgen in $HERE/Cargo.lock"; exit 1; fi
WB=""
for cand in "$TOOLS/bin/wasm-bindgen" "$(command -v wasm-bindgen || true)"; do
  if [ -n "$cand" ] && [ -x "$cand" ] && [ "$("$cand" --version 2>/dev/null)" = "wasm-bindgen $WB_VERSION" ]; then WB="$cand"; break; fi
done
if [ -z "$WB" ]; then
  log "installing wasm-bindgen-cli $WB_VERSION into $TOOLS (a few minutes, once)"
  # No --locked: the CLI's lockfile names a crate version the registry lacks.
  (unset RUSTC RUSTC_BOOTSTRAP; "$(host_cargo)" install wasm-bindgen-cli --version "$WB_VERSION" --root "$TOOLS" >&2)
  WB="$TOOLS/bin/wasm-bindgen"
fi

stamp="$PIPELINE wasm-bindgen=$WB_VERSION wasm=$(sha256sum "$WASM" | cut -d' ' -f1)"
if [ "$(cat "$OUT/.stamp" 2>/dev/null || true)" = "$stamp" ] && [ -f "$OUT/index.js" ] && [ -f "$OUT/index_bg.wasm" ]; then
  log "wasm unchanged; wasm-bindgen skipped"
else
  stage="$OUT/.staging"
  rm -rf "$stage"
  "$WB" "$WASM" --out-dir "$stage" --out-name index --target module --no-typescript \
    --experimental-reset-state-function --force-enable-abort-handler >&2
  # `--target module` imports the wasm with the source-phase syntax (`import source x from`);
  # workerd gives a wasm module import as a WebAssembly.Module through a plain import.
  sed -i 's/^import source /import /' "$stage/index.js"
  rm -rf "$OUT/snippets" "$OUT/index.js" "$OUT/index_bg.wasm"
  if [ -d "$stage/snippets" ]; then mv "$stage/snippets" "$OUT/snippets"; fi
  mv "$stage/index_bg.wasm" "$OUT/index_bg.wasm"
  mv "$stage/index.js" "$OUT/index.js"
  rm -rf "$stage"
  echo "$stamp" > "$OUT/.stamp"
  log "wasm-bindgen done ($(du -k "$OUT/index_bg.wasm" | cut -f1) KiB wasm)"
fi

# --- 3. entry module and workerd config ------------------------------------------------
cp "$HERE/shim.mjs" "$OUT/shim.mjs"
snippets=""
if [ -d "$OUT/snippets" ]; then
  while IFS= read -r f; do
    snippets+="    (name = \"$f\", esModule = embed \"$f\"),"$'\n'
  done < <(cd "$OUT" && find snippets -type f -name '*.js' | LC_ALL=C sort)
fi
config="$(cat "$HERE/workerd.capnp.in")"
config="${config//@SNIPPETS@/${snippets%$'\n'}}"
config="${config//@SITE_PKG@/$SITE_PKG}"
config="${config//@COMPAT_DATE@/$COMPAT_DATE}"
printf '%s\n' "$config" > "$OUT/workerd.capnp.tmp"
mv "$OUT/workerd.capnp.tmp" "$OUT/workerd.capnp"

# --- 4. workerd ------------------------------------------------------------------------
installed="$(node -p "require('$TOOLS/node_modules/workerd/package.json').version" 2>/dev/null || true)"
if [ "$installed" != "$WORKERD_VERSION" ]; then
  log "installing workerd@$WORKERD_VERSION (npm) into $TOOLS"
  npm install --prefix "$TOOLS" --no-audit --no-fund --silent "workerd@$WORKERD_VERSION" >&2
fi
# The platform package's native binary (the package's bin/ may be a node launcher, which
# would leave workerd running when the launcher is killed).
WORKERD=""
for cand in "$TOOLS"/node_modules/@cloudflare/workerd-*/bin/workerd "$TOOLS/node_modules/workerd/bin/workerd"; do
  if [ -x "$cand" ] && "$cand" --version >/dev/null 2>&1; then WORKERD="$cand"; break; fi
done
if [ -z "$WORKERD" ]; then log "workerd did not install under $TOOLS/node_modules"; exit 1; fi

echo "EDGE_CONFIG=$OUT/workerd.capnp"
echo "WORKERD=$WORKERD"
