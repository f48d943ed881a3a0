#!/usr/bin/env bash
# Load test of shelf serve with wrk (2 threads, 32 connections, loopback): single-product
# requests to a text model trained on fashion, and to a text+image (fused) model with the
# product's 60x80 JPEG as image_base64; then both again while the model is reloaded every
# few seconds (SIGHUP and POST /v1/admin/reload in turn). Reports requests/s, p50/p99
# latency and errors (socket errors and non-2xx answers; 0 expected).
#
#   bash bench/serve.sh [--seconds 60] [--text MODEL] [--fused MODEL] [--fused-rows 3000]
#                       [--fused-width 32] [--no-reload] [--no-text]
#
# Without --text, a text model is trained on fashion/train.csv (seconds). Without --fused, a
# small stand-in is trained (--modality both --epochs 1 on the first --fused-rows training
# products, a few minutes; its CNN --fused-width channels wide); the fused model of the full
# split takes about 35 minutes to train, so it is taken as --fused when there is one. Models
# trained here are kept in bench/out/ for the next run. --no-text runs the fused model only.
# Results: bench/out/serve-results.md (and on stdout).
# Environment: SHELF_DATA (default ../shared/data), SHELF_BIN (default ./shelf).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHELF=${SHELF_BIN:-$ROOT/shelf}
DATA=${SHELF_DATA:-$ROOT/../shared/data}/fashion
OUT=$ROOT/bench/out
RUN_SECONDS=60 TEXT_MODEL="" FUSED_MODEL="" FUSED_ROWS=3000 FUSED_WIDTH=32 RELOAD=1 TEXT=1
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) RUN_SECONDS=$2; shift 2 ;;
    --text) TEXT_MODEL=$2; shift 2 ;;
    --fused) FUSED_MODEL=$2; shift 2 ;;
    --fused-rows) FUSED_ROWS=$2; shift 2 ;;
    --fused-width) FUSED_WIDTH=$2; shift 2 ;;
    --no-reload) RELOAD=0; shift ;;
    --no-text) TEXT=0; shift ;;
    *) echo "bench/serve.sh: unknown option $1 (see the comment at the top)" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "bench/serve.sh: wrk is missing (bash scripts/install-deps.sh --bench)" >&2; exit 1; }
[ -x "$SHELF" ] || { echo "bench/serve.sh: no $SHELF (make)" >&2; exit 1; }
[ -f "$DATA/train.csv" ] || { echo "bench/serve.sh: no $DATA/train.csv (SHELF_DATA)" >&2; exit 1; }
mkdir -p "$OUT"
T=$(mktemp -d)
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
. bench/serve_lib.sh

# ---- models ------------------------------------------------------------------------------
if [ -z "$TEXT_MODEL" ]; then
  TEXT_MODEL=$OUT/serve-text.shelf
  if [ ! -f "$TEXT_MODEL" ]; then
    echo "training the text model on $DATA/train.csv" >&2
    "$SHELF" train --train "$DATA/train.csv" --valid "$DATA/valid.csv" --out "$TEXT_MODEL" \
      --threads 2 --quiet
  fi
fi
if [ -z "$FUSED_MODEL" ]; then
  FUSED_MODEL=$OUT/serve-fused-$FUSED_ROWS$([ "$FUSED_WIDTH" = 32 ] || echo "-w$FUSED_WIDTH").shelf
  fused_standin "$FUSED_MODEL" "$FUSED_ROWS" "$FUSED_WIDTH"
fi

# ---- request bodies: the first test product, with its photo for the fused model ----------
/usr/bin/python3 - "$DATA" "$T" <<'PY'
import base64, csv, json, os, sys
data, tmp = sys.argv[1], sys.argv[2]
with open(os.path.join(data, "test.csv"), newline="", encoding="utf-8") as f:
    row = next(r for r in csv.DictReader(f) if os.path.exists(os.path.join(data, r["image"])))
with open(os.path.join(data, row["image"]), "rb") as f:
    photo = f.read()
product = {"id": row["id"], "title": row["title"]}
json.dump(product, open(os.path.join(tmp, "text.json"), "w"))
product["image_base64"] = base64.b64encode(photo).decode()
json.dump(product, open(os.path.join(tmp, "image.json"), "w"))
print(f"request: product {row['id']} '{row['title']}', photo {row['image']} ({len(photo)} bytes)",
      file=sys.stderr)
