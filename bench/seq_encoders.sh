#!/usr/bin/env bash
# The text encoders side by side on datasets of ../shared/data (text only): the bag of
# n-grams with its defaults, the bidirectional GRU and the Transformer (their defaults, or
# the options given after --). Prints test accuracy, macro-F1, the wall-clock training time
# (reading, vocabulary, training, validation, calibration), training texts/s in training
# steps (shelf info), and prediction throughput (shelf predict, 2 threads, on the test split
# repeated to at least PREDICT_ROWS products, 30,000 by default: products/s including
# reading and model loading).
# usage: [TAG=name] bench/seq_encoders.sh [DATASET ...] [-- options for gru/transformer]
# (from the repository root, after make). Results: bench/out/seq[-TAG]/results.md
set -euo pipefail
sets=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do sets+=("$1"); shift; done
[ $# -gt 0 ] && shift
[ ${#sets[@]} -eq 0 ] && sets=(zh-online-shopping-10cats)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)/shared/data
OUT=bench/out/seq${TAG:+-$TAG}  # TAG=name keeps runs apart
mkdir -p "$OUT"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
now() { date +%s.%N; }
# The test split's rows repeated to at least PREDICT_ROWS: prediction, not model loading.
repeat_test() {
  local f=$1 out=$2 n reps
  n=$(($(wc -l < "$f") - 1))
  reps=$(( (${PREDICT_ROWS:-30000} + n - 1) / n ))
  { head -1 "$f"; for _ in $(seq "$reps"); do tail -n +2 "$f"; done; } > "$out"
}
{
echo "# bench/seq_encoders.sh ${sets[*]} ${*:+-- $*} ($(date -u +%F' '%H:%M) UTC, load $(cut -d' ' -f1 /proc/loadavg))"
echo
echo "| dataset | encoder | accuracy | macro-F1 | train s | train texts/s | predict products/s |"
echo "|---|---|---|---|---|---|---|"
for NAME in "${sets[@]}"; do
  DATA=$ROOT/$NAME
  ext=tsv
  [ -f "$DATA/train.tsv" ] || ext=csv
  many=$TMP/many.$ext
  repeat_test "$DATA/test.$ext" "$many"
  for enc in bag gru transformer; do
    args=()
    [ "$enc" != bag ] && args=(--text-encoder "$enc" "$@")
    model=$OUT/$NAME-$enc.shelf
    t0=$(now)
    ./shelf train --train "$DATA/train.$ext" --valid "$DATA/valid.$ext" --threads 2 --quiet \
      --out "$model" "${args[@]}" 2> "$OUT/$NAME-$enc-train.log"
    t1=$(now)
    ./shelf eval --model "$model" --data "$DATA/test.$ext" --json > "$OUT/$NAME-$enc-eval.json"
    t2=$(now)
    rows=$(./shelf predict --model "$model" --data "$many" --threads 2 | wc -l)
    t3=$(now)
    acc=$(grep -o '"accuracy": *[0-9.]*' "$OUT/$NAME-$enc-eval.json" | head -1 | grep -o '[0-9.]*$')
    f1=$(grep -o '"macro_f1": *[0-9.]*' "$OUT/$NAME-$enc-eval.json" | head -1 | grep -o '[0-9.]*$')
    speed=$({ grep -o '[0-9.]* training texts/s' "$OUT/$NAME-$enc-train.log" || true; } | cut -d' ' -f1)
    printf '| %s | %s | %.4f | %.4f | %.1f | %s | %.0f |\n' "$NAME" "$enc" "$acc" "$f1" \
      "$(echo "$t1 - $t0" | bc)" "${speed:--}" "$(echo "$rows / ($t3 - $t2)" | bc -l)"
  done
done
} | tee "$OUT/results.md"
