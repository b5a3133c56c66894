#!/usr/bin/env bash
# Validates docker/ without a Docker engine (none runs here): the compose file
# parses, the load balancer's nginx config passes `nginx -t` (and hides
# /metrics), the Prometheus config, alert rules and their unit tests pass
# promtool, the Grafana provisioning is mounted and the dashboard is valid,
# every metric name in the alerts and the dashboard is one the services expose,
# every COPY source of the Dockerfile exists, and every entrypoint is a binary
# of this workspace. The images themselves are not built here.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

if ! command -v docker-compose >/dev/null 2>&1; then
  log "installing docker-compose (Debian package) to validate docker/compose.yml"
  { apt-get update -qq && apt-get install -y -qq docker-compose >/dev/null; } || die "cannot install docker-compose"
fi
log "docker-compose config -q"
docker-compose -f docker/compose.yml --env-file docker/.env.example config -q

if ! command -v nginx >/dev/null 2>&1; then
  log "installing nginx (Debian package) to validate docker/nginx/command-lb.conf"
  { apt-get update -qq && apt-get install -y -qq nginx >/dev/null; } || die "cannot install nginx"
fi
log "nginx -t docker/nginx/command-lb.conf"
grep -q '\./nginx/command-lb\.conf:/etc/nginx/conf\.d/' docker/compose.yml \
  || die "docker/compose.yml does not mount docker/nginx/command-lb.conf into command-lb"
# The file is an http{}-level snippet (the image includes conf.d/*.conf in its
# http{} block): wrap it the same way. nginx -t resolves upstream hostnames, and
# command-1..3 exist only on the compose network, so check a copy naming
# 127.0.0.1 instead (nginx -t binds no port, so nothing needs to listen there).
nginx_dir=$(mktemp -d)
trap 'rm -rf "$nginx_dir"' EXIT
sed -E 's/\<command-([0-9]+):8080\>/127.0.0.1:1808\1/g' docker/nginx/command-lb.conf >"$nginx_dir/command-lb.conf"
if grep -Eq '^[^#]*\<command-[0-9]+:' "$nginx_dir/command-lb.conf"; then
  die "docker/nginx/command-lb.conf: an upstream host other than command-N:8080; update this check"
fi
cat >"$nginx_dir/nginx.conf" <<EOF
pid $nginx_dir/nginx.pid;
error_log stderr;
events {}
http {
    access_log off;
    client_body_temp_path $nginx_dir/client_body;
    proxy_temp_path $nginx_dir/proxy;
    fastcgi_temp_path $nginx_dir/fastcgi;
    uwsgi_temp_path $nginx_dir/uwsgi;
    scgi_temp_path $nginx_dir/scgi;
    include $nginx_dir/command-lb.conf;
}
EOF
nginx -t -q -p "$nginx_dir" -e stderr -c "$nginx_dir/nginx.conf" \
  || die "docker/nginx/command-lb.conf does not pass nginx -t"
# The public entry point must not serve the services' metrics.
grep -Eq '^[[:space:]]*location = /metrics[[:space:]]*\{' docker/nginx/command-lb.conf \
  && grep -Eq '^[[:space:]]*return 404;' docker/nginx/command-lb.conf \
  || die "docker/nginx/command-lb.conf must answer 404 for /metrics (location = /metrics { return 404; })"

# --- observability: Prometheus, alert rules, Grafana ---

