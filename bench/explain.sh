#!/usr/bin/env bash
# Faithfulness of explanations by deletion (issue 17): the top-attributed token against a
# random one (bag and GRU, fashion and zh-online-shopping-10cats), the top-attributed quarter
# of a photo against a random quarter (the fashion CNN), and predict's throughput with and
# without --explain (bench/explain_bench.py). Models are trained once into bench/out/explain.
#   bash bench/explain.sh [--datasets fashion,...] [--encoders bag,gru] [--images 1000]
set -euo pipefail
cd "$(dirname "$0")/.."
make -s shelf
exec /usr/bin/python3 bench/explain_bench.py "$@"
