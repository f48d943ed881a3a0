#!/usr/bin/env bash
# The server's CPU time per request, for comparing two builds where requests/s is too noisy
# (on loopback, wrk's throughput falls into clusters that differ by 30% from run to run,
# whichever the build). Serves MODEL with each binary in turn, ROUNDS times, under wrk
# (1 thread, 8 connections, 4 s) with bench/serve.lua, and prints the server process's
# user + system CPU microseconds per request, from /proc/PID/stat.
#
#   bash bench/serve_cpu.sh MODEL BODY.json [ROUNDS] BIN...
#
# BODY.json: one /v1/classify request, e.g. {"products":[{"id":"1","title":"Black Shoes"}]}
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: bench/serve_cpu.sh MODEL BODY.json [ROUNDS] BIN..." >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODEL=$1 BODY=$2
shift 2
ROUNDS=3
if [[ $1 =~ ^[0-9]+$ ]]; then ROUNDS=$1; shift; fi
command -v wrk >/dev/null || { echo "bench/serve_cpu.sh: wrk is missing (bash scripts/install-deps.sh --bench)" >&2; exit 1; }
PORT=$((20000 + RANDOM % 20000))

one() {
  local bin=$1 pid a b requests
  "$bin" serve --model "$MODEL" --port "$PORT" --threads 2 >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -s "localhost:$PORT/healthz" >/dev/null && break; sleep 0.05; done
  a=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  requests=$(SHELF_BODY=$BODY wrk -t1 -c8 -d4s -s "$ROOT/bench/serve.lua" \
    "http://127.0.0.1:$PORT/v1/classify" 2>/dev/null | grep -o 'requests=[0-9]*' | cut -d= -f2)
  b=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  local tick
  tick=$(getconf CLK_TCK)
  awk -v bin="$bin" -v r="$requests" -v d=$((b - a)) -v t="$tick" \
    'BEGIN { printf "%s  %d requests  %.2f us of server CPU a request\n", bin, r, d * 1e6 / t / r }'
}

for _ in $(seq "$ROUNDS"); do
  for bin in "$@"; do one "$bin"; done
done
