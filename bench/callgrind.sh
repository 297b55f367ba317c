#!/usr/bin/env bash
# Instructions per proxied request (user space), repeatable even on a loaded machine:
# gw runs under callgrind with instrumentation switched on after warm-up, wrk drives it at
# c50 through `route ANY /{proxy+} { upstream u }` to an nginx upstream, and the total
# instruction count is divided by wrk's request count.
#   bench/callgrind.sh [GW_BINARY]        (default target/release/gw; builds it if missing)
#   GW_ARGS="--busy-poll off" bench/callgrind.sh    (extra `gw run` arguments)
set -euo pipefail
cd "$(dirname "$0")/.."
GW=${1:-target/release/gw}
[ -x "$GW" ] || cargo build --release -p gw -j2
for t in valgrind callgrind_control nginx wrk curl; do
  command -v "$t" >/dev/null || { scripts/install-test-deps.sh; apt-get install -y -qq valgrind >/dev/null; break; }
done
W=$(mktemp -d)
UP=${UP_PORT:-28080} PX=${PX_PORT:-28081}
cleanup() { [ -f "$W/upstream.pid" ] && kill "$(cat "$W/upstream.pid")" 2>/dev/null; [ -n "${VP:-}" ] && kill "$VP" 2>/dev/null; true; }
trap cleanup EXIT
printf 'listen 127.0.0.1:%s\nupstream u {\n  server 127.0.0.1:%s\n}\nroute ANY /{proxy+} {\n  upstream u\n}\n' "$PX" "$UP" > "$W/proxy.gw"
scripts/nginx-upstream.sh "$W" "$UP"
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$W/cg.%p" \
  "$GW" run "$W/proxy.gw" --workers 1 ${GW_ARGS:-} > "$W/gw.log" 2>&1 &
VP=$!
for _ in $(seq 1 100); do curl -s --max-time 1 "http://127.0.0.1:$PX/bench" >/dev/null && break; sleep 0.2; done
callgrind_control -i on "$VP" >/dev/null
timeout 30 wrk -t1 -c50 -d5s "http://127.0.0.1:$PX/bench" > "$W/wrk.txt"
callgrind_control -d "$VP" >/dev/null
kill -INT "$VP"; wait "$VP" || true; VP=
requests=$(awk '/requests in/ {print $1}' "$W/wrk.txt")
total=$(cat "$W"/cg.* | awk '/^totals:/ {s += $2} END {print s}')
echo "requests: $requests  instructions: $total  per request: $((total / requests))"
