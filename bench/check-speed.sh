#!/usr/bin/env bash
# How long a config check takes on a large file, gw against nginx (bench/README.md): a
# generated gw file with ROUTES routes (literal, parameter and greedy patterns, headers,
# rewrites, a few upstreams) and an nginx file with as many `location` blocks of the same
# shape, each checked RUNS times on core CPU; prints the median wall time of `gw check` and of
# `nginx -t`.
#
#   bench/check-speed.sh                  # ROUTES=10000 RUNS=11
#   SKIP_BUILD=1 bench/check-speed.sh     # use target/release/gw as it is
#   GW_BIN=target/pgo/release/gw bench/check-speed.sh
#
# Environment: ROUTES (10000), RUNS (11), CPU (0), SKIP_BUILD, GW_BIN.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUTES=${ROUTES:-10000}
RUNS=${RUNS:-11}
CPU=${CPU:-0}
die() { echo "check-speed: $*" >&2; exit 1; }
for v in ROUTES RUNS CPU; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
"$ROOT/scripts/install-test-deps.sh"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

GW=${GW_BIN:-$ROOT/target/release/gw}
if [ -z "${GW_BIN:-}" ] && [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && cargo build --release -p gw -j2 >&2)
fi
[ -x "$GW" ] || die "no gw binary at $GW"

DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT

python3 - "$DIR" "$ROUTES" <<'PY'
import sys
out, n = sys.argv[1], int(sys.argv[2])
ups = 8
with open(f"{out}/check.gw", "w") as g, open(f"{out}/nginx.conf", "w") as x:
    g.write("listen 127.0.0.1:18400\n")
    x.write("worker_processes 1;\npid %s/nginx.pid;\nerror_log %s/error.log;\n" % (out, out))
    x.write("events { worker_connections 64; }\nhttp {\n  access_log off;\n")
    for u in range(ups):
        g.write(f"upstream u{u} {{\n  server 127.0.0.1:{19000 + u}\n}}\n")
        x.write(f"  upstream u{u} {{ server 127.0.0.1:{19000 + u}; keepalive 16; }}\n")
    x.write("  server {\n    listen 127.0.0.1:18401;\n")
    for i in range(n):
        u = i % ups
        kind = i % 3
        if kind == 0:
            g.write(f"route GET /svc{i}/items {{\n  set header x-svc = \"{i}\"\n  upstream u{u}\n}}\n")
            x.write(f"    location = /svc{i}/items {{ proxy_set_header X-Svc \"{i}\"; proxy_pass http://u{u}; }}\n")
        elif kind == 1:
            g.write(f"route GET /svc{i}/items/{{id}} {{\n  rewrite path \"/v2/items/{{path.id}}\"\n  upstream u{u}\n}}\n")
            x.write(f"    location ~ ^/svc{i}/items/([^/]+)$ {{ rewrite ^/svc{i}/items/([^/]+)$ /v2/items/$1 break; proxy_pass http://u{u}; }}\n")
        else:
            g.write(f"route ANY /svc{i}/{{rest+}} {{\n  remove header cookie\n  upstream u{u}\n}}\n")
            x.write(f"    location /svc{i}/ {{ proxy_set_header Cookie \"\"; proxy_pass http://u{u}; }}\n")
    x.write("  }\n}\n")
PY

# Median wall time, in milliseconds, of RUNS runs of a command (each must succeed).
median_ms() {
  local times=() t0 t1
  for _ in $(seq "$RUNS"); do
    t0=$(date +%s%N)
    taskset -c "$CPU" "$@" >/dev/null 2>&1 || die "failed: $*"
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

gw_ms=$(median_ms "$GW" check "$DIR/check.gw")
nginx_ms=$(median_ms "$NGINX" -t -q -c "$DIR/nginx.conf" -p "$DIR")
echo "routes: $ROUTES   runs: $RUNS   core: $CPU"
echo "gw check:  ${gw_ms} ms"
echo "nginx -t:  ${nginx_ms} ms"
awk -v g="$gw_ms" -v n="$nginx_ms" 'BEGIN { if (n > 0) printf "gw / nginx: %.2f\n", g / n }'
