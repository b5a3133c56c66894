#!/usr/bin/env bash
# Entrypoint of the Kafka nodes of compose.yml (image apache/kafka). The
# image's own entrypoint formats a static quorum only (its setup refuses
# controller.quorum.bootstrap.servers without voters); Ledgerline's cluster
# uses a dynamic one (KIP-853), so that a node that lost its disk can be
# replaced safely (docs/kafka.md, "A node that loses its disk"). This script
# writes server.properties from the KAFKA_* variables with the image's
# convention, formats an empty volume, and starts the broker.
set -euo pipefail
: "${CLUSTER_ID:?}" "${KAFKA_NODE_ID:?}" "${KAFKA_LOG_DIRS:?}" "${KAFKA_CONTROLLER_QUORUM_BOOTSTRAP_SERVERS:?}"
: "${LEDGER_KAFKA_INITIAL_CONTROLLERS:?}"
conf=/opt/kafka/config/ledgerline.properties

# KAFKA_FOO_BAR is foo.bar; in a name, __ stands for _ and ___ for -. The
# variables that are not properties (JVM options, logging) are skipped, as
# the image's KafkaDockerWrapper does.
skip=' KAFKA_VERSION KAFKA_HEAP_OPTS KAFKA_LOG4J_OPTS KAFKA_OPTS KAFKA_JMX_OPTS KAFKA_JVM_PERFORMANCE_OPTS '
skip+='KAFKA_GC_LOG_OPTS KAFKA_LOG4J_ROOT_LOGLEVEL KAFKA_LOG4J_LOGGERS KAFKA_TOOLS_LOG4J_LOGLEVEL KAFKA_JMX_HOSTNAME KAFKA_HOME '
: >"$conf"
while IFS='=' read -r name value; do
  case $skip in *" $name "*) continue ;; esac
  key=${name#KAFKA_}; key=${key,,}; key=${key//___/-}; key=${key//__/@}; key=${key//_/.}; key=${key//@/_}
  printf '%s=%s\n' "$key" "$value" >>"$conf"
done < <(env | grep -E '^KAFKA_[A-Z0-9_]+=' | sort)

if [ ! -f "$KAFKA_LOG_DIRS/meta.properties" ]; then
  # An empty volume. If the other controllers already have a quorum, this
  # node lost its disk (or joins late): it must not vote as the voter it was,
  # so it gets a new directory id and joins as an observer; once caught up,
  # controller.quorum.auto.join.enable makes it replace its old voter.
  # Otherwise this is a new cluster: the initial voters, the same string on
  # every node. (A disk lost while the whole cluster is down cannot be told
  # from a new cluster here: see docs/kafka.md.)
  peers=$(tr ',' '\n' <<<"$KAFKA_CONTROLLER_QUORUM_BOOTSTRAP_SERVERS" | grep -v "^$(hostname):" | paste -sd, -)
  if timeout 20 /opt/kafka/bin/kafka-metadata-quorum.sh --bootstrap-controller "$peers" describe --status >/dev/null 2>&1; then
    echo "kafka-node: a quorum runs without node $KAFKA_NODE_ID; joining it with a new directory id"
    voters=(--no-initial-controllers)
  else
    echo "kafka-node: no quorum yet; formatting node $KAFKA_NODE_ID as one of the initial voters"
    voters=(--initial-controllers "$LEDGER_KAFKA_INITIAL_CONTROLLERS")
  fi
  /opt/kafka/bin/kafka-storage.sh format -t "$CLUSTER_ID" -c "$conf" "${voters[@]}"
fi
exec /opt/kafka/bin/kafka-server-start.sh "$conf"
