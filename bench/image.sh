#!/usr/bin/env bash
# shelf's reference CNN against PyTorch's (../shared/peers/baseline_cnn.py) on the fashion
# images, same network, input, batch, optimizer, schedule, augmentation, epochs and threads.
#   bash bench/image.sh           the 2-epoch job on the first 8,000 training images, PyTorch and
#                                 shelf alternating 3 times (--rounds N), medians of the ratios;
#                                 --width 16 for the narrower network
#   bash bench/image.sh --full    also shelf's 8 epochs on the whole training split (30 min),
#                                 against PyTorch's figures in ../shared/peers/RESULTS.md
#   bash bench/image.sh --full --with-peer   runs PyTorch's 8 epochs too (40 min more)
# Results: bench/out/image-*.json and a table on stdout (copied into docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/image_bench.py "$@"
