# Shared helpers for the scripts: make sure the broker binary, Postgres and
# Prometheus are there.
# Sourced, not run.

NISSHI_VERSION=0.8.1
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs Nisshi (the Kafka-compatible broker) from crates.io when it is missing.
# About 17-20 minutes on 2 cores, once per machine.
ensure_broker() {
  if [ -n "${NISSHI_BIN:-}" ] && [ -x "$NISSHI_BIN" ]; then return 0; fi
  if command -v nisshi >/dev/null 2>&1; then
    case "$(nisshi --version 2>/dev/null)" in
      *"$NISSHI_VERSION"*) return 0 ;;
      *) log "nisshi found but not version $NISSHI_VERSION; reinstalling" ;;
    esac
  fi
  log "installing nisshi $NISSHI_VERSION (one-off, ~20 minutes on 2 cores)"
  cargo install nisshi --version "$NISSHI_VERSION" --locked --ignore-rust-version \
    || die "could not install nisshi; the tests need a Kafka-compatible broker"
  command -v nisshi >/dev/null 2>&1 || die "nisshi installed but not on PATH"
}

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

# Starts the local PostgreSQL cluster when it does not answer.
ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return 0; fi
  log "starting PostgreSQL"
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && return 0
    sleep 1
  done
  die "PostgreSQL is not answering on 127.0.0.1:5432"
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
