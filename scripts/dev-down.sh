#!/usr/bin/env bash
# Stops what scripts/dev-up.sh started (SIGTERM, graceful), Kafka last. Data stays in .data/.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${LEDGER_DATA:-$PWD/.data}
# command-service: the pid file of a stack started before there were three instances.
for name in webhooks transfers query-service projections command-3 command-2 command-1 command-service; do
  pidfile="$DATA/pids/$name"
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "stopped $name (pid $pid)"
  fi
  rm -f "$pidfile"
done
scripts/kafka.sh stop --data "$DATA"
