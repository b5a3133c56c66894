# Shared helpers for the scripts: make sure Apache Kafka, Postgres and
# Prometheus are there, and run Kafka nodes (ensure_kafka, kafka_*).
# Sourced, not run.

# Apache Kafka, fetched from Maven Central by ensure_kafka (see docs/kafka.md),
# and the Log4j2 release that Kafka version ships in its distribution.
KAFKA_VERSION=4.3.2
KAFKA_LOG4J_VERSION=2.25.5
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs Prometheus (Debian package; brings promtool) when prometheus or
# promtool is missing: scripts/check-docker.sh validates docker/prometheus with
# promtool, and the metrics tests scrape the services with a real Prometheus.
ensure_prometheus() {
  if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then return 0; fi
  log "installing prometheus (Debian package, brings promtool)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; } \
    || die "could not install prometheus (apt-get install prometheus); the docker/ checks and metrics tests need prometheus and promtool"
  command -v prometheus >/dev/null 2>&1 || die "prometheus installed but not on PATH"
  command -v promtool >/dev/null 2>&1 || die "promtool installed but not on PATH"
}

# The webhook receivers of the tests (webhooks/tests/receivers): a Python one
# verifying with PyPI's standardwebhooks (in .data/venv, shared with the API
# contract tools) and a Node one with npm's (npm ci from the committed lock).
ensure_receivers() {
  local dir=webhooks/tests/receivers venv=.data/venv
  if ! "$venv/bin/python" -c 'import standardwebhooks' 2>/dev/null; then
    log "installing the Python webhook receiver's standardwebhooks (PyPI)"
    { [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"; } && "$venv/bin/pip" install -q -r "$dir/requirements.txt" \
      || die "could not install standardwebhooks from PyPI into $venv"
  fi
  if [ ! -d "$dir/node_modules/standardwebhooks" ]; then
    log "installing the Node webhook receiver's standardwebhooks (npm ci)"
    (cd "$dir" && npm ci --no-audit --no-fund --silent) || die "could not install standardwebhooks from npm into $dir"
  fi
}

# PostgreSQL from Debian's packages: installs it when absent, creates the
# cluster if there is none, lets local connections in without a password (the
# scripts and tests connect as postgres@127.0.0.1), raises the connection limit
# for the test suite, starts it, and checks it answers. Fails loudly otherwise.
PG_MAX_CONNECTIONS=${PG_MAX_CONNECTIONS:-400}
ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null \
     && psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then return 0; fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    log "installing PostgreSQL (Debian package)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } \
      || die "could not install PostgreSQL (apt-get install postgresql); the tests need it on 127.0.0.1:5432"
  fi
  local version
  version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
  [ -n "$version" ] || die "PostgreSQL is installed but no server version is under /usr/lib/postgresql"
  if [ ! -d "/etc/postgresql/$version/main" ]; then
    log "creating PostgreSQL cluster $version/main"
    pg_createcluster "$version" main >/dev/null || die "pg_createcluster $version main failed"
  fi
  local conf=/etc/postgresql/$version/main
  # Trust on loopback only: a development and CI cluster, never reachable from outside.
  if ! grep -q '^# ledgerline' "$conf/pg_hba.conf"; then
    cat >"$conf/pg_hba.conf" <<HBA
# ledgerline: local development and CI cluster (scripts/lib.sh ensure_postgres)
local   all all               trust
host    all all 127.0.0.1/32  trust
host    all all ::1/128       trust
HBA
  fi
  cat >"$conf/conf.d/ledgerline.conf" <<CONF
listen_addresses = '127.0.0.1'
port = 5432
max_connections = $PG_MAX_CONNECTIONS
CONF
  log "starting PostgreSQL $version/main"
  pg_ctlcluster --skip-systemctl-redirect "$version" main restart >/dev/null 2>&1 \
    || pg_ctlcluster --skip-systemctl-redirect "$version" main start \
    || die "PostgreSQL $version/main did not start; see /var/log/postgresql/postgresql-$version-main.log"
  for _ in $(seq 1 30); do
    if psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  die "PostgreSQL is not answering on 127.0.0.1:5432 as postgres (see /var/log/postgresql/)"
}

# Waits until URL answers 200, or fails after $2 seconds.
wait_http() {
  local url=$1 timeout=${2:-120}
  for _ in $(seq 1 $((timeout * 5))); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  return 1
}

# Starts the local stack (scripts/dev-up.sh) unless it is already running, and
# stops it when the calling script exits if this call started it.
use_dev_stack() {
  DEV_STACK_STARTED=
  if ! curl -fsS -o /dev/null http://127.0.0.1:8081/readyz 2>/dev/null; then
    scripts/dev-up.sh >/dev/null
    DEV_STACK_STARTED=1
  fi
  trap '[ -z "$DEV_STACK_STARTED" ] || scripts/dev-down.sh >/dev/null' EXIT
}

# A development bearer token for the local stack (HS256 with the secret
# dev-up.sh starts the services with): dev_token SUB ROLE...
dev_token() {
  local sub=$1 roles=() role
  shift
  for role in "$@"; do roles+=(--role "$role"); done
  cargo build --quiet -p ledgerctl
  JWT_SECRET=${JWT_SECRET:-ledgerline-dev-jwt-secret} target/debug/ledgerctl token --sub "$sub" "${roles[@]}"
}

# --- Apache Kafka (KRaft) from Maven Central; see docs/kafka.md ---------------

# The repository's scripts/kafka directory (templates, log4j2 configuration).
KAFKA_TEMPLATES=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/kafka

# Fetches Apache Kafka $KAFKA_VERSION (the broker's runtime jars, kafka-tools
# for the command-line tools, and the Log4j2 binding) into
# ${LEDGERLINE_CACHE:-~/.cache/ledgerline}/kafka-$KAFKA_VERSION/libs once per
# machine, with Maven. Exports KAFKA_HOME (the directory holding libs/). An
# install that was interrupted or fetched something else is redone: the
# marker file is written last and names what was fetched.
ensure_kafka() {
  local home="${LEDGERLINE_CACHE:-$HOME/.cache/ledgerline}/kafka-$KAFKA_VERSION"
  local spec="kafka_2.13+kafka-tools $KAFKA_VERSION log4j $KAFKA_LOG4J_VERSION"
  export KAFKA_HOME="$home"
  if [ -f "$home/.installed" ] && [ "$(cat "$home/.installed")" = "$spec" ]; then return 0; fi
  command -v java >/dev/null 2>&1 || die "java is missing; Kafka $KAFKA_VERSION needs Java 17 or later (apt-get install openjdk-17-jre-headless)"
  command -v mvn >/dev/null 2>&1 || die "mvn is missing; ensure_kafka fetches Kafka from Maven Central with it (apt-get install maven)"
  mkdir -p "$home" || die "cannot create $home"
  # One installer at a time (parallel test runs share the cache).
  exec {KAFKA_LOCK_FD}>"$home/.lock"
  flock "$KAFKA_LOCK_FD" 2>/dev/null || true
  if [ -f "$home/.installed" ] && [ "$(cat "$home/.installed")" = "$spec" ]; then
    exec {KAFKA_LOCK_FD}>&-; return 0
  fi
  log "fetching Apache Kafka $KAFKA_VERSION from Maven Central into $home (one-off, ~15 s)"
  local work; work=$(mktemp -d)
  cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.ledgerline</groupId>
  <artifactId>kafka-libs</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <!-- The broker: its POM brings every runtime jar but no logging backend. -->
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version>
    </dependency>
    <!-- The command-line tools (TopicCommand, ConsoleProducer, ...), without Connect. -->
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version>
      <exclusions>
        <exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion>
        <exclusion><groupId>com.fasterxml.jackson.jakarta.rs</groupId><artifactId>*</artifactId></exclusion>
      </exclusions>
    </dependency>
    <!-- Kafka logs through SLF4J 1.7; its distribution binds it to Log4j2. -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId><version>$KAFKA_LOG4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$KAFKA_LOG4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$KAFKA_LOG4J_VERSION</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId><version>3.8.1</version>
      </plugin>
    </plugins>
  </build>
</project>
POM
  rm -f "$home/.installed"
  rm -rf "$home/libs"
  if ! mvn -B -q -f "$work/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$home/libs" >"$work/mvn.log" 2>&1; then
    tail -n 40 "$work/mvn.log" >&2
    rm -rf "$work"
    die "could not fetch Kafka $KAFKA_VERSION with Maven (see above); the tests need a Kafka broker"
  fi
  rm -rf "$work"
  local jar
  for jar in "kafka_2.13-$KAFKA_VERSION" "kafka-clients-$KAFKA_VERSION" "kafka-server-$KAFKA_VERSION" \
      "kafka-tools-$KAFKA_VERSION" "log4j-api-$KAFKA_LOG4J_VERSION" "log4j-core-$KAFKA_LOG4J_VERSION" \
      "log4j-slf4j-impl-$KAFKA_LOG4J_VERSION" slf4j-api-1.7 scala-library-; do
    compgen -G "$home/libs/$jar*.jar" >/dev/null || die "Kafka install in $home/libs lacks $jar*.jar"
  done
  local version
  version=$(java -cp "$home/libs/*" kafka.Kafka --version 2>&1) \
    || die "Kafka $KAFKA_VERSION does not run (java -cp '$home/libs/*' kafka.Kafka --version): $version"
  [ "$version" = "$KAFKA_VERSION" ] || die "kafka.Kafka --version says '$version', expected $KAFKA_VERSION"
  printf '%s\n' "$spec" >"$home/.installed"
  exec {KAFKA_LOCK_FD}>&-
  log "Kafka $KAFKA_VERSION installed ($(ls "$home/libs" | wc -l) jars)"
}

# The JVM options of a node: a small heap for tests, and the performance
# options of Kafka's bin/kafka-run-class.sh. KAFKA_HEAP_OPTS overrides the heap.
kafka_jvm_opts() {
  # shellcheck disable=SC2086 # KAFKA_HEAP_OPTS holds several options
  printf '%s\n' ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true "-Dlog4j2.configurationFile=$KAFKA_TEMPLATES/log4j2.properties"
}

# A new random cluster id (16 random bytes, base64url without padding, as
# kafka-storage random-uuid prints; never starting with '-').
kafka_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    case $id in -*) ;; *) printf '%s\n' "$id"; return 0 ;; esac
  done
}

