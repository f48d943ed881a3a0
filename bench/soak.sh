#!/usr/bin/env bash
# Soak test of shelf serve (issue 13; not in CI): a text+image model served for MINUTES
# (10) under wrk's good text requests (2 threads, 16 connections), while bench/soak_client.py
# sends good photo uploads (JSON and multipart), malformed requests (a multipart part without
# name=, truncated JSON and forms, bad base64, an 8000x8000 PNG header, a cut JPEG, an
# oversized batch, random bytes, a FIFO-like reload path), five Slowloris connections, and a
# reload every 10 s (SIGHUP and POST /v1/admin/reload in turn). The server's RSS is read every
# 5 s. Passes when the server never dies, no good request fails (wrk: no socket error, no
# non-2xx; the client: every good request answered 200), no malformed request gets a 5xx or
# a dropped connection, and RSS grows less than 5% after the warm-up (the peak of the last
# minute against the peak of the second; reloads make it swing).
#
#   bash bench/soak.sh [--minutes 10] [--reload 10] [--model FUSED_MODEL]
#
# Without --model, a small fused stand-in is trained on fashion's first 2,000 training
# products (1 epoch, CNN width 16; kept in bench/out/). Results: bench/out/soak-results.md.
# Environment: SHELF_DATA (default ../shared/data), SHELF_BIN (default ./shelf).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHELF=${SHELF_BIN:-$ROOT/shelf}
DATA=${SHELF_DATA:-$ROOT/../shared/data}/fashion
OUT=$ROOT/bench/out
MINUTES=10 RELOAD=10 MODEL=""
while [ $# -gt 0 ]; do
  case $1 in
    --minutes) MINUTES=$2; shift 2 ;;
    --reload) RELOAD=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    *) echo "bench/soak.sh: unknown option $1 (see the comment at the top)" >&2; exit 2 ;;
  esac
done
for c in wrk curl /usr/bin/python3; do
  command -v "$c" >/dev/null || { echo "bench/soak.sh: $c is missing (bash scripts/install-deps.sh --bench)" >&2; exit 1; }
