#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests drive (curl, nginx,
# haproxy, wrk), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh

# The request path never links the DSL side (docs/architecture.md#crate-map).
if cargo tree -q -p gw-runtime -e normal --prefix none | grep -qE '^(pest|gw-syntax|gw-compiler) '; then
  echo "error: gw-runtime depends on pest or the compiler" >&2
  cargo tree -q -p gw-runtime -i pest >&2 || true
  exit 1
fi

cargo test --workspace --all-targets -j2 "$@"
# Doc tests are part of the suite too.
cargo test --workspace --doc -j2
