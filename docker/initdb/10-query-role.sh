#!/bin/sh
# Runs once, when the Postgres volume is first initialised: the query service's
# SELECT-only role, with a password. The projections' migrations grant it SELECT.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname ledger \
  -v pw="$QUERY_PASSWORD" <<'SQL'
create role ledger_query login password :'pw';
SQL
