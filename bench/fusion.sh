#!/usr/bin/env bash
# Text only, image only and both (fused), with shelf's defaults plus the image settings of
# the image bench (--augment flip), on fashion (title + image) and flipkart-1050 (title +
# description + image): test accuracy, macro-F1, weighted-F1, per level, training time; and
# on fashion with the image removed from a random 30% of test products, both against text
# only. About 75 minutes on 2 cores (two CNN trainings on fashion).
#   bash bench/fusion.sh [fashion|flipkart-1050 ...]     results: bench/out/fusion.txt
set -euo pipefail
cd "$(dirname "$0")/.."
SHELF=$PWD/shelf
DATA=$PWD/../shared/data
OUT=$PWD/bench/out
mkdir -p "$OUT"
sets=("$@")
[ ${#sets[@]} -eq 0 ] && sets=(flipkart-1050 fashion)

summary() { /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin)
lv=" ".join("L%d %.4f/%.4f" % (l["level"], l["accuracy"], l["macro_f1"]) for l in d["levels"])
b=d.get("backoff")
print("acc %.4f  macro-F1 %.4f  weighted-F1 %.4f  hF1 %.4f  %s%s" % (d["accuracy"], d["macro_f1"],
      d["weighted_f1"], d["hierarchical_f1"]["f1"], lv,
      "  back-off@0.9 coverage %.4f precision %.4f" % (b["coverage"], b["precision"]) if b else ""))'; }

{
  echo "# fusion bench $(date -u +%F' '%H:%M)"
  for d in "${sets[@]}"; do
    for mod in text image both; do
      model=$OUT/fusion-$d-$mod.shelf
      t0=$(date +%s)
      aug=(); [ "$mod" != text ] && aug=(--augment flip) # the CNN's: a text model refuses it
      "$SHELF" train --train "$DATA/$d/train.csv" --valid "$DATA/$d/valid.csv" --out "$model" \
        --modality "$mod" "${aug[@]}" --threads 2 --seed 1 --quiet 2>/dev/null
      t1=$(date +%s)
      echo "$d $mod (train $((t1 - t0)) s): $("$SHELF" eval --model "$model" \
        --data "$DATA/$d/test.csv" --json --min-confidence 0.9 2>/dev/null | summary)"
    done
    if [ "$d" = fashion ]; then # 30% of test images removed (seeded), both against text
      mkdir -p "$OUT/fashion-30"
      ln -sfn "$DATA/fashion/images" "$OUT/fashion-30/images"
      /usr/bin/python3 - "$DATA/fashion/test.csv" "$OUT/fashion-30/test.csv" <<'PY'
import csv, random, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")))
random.seed(30)
drop = set(random.sample(range(len(rows)), int(0.3 * len(rows))))
w = csv.DictWriter(open(sys.argv[2], "w", newline="", encoding="utf-8"), fieldnames=list(rows[0]))
w.writeheader()
for i, r in enumerate(rows):
    r["image"] = "" if i in drop else r["image"]
    w.writerow(r)
PY
      for mod in text both; do
        echo "fashion, 30% of images removed, $mod: $("$SHELF" eval --model \
          "$OUT/fusion-fashion-$mod.shelf" --data "$OUT/fashion-30/test.csv" --json 2>/dev/null | summary)"
      done
    fi
  done
} | tee "$OUT/fusion.txt"
