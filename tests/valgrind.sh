#!/usr/bin/env bash
# The unit tests and a small train / eval / predict / embed / labels add / quantize run
# under valgrind's memcheck: no invalid access, no use of uninitialized memory, no leak. usage: tests/valgrind.sh SHELF_BINARY
set -euo pipefail
SHELF=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cd "$(dirname "$0")/.."
VG=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect)
# two unit tests at a time (valgrind runs a program on one core); any failure fails the run
export VG_CMD="${VG[*]}"
ls build/rel/tests/test_* | xargs -P 2 -I{} sh -c \
  '[ -x "$1" ] || exit 0; $VG_CMD "$1" > /dev/null || { echo "== valgrind $1: FAILED"; exit 1; }; echo "== valgrind $1"' _ {}
echo "== valgrind shelf train / eval / predict / info on the sample catalog"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"${VG[@]}" "$SHELF" train --train examples/sample/train.csv --valid examples/sample/valid.csv \
  --out "$T/m.shelf" --epochs 2 --threads 2 2> "$T/err" || { cat "$T/err"; exit 1; }
"${VG[@]}" "$SHELF" eval --model "$T/m.shelf" --data examples/sample/test.csv --json > /dev/null
"${VG[@]}" "$SHELF" predict --model "$T/m.shelf" --data examples/sample/new.csv --k 3 > /dev/null
"${VG[@]}" "$SHELF" info --model "$T/m.shelf" > /dev/null
"${VG[@]}" "$SHELF" embed --model "$T/m.shelf" --data examples/sample/new.csv --out "$T/e.npy"
{ head -31 examples/sample/train.csv
  for i in 1 2 3 4 5 6; do echo "k$i,Nylon Flying Kite $i with String,,Toys > Kites"; done; } > "$T/labels.csv"
"${VG[@]}" "$SHELF" labels add --model "$T/m.shelf" --data "$T/labels.csv" --out "$T/l.shelf" 2> /dev/null
"${VG[@]}" "$SHELF" train --init "$T/m.shelf" --train "$T/labels.csv" --out "$T/n.shelf" \
  --epochs 2 --threads 2 2> "$T/err" || { cat "$T/err"; exit 1; }
"${VG[@]}" "$SHELF" quantize --model "$T/m.shelf" --out "$T/q.shelf" --cutoff 200 2> /dev/null
"${VG[@]}" "$SHELF" predict --model "$T/q.shelf" --data examples/sample/new.csv --explain > /dev/null
echo "== valgrind shelf on a small image catalog (with bad images)"
build/tools/make_images "$T/imgs" 6
"${VG[@]}" "$SHELF" train --train "$T/imgs/train.csv" --valid "$T/imgs/valid.csv" \
  --out "$T/i.shelf" --modality image --image-size 16 --width 2 --batch 8 --epochs 2 \
  --threads 2 2> "$T/err" || { cat "$T/err"; exit 1; }
"${VG[@]}" "$SHELF" eval --model "$T/i.shelf" --data "$T/imgs/test.csv" --json > /dev/null 2>&1
"${VG[@]}" "$SHELF" predict --model "$T/i.shelf" --data "$T/imgs/bad.csv" --skip-bad > /dev/null 2>&1
"${VG[@]}" "$SHELF" quantize --model "$T/i.shelf" --out "$T/i8.shelf" --calibrate "$T/imgs/train.csv" \
  --images 20 2> /dev/null
"${VG[@]}" "$SHELF" predict --model "$T/i8.shelf" --data "$T/imgs/bad.csv" --skip-bad > /dev/null 2>&1
"${VG[@]}" "$SHELF" duplicates --data "$T/imgs/train.csv" --threads 2 > /dev/null 2>&1
"${VG[@]}" "$SHELF" duplicates --data "$T/imgs/bad.csv" --skip-bad > /dev/null 2>&1
"${VG[@]}" "$SHELF" train --train "$T/imgs/train.csv" --valid "$T/imgs/valid.csv" \
  --out "$T/b.shelf" --modality both --image-size 16 --width 2 --batch 8 --epochs 1 \
  --threads 2 2> "$T/err" || { cat "$T/err"; exit 1; }
"${VG[@]}" "$SHELF" predict --model "$T/b.shelf" --data "$T/imgs/bad.csv" > /dev/null 2>&1
"${VG[@]}" "$SHELF" embed --model "$T/b.shelf" --data "$T/imgs/bad.csv" > /dev/null 2>&1
echo "valgrind: clean"
