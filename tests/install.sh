#!/usr/bin/env bash
# make install into a temporary prefix: pkg-config finds the library, the C example
# (examples/c/classify.c) builds against it and classifies like shelf predict; the shared
# library exports shelf_* alone; make uninstall leaves nothing behind.
# usage: tests/install.sh   (from the repository, after make)
set -uo pipefail
cd "$(dirname "$0")/.."
. tests/checks.sh
P="$T/prefix"
echo "make install, pkg-config, the C example, make uninstall"
make -s install PREFIX="$P" >"$T/install.log" 2>&1 && pass "make install PREFIX=$P" || { cat "$T/install.log"; fail "make install"; }
for f in bin/shelf lib/libshelf.so lib/libshelf.so.0 lib/libshelf.a include/shelf.h lib/pkgconfig/shelf.pc \
         share/man/man1/shelf.1 share/man/man1/shelf-train.1 share/man/man1/shelf-labels-add.1 \
         share/bash-completion/completions/shelf; do
  [ -e "$P/$f" ] || fail "  $f not installed"
done
# the man pages and completion say what --help says: every option of every command
for cmd in $("$P/bin/shelf" --help | awk '/^  [a-z]+ / {print $1}'); do
  page=$P/share/man/man1/shelf-$cmd.1
  [ "$cmd" = labels ] && page=$P/share/man/man1/shelf-labels-add.1 && cmd="labels add"
  # shellcheck disable=SC2086
  for opt in $("$P/bin/shelf" $cmd --help | grep -o '^  --[a-z0-9-]*'); do
    man -l "$page" 2>/dev/null | grep -q -- "$opt" || fail "  shelf $cmd $opt is missing from its man page"
    grep -q -- "[ \"]$opt[ \"]" "$P/share/bash-completion/completions/shelf" || fail "  shelf $cmd $opt is missing from the completion"
  done
done
pass "  every command's options are in its man page and the bash completion"
out=$(bash -c "source '$P/share/bash-completion/completions/shelf'; COMP_WORDS=(shelf quantize --cal); COMP_CWORD=2; _shelf; echo \"\${COMPREPLY[*]}\"")
[ "$out" = "--calibrate" ] && pass "  bash completes shelf quantize --cal to --calibrate" || fail "  completion gave '$out'"
export PKG_CONFIG_PATH="$P/lib/pkgconfig"
[ "$(pkg-config --modversion shelf)" = "$(sed -n 's/^#define SHELF_VERSION "\(.*\)"/\1/p' include/shelf.h)" ] && pass "  pkg-config --modversion shelf" || fail "  pkg-config version"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror examples/c/classify.c $(pkg-config --cflags --libs shelf) -o "$T/classify" \
  && pass "  the C example builds with pkg-config --cflags --libs shelf" || fail "  the C example does not build"
[ "$(readelf -d "$T/classify" | grep -o 'libshelf.so.[0-9]*')" = "libshelf.so.0" ] && pass "  it links libshelf.so.0 (the soname)" || fail "  soname ($(readelf -d "$T/classify" | grep NEEDED))"
bad=$(nm -D --defined-only "$P/lib/libshelf.so" | awk '{print $3}' | grep -v '^shelf_' | head -5)
[ -z "$bad" ] && pass "  libshelf.so exports shelf_* alone" || fail "  libshelf.so exports $bad"
"$P/bin/shelf" train --train examples/sample/train.csv --out "$T/m.shelf" --threads 1 --seed 1 --quiet 2>/dev/null
tail -n +2 examples/sample/new.csv | cut -d, -f2 > "$T/titles.txt"
LD_LIBRARY_PATH="$P/lib" "$T/classify" "$T/m.shelf" 2 < "$T/titles.txt" > "$T/out.jsonl" 2>"$T/err.txt" \
  && pass "  the example classifies standard input" || fail "  the example ($(cat "$T/err.txt"))"
python3 - "$T/out.jsonl" "$T/titles.txt" <<'PY' && pass "  one JSON object a title, two labels each" || fail "  the example's output"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
titles = open(sys.argv[2]).read().splitlines()
assert len(rows) == len(titles) > 0
assert all(len(r["labels"]) == 2 and r["probs"][0] >= r["probs"][1] for r in rows)
PY
LD_LIBRARY_PATH="$P/lib" "$T/classify" "$T/nowhere.shelf" < /dev/null 2>"$T/err.txt"; rc=$?
[ $rc -eq 1 ] && grep -q "nowhere.shelf" "$T/err.txt" && pass "  a missing model: exit 1 with the library's message" || fail "  missing model (exit $rc)"
py=$(find "$P/lib" -path '*dist-packages/shelf/__init__.py' | head -1)
[ -n "$py" ] && pass "  the Python package is installed ($(dirname "$(dirname "$py")"))" || fail "  no Python package"
got=$(cd "$T" && env -u SHELF_LIB PYTHONPATH="$(dirname "$(dirname "$py")")" /usr/bin/python3 -c \
  "import shelf, shelf._lib as l; m = shelf.Model.load('$T/m.shelf'); print(l.lib._name, m.predict(titles=['Nike running shoes'], k=1)[0]['labels'][0])" 2>&1)
case "$got" in "$P/lib/libshelf.so.0 "*) pass "  it loads the installed libshelf.so.0 and predicts";;
  *) fail "  installed Python package: $got";; esac
make -s uninstall PREFIX="$P" >/dev/null 2>&1
left=$(find "$P" -type f -o -type l)
[ -z "$left" ] && pass "make uninstall leaves nothing" || fail "make uninstall left: $left"
done_checks install
