#!/usr/bin/env bash
# The benchmark command. Builds release binaries, then runs one benchmark of
# `loadgen` (see `loadgen --help`). Starts its own Apache Kafka and database.
#   scripts/bench.sh suite [--quick]         # every path against its ceiling, in each Kafka mode; target/bench/{single,fsync,cluster}/results.{md,json}
#   scripts/bench.sh suite --broker fsync    # one broker mode only (single | fsync | cluster | all; docs/kafka.md)
#   scripts/bench.sh suite --only commands   # scenario 1 alone: commands at 1/16/64/256 clients against the raw producer
#   scripts/bench.sh suite --only queries    # scenario 6 alone: GET /v1/accounts/{id} against pgbench and a minimal handler
#   scripts/bench.sh suite --only cluster    # scenario 9 alone: 1/2/3 command services, failover, handover
#   scripts/bench.sh suite --only webhooks   # scenario 12 alone: webhook deliveries against a plain client, commit → delivered p99
#   scripts/bench.sh suite --only tracing    # scenario 10 alone: commands with trace export off and on (BASELINE_COMMAND_SERVICE=bin adds a baseline)
#   scripts/bench.sh fold --workers 1        # projection fold rate, 200k events
#   scripts/bench.sh replay                  # ledgerctl replay under reads, 200k events, then verify
#   scripts/bench.sh export                  # ledgerctl export peak memory at 200k and 1M events
#   scripts/bench.sh bank [SECONDS]          # the bank test under chaos (kill -9 of every part), default 600 s
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_kafka
ensure_postgres
if [ "${1:-}" = bank ]; then
  # The long mode of the bank test the test command runs for 40 s.
  cargo build --workspace --bins
  BANK_SECONDS=${2:-600} exec cargo nextest run -p transfers --test it --no-capture -E 'test(money_is_conserved)'
fi
cargo build --release --quiet -p projections -p loadgen -p command-service -p query-service -p ledgerctl -p transfers -p webhooks
export KAFKA_HOME KAFKA_VERSION
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); broker: Apache Kafka $KAFKA_VERSION; rev $(git rev-parse --short HEAD)"
exec target/release/loadgen "$@"
