#!/usr/bin/env bash
# Runs every test: installs what is missing, checks formatting (rustfmt) and lints (clippy,
# warnings are errors), builds the web UI, then the whole workspace's
# tests (unit, API integration on a real server with temporary SQLite, the real SmolLM2
# model, the GPU worker's shaders on lavapipe, the browser end-to-end tests in headless
# Chromium, the chaos test (kill -9) and the fault and injection suites, the Lambda functions on PostgreSQL + moto, the
# edge worker in workerd; servers started by the tests), the server suites a second time on
# PostgreSQL, then the static checks of infra/ (HCL parse + checkov).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/env.sh
echo "==> static checks: rustfmt and clippy (warnings are errors)"
$CARGO fmt --all --check
(cd functions/edge && $CARGO fmt --check)
$CARGO clippy --workspace --all-targets --quiet -- -D warnings
echo "==> building the web UI (wasm)"
$CARGO run --quiet -p xtask -- build-site
echo "==> running tests"
export AUTONOMA_TEST_OUTPUT="${AUTONOMA_TEST_OUTPUT:-$PWD/test-output}"
mkdir -p "$AUTONOMA_TEST_OUTPUT"
status=0
$CARGO test --workspace --no-fail-fast -- --test-threads=2 || status=$?
echo "==> the server integration suites again, on PostgreSQL 15 (row-level security)"
AUTONOMA_TEST_BACKEND=postgres $CARGO test -p autonoma --no-fail-fast --test runs --test tenancy_and_input --test resume --test knowledge --test browser --test local_model --test approvals --test capabilities --test audit --test mcp_client --test mcp_server --test mcp_oauth --test preflight --test cli_governance --test tenant_probe --test schemathesis --test faults --test injection -- --test-threads=2 || status=$?
echo "==> checking infra/ (HCL parse + checkov)"
bash infra/check.sh || status=$?
exit $status
