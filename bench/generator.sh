#!/usr/bin/env bash
# gw bench against wrk (bench/README.md, "gw bench against wrk"): each on one core driving the
# same nginx upstream on another, closed loop at CONNS connections, in ROUNDS rounds (the order
# of the generators rotates each round). Per run: the responses a second the tool reports, and
# its CPU time (user + system, from bash's `time`) per response; then the medians. The
# generators: `wrk`, `gw` (gw bench on its default driver, io_uring) and `gw-epoll` (gw bench
# --driver epoll).
#
#   bench/generator.sh                          # ROUNDS=3, DURATION=10 s, CONNS=50
#   GW_BIN=target/pgo/release/gw bench/generator.sh
#
# Environment: ROUNDS (3), DURATION (10, s), CONNS (50), GENERATORS ("wrk gw gw-epoll"), GEN_CPU
# (0: the generator), SERVER_CPU (1: the upstream), PORT (18400), SKIP_BUILD (1: use
# target/release/gw as it is), GW_BIN.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
GENERATORS=${GENERATORS:-"wrk gw gw-epoll"}
GEN_CPU=${GEN_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
PORT=${PORT:-18400}
die() { echo "generator: $*" >&2; exit 1; }
for v in ROUNDS DURATION CONNS GEN_CPU SERVER_CPU PORT; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
"$ROOT/scripts/install-test-deps.sh"
GW=${GW_BIN:-$ROOT/target/release/gw}
if [ -z "${GW_BIN:-}" ] && [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && cargo build --release -p gw -j2 >&2)
fi
[ -x "$GW" ] || die "no gw binary at $GW"

W=$(mktemp -d)
cleanup() {
  [ -f "$W/upstream.pid" ] && kill "$(cat "$W/upstream.pid")" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
taskset -c "$SERVER_CPU" "$ROOT/scripts/nginx-upstream.sh" "$W" "$PORT"
URL=http://127.0.0.1:$PORT/bench
for _ in $(seq 50); do curl -s -o /dev/null "$URL" && break; sleep 0.1; done

# measure TOOL: run it on GEN_CPU; prints "responses/s cpu_us_per_response".
measure() {
  local out=$W/$1.out secs rate n
  TIMEFORMAT='%U %S'
  case $1 in
    wrk)
      { time taskset -c "$GEN_CPU" wrk -t1 -c"$CONNS" -d"$DURATION"s "$URL" >"$out" 2>&1; } 2>"$W/time"
      rate=$(awk '/^Requests\/sec:/ {print $2}' "$out")
      n=$(awk '/ requests in / {print $1}' "$out") ;;
    gw | gw-epoll)
      local driver=uring
      [ "$1" = gw-epoll ] && driver=epoll
      { time taskset -c "$GEN_CPU" "$GW" bench "$URL" -w 1 -c "$CONNS" -d "$DURATION"s --json \
        --driver "$driver" >"$out" 2>"$W/gw.err"; } 2>"$W/time"
      read -r rate n < <(python3 -c 'import json, sys
t = json.load(open(sys.argv[1]))["targets"][0]
print(t["requests_per_s"], t["responses"])' "$out") ;;
    *) die "unknown generator '$1' in GENERATORS" ;;
  esac
  secs=$(awk '{print $1 + $2}' "$W/time")
  awk -v r="$rate" -v s="$secs" -v n="$n" 'BEGIN { printf "%.0f %.2f\n", r, (n > 0 ? s * 1e6 / n : 0) }'
}

echo "| round | generator | responses/s | generator CPU µs/response |"
echo "|---|---|---:|---:|"
: >"$W/all"
read -r -a gens <<<"$GENERATORS"
n=${#gens[@]}
for r in $(seq "$ROUNDS"); do
  for i in $(seq 0 $((n - 1))); do
    tool=${gens[$(((i + r - 1) % n))]}
    read -r rate cpu < <(measure "$tool")
    echo "| $r | $tool | $rate | $cpu |"
    echo "$tool $rate $cpu" >>"$W/all"
  done
done
median() { # median TOOL COLUMN
  awk -v t="$1" -v c="$2" '$1 == t {print $c}' "$W/all" | sort -g |
    awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}
echo
for tool in "${gens[@]}"; do
  echo "median $tool: $(median "$tool" 2) responses/s, $(median "$tool" 3) µs CPU per response"
done
