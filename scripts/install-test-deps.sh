#!/usr/bin/env bash
# Install the programs the end-to-end tests and the load benchmark drive: curl (client),
# nginx (upstream and benchmark peer), haproxy (benchmark peer), wrk (load generator).
# Idempotent and quiet: does nothing when all are present; runs `apt-get update` once, only
# when something is missing. Works as root, or through sudo when it is available.
set -euo pipefail

# command:package
wanted=(curl:curl nginx:nginx haproxy:haproxy wrk:wrk)

have() {
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/local/sbin/$1" ]
}

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
