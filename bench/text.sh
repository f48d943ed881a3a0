#!/usr/bin/env bash
# shelf's text benchmark: shelf side by side with fastText 0.9.2 (default and tuned) and,
# with --sklearn, scikit-learn TF-IDF+LinearSVC, on the shared product datasets; 2 threads
# each; then a scale run (2,000,000 products) unless --no-scale. Details: bench/text_bench.py.
#
#   bash bench/text.sh [OPTIONS] [DATASET ...]         (from anywhere; `make bench` runs it)
#
#   DATASET         any of: flipkart-9k amazon-uk-toys-9k fashion zh-online-shopping-10cats
#                   zh-jd-suning-13k (default: all five)
#   --no-scale      skip the scale run            --scale-only   only the scale run
#   --scale-rows N  scale catalog size (2000000)  --scale-curve  shelf also at 1/8, 1/4, 1/2 of it
#   --sklearn       also run scikit-learn (slow; otherwise RESULTS.md's figures are quoted)
#   --predict-rows N  products predicted for the throughput figure (50000; 0 = the test split)
#   --keep-tmp      keep the temp directory (models, prepared text)
#
# Environment: SHELF_DATA (default ../shared/data, relative to the repo root), SHELF_BIN
# (default ./shelf), TMPDIR (temporaries, default /tmp). Needs fasttext, /usr/bin/time and
# /usr/bin/python3 with scikit-learn (bash scripts/install-deps.sh --bench installs them).
# Writes bench/out/text-results.md (also printed), bench/out/text-results.jsonl, bench/out/logs/.
# Exit status: 0 if every command succeeded, 1 otherwise (the report still lists the rest).
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${SHELF_DATA:-../shared/data}
SHELF=${SHELF_BIN:-./shelf}
PY=/usr/bin/python3

die() { echo "bench/text.sh: $*" >&2; exit 2; }

[ -d "$DATA" ] || die "data directory '$DATA' not found: the benchmark reads the shared datasets in place (../shared/data from the repo root); set SHELF_DATA=/path/to/data"
[ -x "$SHELF" ] || die "shelf binary '$SHELF' not found: run 'make shelf' first (or set SHELF_BIN)"
command -v fasttext >/dev/null || die "fasttext not found: bash scripts/install-deps.sh --bench"
[ -x /usr/bin/time ] || die "/usr/bin/time not found: bash scripts/install-deps.sh --bench"
[ -x "$PY" ] || die "$PY not found"
"$PY" -c 'import sklearn' 2>/dev/null || die "$PY has no scikit-learn: bash scripts/install-deps.sh --bench"

exec "$PY" bench/text_bench.py --data "$DATA" --shelf "$SHELF" "$@"
