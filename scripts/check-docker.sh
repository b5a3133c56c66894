#!/usr/bin/env bash
# Validates docker/ without a Docker engine (none runs here): the compose file
# parses, its Kafka nodes are the tested three-node cluster (every setting of
# scripts/kafka/common.properties + cluster.properties, the same Kafka
# version, a static quorum of the three, every client naming all three), the
# load balancer's nginx config passes `nginx -t` (and hides /metrics), the
# Prometheus config, alert rules and their unit tests pass promtool, the
# Grafana provisioning is mounted and the dashboard is valid, every metric
# name in the alerts and the dashboard is one the services expose, every COPY
# source of the Dockerfile exists, and every entrypoint is a binary of this
# workspace. The images themselves are not built here.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

if ! command -v docker-compose >/dev/null 2>&1; then
  log "installing docker-compose (Debian package) to validate docker/compose.yml"
  { apt-get update -qq && apt-get install -y -qq docker-compose >/dev/null; } || die "cannot install docker-compose"
fi
log "docker-compose config -q"
docker-compose -f docker/compose.yml --env-file docker/.env.example config -q

# --- Kafka: compose's nodes are the tested cluster (scripts/kafka) ---

# Sets PYTHON_YAML to a python3 that imports yaml (PyYAML): the one on PATH,
# else Debian's (the docker-compose package brings python3-yaml), else it
# installs python3-yaml. Fails loudly otherwise.
ensure_python_yaml() {
  local py
  for py in python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import yaml' 2>/dev/null; then
      PYTHON_YAML=$(command -v "$py"); return 0
    fi
  done
  log "installing python3-yaml (Debian package) to read docker-compose config"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-yaml >/dev/null; } \
    || die "could not install python3-yaml (apt-get install python3-yaml); the Kafka check reads docker-compose config with it"
  /usr/bin/python3 -c 'import yaml' 2>/dev/null || die "python3-yaml installed but /usr/bin/python3 cannot import yaml"
  PYTHON_YAML=/usr/bin/python3
}

# The Kafka nodes of docker/compose.yml (services of image apache/kafka that
# run the image's own entrypoint) must be mode "cluster" of scripts/kafka.sh:
# every setting of scripts/kafka/common.properties + cluster.properties, as
# the image's environment variable, with the same value, and no other; the
# per-node settings (the templates' placeholders) checked for shape instead.
ensure_python_yaml
log "Kafka nodes of docker/compose.yml against scripts/kafka/{common,cluster}.properties"
compose_config=$(docker-compose -f docker/compose.yml --env-file docker/.env.example config) \
  || die "docker-compose config failed on docker/compose.yml"
KAFKA_VERSION="$KAFKA_VERSION" COMPOSE_CONFIG="$compose_config" "$PYTHON_YAML" - <<'PY' \
  || die "docker/compose.yml's Kafka nodes differ from the tested cluster (scripts/kafka/common.properties + cluster.properties); see above"
import base64, os, re, sys
import yaml

TEMPLATES = ["scripts/kafka/common.properties", "scripts/kafka/cluster.properties"]
# The templates' per-node lines (placeholders): checked for shape, not value.
PER_NODE = ["node.id", "controller.quorum.bootstrap.servers", "listeners", "advertised.listeners", "log.dirs"]
# The nodes' entrypoint (it formats the dynamic quorum), mounted from docker/.
ENTRYPOINT = "/ledgerline/kafka-node.sh"
# Variables of the apache/kafka image that are not server properties (the
# exclusions of its kafka.docker.KafkaDockerWrapper): allowed, not compared.
NOT_PROPERTIES = {"KAFKA_VERSION", "KAFKA_HEAP_OPTS", "KAFKA_LOG4J_OPTS", "KAFKA_OPTS", "KAFKA_JMX_OPTS",
                  "KAFKA_JVM_PERFORMANCE_OPTS", "KAFKA_GC_LOG_OPTS", "KAFKA_LOG4J_ROOT_LOGLEVEL",
                  "KAFKA_LOG4J_LOGGERS", "KAFKA_TOOLS_LOG4J_LOGLEVEL", "KAFKA_JMX_HOSTNAME"}
NODES = 3
errors = []

def env_name(prop):
    """The image's variable for a property: . is _, _ is __, - is ___."""
    return "KAFKA_" + prop.upper().replace("_", "__").replace("-", "___").replace(".", "_")

def image_property(name):
    """What the image makes of a variable (KafkaDockerWrapper.getServerConfigsFromEnv)."""
    return name.replace("KAFKA_", "").lower().replace("_", ".").replace("...", "-").replace("..", "_")

def text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)

