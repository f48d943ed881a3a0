#!/usr/bin/env bash
# Installs shelf's build, test and benchmark dependencies from Debian's packages.
# Called by the Makefile when a library is missing; safe to run again.
set -euo pipefail

build_pkgs=(gcc make pkg-config libopenblas-dev libutf8proc-dev libcjson-dev libcmocka-dev
            libjpeg62-turbo-dev libpng-dev libwebp-dev libmicrohttpd-dev zlib1g-dev valgrind
            clang-14 libfuzzer-14-dev libclang-rt-14-dev libdnnl-dev chromium g++ libhnswlib-dev
            openmpi-bin libopenmpi-dev python3 python3-numpy python3-sklearn man-db
            dpkg-dev debhelper lintian)
bench_pkgs=(fasttext python3-sklearn python3-numpy python3-torch python3-pil time wrk curl)

want=("${build_pkgs[@]}")
[ "${1:-}" = "--bench" ] && want+=("${bench_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
