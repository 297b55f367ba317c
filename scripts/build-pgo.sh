#!/usr/bin/env bash
# Release builds of gw and gw-floor optimised with a profile of their own runs (PGO), in
# target/pgo/release/. bench/run.sh benchmarks these by default; ship this build.
#
#   scripts/build-pgo.sh
#
# 1. an instrumented build (target/pgo-gen) serves a training load on loopback: gw proxying
#    to an nginx upstream (GET and POST, keep-alive at 50 connections and one at a time,
#    chunked request bodies) and answering from the .gw file itself (respond, 404, 405);
#    gw-floor forwarding the same GETs;
# 2. llvm-profdata (rustup's llvm-tools, added when missing) merges the counts;
# 3. the optimised build (target/pgo) lays out code and branches by them, with cold blocks
#    split out of line and hot functions kept together.
# Needs nginx, wrk and curl (installed by scripts/install-test-deps.sh when missing). The
# training uses loopback ports PGO_PORT..PGO_PORT+2 (PGO_PORT defaults to 29080).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

scripts/install-test-deps.sh
profdata() {
  local sysroot
  sysroot=$(rustc --print sysroot)
  find "$sysroot/lib/rustlib" -name llvm-profdata -type f 2>/dev/null | head -1
}
PROFDATA=$(profdata)
if [ -z "$PROFDATA" ]; then
  rustup component add llvm-tools >&2
  PROFDATA=$(profdata)
  [ -n "$PROFDATA" ] || { echo "build-pgo: no llvm-profdata after adding llvm-tools" >&2; exit 1; }
fi

W=$(mktemp -d)
UP=${PGO_PORT:-29080} PX=$((${PGO_PORT:-29080} + 1)) FL=$((${PGO_PORT:-29080} + 2))
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$W/upstream.pid" ] && kill "$(cat "$W/upstream.pid")" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT

# Build scripts and proc macros of the instrumented build write their own profiles: those go
# to target/pgo-gen/build-profiles (a fixed path, so that a second run reuses the build), the
# binaries' to $W/run (LLVM_PROFILE_FILE overrides the built-in path).
echo "build-pgo: instrumented build" >&2
RUSTFLAGS="-Cprofile-generate=$ROOT/target/pgo-gen/build-profiles" CARGO_TARGET_DIR="$ROOT/target/pgo-gen" \
  cargo build --release -q -p gw -p gw-floor -j2

cat >"$W/train.gw" <<GW
listen 127.0.0.1:$PX
upstream u {
  server 127.0.0.1:$UP
}
route GET /hello {
  respond 200 json { message: "hello", request_id: request.id }
}
route POST /only-post {
  respond 204
}
route ANY /{proxy+} {
  upstream u
}
GW
cat >"$W/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = string.rep("x", 1024)
wrk.headers["Content-Type"] = "application/json"
LUA
scripts/nginx-upstream.sh "$W" "$UP"

wait_up() { # wait_up PORT
  for _ in $(seq 1 100); do
    curl -s --max-time 1 -o /dev/null "http://127.0.0.1:$1/" && return 0
    sleep 0.1
  done
  echo "build-pgo: nothing answers on port $1" >&2
  exit 1
}
load() { # load PORT CONNS SECONDS PATH [wrk args]
  wrk -t1 -c"$2" -d"$3"s "${@:5}" "http://127.0.0.1:$1$4" >/dev/null
}

echo "build-pgo: training" >&2
LLVM_PROFILE_FILE="$W/run/gw-%p.profraw" "$ROOT/target/pgo-gen/release/gw" run "$W/train.gw" \
  --workers 1 >"$W/gw.log" 2>&1 &
pids+=($!)
wait_up "$PX"
load "$PX" 50 4 /bench
load "$PX" 1 1 /bench
load "$PX" 8 1 /items/42 -s "$W/post.lua"
load "$PX" 8 1 /hello
for _ in $(seq 1 50); do
  curl -s -o /dev/null "http://127.0.0.1:$PX/only-post"
  curl -s -o /dev/null -H 'Transfer-Encoding: chunked' --data-binary @"$W/post.lua" \
    "http://127.0.0.1:$PX/upload"
done
kill -INT "${pids[0]}"
wait "${pids[0]}" || true

LLVM_PROFILE_FILE="$W/run/floor-%p.profraw" "$ROOT/target/pgo-gen/release/gw-floor" \
  --listen "127.0.0.1:$FL" --upstream "127.0.0.1:$UP" >"$W/floor.log" 2>&1 &
pids+=($!)
wait_up "$FL"
load "$FL" 50 4 /bench
load "$FL" 1 1 /bench
kill -INT "${pids[1]}"
wait "${pids[1]}" || true

ls "$W"/run/gw-*.profraw "$W"/run/floor-*.profraw >/dev/null ||
  { echo "build-pgo: a training run wrote no profile" >&2; exit 1; }
mkdir -p "$ROOT/target/pgo"
"$PROFDATA" merge -o "$W/merged.profdata" "$W"/run/*.profraw
# Kept beside the build it steered, named by its content: cargo does not watch the file, and
# a new name in RUSTFLAGS makes it rebuild every crate with the new profile.
sum=$(sha256sum "$W/merged.profdata" | cut -c1-16)
rm -f "$ROOT"/target/pgo/merged-*.profdata
PROFILE="$ROOT/target/pgo/merged-$sum.profdata"
mv "$W/merged.profdata" "$PROFILE"

echo "build-pgo: optimised build" >&2
# Machine-function splitting moves each function's cold blocks out of line, and the linker
# (rustc's lld) keeps .text.hot/.text.unlikely/.text.split apart: the request path's code is
# then ~70 KB of .text.hot instead of being spread over 3 MB (bench/README.md, "The PGO build").
RUSTFLAGS="-Cprofile-use=$PROFILE -Cllvm-args=-enable-split-machine-functions \
-Clink-arg=-Wl,-z,keep-text-section-prefix" CARGO_TARGET_DIR="$ROOT/target/pgo" \
  cargo build --release -q -p gw -p gw-floor -j2
echo "build-pgo: target/pgo/release/gw and target/pgo/release/gw-floor" >&2
