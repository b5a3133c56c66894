#!/usr/bin/env bash
# Starts the whole Ledgerline stack locally: Apache Kafka (installed from Maven
# Central on first use, see docs/kafka.md), the `ledger` database on the local
# PostgreSQL (installed from Debian's packages when missing), and the services.
#   scripts/dev-up.sh             one Kafka node (mode single)
#   scripts/dev-up.sh --cluster   three Kafka nodes, replication 3, min.insync.replicas 2
# Stop it all with scripts/dev-down.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

MODE=single
case ${1:-} in
  --cluster) MODE=cluster ;;
  "") ;;
  *) die "usage: scripts/dev-up.sh [--cluster]" ;;
esac
DATA=${LEDGER_DATA:-$PWD/.data}
KAFKA_PORT=${KAFKA_PORT:-9092}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/ledger}
export EVENTS_TOPIC=${EVENTS_TOPIC:-ledger.events}
mkdir -p "$DATA/logs" "$DATA/pids"

started=$SECONDS
ensure_kafka
ensure_postgres
log "Kafka and PostgreSQL installed and running in $((SECONDS - started)) s"

start() { # name, command...
  local name=$1; shift
  if [ -f "$DATA/pids/$name" ] && kill -0 "$(cat "$DATA/pids/$name")" 2>/dev/null; then
    log "$name already running (pid $(cat "$DATA/pids/$name"))"; return 0
  fi
  nohup "$@" >"$DATA/logs/$name.log" 2>&1 &
  echo $! >"$DATA/pids/$name"
  log "$name started (pid $!, log $DATA/logs/$name.log)"
}

# A new Kafka data directory is a new log: the database's read models, write
# snapshots and keys were built from another one, and the services would refuse
# to carry on from them (docs/log-protocol.md, "Resuming"). Start it afresh too.
fresh_log=; [ -d "$DATA/kafka/$MODE" ] || fresh_log=1
KAFKA_BROKERS=$(scripts/kafka.sh start "$MODE" --data "$DATA" --port "$KAFKA_PORT")
export KAFKA_BROKERS

db=${DATABASE_URL##*/}
if [ -n "$fresh_log" ] && psql "${DATABASE_URL%/*}/postgres" -tAc "select 1 from pg_database where datname = '$db'" | grep -q 1; then
  log "a new Kafka log in $DATA/kafka/$MODE: dropping database $db, which was built from another one"
  psql "${DATABASE_URL%/*}/postgres" -qc "drop database \"$db\" with (force)"
fi
if ! psql "${DATABASE_URL%/*}/postgres" -tAc "select 1 from pg_database where datname = '$db'" | grep -q 1; then
  log "creating database $db"
  psql "${DATABASE_URL%/*}/postgres" -qc "create database \"$db\""
fi

# Development tokens: HS256 with this secret (ledgerctl token mints them).
export JWT_SECRET=${JWT_SECRET:-ledgerline-dev-jwt-secret}

log "building the services"
cargo build --bins --quiet

# Three command-service instances in one writers' group (they share the
# partitions; any of them takes any request and forwards it to the owner).
# command-1 starts alone (it creates the topic when it is missing), then the
# other two join; each is ready once the group has settled.
export WRITERS_GROUP=${WRITERS_GROUP:-ledger-writers}
start_command() { # name, port
  # GROUP_INSTANCE_ID: static membership, so a restarted instance takes its
  # partitions back at once (BENCHMARKS.md, scenario 9: 0.2-0.3 s against ~10 s).
  start "$1" env HTTP_ADDR="127.0.0.1:$2" ADVERTISED_URL="http://127.0.0.1:$2" GROUP_INSTANCE_ID="$WRITERS_GROUP-$1" \
    target/debug/command-service
}
command_ready() { # name, port
  wait_http "http://127.0.0.1:$2/readyz" 120 || die "$1 did not get ready; see $DATA/logs/$1.log"
}
start_command command-1 8080
command_ready command-1 8080
start_command command-2 8090
start_command command-3 8091
command_ready command-2 8090
command_ready command-3 8091
command_ready command-1 8080
start projections env HTTP_ADDR=127.0.0.1:8082 target/debug/projections
wait_http http://127.0.0.1:8082/readyz 120 || die "projections did not get ready; see $DATA/logs/projections.log"
# The query service reads as the SELECT-only role the projections' migrations create.
start query-service env HTTP_ADDR=127.0.0.1:8081 DATABASE_URL="${QUERY_DATABASE_URL:-postgres://ledger_query@127.0.0.1:5432/$db}" \
  target/debug/query-service
wait_http http://127.0.0.1:8081/readyz 120 || die "query-service did not get ready; see $DATA/logs/query-service.log"
# The transfer driver credits destinations, reverses refusals and expires holds.
start transfers env HTTP_ADDR=127.0.0.1:8083 COMMAND_URL=http://127.0.0.1:8080 target/debug/transfers
wait_http http://127.0.0.1:8083/readyz 120 || die "transfers did not get ready; see $DATA/logs/transfers.log"
# Webhooks to partners (docs/webhooks.md). Locally, receivers on this machine
# are admitted (plain http to loopback); a deployment admits https to public
# addresses only.
start webhooks env HTTP_ADDR=127.0.0.1:8084 WEBHOOKS_ALLOWED_HOSTS="${WEBHOOKS_ALLOWED_HOSTS:-127.0.0.1,::1,localhost}" \
  target/debug/webhooks
wait_http http://127.0.0.1:8084/readyz 120 || die "webhooks did not get ready; see $DATA/logs/webhooks.log"

cat <<MSG

Ledgerline is up.
  command API   http://127.0.0.1:8080, :8090, :8091 (three instances, group $WRITERS_GROUP; any takes any request; readyz: /readyz)
  query API     http://127.0.0.1:8081
  projections   http://127.0.0.1:8082/metrics (Prometheus)
  transfers     http://127.0.0.1:8083/metrics (the transfer driver)
  webhooks API  http://127.0.0.1:8084/v1/webhooks/endpoints (signed deliveries to partners; docs/webhooks.md)
  Kafka         $KAFKA_BROKERS (Apache Kafka $KAFKA_VERSION, mode $MODE, data in $DATA/kafka/$MODE), topic $EVENTS_TOPIC
  logs          $DATA/logs/

Try it (tokens are HS256 with JWT_SECRET=$JWT_SECRET):
  TOKEN=\$(JWT_SECRET=$JWT_SECRET target/debug/ledgerctl token --sub alice --role client)
  curl -s -X POST localhost:8080/v1/accounts -H "authorization: Bearer \$TOKEN" -H 'content-type: application/json' \\
       -H 'Idempotency-Key: my-first-account' -d '{"currency":"EUR"}'
  curl -s -X POST localhost:8080/v1/accounts/<account_id>/deposits -H "authorization: Bearer \$TOKEN" \\
       -H 'content-type: application/json' -d '{"amount":1500,"reference":"salary"}'
  curl -s localhost:8081/v1/accounts/<account_id> -H "authorization: Bearer \$TOKEN" -H 'Consistency-Token: <consistency_token>'

Stop it with scripts/dev-down.sh
MSG
