#!/usr/bin/env bash
# Text, image and fused models side by side on fashion (full titles; titles cut to their first
# two words; no titles, photo only) and flipkart-1050, with the plain product of the text and
# image models' probabilities as the baseline to beat (weight chosen on valid): accuracy,
# macro-F1, back-off coverage and precision at 0.9, training time (bench/fusion_bench.py).
# About 30 minutes on 2 cores.
#   bash bench/fusion.sh [--width 16] [--regimes full,weak,notitle,flipkart]
# Results: bench/out/fusion/fusion.json and a table on stdout (copied into docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
make -s shelf
exec /usr/bin/python3 bench/fusion_bench.py "$@"
