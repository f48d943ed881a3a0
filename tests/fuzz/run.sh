#!/usr/bin/env bash
# Runs libFuzzer targets for a set time each and fails on any crash, leak, timeout, out of
# memory or sanitizer report.
#
# usage: tests/fuzz/run.sh SECONDS JOBS TARGET...   (from the top of the repository, after
#        `make fuzz-build`; `make fuzz` and `make test` call it)
#
# Each target starts from its seeds in tests/fuzz/corpus/TARGET (never written to) and keeps
# what it finds in build/fuzz/corpus/TARGET, so a later run goes on from there. A crashing
# input lands in build/fuzz/crashes/TARGET/, the log in build/fuzz/logs/TARGET.log, and
# build/fuzz/summary.txt gets a line per target: the executions and the result. Re-run one
# input with: build/fuzz/bin/TARGET FILE
set -uo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 3 ] || { echo "usage: $0 SECONDS JOBS TARGET..." >&2; exit 2; }
seconds=$1 jobs=$2
shift 2

# The largest input of each target: models and images may be big, the rest are text.
max_len() {
  case $1 in
    fuzz_model|fuzz_image|fuzz_index) echo 1048576 ;;
    *) echo 65536 ;;
  esac
}

one() {
  local t=$1 log=build/fuzz/logs/$1.log
  mkdir -p "build/fuzz/corpus/$t" "build/fuzz/crashes/$t" build/fuzz/logs "tests/fuzz/corpus/$t"
  # One BLAS thread (targets run side by side); LeakSanitizer on; UBSan reports stop the run
  # (the library is built with -fno-sanitize-recover, this makes sure of it); -timeout: one
  # input may take 25 s at most.
  OPENBLAS_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:abort_on_error=0 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "build/fuzz/bin/$t" -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=25 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="build/fuzz/crashes/$t/" \
      "build/fuzz/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1
  local rc=$?
  local execs
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ $rc -eq 0 ]; then
    echo "$t: ${execs:-?} executions in ${seconds} s, nothing found"
  else
    echo "$t: FAILED (exit $rc) after ${execs:-?} executions; see $log and build/fuzz/crashes/$t/"
    grep -m3 -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | sed 's/^/    /'
  fi
  return $rc
}
export -f one max_len
export seconds

# The harnesses' scratch files go to a folder of this run (in memory when /dev/shm is
# there), removed at the end even when a target crashed before cleaning up.
mkdir -p build/fuzz
TMPDIR=$(mktemp -d "$( [ -w /dev/shm ] && echo /dev/shm || echo "$PWD/build/fuzz")/shelf-fuzz-run.XXXXXX")
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
printf '%s\n' "$@" | xargs -P "$jobs" -I{} bash -c 'one {}' | tee build/fuzz/summary.txt
! grep -q FAILED build/fuzz/summary.txt
