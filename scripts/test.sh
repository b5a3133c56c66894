#!/usr/bin/env bash
# Runs every test of the workspace against a real broker and a real Postgres.
# Integration tests start their own Nisshi on a free port and a fresh database;
# when either is missing they FAIL with instructions, they never skip.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_broker
ensure_prometheus
ensure_postgres
# The bank test runs every service binary as a process of its own (kill -9).
cargo build --workspace --bins
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
