#!/usr/bin/env bash
# End-to-end test of shelf serve: trains small text, image and fused models here, then
# tests/serve_client.py starts servers on free loopback ports and exercises every endpoint,
# a corpus of malformed requests, limits, authentication, timeouts, reloads (also during
# requests) and SIGTERM. usage: tests/serve_e2e.sh SHELF_BINARY
set -euo pipefail
SHELF=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"

bash "$ROOT/tests/make_catalog.sh"
train() { "$SHELF" train --quiet --threads 2 "$@" 2>train.err || { cat train.err; exit 1; }; }
train --train train.csv --valid test.csv --out served.shelf --seed 3
train --train train.csv --out other.shelf --seed 4 --epochs 3
train --train train.csv --out gru.shelf --text-encoder gru --dim 16 --max-tokens 16 --epochs 2
size=$(wc -c < served.shelf)
cp served.shelf corrupt.shelf
printf '\x55\x66\x77' | dd of=corrupt.shelf bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
"$ROOT/build/tools/make_images" imgs 12
IMG=(--image-size 16 --width 4 --batch 16 --seed 2)
train --train imgs/train.csv --valid imgs/valid.csv --out both.shelf --modality both \
  "${IMG[@]}" --epochs 2
train --train imgs/train.csv --out img.shelf --modality image "${IMG[@]}" --epochs 1
cp served.shelf similar.shelf # the reload tests replace served.shelf
"$SHELF" index --model similar.shelf --data train.csv --out similar.idx --index-type hnsw 2>/dev/null
"$SHELF" index --model both.shelf --data imgs/train.csv --out both.idx 2>/dev/null

/usr/bin/python3 "$ROOT/tests/serve_client.py" "$SHELF" "$T"