# Every metric family the services expose (names as in the exposition:
# counters with _total). A name in docker/prometheus/alerts.yml, its tests or
# the dashboard that is not here fails the check (a typo would otherwise give
# an empty panel or an alert that never fires). Keep in step with the code.
known_metrics=(
  up
  # every HTTP service (command-service, query-service)
  ledger_http_requests_total ledger_rate_limited_total
  # command-service
  ledger_writer_batches_in_flight ledger_writer_commits_accepted_total
  ledger_writer_write_conflicts_total ledger_writer_resyncs_total
  ledger_writer_resync_rejected_commits_total ledger_writer_next_offset
  ledger_writer_aggregates ledger_writer_idempotency_keys
  ledger_writer_snapshot_offset ledger_writer_snapshot_age_seconds process_threads
  ledger_writer_partitions_owned
  # query-service
  ledger_query_not_yet_consistent_total ledger_query_read_lag_records
  ledger_db_pool_connections
  # projections
  ledger_projection_checkpoint_offset ledger_projection_log_end_offset
  ledger_projection_lag_records ledger_projection_lag_seconds
  ledger_projection_batches_total ledger_projection_events_applied_total
  ledger_projection_errors_total
  # transfers
  ledger_transfers_steps_sent_total ledger_transfers_steps_done_total
  ledger_transfers_steps_retried_total ledger_transfers_open_holds
  ledger_transfers_steps_in_flight ledger_transfers_steps_queued
  # every service
  process_cpu_seconds_total process_resident_memory_bytes
  process_virtual_memory_bytes process_open_fds process_max_fds
  process_start_time_seconds
  # every HTTP listener (runtime::serve)
  ledger_http_connections_open ledger_http_connections_accepted_total
  ledger_http_connections_refused_total ledger_http_connections_evicted_total
  ledger_http_timeouts_total
)
# Histograms: only <name>_bucket, <name>_sum and <name>_count exist.
known_histograms=(
  ledger_http_request_duration_seconds ledger_writer_batch_commits
  ledger_writer_delivery_seconds ledger_query_consistency_wait_seconds
  ledger_projection_batch_apply_seconds
)

ensure_prometheus

log "promtool check config docker/prometheus/prometheus.yml"
for f in prometheus.yml alerts.yml targets; do
  grep -Eq "^[[:space:]]*- \./prometheus/$f:/etc/prometheus/$f:ro\$" docker/compose.yml \
    || die "docker/compose.yml does not mount docker/prometheus/$f at /etc/prometheus/$f (read-only)"
done
grep -Eq '^[[:space:]]*- prometheus-secrets:/etc/prometheus/secrets:ro$' docker/compose.yml \
  || die "docker/compose.yml does not mount the prometheus-secrets volume at /etc/prometheus/secrets"
# The token is minted at deploy time (compose service metrics-token): check a
# copy with a dummy one. Checking a copy also proves that every path is
# relative to the config file, as the metrics integration test needs.
prom_dir=$(mktemp -d)
trap 'rm -rf "$nginx_dir" "$prom_dir"' EXIT
cp -r docker/prometheus "$prom_dir/prometheus"
mkdir -p "$prom_dir/prometheus/secrets"
echo dummy-token >"$prom_dir/prometheus/secrets/ops.token"
promtool_out=$(promtool check config "$prom_dir/prometheus/prometheus.yml" 2>&1) \
  || { printf '%s\n' "$promtool_out" >&2; die "docker/prometheus/prometheus.yml does not pass promtool check config"; }
if grep -q WARNING <<<"$promtool_out"; then
  printf '%s\n' "$promtool_out" >&2
  die "promtool check config warns on docker/prometheus/prometheus.yml (a missing targets file?)"
fi
log "promtool check rules / test rules docker/prometheus/alerts.yml"
promtool check rules docker/prometheus/alerts.yml >/dev/null \
  || die "docker/prometheus/alerts.yml does not pass promtool check rules"
promtool test rules docker/prometheus/alerts_test.yml \
  || die "docker/prometheus/alerts_test.yml: an alert rule does not behave as its unit test expects"

log "Grafana provisioning and dashboard; scrape jobs and targets; metric names"
for m in \
  './grafana/provisioning/datasources:/etc/grafana/provisioning/datasources:ro' \
  './grafana/provisioning/dashboards:/etc/grafana/provisioning/dashboards:ro' \
  './grafana/dashboards:/var/lib/grafana/dashboards:ro'; do
  grep -Fq -- "- $m" docker/compose.yml || die "docker/compose.yml does not mount $m into grafana"
done
compose_services=$(docker-compose -f docker/compose.yml --env-file docker/.env.example config --services)
KNOWN_METRICS="${known_metrics[*]}" KNOWN_HISTOGRAMS="${known_histograms[*]}" \
COMPOSE_SERVICES="$compose_services" python3 - <<'PY'
import json, os, re, sys