# The tested settings: plain key=value lines, # comments, no duplicates.
props, origin = {}, {}
for path in TEMPLATES:
    for n, raw in enumerate(open(path), 1):
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        if "=" not in line or line.endswith("\\"):
            errors.append(f"{path}:{n}: not a plain key=value line: {line!r}")
            continue
        key, value = (x.strip() for x in line.split("=", 1))
        if key in props:
            errors.append(f"{path}:{n}: {key} is already set in {origin[key]} (the templates allow no duplicates)")
        props[key], origin[key] = value, f"{path}:{n}"
for key in PER_NODE:
    if key not in props:
        errors.append(f"the templates set no {key}: update scripts/check-docker.sh")
for key, value in props.items():
    if key not in PER_NODE and re.search(r"@\w+@", value):
        errors.append(f"{origin[key]}: {key}={value}: a placeholder this check does not know; update scripts/check-docker.sh")
expected = {}  # variable -> (property, value)
for key, value in props.items():
    if key in PER_NODE:
        continue
    name = env_name(key)
    if image_property(name) != key:
        errors.append(f"{origin[key]}: {key} cannot be set through the image's environment ({name} gives {image_property(name)})")
    expected[name] = (key, value)
per_node_vars = {env_name(k) for k in PER_NODE}

def listeners(value, where):
    """NAME://host:port,... -> [(name, host, port)]."""
    out = []
    for item in filter(None, (x.strip() for x in value.split(","))):
        m = re.fullmatch(r"([A-Za-z0-9_]+)://([^:/]*):([^:/,]+)", item)
        if not m:
            errors.append(f"{where}: {item!r} is not NAME://host:port")
            continue
        out.append(m.groups())
    return out

tmpl_listeners = [name for name, _, _ in listeners(props.get("listeners", ""), "listeners template")]
tmpl_advertised = [name for name, _, _ in listeners(props.get("advertised.listeners", ""), "advertised.listeners template")]
controller_name = props.get("controller.listener.names", "")

config = yaml.safe_load(os.environ["COMPOSE_CONFIG"])
services = config.get("services") or {}
named_volumes = set((config.get("volumes") or {}).keys())

