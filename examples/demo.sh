#!/usr/bin/env bash
# A five-minute tour of shelf on the bundled sample catalog (examples/sample/, made by
# examples/make_sample.py: 400 train / 60 valid / 60 test products, English and Chinese
# titles, 12 category paths such as "Electronics > Phones > Smartphones").
#
#   bash examples/demo.sh [SHELF_BIN]      (from the repository root; `make demo` does this)
#
# Steps: train a model, evaluate it on held-out products (text report and JSON),
# categorize new unlabeled products, and show what the model file holds.
# Everything it writes goes to build/demo/.
set -euo pipefail

SHELF=${1:-./shelf}
SAMPLE=examples/sample
OUT=build/demo

if [ ! -x "$SHELF" ]; then
  echo "demo: shelf binary '$SHELF' not found or not executable (build it with: make shelf)" >&2
  exit 1
fi
for f in train valid test new; do
  if [ ! -f "$SAMPLE/$f.csv" ]; then
    echo "demo: $SAMPLE/$f.csv is missing (run from the repository root; regenerate with: python3 examples/make_sample.py)" >&2
    exit 1
  fi
done
mkdir -p "$OUT"
MODEL=$OUT/model.shelf

step() { printf '\n==== %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "1. Train a model on $SAMPLE/train.csv (400 products), checking progress on $SAMPLE/valid.csv"
echo "   Columns: id,title,description,category; the category is a path like 'Home > Kitchen > Cookware'."
show "$SHELF" train --train "$SAMPLE/train.csv" --valid "$SAMPLE/valid.csv" --out "$MODEL" --seed 1

step "2. Evaluate on the held-out $SAMPLE/test.csv (products the model has never seen)"
show "$SHELF" eval --model "$MODEL" --data "$SAMPLE/test.csv"

step "3. The same evaluation as one JSON object (for scripts and dashboards)"
show "$SHELF" eval --model "$MODEL" --data "$SAMPLE/test.csv" --json | tee "$OUT/eval.json"

step "4. Categorize new, unlabeled products ($SAMPLE/new.csv): the 3 most likely paths each"
show "$SHELF" predict --model "$MODEL" --data "$SAMPLE/new.csv" --k 3 | tee "$OUT/predictions.jsonl"

step "5. What the model file holds"
show "$SHELF" info --model "$MODEL"
echo "   model size on disk: $(du -h "$MODEL" | cut -f1)"

MAKE_IMAGES=build/tools/make_images
if [ -x "$MAKE_IMAGES" ]; then
  step "6. Photos instead of titles: a CNN on a small generated image catalog (JPEG, PNG, WebP)"
  show "$MAKE_IMAGES" "$OUT/images" 40
  show "$SHELF" train --train "$OUT/images/train.csv" --valid "$OUT/images/valid.csv" \
    --out "$OUT/photos.shelf" --modality image --image-size 32 --width 8 --epochs 10 --seed 1
  show "$SHELF" predict --model "$OUT/photos.shelf" --photo "$OUT/images/img/0.jpg" --k 2
fi

step "Done. Model: $MODEL, evaluation: $OUT/eval.json, predictions: $OUT/predictions.jsonl"
echo "   Next: try your own catalog (CSV, TSV or JSONL with a title and a category column):"
echo "   $SHELF train --train my_train.csv --valid my_valid.csv --out my.shelf"
