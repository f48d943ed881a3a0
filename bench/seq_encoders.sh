#!/usr/bin/env bash
# The text encoders side by side on one dataset of ../shared/data (text only): the bag of
# n-grams with its defaults, the bidirectional GRU and the Transformer (EPOCHS epochs each,
# other options as given after the dataset). Prints test accuracy, macro-F1 and the
# wall-clock training time (reading, vocabulary, training, validation, calibration).
# usage: [TAG=name] bench/seq_encoders.sh [DATASET] [EPOCHS] [extra options for gru/transformer]
# (from the repository root, after make)
set -euo pipefail
NAME=${1:-zh-online-shopping-10cats}
EPOCHS=${2:-3}
shift $(($# > 2 ? 2 : $#))
DATA=$(cd "$(dirname "$0")/../.." && pwd)/shared/data/$NAME
OUT=bench/out/seq${TAG:+-$TAG}  # TAG=name keeps runs apart
mkdir -p "$OUT"
ext=tsv
[ -f "$DATA/train.tsv" ] || ext=csv
printf '%-12s %9s %9s %9s\n' encoder accuracy macro_f1 train_s
for enc in bag gru transformer; do
  args=()
  [ "$enc" != bag ] && args=(--text-encoder "$enc" --epochs "$EPOCHS" "$@")
  start=$(date +%s.%N)
  ./shelf train --train "$DATA/train.$ext" --valid "$DATA/valid.$ext" --threads 2 --quiet \
    --out "$OUT/$NAME-$enc.shelf" "${args[@]}" 2> "$OUT/$NAME-$enc-train.log"
  end=$(date +%s.%N)
  ./shelf eval --model "$OUT/$NAME-$enc.shelf" --data "$DATA/test.$ext" --json \
    > "$OUT/$NAME-$enc-eval.json"
  acc=$(grep -o '"accuracy": *[0-9.]*' "$OUT/$NAME-$enc-eval.json" | head -1 | grep -o '[0-9.]*$')
  f1=$(grep -o '"macro_f1": *[0-9.]*' "$OUT/$NAME-$enc-eval.json" | head -1 | grep -o '[0-9.]*$')
  printf '%-12s %9.4f %9.4f %9.1f\n' "$enc" "$acc" "$f1" "$(echo "$end - $start" | bc)"
done
