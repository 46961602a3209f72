#!/usr/bin/env bash
# Static checks of the Terraform in infra/ (Terraform itself is not installed here):
#   1. every *.tf parses as HCL2 (PyPI python-hcl2);
#   2. checkov (PyPI) finds no failed check; skips carry written reasons inline
#      (#checkov:skip=CKV_...:reason next to the resource).
# Tools live in a virtualenv outside the repository, created on first use and reused:
#   ${AUTONOMA_INFRA_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/autonoma/venv-infra}
# checkov pins bc-python-hcl2, which installs the same `hcl2` module name as python-hcl2,
# so python-hcl2 goes into its own --target folder inside the venv (hcl2-lib/).
# Usage: bash infra/check.sh
set -euo pipefail

CHECKOV_VERSION="3.3.30"
PYTHON_HCL2_VERSION="8.1.4"

INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${AUTONOMA_INFRA_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/autonoma/venv-infra}"
HCL2_LIB="$VENV/hcl2-lib"
STAMP="$VENV/.autonoma-infra-tools"
WANT="checkov==$CHECKOV_VERSION python-hcl2==$PYTHON_HCL2_VERSION"

if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "==> installing $WANT into $VENV"
  if [ ! -x "$VENV/bin/python" ]; then
    if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
      # Debian/Ubuntu ship venv/ensurepip separately.
      SUDO=""
      if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
      echo "==> python3 lacks venv/ensurepip: installing python3-venv"
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
    fi
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
  rm -rf "$HCL2_LIB"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    --target "$HCL2_LIB" "python-hcl2==$PYTHON_HCL2_VERSION"
  echo "$WANT" > "$STAMP"
else
  echo "==> tools present: $WANT ($VENV)"
fi

echo "==> parsing *.tf with python-hcl2 $PYTHON_HCL2_VERSION"
PYTHONPATH="$HCL2_LIB" "$VENV/bin/python" - "$INFRA_DIR" <<'PY'
import pathlib
import sys

import hcl2

root = pathlib.Path(sys.argv[1])
files = sorted(p for p in root.rglob("*.tf") if ".terraform" not in p.parts)
errors = []
for path in files:
    try:
        with path.open(encoding="utf-8") as handle:
            hcl2.load(handle)
    except Exception as exc:  # any parser error is a failure
        errors.append(f"{path.relative_to(root)}: {type(exc).__name__}: {exc}")
for line in errors:
    print("PARSE ERROR", line)
print(f"hcl2: {len(files) - len(errors)} of {len(files)} .tf files parsed")
sys.exit(1 if errors or not files else 0)
PY

echo "==> checkov $CHECKOV_VERSION on infra/"
cd "$INFRA_DIR"
LOG_LEVEL=WARNING "$VENV/bin/checkov" \
  --directory . \
  --framework terraform \
  --quiet --compact \
  --skip-download \
  --skip-path '\.terraform' \
  --download-external-modules false
echo "==> infra checks passed"
