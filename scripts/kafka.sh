#!/usr/bin/env bash
# Runs Apache Kafka (KRaft, from Maven Central: see docs/kafka.md) on 127.0.0.1.
#   scripts/kafka.sh start single|fsync|cluster [--data DIR] [--port P]
#       starts the node(s) unless they run, waits until they serve, and prints
#       the bootstrap address (the only line on stdout)
#   scripts/kafka.sh stop [--data DIR]     stops every node under DIR/kafka
#   scripts/kafka.sh status [--data DIR]   lists the nodes and whether they run
# Modes: single (one node, no fsync), fsync (one node, fsync per message),
# cluster (three nodes, replication 3, min.insync.replicas 2).
# Node N of a mode lives in DIR/kafka/MODE/node-N (DIR: $LEDGER_DATA or .data);
# its broker port is P+2(N-1) and its controller port the next one (P: 9092).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

usage() { sed -n '2,11s/^# \{0,1\}//p' "$0" >&2; exit 2; }

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
mode=
if [ "$cmd" = start ]; then
  mode=${1:-}
  case $mode in single|fsync|cluster) shift ;; *) usage ;; esac
fi
data=${LEDGER_DATA:-$PWD/.data}
port=9092
while [ $# -gt 0 ]; do
  case $1 in
    --data) data=${2:?--data needs a directory}; shift 2 ;;
    --port) port=${2:?--port needs a port}; shift 2 ;;
    *) usage ;;
  esac
done
mkdir -p "$data/kafka"
root=$(cd "$data/kafka" && pwd)

# Every node directory under $root, of any mode.
node_dirs() { compgen -G "$root/*/node-*" | sort || true; }

case $cmd in
  start)
    for dir in $(node_dirs); do
      if kafka_node_running "$dir" && [ "${dir%/node-*}" != "$root/$mode" ]; then
        die "a Kafka of another mode runs ($dir); stop it first: scripts/kafka.sh stop"
      fi
    done
    ensure_kafka
    nodes=1
    [ "$mode" = cluster ] && nodes=3
    addrs=''
    for n in $(seq 1 "$nodes"); do
      addrs+="${addrs:+,}127.0.0.1:$((port + 2 * (n - 1)))"
    done
    # One cluster id and initial voter set per cluster, kept beside its nodes.
    mkdir -p "$root/$mode"
    [ -s "$root/$mode/cluster.id" ] || kafka_cluster_id >"$root/$mode/cluster.id"
    [ -s "$root/$mode/voters" ] || kafka_initial_voters "$nodes" "$port" >"$root/$mode/voters"
    cluster_id=$(cat "$root/$mode/cluster.id") voters=$(cat "$root/$mode/voters")
    # In parallel: each format is a JVM run of its own, and a cluster's nodes
    # wait for each other's votes anyway.
    pids=()
    for n in $(seq 1 "$nodes"); do
      kafka_node_start "$mode-$n" "$root/$mode/node-$n" "$mode" "$n" \
        "$((port + 2 * (n - 1)))" "$((port + 2 * (n - 1) + 1))" "$voters" "$cluster_id" &
      pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || die "a Kafka node did not start"; done
    kafka_wait_ready "$addrs" 90 || die "Kafka ($mode) is not ready; see $root/$mode/node-*/kafka.log"
    log "Kafka $KAFKA_VERSION ($mode) ready at $addrs"
    echo "$addrs"
    ;;
  stop)
    # All at once: a cluster stopped node by node loses its quorum half way,
    # and the last node's controlled shutdown then waits for a controller.
    pids=()
    for dir in $(node_dirs); do
      if kafka_node_running "$dir"; then
        kafka_node_stop "$dir" 30 &
        pids+=($!)
        log "stopping kafka in $dir"
      fi
    done
    for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid"; done
    ;;
  status)
    for dir in $(node_dirs); do
      if kafka_node_running "$dir"; then
        echo "$dir: running (pid $(cat "$dir/pid"), $(sed -n 's/^advertised.listeners=PLAINTEXT:\/\///p' "$dir/server.properties"))"
      else
        echo "$dir: stopped"
      fi
    done
    ;;
  *) usage ;;
esac
