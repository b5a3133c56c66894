#!/usr/bin/env bash
# Validates docker/ without a Docker engine (none runs here): the compose file
# parses, the load balancer's nginx config passes `nginx -t`, every COPY source
# of the Dockerfile exists, and every entrypoint is a binary of this workspace.
# The images themselves are not built here.
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
