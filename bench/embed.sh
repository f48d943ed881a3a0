#!/usr/bin/env bash
# Embeddings on fashion (issue 19): precision@10 of neighbours against TF-IDF and raw-pixel
# k-NN, near-duplicate detection, exact against approximate search on a million vectors, and
# new categories added without retraining (bench/new_labels.py).
# Run on a quiet machine; see bench/embed_bench.py for what each part measures.
#   bash bench/embed.sh [--text M] [--image M] [--fused M] [--dups N] [--ann-rows N] [--no-ann]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --bench
make -s shelf build/bench/ann_speed
/usr/bin/python3 bench/embed_bench.py "$@"
# new categories without retraining: the default bag, then a GRU (labels add only)
/usr/bin/python3 bench/new_labels.py
/usr/bin/python3 bench/new_labels.py --text-encoder gru
