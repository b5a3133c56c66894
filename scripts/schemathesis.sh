#!/usr/bin/env bash
# The API contract, checked from outside: schemathesis with every check
# (--checks all: schema-valid requests accepted, schema-invalid ones refused,
# response bodies, statuses, content types and headers as documented, links
# followed in the stateful phase) on the three HTTP services, from the OpenAPI documents
# they serve, with every seed given. Zero failures, or it exits non-zero.
#
# Starts the local stack (scripts/dev-up.sh) unless it is already running, and
# stops it again if it started it. schemathesis comes from PyPI into .data/venv.
# Values the documents mark `x-ledgerline-opaque` (signed tokens) are filled
# from real responses in positive cases, and `x-ledgerline-distinct` groups
# made distinct (scripts/schemathesis/hooks.py); 409 and 412 answer the state
# of an account, not the request's shape (scripts/schemathesis/schemathesis.toml).
#
#   scripts/schemathesis.sh [examples per operation, default 100] [seed ...; default 4242 20261125]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
EXAMPLES=${1:-100}
shift || true
SEEDS=${*:-4242 20261125}
VENV=.data/venv
SCHEMATHESIS_VERSION=4.32.5
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV" && "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi
use_dev_stack
# An all-roles development token.
TOKEN=$(dev_token schemathesis client analyst ops)
# A webhook URL the local egress rules admit (a closed port: attempts fail fast).
export LEDGER_COMMAND_URL=http://127.0.0.1:8080 LEDGER_QUERY_URL=http://127.0.0.1:8081 \
  LEDGER_WEBHOOKS_URL=http://127.0.0.1:8084 LEDGER_WEBHOOK_RECEIVER=http://127.0.0.1:9/hook LEDGER_TOKEN=$TOKEN
status=0
for seed in $SEEDS; do
  for svc in command:8080 query:8081 webhooks:8084; do
    name=${svc%%:*}; port=${svc##*:}
    log "schemathesis: $name service on :$port, --checks all, $EXAMPLES examples per operation, seed $seed"
    "$VENV/bin/schemathesis" --config-file scripts/schemathesis/schemathesis.toml run \
      "http://127.0.0.1:$port/openapi.json" --checks all \
      --header "Authorization: Bearer $TOKEN" --max-examples "$EXAMPLES" --seed "$seed" \
      --report junit --report-dir ".data/schemathesis/$name-$seed" || status=1
  done
  # The stateful phase above spends its steps on the transfer driver's legs,
  # which no link leads to; this pass follows the public flows' links alone.
  log "schemathesis: command service, public flows only, stateful phase, seed $seed"
  "$VENV/bin/schemathesis" --config-file scripts/schemathesis/schemathesis.toml run \
    http://127.0.0.1:8080/openapi.json --checks all --phases stateful --include-path-regex '^/v1/(accounts|transfers)' \
    --header "Authorization: Bearer $TOKEN" --max-examples "$EXAMPLES" --seed "$seed" \
    --report junit --report-dir ".data/schemathesis/command-stateful-$seed" || status=1
done
exit $status
