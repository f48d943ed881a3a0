#!/usr/bin/env bash
# Class balance and back-off on real catalogs (text models; the image and fused variants come
# with fusion): --balance none against weight on fashion and flipkart-9k, and the coverage
# and precision of back-off at --min-confidence 0.9 on fashion. Writes bench/out/taxonomy.txt.
#   bash bench/taxonomy.sh [extra train options...]
set -euo pipefail
cd "$(dirname "$0")/.."
SHELF=./shelf
DATA=../shared/data
OUT=bench/out
mkdir -p "$OUT"
metrics() { # model data: accuracy, macro-F1, weighted-F1 and the back-off object
  "$SHELF" eval --model "$1" --data "$2" --json --min-confidence 0.9 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); b=d["backoff"]
print("%.4f %.4f %.4f  back-off@0.9 coverage %.4f precision %.4f" % (d["accuracy"], d["macro_f1"],
      d["weighted_f1"], b["coverage"], b["precision"]))'
}
{
  echo "# dataset balance: accuracy macro-F1 weighted-F1, back-off at 0.9 ($(date -u +%F' '%H:%M))"
  for d in fashion flipkart-9k; do
    ext=csv; [ -f "$DATA/$d/train.tsv" ] && ext=tsv
    for b in none weight; do
      "$SHELF" train --train "$DATA/$d/train.$ext" --valid "$DATA/$d/valid.$ext" \
        --out "$OUT/tax-$d-$b.shelf" --balance "$b" --quiet "$@" 2>/dev/null
      echo "$d $b: $(metrics "$OUT/tax-$d-$b.shelf" "$DATA/$d/test.$ext")"
    done
  done
} | tee "$OUT/taxonomy.txt"
