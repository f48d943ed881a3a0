#!/usr/bin/env bash
# The Debian packages: dpkg-buildpackage -b -us -uc in a copy of the tree builds shelf,
# libshelf0 and libshelf-dev; lintian finds no error; dpkg would install them; unpacked,
# the tool runs and the C example builds against the -dev package's pkg-config file.
# usage: tests/package.sh   (from a git checkout)
set -uo pipefail
cd "$(dirname "$0")/.."
. tests/checks.sh
echo "Debian packages (dpkg-buildpackage, lintian)"
mkdir -p "$T/src"
# the tree as committed, with what is staged or changed in the working copy
git ls-files -z | xargs -0 tar -cf - | tar -xf - -C "$T/src"
(cd "$T/src" && dpkg-buildpackage -b -us -uc >"$T/build.log" 2>&1) \
  && pass "dpkg-buildpackage -b -us -uc" || { tail -20 "$T/build.log"; fail "dpkg-buildpackage"; }
v=$(dpkg-parsechangelog -l debian/changelog -S Version)
for p in shelf libshelf0 libshelf-dev; do
  [ -f "$T/${p}_${v}_amd64.deb" ] && pass "  ${p}_${v}_amd64.deb" || fail "  no ${p} package"
done
[ -f "$T/python3-shelf_${v}_all.deb" ] && pass "  python3-shelf_${v}_all.deb" || fail "  no python3-shelf package"
errors=$(lintian "$T/shelf_${v}_amd64.changes" 2>/dev/null | grep '^E:')
[ -z "$errors" ] && pass "  lintian: no error" || fail "  lintian: $errors"
dpkg --dry-run -i "$T"/shelf_"$v"_amd64.deb "$T"/libshelf0_"$v"_amd64.deb "$T"/libshelf-dev_"$v"_amd64.deb \
  "$T"/python3-shelf_"$v"_all.deb \
  >"$T/dry.log" 2>&1 && pass "  dpkg would install them" || fail "  dpkg --dry-run -i: $(tail -3 "$T/dry.log")"
R="$T/root"
for p in shelf libshelf0 libshelf-dev; do dpkg -x "$T/${p}_${v}_amd64.deb" "$R"; done
dpkg -x "$T/python3-shelf_${v}_all.deb" "$R"
L="$R/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)"
"$R/usr/bin/shelf" --help >/dev/null 2>&1 && pass "  the packaged shelf runs (built for any x86-64)" || fail "  packaged shelf"
[ -f "$R/usr/share/man/man1/shelf-train.1.gz" ] && pass "  with its man pages" || fail "  no man pages"
sed "s|^prefix=.*|prefix=$R/usr|; s|^libdir=.*|libdir=$L|; s|^includedir=.*|includedir=$R/usr/include|" \
  "$L/pkgconfig/shelf.pc" > "$T/shelf.pc"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror examples/c/classify.c $(PKG_CONFIG_PATH="$T" pkg-config --cflags --libs shelf) \
  -o "$T/classify" && echo "Nike running shoes" >"$T/t.txt" \
  && ./shelf train --train examples/sample/train.csv --out "$T/m.shelf" --threads 1 --quiet 2>/dev/null \
  && LD_LIBRARY_PATH="$L" "$T/classify" "$T/m.shelf" 1 <"$T/t.txt" | grep -q '"labels"' \
  && pass "  the C example builds and runs against the packaged library" || fail "  the example against the package"
got=$(cd "$T" && SHELF_LIB="$L/libshelf.so.0" PYTHONPATH="$R/usr/lib/python3/dist-packages" \
  /usr/bin/python3 -c "import shelf; print(shelf.Model.load('$T/m.shelf').predict(titles=['Nike running shoes'], k=1)[0]['labels'][0])" 2>&1)
case "$got" in *" > "*) pass "  the packaged Python module predicts ($got)";; *) fail "  python3-shelf: $got";; esac
done_checks package
