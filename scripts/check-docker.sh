#!/usr/bin/env bash
# Validates docker/ without a Docker engine (none runs here): the compose file
# parses, every COPY source of the Dockerfile exists, and every entrypoint is a
# binary of this workspace. The images themselves are not built here.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

if ! command -v docker-compose >/dev/null 2>&1; then
  log "installing docker-compose (Debian package) to validate docker/compose.yml"
  { apt-get update -qq && apt-get install -y -qq docker-compose >/dev/null; } || die "cannot install docker-compose"
fi
log "docker-compose config -q"
docker-compose -f docker/compose.yml --env-file docker/.env.example config -q

log "Dockerfile COPY sources and entrypoints"
cargo metadata --no-deps --format-version 1 >target/metadata.json
python3 - <<'PY'
import json, os, re, shlex, sys

bins = {t["name"] for p in json.load(open("target/metadata.json"))["packages"]
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
