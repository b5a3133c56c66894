#!/usr/bin/env bash
# Schema-driven fuzzing of both HTTP services from their own OpenAPI documents.
# Starts the local stack (scripts/dev-up.sh) if it is not running, installs
# schemathesis from PyPI into .data/venv, and runs a bounded number of examples
# per operation. The rule: zero 5xx, zero responses that violate the spec.
#   scripts/schemathesis.sh [max-examples-per-operation, default 100]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
EXAMPLES=${1:-100}
VENV=.data/venv
if [ ! -x "$VENV/bin/schemathesis" ]; then
  log "installing schemathesis into $VENV"
  python3 -m venv "$VENV" && "$VENV/bin/pip" install -q schemathesis
fi
curl -fsS -o /dev/null http://127.0.0.1:8081/readyz 2>/dev/null || scripts/dev-up.sh >/dev/null
# Both services check bearer tokens: an all-roles development token (HS256 with
# the secret dev-up.sh starts them with).
cargo build --quiet -p ledgerctl
TOKEN=$(JWT_SECRET=${JWT_SECRET:-ledgerline-dev-jwt-secret} target/debug/ledgerctl token --sub schemathesis \
  --role client --role analyst --role ops)
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance
status=0
for svc in command:8080 query:8081; do
  name=${svc%%:*}; port=${svc##*:}
  log "schemathesis: $name service on :$port, $EXAMPLES examples per operation"
  "$VENV/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" --checks "$CHECKS" \
    --header "Authorization: Bearer $TOKEN" --max-examples "$EXAMPLES" --seed 20261123 --report junit --report-dir ".data/schemathesis-$name" || status=1
done
exit $status
