#!/usr/bin/env bash
# Install the programs the end-to-end tests and the load benchmark drive: curl (client),
# nginx (upstream and benchmark peer), haproxy (benchmark peer), wrk (load generator),
# REDbot (an HTTP linter, from PyPI; needs Python 3.11+), redis-server (the store of
# fleet-wide limits), prometheus_client (the Prometheus text parser the metrics tests
# read /metrics with, from PyPI), websockets (a WebSocket client the WebSocket tests drive gw
# with, from PyPI), openssl (certificates, OCSP responses and s_client for the TLS tests), the
# system's trusted CAs (ca-certificates: a TLS upstream without `ca` is verified against them),
# sslyze (the TLS scanner run against gw's TLS listener, from PyPI), h2load (HTTP/2 load,
# Debian's nghttp2-client) and the `h2` package (a hand-driven HTTP/2 client for the abuse
# tests, from PyPI).
# Idempotent and quiet: does nothing when all are present; runs `apt-get update` once, only
# when something is missing. Works as root, or through sudo when it is available.
set -euo pipefail

# command:package
wanted=(curl:curl nginx:nginx haproxy:haproxy wrk:wrk redis-server:redis-server openssl:openssl
  update-ca-certificates:ca-certificates h2load:nghttp2-client)

have() {
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/local/sbin/$1" ]
}

# REDbot comes from PyPI: installed for the Python 3 on PATH, whose scripts directory the
# tests find `redbot` in.
if ! command -v redbot >/dev/null 2>&1; then
  echo "install-test-deps: installing redbot (PyPI)" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore redbot \
    || { echo "install-test-deps: pip could not install redbot" >&2; exit 1; }
  hash -r
  command -v redbot >/dev/null 2>&1 \
    || { echo "install-test-deps: redbot installed but not on PATH" >&2; exit 1; }
fi

if ! python3 -c 'import prometheus_client' >/dev/null 2>&1; then
  echo "install-test-deps: installing prometheus_client (PyPI)" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore prometheus_client \
    || { echo "install-test-deps: pip could not install prometheus_client" >&2; exit 1; }
fi

if ! python3 -c 'import websockets.sync.client' >/dev/null 2>&1; then
  echo "install-test-deps: installing websockets (PyPI)" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore websockets \
    || { echo "install-test-deps: pip could not install websockets" >&2; exit 1; }
fi

if ! command -v sslyze >/dev/null 2>&1; then
  echo "install-test-deps: installing sslyze (PyPI)" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore sslyze \
    || { echo "install-test-deps: pip could not install sslyze" >&2; exit 1; }
  hash -r
  command -v sslyze >/dev/null 2>&1 \
    || { echo "install-test-deps: sslyze installed but not on PATH" >&2; exit 1; }
fi

if ! python3 -c 'import h2' >/dev/null 2>&1; then
  echo "install-test-deps: installing h2 (PyPI)" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore h2 \
    || { echo "install-test-deps: pip could not install h2" >&2; exit 1; }
fi

missing=()
for pair in "${wanted[@]}"; do
  have "${pair%%:*}" || missing+=("${pair#*:}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo -n)
else
  echo "install-test-deps: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-test-deps: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq >/dev/null
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

for pair in "${wanted[@]}"; do
  have "${pair%%:*}" || { echo "install-test-deps: ${pair%%:*} still missing" >&2; exit 1; }
done
