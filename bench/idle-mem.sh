#!/usr/bin/env bash
# Idle keep-alive memory (bench/README.md): open CONNS keep-alive connections to one gw worker,
# send one request on each (a mock `respond` route, so no upstream is involved), keep them all
# open and idle, and report gw's memory per connection:
#   (VmRSS after - VmRSS before) / CONNS          from /proc/PID/status
#   (TCP sockstat pages after - before) / CONNS   from /proc/net/sockstat (both ends of each
#                                                 connection live on this machine: an upper bound)
#
#   bench/idle-mem.sh                       # io_uring, CONNS=10000
#   DRIVER=epoll bench/idle-mem.sh          # the epoll driver
#   BATCH=10000 bench/idle-mem.sh           # every request at once (adds the pool's high water)
#
# Environment: CONNS (10000), DRIVER (uring|epoll), PORT (18190), SETTLE (2, seconds idle before
# measuring), BATCH (100: connections that send their request together; each batch is answered
# before the next connects, so the buffer pool's high-water mark stays near BATCH buffers),
# SKIP_BUILD (1: use target/release/gw as it is), GW_BIN (measure this binary instead, e.g.
# target/pgo/release/gw from scripts/build-pgo.sh; nothing is built). Needs python3 (the client).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONNS=${CONNS:-10000}
DRIVER=${DRIVER:-uring}
PORT=${PORT:-18190}
SETTLE=${SETTLE:-2}
BATCH=${BATCH:-100}
SKIP_BUILD=${SKIP_BUILD:-0}

die() { echo "idle-mem: $*" >&2; exit 1; }
for v in CONNS PORT SETTLE BATCH; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
[ "$CONNS" -ge 1 ] && [ "$BATCH" -ge 1 ] || die "CONNS and BATCH must be at least 1"
case $DRIVER in uring|epoll) ;; *) die "DRIVER must be uring or epoll" ;; esac
command -v python3 >/dev/null || die "python3 is needed for the client"
command -v curl >/dev/null || die "curl is needed"

# gw and the client each hold CONNS descriptors.
need=$((CONNS + 256))
ulimit -n "$need" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge "$need" ] || die "cannot raise the open-file limit to $need (hard limit $(ulimit -Hn))"

if [ "$SKIP_BUILD" != 1 ] && [ -z "${GW_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p gw) || die "building gw failed"
fi
GW=${GW_BIN:-$ROOT/target/release/gw}
[ -x "$GW" ] || die "no $GW"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gw-idle.XXXXXX")
GW_PID=
CLIENT=
cleanup() {
  [ -n "$CLIENT" ] && kill "$CLIENT" 2>/dev/null
  [ -n "$GW_PID" ] && kill -TERM "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$WORK/idle.gw" <<EOF
# bench/idle-mem.sh: every request is answered by gw itself.
listen 127.0.0.1:$PORT
limits {
  connections $((CONNS * 2))
}
timeouts {
  idle 10m
}
route GET /{proxy+} {
  respond 200 text "ok"
}
EOF

# The client: BATCH connections at a time send one request and read its answer; every
# connection then stays open and idle until the parent has measured (the `done` file).
cat >"$WORK/client.py" <<'PY'
import os, selectors, socket, sys, time
conns, port, batch, ready, done = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                   sys.argv[4], sys.argv[5])
req = b"GET /idle HTTP/1.1\r\nHost: bench\r\n\r\n"
sel = selectors.DefaultSelector()
socks = []

def answer_all(group):
    for s in group:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, bytearray())
    pending = set(group)
    deadline = time.time() + 30
    while pending and time.time() < deadline:
        for key, _ in sel.select(timeout=1):
            s, buf = key.fileobj, key.data
            chunk = s.recv(4096)
            if not chunk:
                sys.exit("gw closed a connection")
            buf += chunk
            if b"\r\n\r\n" in buf and buf.endswith(b"ok"):
                if not buf.startswith(b"HTTP/1.1 200"):
                    sys.exit("unexpected response: %r" % bytes(buf[:40]))
                sel.unregister(s)
                pending.discard(s)
    if pending:
        sys.exit("%d connections got no response" % len(pending))

for start in range(0, conns, batch):
    group = []
    for _ in range(min(batch, conns - start)):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(req)
        group.append(s)
    answer_all(group)
    socks.extend(group)
open(ready, "w").close()
while not os.path.exists(done):
    time.sleep(0.1)
for s in socks:
    s.close()
PY

"$GW" run "$WORK/idle.gw" --workers 1 --driver "$DRIVER" >"$WORK/gw.log" 2>&1 &
GW_PID=$!
for _ in $(seq 100); do
  curl -s --max-time 1 "http://127.0.0.1:$PORT/warm" >/dev/null 2>&1 && break
  kill -0 "$GW_PID" 2>/dev/null || die "gw exited: $(cat "$WORK/gw.log")"
  sleep 0.1
done

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$GW_PID/status"; }
tcp_pages() { awk '$1 == "TCP:" { for (i = 2; i < NF; i++) if ($i == "mem") print $(i + 1) }' /proc/net/sockstat; }

sleep 0.5
rss0=$(rss_kib)
tcp0=$(tcp_pages)
python3 "$WORK/client.py" "$CONNS" "$PORT" "$BATCH" "$WORK/ready" "$WORK/done" &
CLIENT=$!
while [ ! -e "$WORK/ready" ]; do
  kill -0 "$CLIENT" 2>/dev/null || { wait "$CLIENT" || true; CLIENT=; die "the client failed"; }
  sleep 0.2
done
sleep "$SETTLE"
rss1=$(rss_kib)
tcp1=$(tcp_pages)
fds=$(find "/proc/$GW_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
touch "$WORK/done"
wait "$CLIENT" || die "the client failed"
CLIENT=

awk -v n="$CONNS" -v r0="$rss0" -v r1="$rss1" -v t0="$tcp0" -v t1="$tcp1" \
  -v pg="$(getconf PAGESIZE)" -v drv="$DRIVER" -v fds="$fds" -v batch="$BATCH" 'BEGIN {
  printf "driver %s: %d idle keep-alive connections, requests sent %d at a time (gw had %d fds open)\n", drv, n, batch, fds
  printf "gw VmRSS: %d KiB before, %d KiB after: %.0f bytes per connection\n", r0, r1, (r1 - r0) * 1024 / n
  printf "kernel TCP memory (sockstat, both ends): %d -> %d pages: %.0f bytes per connection\n", t0, t1, (t1 - t0) * pg / n
}'
