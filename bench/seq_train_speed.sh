#!/usr/bin/env bash
# Training throughput of shelf's sequence encoders against the same model in PyTorch
# (bench/seq_train_speed.py), side by side in one run: the GRU and the Transformer at
# each max-tokens and thread count, one epoch each over the same sample of a training
# split, same sizes (dim 128, 2 Transformer blocks of 4 heads, batch 32), batches grouped by
# length the same way. Prints texts/s and real (unpadded) tokens/s over the time spent in
# training steps, and the ratio shelf / PyTorch.
#
# usage (from the repository root, after make):
#   bash bench/seq_train_speed.sh
#   TEXTS=10000 TOKENS="64 128" THREADS="2 1" DROPOUT=0.1 bash bench/seq_train_speed.sh
# DROPOUT: given to both (default: shelf's default, or 0 when shelf has no --dropout);
# DATA: a TSV or CSV training split (default: zh-online-shopping-10cats's, in ../shared/data);
# TEXTS: the texts of the sample, taken evenly through the file (default 10000).
#
# shelf's time is the `speed` line of `shelf info` (time in training steps) when the model
# has one; otherwise the training time `shelf info` reports, which also counts tokenizing
# and building the vocabulary (marked * in the table). shelf's tokens/s is its texts/s
# times the tokens per text PyTorch's run counted (the two tokenizers agree on Chinese up
# to Unicode-version details).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/zh-online-shopping-10cats/train.tsv}
TEXTS=${TEXTS:-10000}
TOKENS=${TOKENS:-"64 128"}
THREADS=${THREADS:-2}
PY=/usr/bin/python3 # Debian's, with torch and numpy
# PyTorch's OpenMP threads otherwise spin at every barrier: with another process on one
# of the two cores, a 2-thread step then took 3 to 20 times longer than with PASSIVE
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
[ -x ./shelf ] || { echo "build ./shelf first (make)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ext=${DATA##*.}
sample=$tmp/train.$ext
if [ "$ext" = tsv ]; then # an even sample: the splits are ordered by label
  rows=$(($(wc -l < "$DATA") - 1))
  every=$((rows / TEXTS > 1 ? rows / TEXTS : 1))
  awk -v s="$every" -v n="$TEXTS" 'NR == 1 || ((NR - 2) % s == 0 && ++k <= n)' "$DATA" \
    > "$sample"
else # CSV fields may hold newlines: the whole file
  cp "$DATA" "$sample"
fi

shelf_drop=() # both get the same dropout: shelf's default when it has --dropout, else none
if ./shelf train --help 2>&1 | grep -q -- --dropout; then
  default=$(./shelf train --help 2>&1 | sed -n 's/.*--dropout .*(\([0-9.]*\)).*/\1/p')
  DROPOUT=${DROPOUT:-$default}
  shelf_drop=(--dropout "${DROPOUT:-0}")
elif [ "${DROPOUT:-0}" != 0 ]; then
  echo "this shelf has no --dropout" >&2
  exit 1
fi
DROPOUT=${DROPOUT:-0}

commit=$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo +changes)
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'); shelf $commit;" \
  "$($PY -c 'import torch; print("torch", torch.__version__)')"
echo "# $(($(wc -l < "$sample") - 1)) texts of $DATA, 1 epoch each;" \
  "dim 128, batch 32, dropout $DROPOUT; PyTorch with OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-12s %6s %7s %12s %12s %12s %12s %7s\n' encoder tokens threads \
  shelf_texts/s torch_texts/s shelf_tok/s torch_tok/s ratio
for th in $THREADS; do
  for T in $TOKENS; do
    for enc in gru transformer; do
      heads=(); [ "$enc" = transformer ] && heads=(--heads 4) # the GRU has no heads
      ./shelf train --train "$sample" --out "$tmp/m.shelf" --text-encoder "$enc" --dim 128 \
        --max-tokens "$T" --layers 2 "${heads[@]}" --batch 32 --epochs 1 --threads "$th" \
        --seed 1 --quiet "${shelf_drop[@]}" 2> "$tmp/train.log"
      info=$(cat "$tmp/train.log") # shelf train tells the speed: the model keeps no times
      mark=""
      s_rate=$(sed -n 's/^speed *\([0-9.,]*\) training texts\/s.*/\1/p' <<< "$info" | tr -d ,)
      if [ -z "$s_rate" ]; then # no speed line: texts over the whole training time
        n=$(sed -n 's/^trained on \([0-9]*\) products.*/\1/p' <<< "$info")
        secs=$(sed -n 's/^time *\([0-9.]*\) s in all$/\1/p' <<< "$info")
        s_rate=$(echo "scale=3; $n / $secs" | bc)
        mark="*"
      fi
      py=$($PY bench/seq_train_speed.py --train "$sample" --encoder "$enc" --dim 128 \
        --max-tokens "$T" --layers 2 --heads 4 --batch 32 --epochs 1 --threads "$th" \
        --seed 1 --dropout "$DROPOUT")
      p_rate=$(awk '{for (i = 1; i < NF; i++) if ($i == "texts/s") print $(i + 1)}' <<< "$py")
      p_tok=$(awk '{for (i = 1; i < NF; i++) if ($i == "tokens/s") print $(i + 1)}' <<< "$py")
      awk -v e="$enc" -v T="$T" -v th="$th" -v s="$s_rate" -v p="$p_rate" -v pt="$p_tok" \
        -v m="$mark" 'BEGIN { printf "%-12s %6d %7d %11.0f%1s %12.0f %11.0f%1s %12.0f %6.2fx\n",
          e, T, th, s, m, p, s * pt / p, m, pt, s / p }'
    done
  done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