done
[ -x "$SHELF" ] || { echo "bench/soak.sh: no $SHELF (make)" >&2; exit 1; }
[ -f "$DATA/train.csv" ] || { echo "bench/soak.sh: no $DATA/train.csv (SHELF_DATA)" >&2; exit 1; }
mkdir -p "$OUT"
T=$(mktemp -d)
SERVER_PID="" SAMPLER=""
cleanup() {
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
. bench/serve_lib.sh

if [ -z "$MODEL" ]; then
  MODEL=$OUT/soak-fused.shelf
  fused_standin "$MODEL" 2000 16
fi
PHOTO=$(/usr/bin/python3 - "$DATA" <<'PY'
import csv, os, sys
with open(os.path.join(sys.argv[1], "test.csv"), newline="", encoding="utf-8") as f:
    row = next(r for r in csv.DictReader(f) if os.path.exists(os.path.join(sys.argv[1], r["image"])))
print(os.path.join(sys.argv[1], row["image"]))
PY
)
echo '{"id": "w1", "title": "Puma Men Black Running Shoes"}' > "$T/text.json"
TOKEN=soak-$RANDOM$RANDOM
echo "$TOKEN" > "$T/token"

start_server "$MODEL" --max-connections 64

SECONDS_TOTAL=$((MINUTES * 60))
# RSS in kB every 5 s, with the seconds since the start.
( t0=$(date +%s); while kill -0 "$SERVER_PID" 2>/dev/null; do
    echo "$(( $(date +%s) - t0 )) $(awk '/^VmRSS/ { print $2 }' /proc/$SERVER_PID/status)"
    sleep 5
  done > "$T/rss.txt" ) &
SAMPLER=$!

echo "soak: $MINUTES min on port $PORT, model $(basename "$MODEL"), photo $(basename "$PHOTO")" >&2
/usr/bin/python3 bench/soak_client.py "$PORT" "$TOKEN" "$SERVER_PID" "$PHOTO" "$SECONDS_TOTAL" \
  "$RELOAD" "$T/client.json" &
CLIENT=$!
SHELF_BODY=$T/text.json SHELF_TOKEN=$TOKEN wrk -t2 -c16 -d"${SECONDS_TOTAL}s" --latency \
  -s bench/serve.lua "http://127.0.0.1:$PORT/v1/classify" > "$T/wrk.txt" || true
wait "$CLIENT" || true

ALIVE=no
kill -0 "$SERVER_PID" 2>/dev/null && ALIVE=yes
EXIT=none
if [ "$ALIVE" = yes ]; then
  kill -TERM "$SERVER_PID"; EXIT=0; wait "$SERVER_PID" || EXIT=$?
else
  wait "$SERVER_PID" || EXIT=$?
fi
SERVER_PID=""
kill "$SAMPLER" 2>/dev/null || true; SAMPLER=""
cp "$T/rss.txt" "$OUT/soak-rss.txt"
cp "$T/serve.log" "$OUT/soak-serve.log"

/usr/bin/python3 - "$T" "$ALIVE" "$EXIT" "$MINUTES" "$OUT/soak-results.md" <<'PY'
import json, re, sys
t, alive, exit_code, minutes, out = sys.argv[1:6]
wrk = open(t + "/wrk.txt").read()
m = re.search(r"^RESULT (.*)$", wrk, re.M)
w = dict(kv.split("=") for kv in m.group(1).split()) if m else {}
client = json.load(open(t + "/client.json"))
c = client["counts"]
rss = [tuple(map(int, l.split())) for l in open(t + "/rss.txt") if len(l.split()) == 2]
# RSS swings by tens of MB as models are reloaded and work areas come and go, so growth is
# the peak of the last minute against the peak of the minute after the warm-up.
def peak(lo, hi):
    return max((r for s, r in rss if lo <= s < hi), default=0)
end_s = rss[-1][0] if rss else 0
warm = peak(60, 120) or peak(0, 120)
last = peak(end_s - 60, end_s + 1)
top = peak(0, end_s + 1)
growth = (last - warm) / warm * 100 if warm else float("nan")
wrk_bad = int(w.get("socket_errors", 1)) + int(w.get("non2xx", 1))
ok = (alive == "yes" and exit_code == "0" and wrk_bad == 0 and c["good_failed"] == 0
      and c["bad_5xx"] == 0 and c["bad_no_answer"] == 0 and c["reload_failed"] == 0
      and growth < 5)
lines = [
    f"# shelf serve soak, {minutes} minutes",
    "",
    "| measure | value |", "|---|---|",
    f"| server alive at the end / exit on SIGTERM | {alive} / {exit_code} |",
    f"| wrk good text requests | {w.get('requests', '?')} ({w.get('rps', '?')}/s, p99 {w.get('p99_ms', '?')} ms) |",
    f"| wrk failures (socket errors + non-2xx) | {wrk_bad} |",
    f"| good photo/multipart/batch requests ok / failed | {c['good_ok']} / {c['good_failed']} |",
    f"| malformed requests refused (4xx; a refused reload) / 5xx / no answer | {c['bad_refused']} / {c['bad_5xx']} / {c['bad_no_answer']} |",
    f"| Slowloris connections closed by the server | {c['slow_closed_by_server']} |",
    f"| reloads ok / failed | {c['reloads']} / {c['reload_failed']} |",
    f"| RSS peak in minute 2 / in the last minute / overall | {warm / 1024:.1f} / {last / 1024:.1f} / {top / 1024:.1f} MB |",
    f"| RSS growth after warm-up | {growth:+.2f}% |",
    "", "**" + ("PASS" if ok else "FAIL") + "**",
]
if client["failures"]:
    lines += ["", "First failures:", ""] + ["- " + f for f in client["failures"][:20]]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
sys.exit(0 if ok else 1)
PY
