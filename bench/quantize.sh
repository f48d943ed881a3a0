#!/usr/bin/env bash
# int8 and pruned bag models against fastText's quantized .ftz on the five text datasets
# (issue 20): size, test accuracy, prediction speed, 2 threads.
#
#   bash bench/quantize.sh [DATASET ...]     (from anywhere; needs ./shelf and fasttext)
#
# Writes bench/out/quantize-results.md and .jsonl. Details: bench/quantize_bench.py.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v fasttext >/dev/null || { echo "bench/quantize.sh: fasttext not found: bash scripts/install-deps.sh --bench" >&2; exit 2; }
[ -x ./shelf ] || { echo "bench/quantize.sh: run 'make shelf' first" >&2; exit 2; }
exec /usr/bin/python3 bench/quantize_bench.py "$@"
