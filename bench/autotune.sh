#!/usr/bin/env bash
# shelf train --autotune SECONDS against fastText's autotune with the same budget and the
# scikit-learn peer, on the five text datasets (issue 18). One run takes about 12 minutes
# per dataset at the default 300 s; run it on a quiet machine.
#   bash bench/autotune.sh [--budget SECONDS] [DATASET...]
set -euo pipefail
cd "$(dirname "$0")/.."
make -s shelf
exec /usr/bin/python3 bench/autotune_bench.py "$@"
