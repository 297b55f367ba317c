#!/usr/bin/env bash
# Low load (bench/README.md, "Busy-polling"): one client sends a request, waits for the
# answer, and sends the next at a fixed rate, straight to an nginx upstream and then through
# gw with busy-polling off and on. Reports, per setting, gw's CPU time per request (utime +
# stime from /proc/PID/stat over the run, divided by the requests) and the median round trip,
# and the latency gw adds over the direct round trip.
#
#   bench/low-load.sh                         # RATE=1000/s for DURATION=10 s, WINDOWS="off 100us"
#   SKIP_BUILD=1 bench/low-load.sh            # use target/release/gw as it is
#   GW_BIN=target/pgo/release/gw bench/low-load.sh
#
# Environment: RATE (1000), DURATION (10, seconds), WINDOWS ("off 100us": --busy-poll values), DRIVER
# (uring|epoll), PROXY_CPU (0), LOAD_CPU (1), BASE_PORT (18300..18301), SKIP_BUILD, GW_BIN.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RATE=${RATE:-1000}
SECS=${DURATION:-10}
WINDOWS=${WINDOWS:-"off 100us"}
DRIVER=${DRIVER:-uring}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BASE_PORT=${BASE_PORT:-18300}
die() { echo "low-load: $*" >&2; exit 1; }
for v in RATE PROXY_CPU LOAD_CPU BASE_PORT; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
"$ROOT/scripts/install-test-deps.sh"
GW=${GW_BIN:-$ROOT/target/release/gw}
if [ -z "${GW_BIN:-}" ] && [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && cargo build --release -p gw -j2 >&2)
fi
[ -x "$GW" ] || die "no gw binary at $GW"

W=$(mktemp -d)
UP=$BASE_PORT GWP=$((BASE_PORT + 1))
GW_PID=
cleanup() {
  [ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null || true
  [ -f "$W/upstream.pid" ] && kill "$(cat "$W/upstream.pid")" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
(cd "$ROOT" && scripts/nginx-upstream.sh "$W" "$UP")
sleep 0.3
cat >"$W/proxy.gw" <<EOF
listen 127.0.0.1:$GWP
upstream u { server 127.0.0.1:$UP }
route ANY /{proxy+} { upstream u }
EOF

# One sequential keep-alive client at RATE requests per second for SECS seconds: prints the
# requests sent and the median round trip in microseconds.
client() {
  taskset -c "$LOAD_CPU" python3 - "$1" "$RATE" "$SECS" <<'PY'
import socket, sys, time
port, rate, secs = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
req = b"GET /bench HTTP/1.1\r\nHost: b\r\n\r\n"
rtts, period = [], 1.0 / rate
start = time.perf_counter()
nxt = start
while time.perf_counter() - start < secs:
    now = time.perf_counter()
    if now < nxt:
        time.sleep(nxt - now)
    nxt += period
    t0 = time.perf_counter_ns()
    s.sendall(req)
    buf = b""
    while not (b"\r\n\r\n" in buf and buf.endswith(b'{"ok":true}')):
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit("connection closed")
        buf += chunk
    rtts.append((time.perf_counter_ns() - t0) / 1000)
rtts.sort()
print(len(rtts), round(rtts[len(rtts) // 2], 1))
PY
}

# utime + stime of a process in clock ticks
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

read -r n direct < <(client "$UP")
echo "rate: $RATE/s for ${SECS}s, driver $DRIVER, gw on core $PROXY_CPU, client on core $LOAD_CPU"
printf '%-16s %10s %14s %14s %12s\n' "target" "requests" "gw CPU/req" "median RTT" "gw adds"
printf '%-16s %10s %14s %14s %12s\n' "direct" "$n" "-" "${direct} us" "-"
for win in $WINDOWS; do
  taskset -c "$PROXY_CPU" "$GW" run "$W/proxy.gw" --workers 1 --driver "$DRIVER" \
    --busy-poll "$win" >"$W/gw.out" 2>"$W/gw.err" &
  GW_PID=$!
  for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$GWP/bench" >/dev/null && break
    sleep 0.1
  done
  curl -sf "http://127.0.0.1:$GWP/bench" >/dev/null || die "gw did not answer ($(tail -3 "$W/gw.err"))"
  before=$(ticks "$GW_PID")
  read -r n rtt < <(client "$GWP")
  after=$(ticks "$GW_PID")
  kill "$GW_PID"; wait "$GW_PID" 2>/dev/null || true; GW_PID=
  cpu_us=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$n" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
  adds=$(awk -v a="$rtt" -v b="$direct" 'BEGIN { printf "%.1f", a - b }')
  printf '%-16s %10s %14s %14s %12s\n' "gw busy-poll $win" "$n" "${cpu_us} us" "${rtt} us" "${adds} us"
done
