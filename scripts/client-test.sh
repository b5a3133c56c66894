#!/usr/bin/env bash
# A client generated from the committed OpenAPI documents, used as a client
# would use it: openapi-python-client (PyPI) generates one Python package per
# service from docs/openapi/*.json (warnings are failures), and
# scripts/client/flow.py runs open, deposit, an overdraft refused with a
# Problem and its code, and a read of the deposit with its consistency token.
# Starts the local stack (scripts/dev-up.sh) unless it is running, and stops it
# again if it started it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
VENV=.data/venv
GENERATOR_VERSION=0.29.1
if ! "$VENV/bin/openapi-python-client" --version 2>/dev/null | grep -q "$GENERATOR_VERSION"; then
  log "installing openapi-python-client $GENERATOR_VERSION into $VENV"
  python3 -m venv "$VENV" && "$VENV/bin/pip" install -q "openapi-python-client==$GENERATOR_VERSION" python-dateutil
fi
"$VENV/bin/python" -c 'import dateutil' 2>/dev/null || "$VENV/bin/pip" install -q python-dateutil
CLIENTS=.data/clients
rm -rf "$CLIENTS" && mkdir -p "$CLIENTS"
for service in command:command-service query:query-service webhooks:webhooks; do
  name=${service%%:*} document=docs/openapi/${service##*:}.json
  log "generating ledgerline_$name from $document"
  PATH="$PWD/$VENV/bin:$PATH" "$VENV/bin/openapi-python-client" generate --path "$document" --meta none \
    --fail-on-warning --output-path "$CLIENTS/ledgerline_$name" >/dev/null
done
use_dev_stack
TOKEN=$(dev_token "client-$$" client)
LEDGER_COMMAND_URL=http://127.0.0.1:8080 LEDGER_QUERY_URL=http://127.0.0.1:8081 LEDGER_WEBHOOKS_URL=http://127.0.0.1:8084 \
  LEDGER_TOKEN=$TOKEN \
  PYTHONPATH="$CLIENTS" "$VENV/bin/python" scripts/client/flow.py