def env_of(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
    return {k: text(v) for k, v in env.items()}

def mounts(svc):
    """(source, target) of each volume of a service, short or long syntax."""
    out = []
    for v in svc.get("volumes") or []:
        if isinstance(v, dict):
            out.append((v.get("source"), v.get("target")))
        else:
            parts = str(v).split(":")
            out.append((parts[0], parts[1]) if len(parts) > 1 else (None, parts[0]))
    return out

# Every apache/kafka image is the tested version.
for name, svc in sorted(services.items()):
    image = text(svc.get("image"))
    if image.split(":")[0] == "apache/kafka" and image != f"apache/kafka:{os.environ['KAFKA_VERSION']}":
        errors.append(f"{name}: image {image}, but the tests run Kafka {os.environ['KAFKA_VERSION']} (KAFKA_VERSION in scripts/lib.sh)")

nodes = {name: svc for name, svc in services.items()
         if text(svc.get("image")).split(":")[0] == "apache/kafka"
         and svc.get("entrypoint") == [ENTRYPOINT] and not svc.get("command")}
for name, svc in sorted(nodes.items()):
    if not any(t == ENTRYPOINT and s and s.endswith("docker/kafka-node.sh") for s, t in mounts(svc)):
        errors.append(f"{name}: {ENTRYPOINT} is not docker/kafka-node.sh mounted")
if len(nodes) != NODES:
    errors.append(f"{len(nodes)} Kafka nodes ({', '.join(sorted(nodes)) or 'none'}); mode cluster has {NODES}")

ids, cluster_ids, voters_seen, bootstrap_seen, addresses, volumes_used = {}, {}, {}, {}, {}, {}
for name, svc in sorted(nodes.items()):
    env = env_of(svc)
    # Every tested setting, with the tested value.
    for var, (key, value) in sorted(expected.items()):
        if var not in env:
            errors.append(f"{name}: {var} missing: {origin[key]} sets {key}={value}")
        elif env[var] != value:
            errors.append(f"{name}: {var}={env[var]}, but {origin[key]} sets {key}={value}")
    # And no other.
    for var in sorted(env):
        if var.startswith("KAFKA_") and var not in expected and var not in per_node_vars and var not in NOT_PROPERTIES:
            errors.append(f"{name}: {var} ({image_property(var)}) is not a setting of the tested cluster (scripts/kafka)")
    if svc.get("hostname") not in (None, name):
        errors.append(f"{name}: hostname {svc.get('hostname')}, expected the service name")
    # node.id: an integer >= 1, unique.
    nid = env.get(env_name("node.id"), "")
    if not re.fullmatch(r"[1-9][0-9]*", nid):
        errors.append(f"{name}: {env_name('node.id')}={nid!r}, expected an integer >= 1")
    elif nid in ids:
        errors.append(f"{name}: node id {nid} is also {ids[nid]}'s")
    else:
        ids[nid] = name
    # CLUSTER_ID: 16 bytes in base64url, the same for every node.
    cid = env.get("CLUSTER_ID", "")
    cluster_ids[name] = cid
    try:
        ok = len(base64.urlsafe_b64decode(cid + "==")) == 16 and re.fullmatch(r"[A-Za-z0-9_-]{22}", cid)
    except ValueError:
        ok = False
    if not ok:
        errors.append(f"{name}: CLUSTER_ID={cid!r}, expected 16 bytes in base64url (kafka-storage random-uuid)")
    # listeners: the template's listener names, on the node's own name.
    ls = listeners(env.get(env_name("listeners"), ""), f"{name}: {env_name('listeners')}")
    if sorted(n for n, _, _ in ls) != sorted(tmpl_listeners):
        errors.append(f"{name}: listeners {[n for n, _, _ in ls]}, the template has {tmpl_listeners}")
    ports = {}
    for lname, host, port in ls:
        if host != name:
            errors.append(f"{name}: listener {lname} on host {host!r}, expected the service name {name}")
        if not port.isdigit():
            errors.append(f"{name}: listener {lname} port {port!r} is not a number")
        ports[lname] = port
    # advertised.listeners: the template's names, the node's name, the listeners' ports.
    adv = listeners(env.get(env_name("advertised.listeners"), ""), f"{name}: {env_name('advertised.listeners')}")
    if sorted(n for n, _, _ in adv) != sorted(tmpl_advertised):
        errors.append(f"{name}: advertised listeners {[n for n, _, _ in adv]}, the template has {tmpl_advertised}")
    for lname, host, port in adv:
        if host != name or port != ports.get(lname):
            errors.append(f"{name}: advertised {lname}://{host}:{port}, expected {lname}://{name}:{ports.get(lname)}")
        if lname == "PLAINTEXT":
            addresses[name] = f"{host}:{port}"
    # The initial voters and the controllers: parsed below, across the nodes.
    voters_seen[name] = (env.get("LEDGER_KAFKA_INITIAL_CONTROLLERS", ""), nid, ports.get(controller_name))
    bootstrap_seen[name] = env.get(env_name("controller.quorum.bootstrap.servers"), "")
    # log.dirs: one directory, on a named volume of its own.
    logdir = env.get(env_name("log.dirs"), "")
    if not logdir.startswith("/") or "," in logdir:
        errors.append(f"{name}: {env_name('log.dirs')}={logdir!r}, expected one absolute directory")
    else:
        src = [s for s, t in mounts(svc) if t == logdir]
        if not src or src[0] not in named_volumes:
            errors.append(f"{name}: log dir {logdir} is not on a named volume")
        elif src[0] in volumes_used:
            errors.append(f"{name}: volume {src[0]} is also {volumes_used[src[0]]}'s")
        else:
            volumes_used[src[0]] = name
    # The health check asks the node itself.
    test = " ".join(text(t) for t in ((svc.get("healthcheck") or {}).get("test") or []))
    if name in addresses and addresses[name] not in test:
        errors.append(f"{name}: the health check does not ask {addresses[name]}")

if len(set(cluster_ids.values())) > 1:
    errors.append(f"the nodes have different CLUSTER_IDs: {cluster_ids}")

# The dynamic quorum's initial voters: the same on every node, one voter per
# node, each at its node's name and controller port with a directory id of
# its own; and every node bootstraps from all three controllers.
if len({v for v, _, _ in voters_seen.values()}) > 1:
    errors.append(f"the nodes name different initial voters: { {n: v for n, (v, _, _) in voters_seen.items()} }")
controllers = sorted(f"{n}:{voters_seen[n][2]}" for n in nodes)
for name, value in sorted(bootstrap_seen.items()):
    if sorted(b.strip() for b in value.split(",")) != controllers:
        errors.append(f"{name}: {env_name('controller.quorum.bootstrap.servers')}={value!r}, expected {','.join(controllers)}")
for name, (value, nid, cport) in sorted(voters_seen.items()):
    entries = [e.strip() for e in value.split(",") if e.strip()]
    parsed, directories = {}, set()
    for e in entries:
        m = re.fullmatch(r"([0-9]+)@([^:]+):([0-9]+):([A-Za-z0-9_-]{22})", e)
        if not m:
            errors.append(f"{name}: initial voter {e!r} is not id@host:port:directory-id")
            continue
        if m.group(1) in parsed:
            errors.append(f"{name}: voter id {m.group(1)} twice")
        if m.group(4) in directories:
            errors.append(f"{name}: directory id {m.group(4)} twice")
        directories.add(m.group(4))
        parsed[m.group(1)] = (m.group(2), m.group(3))
    if len(entries) != NODES:
        errors.append(f"{name}: {len(entries)} voters ({value!r}); mode cluster has {NODES}")
    if set(parsed) != set(ids):
        errors.append(f"{name}: voter ids {sorted(parsed)}, node ids {sorted(ids)}")
    for vid, (host, port) in sorted(parsed.items()):
        node = ids.get(vid)
        if node and (host, port) != (node, voters_seen[node][2]):
            errors.append(f"{name}: voter {vid}@{host}:{port}, but node {vid} is {node}, controller port {voters_seen[node][2]}")

# The clients: every KAFKA_BROKERS, and topic-init's --bootstrap-server, name
# all the nodes (and nothing else).
wanted = sorted(addresses.values())
for name, svc in sorted(services.items()):
    env = env_of(svc)
    if name not in nodes and "KAFKA_BROKERS" in env:
        got = [b.strip() for b in env["KAFKA_BROKERS"].split(",")]
        if sorted(got) != wanted:
            errors.append(f"{name}: KAFKA_BROKERS={env['KAFKA_BROKERS']}, expected all the nodes: {','.join(wanted)}")
    command = svc.get("command") or []
    command = " ".join(text(c) for c in command) if isinstance(command, list) else text(command)
    for m in re.finditer(r"--bootstrap-server[= ]+(\S+)", command):
        if sorted(m.group(1).split(",")) != wanted:
            errors.append(f"{name}: --bootstrap-server {m.group(1)}, expected all the nodes: {','.join(wanted)}")

if errors:
    print("\n".join(errors)); sys.exit(1)
print(f"ok: {', '.join(sorted(nodes))} (node ids {', '.join(sorted(ids))}) set the {len(expected)} tested settings; "
      f"voters, listeners, log dirs, cluster id and every client's brokers agree")
PY

if ! command -v nginx >/dev/null 2>&1; then
  log "installing nginx (Debian package) to validate docker/nginx/command-lb.conf"
  { apt-get update -qq && apt-get install -y -qq nginx >/dev/null; } || die "cannot install nginx"
fi
log "nginx -t docker/nginx/command-lb.conf"
grep -q '\./nginx/command-lb\.conf:/etc/nginx/conf\.d/' docker/compose.yml \
  || die "docker/compose.yml does not mount docker/nginx/command-lb.conf into command-lb"
# The file is an http{}-level snippet (the image includes conf.d/*.conf in its
# http{} block): wrap it the same way. nginx -t resolves upstream hostnames, and
# command-1..3 and webhooks exist only on the compose network, so check a copy naming
# 127.0.0.1 instead (nginx -t binds no port, so nothing needs to listen there).
nginx_dir=$(mktemp -d)
trap 'rm -rf "$nginx_dir"' EXIT
sed -E 's/\<command-([0-9]+):8080\>/127.0.0.1:1808\1/g; s/\<webhooks:8084\>/127.0.0.1:18084/g' \
  docker/nginx/command-lb.conf >"$nginx_dir/command-lb.conf"
if grep -Eq '^[^#]*\<(command-[0-9]+|webhooks):' "$nginx_dir/command-lb.conf"; then
  die "docker/nginx/command-lb.conf: an upstream host other than command-N:8080 and webhooks:8084; update this check"
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
  # webhooks
  ledger_webhooks_attempts_total ledger_webhooks_lag_deliveries
  ledger_webhooks_lag_seconds ledger_webhooks_disabled_endpoints
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
  ledger_projection_batch_apply_seconds ledger_webhooks_delivery_latency_seconds
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
expected = ["command-service", "query-service", "projections", "transfers", "webhooks"]
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
    # The Kafka nodes' entrypoint is a script mounted from docker/ (checked with the nodes above).
    if entry == "/ledgerline/kafka-node.sh":
        if not os.path.exists("docker/kafka-node.sh"):
            errors.append("compose.yml: entrypoint /ledgerline/kafka-node.sh, but docker/kafka-node.sh is missing")
        continue
    name = os.path.basename(entry)
    if name not in bins:
        errors.append(f"compose.yml: entrypoint {entry} is not a workspace binary")
    if name not in installed:
        errors.append(f"compose.yml: entrypoint {entry} is not installed by the Dockerfile")
if errors:
    print("\n".join(errors)); sys.exit(1)
print(f"ok: image binaries {sorted(installed)}; workspace binaries {sorted(bins)}")
PY