PY
TOKEN=bench-$RANDOM$RANDOM
echo "$TOKEN" > "$T/token"

# ---- one run ---------------------------------------------------------------------------
stop_server() {
  kill -TERM "$SERVER_PID"
  local rc=0
  wait "$SERVER_PID" || rc=$?
  SERVER_PID=""
  return $rc
}

# Reloads the served model every 5 seconds, SIGHUP and HTTP in turn, until killed.
reload_loop() {
  local i=0
  while sleep 5; do
    if [ $((i % 2)) -eq 0 ]; then kill -HUP "$SERVER_PID"; else
      curl -s -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" \
        "http://127.0.0.1:$PORT/v1/admin/reload"; fi
    i=$((i + 1))
  done
}

metric() { curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/metrics" |
           awk -v m="$1" '$1 == m { print $2 }'; }

ROWS=()
# run NAME MODEL BODY RELOAD(0/1)
run() {
  local name=$1 model=$2 body=$3 reload=$4 loop=""
  start_server "$model"
  SHELF_BODY=$body SHELF_TOKEN=$TOKEN wrk -t2 -c32 -d3s -s bench/serve.lua \
    "http://127.0.0.1:$PORT/v1/classify" > /dev/null  # warm-up, not counted
  if [ "$reload" = 1 ]; then reload_loop & loop=$!; fi
  SHELF_BODY=$body SHELF_TOKEN=$TOKEN wrk -t2 -c32 -d"${RUN_SECONDS}s" --latency \
    -s bench/serve.lua "http://127.0.0.1:$PORT/v1/classify" > "$T/wrk.txt"
  [ -n "$loop" ] && kill "$loop" && wait "$loop" 2>/dev/null || true
  local ok failed rc=0
  ok=$(metric 'shelf_model_reloads_total{result="ok"}')
  failed=$(metric 'shelf_model_reloads_total{result="failed"}')
  stop_server || rc=$?
  local r
  r=$(grep '^RESULT' "$T/wrk.txt") || { echo "bench/serve.sh: wrk said: $(cat "$T/wrk.txt")" >&2; exit 1; }
  val() { echo "$r" | grep -o "$1=[0-9.]*" | cut -d= -f2; }
  echo "$name: $r reloads=$ok/$((ok + failed)) exit=$rc" >&2
  ROWS+=("| $name | $(basename "$model") | $(val rps) | $(val p50_ms) | $(val p99_ms) | $(val max_ms) | $(val requests) | $(val socket_errors) + $(val non2xx) | $([ "$reload" = 1 ] && echo "$ok ok, $failed failed" || echo -) | $rc |")
}

# What else runs: the machine is often shared, and the figures depend on it.
# (ps's %CPU is over each process's life so far.)
busy() { ps -eo pcpu=,args= --sort=-pcpu |
  awk '$1 > 20 && $2 != "ps" && $2 != "wrk" && !($2 ~ /shelf$/ && $3 == "serve") {
    printf "%s`%s` (%s%% CPU)", n++ ? ", " : "", substr($0, index($0, $2), 60), $1 }'; }
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
BUSY=$(busy)
[ "$TEXT" = 1 ] && run "text, single product" "$TEXT_MODEL" "$T/text.json" 0
run "fused, single product with a 60x80 JPEG" "$FUSED_MODEL" "$T/image.json" 0
if [ "$RELOAD" = 1 ]; then
  [ "$TEXT" = 1 ] && run "text, reloading every 5 s" "$TEXT_MODEL" "$T/text.json" 1
  run "fused, reloading every 5 s" "$FUSED_MODEL" "$T/image.json" 1
fi

{
  echo "# shelf serve under wrk ($(date -u '+%F %H:%M') UTC)"
  echo
  echo "wrk -t2 -c32 -d${RUN_SECONDS}s on loopback, server --threads 2; $(nproc) cores; load average"
  echo "before: $LOAD, after: $(cut -d' ' -f1-3 /proc/loadavg); other busy processes before:"
  echo "${BUSY:-none}; after: $(busy | sed 's/^$/none/')."
  echo
  echo "| run | model | requests/s | p50 ms | p99 ms | max ms | requests | errors (socket + non-2xx) | reloads | exit |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} | tee "$OUT/serve-results.md"
