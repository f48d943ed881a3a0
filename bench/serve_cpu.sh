#!/usr/bin/env bash
# The server's CPU time per request, for comparing two builds where requests/s is too noisy
# (on loopback, wrk's throughput falls into clusters that differ by 30% from run to run,
# whichever the build). Serves MODEL with each binary in turn, ROUNDS times, under wrk
# (1 thread, 8 connections, 4 s) with bench/serve.lua, and prints the server process's
# user + system CPU microseconds per request, from /proc/PID/stat, and its requests/s.
# With --pin the server runs on core 0 with one worker thread and wrk on core 1, so that
# neither takes the other's core: requests/s then measures the server alone, run to run.
#
#   bash bench/serve_cpu.sh [--pin] MODEL BODY.json [ROUNDS] BIN...
#
# BODY.json: one /v1/classify request, e.g. {"products":[{"id":"1","title":"Black Shoes"}]}
set -euo pipefail
PIN=0
if [ "${1:-}" = --pin ]; then PIN=1; shift; fi
[ $# -ge 3 ] || { echo "usage: bench/serve_cpu.sh MODEL BODY.json [ROUNDS] BIN..." >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODEL=$1 BODY=$2
shift 2
ROUNDS=3
if [[ $1 =~ ^[0-9]+$ ]]; then ROUNDS=$1; shift; fi
command -v wrk >/dev/null || { echo "bench/serve_cpu.sh: wrk is missing (bash scripts/install-deps.sh --bench)" >&2; exit 1; }
PORT=$((20000 + RANDOM % 20000))

one() {
  local bin=$1 pid a b requests server=() client=() threads=2
  if [ "$PIN" = 1 ]; then server=(taskset -c 0); client=(taskset -c 1); threads=1; fi
  "${server[@]}" "$bin" serve --model "$MODEL" --port "$PORT" --threads "$threads" \
    >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -s "localhost:$PORT/healthz" >/dev/null && break; sleep 0.05; done
  a=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  requests=$(SHELF_BODY=$BODY "${client[@]}" wrk -t1 -c8 -d4s -s "$ROOT/bench/serve.lua" \
    "http://127.0.0.1:$PORT/v1/classify" 2>/dev/null | grep -o 'requests=[0-9]*' | cut -d= -f2)
  b=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  local tick
  tick=$(getconf CLK_TCK)
  awk -v bin="$bin" -v r="$requests" -v d=$((b - a)) -v t="$tick" \
    'BEGIN { printf "%s  %d requests/s  %.2f us of server CPU a request\n", bin, r / 4, d * 1e6 / t / r }'
}

for _ in $(seq "$ROUNDS"); do
  for bin in "$@"; do one "$bin"; done
done