# Writes DIR/server.properties for MODE (single|fsync|cluster) from
# scripts/kafka/common.properties + scripts/kafka/MODE.properties.
# VOTERS is the initial voter set, id@host:port:directory-id joined with
# commas (KIP-853); @CONTROLLERS@ becomes its host:port list.
kafka_write_config() { # DIR MODE NODE_ID PORT CONTROLLER_PORT VOTERS
  local dir=$1 mode=$2 node_id=$3 port=$4 cport=$5 voters=$6 controllers
  case $mode in single|fsync|cluster) ;; *) die "unknown Kafka mode '$mode' (single, fsync or cluster)" ;; esac
  controllers=$(tr ',' '\n' <<<"$voters" | sed -e 's/^[0-9]*@//' -e 's/:[^:]*$//' | paste -sd, -)
  mkdir -p "$dir/data"
  cat "$KAFKA_TEMPLATES/common.properties" "$KAFKA_TEMPLATES/$mode.properties" \
    | sed -e "s|@NODE_ID@|$node_id|g" -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$cport|g" \
          -e "s|@CONTROLLERS@|$controllers|g" -e "s|@LOG_DIR@|$dir/data|g" >"$dir/server.properties"
}

# The initial voter set of COUNT nodes on 127.0.0.1 whose controller ports
# are PORT+1, PORT+3, …: id@127.0.0.1:port:directory-id, each with a new
# directory id.
kafka_initial_voters() { # COUNT PORT
  local n voters=''
  for n in $(seq 1 "$1"); do
    voters+="${voters:+,}$n@127.0.0.1:$(($2 + 2 * (n - 1) + 1)):$(kafka_cluster_id)"
  done
  printf '%s\n' "$voters"
}

