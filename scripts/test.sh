#!/usr/bin/env bash
# Runs every test of the workspace against Apache Kafka and a real Postgres.
# Tests share one Kafka node started here (each with topics and consumer
# groups of its own); tests that kill, pause or wipe a broker start their own
# nodes. Each test gets a fresh database. When Kafka or Postgres is missing
# they FAIL with instructions; they never skip.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_kafka
ensure_prometheus
ensure_postgres
ensure_receivers
# The bank test runs every service binary as a process of its own (kill -9).
cargo build --workspace --bins
start_shared_test_kafka
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