errors = []
known = set(os.environ["KNOWN_METRICS"].split())
histograms = set(os.environ["KNOWN_HISTOGRAMS"].split())
services = set(os.environ["COMPOSE_SERVICES"].split())

def yaml_values(path, key):
    """Values of `key:` in a YAML file: plain, quoted or block scalars (no PyYAML here)."""
    lines = open(path).read().splitlines()
    out = []
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)(?:- )?" + re.escape(key) + r":\s*(.*?)\s*$", line)
        if not m:
            continue
        indent, value = len(m.group(1)), m.group(2)
        if re.fullmatch(r"[|>][-+]?", value):
            block = []
            for nxt in lines[i + 1:]:
                if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                    break
                block.append(nxt.strip())
            value = " ".join(block)
        elif value[:1] in "'\"" and len(value) > 1 and value[-1:] == value[:1]:
            value = value[1:-1]
        out.append(value)
    return out

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
            "and", "or", "unless", "offset", "inf", "nan"}

def metric_names(expr):
    """Metric names of a PromQL expression: identifiers outside strings, label
    matchers, ranges and grouping clauses that are not function calls."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"'(?:[^'\\]|\\.)*'", "''", e)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w:.$])[A-Za-z_:][\w:]*", e):
        if e[m.end():].lstrip().startswith("(") or m.group(0).lower() in KEYWORDS:
            continue  # a function or an aggregation
        names.add(m.group(0))
    return names

def check_names(where, expr):
    names = metric_names(expr)
    if not names:
        errors.append(f"{where}: no metric name found in {expr!r}")
    for n in sorted(names):
        base = re.sub(r"_(bucket|sum|count)$", "", n)
        if n in known or (base != n and base in histograms):
            continue
        hint = " (a histogram: use _bucket, _sum or _count)" if n in histograms else ""
        errors.append(f"{where}: unknown metric {n}{hint} in {expr!r}")

# Alert rules and their unit tests.
for expr in yaml_values("docker/prometheus/alerts.yml", "expr"):
    check_names("docker/prometheus/alerts.yml", expr)
for key in ("series", "expr"):
    for expr in yaml_values("docker/prometheus/alerts_test.yml", key):
        check_names("docker/prometheus/alerts_test.yml", expr)

# Scrape config: exactly the jobs the metrics test relies on, targets through
# file_sd only, every path relative to the config file.
prom = "docker/prometheus/prometheus.yml"
text = open(prom).read()
jobs = yaml_values(prom, "job_name")
expected = ["command-service", "query-service", "projections", "transfers"]
if sorted(jobs) != sorted(expected):
    errors.append(f"{prom}: jobs {jobs}, expected exactly {expected}")
if re.search(r"^\s*static_configs:", text, re.M):
    errors.append(f"{prom}: static targets; use file_sd (targets/<job>.yml)")
if yaml_values(prom, "credentials_file") != ["secrets/ops.token"] * len(expected):
    errors.append(f"{prom}: every job needs credentials_file: secrets/ops.token (relative)")
paths = [f.strip() for v in re.findall(r"files:\s*\[([^\]]*)\]", text) for f in v.split(",")]
paths += re.findall(r"^\s*-\s*(\S+\.ya?ml)\s*$", text, re.M)
for f in paths:
    if f.startswith("/"):
        errors.append(f"{prom}: absolute path {f}; paths must be relative to the config file")
for job in expected:
    if f"targets/{job}.yml" not in paths:
        errors.append(f"{prom}: job {job} does not read targets/{job}.yml")
    tf = f"docker/prometheus/targets/{job}.yml"
    if not os.path.exists(tf):
        errors.append(f"{tf} is missing")
        continue
    targets = re.findall(r"^\s*-\s*([\w.-]+):(\d+)\s*$", open(tf).read(), re.M)
    if not targets:
        errors.append(f"{tf}: no host:port target")
    for host, _port in targets:
        if host not in services:
            errors.append(f"{tf}: target host {host} is not a service of docker/compose.yml")

# Grafana provisioning.
ds = "docker/grafana/provisioning/datasources/prometheus.yml"
if yaml_values(ds, "uid") != ["prometheus"] or yaml_values(ds, "url") != ["http://prometheus:9090"]:
    errors.append(f"{ds}: expected one datasource, uid prometheus, url http://prometheus:9090")
prov = "docker/grafana/provisioning/dashboards/ledgerline.yml"
if yaml_values(prov, "path") != ["/var/lib/grafana/dashboards"]:
    errors.append(f"{prov}: the provider must load /var/lib/grafana/dashboards")

# The dashboard: valid JSON, every panel and query on datasource uid
# prometheus, every metric name known.
path = "docker/grafana/dashboards/ledgerline.json"
try:
    dash = json.load(open(path))
except ValueError as e:
    print(f"{path}: not valid JSON: {e}"); sys.exit(1)
if dash.get("uid") != "ledgerline" or dash.get("title") != "Ledgerline":
    errors.append(f"{path}: expected uid ledgerline, title Ledgerline")
panels = []
for p in dash.get("panels", []):
    panels.append(p)
    panels.extend(p.get("panels", []))
ids = [p.get("id") for p in panels]
if len(ids) != len(set(ids)):
    errors.append(f"{path}: duplicate panel ids")
queries = 0
for p in panels:
    title = p.get("title", f"panel {p.get('id')}")
    if p.get("type") == "row":
        if p.get("targets"):
            errors.append(f"{path}: row {title!r} has queries")
        continue
    if (p.get("datasource") or {}).get("uid") != "prometheus":
        errors.append(f"{path}: panel {title!r}: datasource uid is not prometheus")
    if not p.get("targets"):
        errors.append(f"{path}: panel {title!r} has no query")
    for t in p.get("targets", []):
        if (t.get("datasource") or {}).get("uid") != "prometheus":
            errors.append(f"{path}: panel {title!r} query {t.get('refId')}: datasource uid is not prometheus")
        if not t.get("expr"):
            errors.append(f"{path}: panel {title!r} query {t.get('refId')}: no expr")
            continue
        queries += 1
        check_names(f"{path}: panel {title!r}", t["expr"])

if errors:
    print("\n".join(errors)); sys.exit(1)
print(f"ok: jobs {sorted(jobs)}; {len(panels)} dashboard panels, {queries} queries; every metric name known")
PY

log "Dockerfile COPY sources and entrypoints"
# Into the temporary directory: target/ does not exist yet on a clean clone.
cargo metadata --no-deps --format-version 1 >"$prom_dir/metadata.json"
METADATA="$prom_dir/metadata.json" python3 - <<'PY'
import json, os, re, shlex, sys

bins = {t["name"] for p in json.load(open(os.environ["METADATA"]))["packages"]
        for t in p["targets"] if "bin" in t["kind"]}
errors = []
docker = open("docker/Dockerfile").read().replace("\\\n", " ")
installed = set()
for line in docker.splitlines():
    words = line.strip().split()
    if not words or words[0] != "COPY":
        continue
    args = [w for w in words[1:] if not w.startswith("--")]
    sources, dest = args[:-1], args[-1]
    if any(w.startswith("--from") for w in words[1:]):
        if dest.startswith("/usr/local/bin/"):
            installed.add(os.path.basename(dest))
        continue
    for src in sources:
        if not os.path.exists(src):
            errors.append(f"Dockerfile: COPY source {src} does not exist")
for entry in re.findall(r'ENTRYPOINT \["([^"]+)"', docker):
    name = os.path.basename(entry)
    if name not in bins:
        errors.append(f"Dockerfile: ENTRYPOINT {entry} is not a workspace binary")
for name in installed:
    if name not in bins:
        errors.append(f"Dockerfile: {name} is copied into the image but is not a workspace binary")
compose = open("docker/compose.yml").read()
for entry in re.findall(r'entrypoint: \["([^"]+)"\]', compose):
    name = os.path.basename(entry)
    if name not in bins:
        errors.append(f"compose.yml: entrypoint {entry} is not a workspace binary")
    if name not in installed:
        errors.append(f"compose.yml: entrypoint {entry} is not installed by the Dockerfile")
if errors:
    print("\n".join(errors)); sys.exit(1)
print(f"ok: image binaries {sorted(installed)}; workspace binaries {sorted(bins)}")
PY