# Starts one Kafka node (broker + controller) in the background:
#   kafka_node_start NAME DIR MODE NODE_ID PORT CONTROLLER_PORT VOTERS [CLUSTER_ID]
# DIR gets server.properties, data/ (formatted on first start), kafka.log and
# pid. CLUSTER_ID (the same for every node of a cluster) is needed only to
# format a new DIR; without it DIR/cluster.id is used, or a new one made.
# Returns once the JVM runs; kafka_wait_ready tells when it serves.
kafka_node_start() {
  local name=$1 dir=$2 mode=$3 node_id=$4 port=$5 cport=$6 voters=$7 cluster_id=${8:-}
  ensure_kafka
  mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
  if kafka_node_running "$dir"; then
    log "kafka $name already running (pid $(cat "$dir/pid"))"; return 0
  fi
  kafka_write_config "$dir" "$mode" "$node_id" "$port" "$cport" "$voters"
  local formatted='' opts
  mapfile -t opts < <(kafka_jvm_opts)
  if [ -f "$dir/data/meta.properties" ]; then
    formatted=$(sed -n 's/^cluster.id=//p' "$dir/data/meta.properties")
    if [ -n "$cluster_id" ] && [ "$cluster_id" != "$formatted" ]; then
      die "$dir/data belongs to cluster $formatted, not $cluster_id; remove $dir to start afresh"
    fi
  else
    [ -n "$cluster_id" ] || cluster_id=$(cat "$dir/cluster.id" 2>/dev/null || true)
    [ -n "$cluster_id" ] || cluster_id=$(kafka_cluster_id)
    # A dynamic quorum (KIP-853): every node of a new cluster is formatted
    # with the same initial voters, its own directory id among them.
    kafka_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" \
        --initial-controllers "$voters" >"$dir/format.log" 2>&1 \
      || { cat "$dir/format.log" >&2; die "could not format $dir/data for kafka $name"; }
    printf '%s\n' "$cluster_id" >"$dir/cluster.id"
  fi
  # -Dledgerline.kafka.node names the process (ps) without changing Kafka.
  (cd "$dir" && exec nohup java "${opts[@]}" "-Dledgerline.kafka.node=$name" \
      "-Dkafka.logs.dir=$dir" -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$dir/server.properties" \
      >"$dir/kafka.log" 2>&1 </dev/null) &
  echo $! >"$dir/pid"
  log "kafka $name ($mode, node $node_id) started: 127.0.0.1:$port, pid $!, log $dir/kafka.log"
}

# True when DIR's node (DIR/pid) is alive and is that node's JVM.
kafka_node_running() { # DIR
  local dir=$1 pid
  pid=$(cat "$dir/pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir/server.properties"
}

# Stops DIR's node: SIGTERM (controlled shutdown), SIGKILL after TIMEOUT
# seconds (default 30; the last nodes of a cluster that lost its quorum wait
# for a controller that does not answer).
kafka_node_stop() { # DIR [TIMEOUT]
  local dir=$1 timeout=${2:-30} pid
  if ! kafka_node_running "$dir"; then rm -f "$dir/pid"; return 0; fi
  pid=$(cat "$dir/pid")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((timeout * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "kafka in $dir did not stop within ${timeout}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$dir/pid"
}

# True when the broker at HOST:PORT answers an ApiVersions request (v0, raw
# bytes over bash's /dev/tcp). A Kafka broker accepts requests only once it
# has caught up with the metadata log and been unfenced, so this is a real
# readiness check, unlike a TCP connect (the port is bound early).
kafka_answers() { # HOST:PORT
  local host=${1%:*} port=${1##*:} reply bytes
  # shellcheck disable=SC2016 # expanded by the inner bash
  reply=$(timeout 3 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "\x00\x00\x00\x0f\x00\x12\x00\x00\x00\x00\x00\x01\x00\x05ready" >&3
    head -c 10 <&3 | od -An -tx1' "$host" "$port" 2>/dev/null) || return 1
  # size (4 bytes), correlation id 1, error code 0
  read -r -a bytes <<<"$reply"
  [ "${bytes[*]:4:6}" = "00 00 00 01 00 00" ]
}

# Waits until every broker of ADDRS (host:port,host:port...) answers, or fails
# after TIMEOUT seconds (default 60).
kafka_wait_ready() { # ADDRS [TIMEOUT]
  local addrs=$1 timeout=${2:-60} addr deadline
  deadline=$((SECONDS + timeout))
  for addr in ${addrs//,/ }; do
    until kafka_answers "$addr"; do
      [ "$SECONDS" -lt "$deadline" ] || { printf 'kafka at %s is not ready after %ss\n' "$addr" "$timeout" >&2; return 1; }
      sleep 0.2
    done
  done
}

# Runs one of Kafka's command-line tools (class in kafka-tools or the broker),
# e.g. kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server ... --list
kafka_tool() { # CLASS ARGS...
  ensure_kafka
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 "-Dlog4j2.configurationFile=$KAFKA_TEMPLATES/log4j2-tools.properties" \
    -cp "$KAFKA_HOME/libs/*" "$@"
}

# A free TCP port on 127.0.0.1 (the kernel's pick; free when this returns).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts the single Kafka node the tests share (tests that stop a broker start
# their own) in a fresh directory, exports LEDGER_TEST_KAFKA (its address) and
# KAFKA_HOME, and stops it and removes its data when the calling script exits.
start_shared_test_kafka() {
  ensure_kafka
  local port cport
  SHARED_KAFKA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ledgerline-shared-kafka.XXXXXX")
  port=$(free_port); cport=$(free_port)
  kafka_node_start shared-test "$SHARED_KAFKA_DIR" single 1 "$port" "$cport" "1@127.0.0.1:$cport:$(kafka_cluster_id)"
  trap 'kafka_node_stop "$SHARED_KAFKA_DIR" 10 >/dev/null 2>&1 || true; rm -rf "$SHARED_KAFKA_DIR"' EXIT
  kafka_wait_ready "127.0.0.1:$port" 90 || { tail -50 "$SHARED_KAFKA_DIR/kafka.log" >&2; die "the shared test broker did not start"; }
  export LEDGER_TEST_KAFKA="127.0.0.1:$port" KAFKA_HOME
  log "shared test broker: Apache Kafka $KAFKA_VERSION at $LEDGER_TEST_KAFKA"
}
