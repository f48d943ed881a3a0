#!/usr/bin/env bash
# Beyond one machine (issue 20): distributed training of the bag and prediction under Open
# MPI, one process against mpirun -np 1 and -np 2 (--threads 1 in each rank); prediction
# outputs compared byte for byte.
#
#   bash bench/scale.sh [--rows N] [--train-rows N]   (from anywhere; needs ./shelf, mpirun)
#
# The CNN does not train distributed yet: the bag only.
# Writes bench/out/scale-results.md and .jsonl. Details: bench/scale_bench.py.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v mpirun >/dev/null || { echo "bench/scale.sh: mpirun not found: bash scripts/install-deps.sh" >&2; exit 2; }
[ -x ./shelf ] || { echo "bench/scale.sh: run 'make shelf' first" >&2; exit 2; }
mkdir -p bench/out
exec /usr/bin/python3 bench/scale_bench.py "$@"
