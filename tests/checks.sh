# What the shell tests share (sourced): pass and fail lines, the count of failures, a
# scratch directory $T removed at exit, and done_checks NAME to end with the verdict.
fails=0
pass() { echo "  ok   $*"; }
fail() { echo "  FAIL $*"; fails=$((fails + 1)); }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
done_checks() {
  [ $fails -eq 0 ] || { echo "$1: $fails failed"; exit 1; }
  echo "$1: all passed"
}
