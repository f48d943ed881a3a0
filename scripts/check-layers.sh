#!/usr/bin/env bash
# Keeps the layers honest (make check-layers, and first in make test). A file in src/LAYER/
# may include its own folder and the layers before it, in this order, never one after it:
LAYERS=(core text io image nn model index eval train serve)
# cli/ sees the library only through include/shelf.h (with system headers and cli/'s own
# headers); include/shelf.h includes only system headers. Tests and benches may look inside.
# Prints every include that breaks this as FILE:LINE and exits 1.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

layer_rank() { # the rank of folder $1 in LAYERS, or nothing for another folder
    for i in "${!LAYERS[@]}"; do
        [ "${LAYERS[$i]}" = "$1" ] && echo "$i" && return
    done
}

bad=0
fail() { # FILE LINE INCLUDE WHY
    echo "$1:$2: #include $3: $4" >&2
    bad=$((bad + 1))
}

# Every include of FILE as "LINE<TAB>DELIM<TAB>NAME", DELIM " for "..." and < for <...>.
includes_of() {
    awk 'match($0, /^[ \t]*#[ \t]*include[ \t]*[<"][^">]+[">]/) {
             s = substr($0, RSTART, RLENGTH); sub(/^[^<"]*/, "", s);
             print FNR "\t" substr(s, 1, 1) "\t" substr(s, 2, length(s) - 2) }' "$1"
}

# A <...> include names a library header when it resolves inside src/ or include/ (the build
# passes -Isrc -Iinclude), as <core/buf.h> would: it counts like "core/buf.h".
is_ours() {
    [ "$1" = '"' ] || [ -f "src/$2" ] || [ -f "include/$2" ]
}

shown() { [ "$1" = '"' ] && echo "\"$2\"" || echo "<$2>"; }

check_src_file() {
    local file=$1 own=${1#src/}
    own=${own%%/*}
    local own_rank
    own_rank=$(layer_rank "$own")
    if [ -z "$own_rank" ]; then
        echo "$file: src/$own/ is not a layer; add it to LAYERS in scripts/check-layers.sh" >&2
        bad=$((bad + 1))
        return
    fi
    while IFS=$'\t' read -r line delim name; do
        # MPI lives in the command-line tool (cli/parallel.c), never in the library
        [ "$name" = mpi.h ] && fail "$file" "$line" "<mpi.h>" "the library never uses MPI"
        is_ours "$delim" "$name" || continue
        [ "$name" = shelf.h ] && continue
        case $name in
        */*)
            local dir=${name%%/*} rank
            rank=$(layer_rank "$dir")
            if [ -z "$rank" ]; then
                fail "$file" "$line" "$(shown "$delim" "$name")" \
                    "'$dir' is not a layer (${LAYERS[*]})"
            elif [ "$rank" -gt "$own_rank" ]; then
                fail "$file" "$line" "$(shown "$delim" "$name")" \
                    "$own may not include $dir, a layer above it (order: ${LAYERS[*]})"
            fi
            ;;
        *) # a name without a folder is looked for beside the file first
            [ -f "$(dirname "$file")/$name" ] ||
                fail "$file" "$line" "$(shown "$delim" "$name")" \
                    "not in $(dirname "$file")/; name its layer folder"
            ;;
        esac
    done < <(includes_of "$file")
}

check_cli_file() {
    local file=$1
    while IFS=$'\t' read -r line delim name; do
        is_ours "$delim" "$name" || continue
        [ "$name" = shelf.h ] && continue
        [ "$delim" = '"' ] && [[ $name != */* ]] && [ -f "cli/$name" ] && continue
        fail "$file" "$line" "$(shown "$delim" "$name")" \
            "the CLI may include only shelf.h (the public API), system headers and cli/'s own"
    done < <(includes_of "$file")
}

check_public_header() {
    local file=$1
    while IFS=$'\t' read -r line delim name; do
        is_ours "$delim" "$name" || continue
        fail "$file" "$line" "$(shown "$delim" "$name")" \
            "the public header may include only system headers"
    done < <(includes_of "$file")
}

for f in $(find src -name '*.[ch]' | sort); do check_src_file "$f"; done
for f in $(find cli -name '*.[ch]' | sort); do check_cli_file "$f"; done
check_public_header include/shelf.h

if [ "$bad" -gt 0 ]; then
    echo "check-layers: $bad include(s) break the layers (scripts/check-layers.sh says which" \
         "may include which)" >&2
    exit 1
fi
echo "check-layers: ok (${LAYERS[*]} cli)"
