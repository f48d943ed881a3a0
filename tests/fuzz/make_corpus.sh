#!/usr/bin/env bash
# Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/TARGET/: small
# catalogs in each format, model files of every kind trained by ./shelf on a tiny catalog
# with tiny sizes, images made by build/tools/make_images, classify bodies, base64 and
# multipart forms. Run from the top of the repository after `make shelf
# build/tools/make_images`; it replaces the seeds it makes and leaves other files (crash
# reproducers added by hand) alone. The reader and model seeds start with the harness's
# option byte (see fuzz_reader.h and fuzz_model.c).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=tests/fuzz/corpus
shelf=$PWD/shelf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# seed TARGET NAME OPTION-BYTE(octal) FILE [SECOND-BYTE(octal)]: the option byte (the
# readers' two), then the file.
seed() {
  mkdir -p "$out/$1"
  local second=""
  case $1 in fuzz_csv | fuzz_tsv | fuzz_jsonl | fuzz_fasttext) second="\\${5:-0}" ;; esac
  { printf "\\$3$second"; cat "$4"; } >"$out/$1/$2"
}
# text TARGET NAME OPTION-BYTE(octal) TEXT(printf format) [SECOND-BYTE(octal)]
text() {
  printf -- "$4" >"$tmp/t"
  seed "$1" "$2" "$3" "$tmp/t" "${5:-0}"
}

# ---- catalogs ----
(cd "$tmp" && bash "$OLDPWD/tests/make_catalog.sh")
head -n 12 "$tmp/train.csv" >"$tmp/small.csv"
seed fuzz_csv catalog 0 "$tmp/small.csv"
seed fuzz_csv catalog_named 25 "$tmp/small.csv"           # skip_bad, require_label, named columns
seed fuzz_csv catalog_load 16 "$tmp/small.csv"            # shelf_catalog_load, fix_utf8
text fuzz_csv quoted 5 'id,title,category\n1,"multi\nline ""q""",A > B\n2,"unterminated,B\n3,x,C\n'
text fuzz_csv bad_utf8 7 'id,title,category\n1,caf\xc3,A\n2,ok\xff\xfe,B\n3,\xe4\xb8\xad\xe6\x96\x87,C\n'
text fuzz_csv crlf_bom 4 '\xef\xbb\xbfid,title,category\r\n1,a,X/Y\r\n2,b,\r\n,c,Z\r\n'
text fuzz_csv images 60 'id,title,image,category\n1,a,img/1.jpg,X\n2,b,,Y\n3,c,/abs.png,Z\n'
text fuzz_csv columns 41 'name,label,photo,extra\nshirt,A/B,p.jpg,1\njeans,A/C,,2,3\n'
text fuzz_csv empty 0 ''
text fuzz_csv header_only 4 'id,title,category\n'

sed 's/,/\t/g; s/"//g' "$tmp/small.csv" >"$tmp/small.tsv"
seed fuzz_tsv catalog 0 "$tmp/small.tsv"
seed fuzz_tsv catalog_load 29 "$tmp/small.tsv"
text fuzz_tsv ragged 5 'id\ttitle\tcategory\n1\ta\n2\tb\tc\td\n3\t\xff\tX\n'
text fuzz_tsv quotes 4 'title\tcategory\n"a\tb"\tX\n\t\n'

awk -F, 'NR > 1 && NR < 12 { printf "{\"id\": \"%s\", \"title\": \"%s\", \"category\": \"%s\"}\n", $1, $2, $NF }' \
  "$tmp/small.csv" >"$tmp/small.jsonl"
seed fuzz_jsonl catalog 0 "$tmp/small.jsonl"
seed fuzz_jsonl catalog_load 29 "$tmp/small.jsonl"
text fuzz_jsonl types 4 '{"id": 7, "title": "a", "description": null, "category": "A > B"}\n{"title": ["x", 1], "category": {"a": 1}}\n\n{"title": true, "category": 3.5e10}\n'
text fuzz_jsonl broken 1 '{"title": "a", "category": "X"}\n{"title": "b\n[1,2]\n"x"\n{"title": "\\ud800", "category": "Y"}\n'
text fuzz_jsonl images 60 '{"id": "1", "image": "img/1.jpg", "category": "X"}\n{"image": "", "category": "Y"}\n'
text fuzz_jsonl named 21 '{"title": "a", "description": "d", "category": "X", "id": "q"}\n'

awk -F, 'NR > 1 && NR < 12 { l = $NF; gsub(/ /, "_", l); printf "__label__%s %s\n", l, $2 }' \
  "$tmp/small.csv" >"$tmp/small.txt"
seed fuzz_fasttext catalog 0 "$tmp/small.txt"
seed fuzz_fasttext catalog_load 29 "$tmp/small.txt"
text fuzz_fasttext odd 5 '__label__a __label__b two labels\nno label here\n__label__ empty\n__label__x\n\n  __label__y  spaced  text \n__label__z\xff bad\n'

# A new user's input: no header (columns by number), other delimiters, deep paths cut by
# --max-depth, a .json array of objects and labels as arrays of levels (the JSONL reader
# takes a document that starts with '[' as one array).
tail -n +2 "$tmp/small.csv" >"$tmp/nohead.csv"
seed fuzz_csv no_header 20 "$tmp/nohead.csv" 1                # named columns as 1..4
sed 's/,/;/g' "$tmp/small.csv" >"$tmp/semi.csv"
seed fuzz_csv semicolon 0 "$tmp/semi.csv"                      # told by the header
seed fuzz_csv semicolon_given 0 "$tmp/semi.csv" 2              # --delimiter ';'
text fuzz_csv pipe_depth 0 'id|title|category\n1|"a|b"|A > B > C\n2|c|D > E\n' 34  # '|', max_depth 3
text fuzz_tsv no_header_depth 20 '1\ta\tb\tA > B > C\n2\tc\t\tD\n' 21                # no header, max_depth 2
text fuzz_jsonl json_array 0 '[{"id": "1", "title": "AC", "category": ["Elektronik", "Alat Pendingin Ruangan", "Ac Portable"]},\n {"id": "2", "title": "Fan", "category": "Elektronik > Kipas"}, {"title": "x", "category": []}]\n' 10
text fuzz_jsonl label_levels 1 '{"title": "a", "category": ["A", "B"]}\n{"title": "b", "category": ["A", 3]}\n{"title": "c", "category": [""]}\n'

# gzip input (readers that look through zlib tell it by its magic bytes)
gzip -9n <"$tmp/small.csv" >"$tmp/small.csv.gz"
seed fuzz_csv gzip 0 "$tmp/small.csv.gz"
head -c 200 "$tmp/small.csv.gz" >"$tmp/cut.csv.gz"
seed fuzz_csv gzip_cut 1 "$tmp/cut.csv.gz"
gzip -9n <"$tmp/small.jsonl" >"$tmp/small.jsonl.gz"
seed fuzz_jsonl gzip 0 "$tmp/small.jsonl.gz"

# ---- models: every kind, tiny, on a tiny catalog (a GRU or Transformer keeps 16384 rows
# for unseen words: 0.5 MB at width 8) ----
head -n 61 "$tmp/train.csv" >"$tmp/m.csv"
train() { # NAME OPTIONS...
  local name=$1
  shift
  (cd "$tmp" && "$shelf" train --train m.csv --out "$name.model" --seed 1 --threads 1 --quiet \
    "$@" >/dev/null)
  seed fuzz_model "$name" 3 "$tmp/$name.model"
}
train bag --epochs 2 --buckets 500 --maxn 3
train bag_dim --epochs 2 --buckets 500 --dim 4
train bag_hier --epochs 2 --buckets 500 --hierarchy
"$shelf" quantize --model "$tmp/bag_hier.model" --out "$tmp/bag_int8.model" 2>/dev/null
seed fuzz_model bag_int8 3 "$tmp/bag_int8.model"
train gru --text-encoder gru --dim 8 --epochs 1 --max-tokens 8 --batch 8
train transformer --text-encoder transformer --dim 8 --heads 2 --layers 1 --epochs 1 \
  --max-tokens 8 --batch 8
train transformer_sub --text-encoder transformer --dim 8 --heads 2 --layers 1 --epochs 1 \
  --max-tokens 8 --batch 8 --buckets 50 --hierarchy
build/tools/make_images "$tmp/img" 3 >/dev/null
for m in image both; do
  buckets=() # the text side's option: an image model refuses it
  [ "$m" = both ] && buckets=(--buckets 500)
  (cd "$tmp" && "$shelf" train --train img/train.csv --modality "$m" --out "$m.model" --seed 1 \
    --threads 1 --quiet --epochs 1 --image-size 16 --width 4 --batch 8 "${buckets[@]}" >/dev/null)
  seed fuzz_model "cnn_$m" 3 "$tmp/$m.model"
done
"$shelf" quantize --model "$tmp/image.model" --out "$tmp/image_int8.model" \
  --calibrate "$tmp/img/train.csv" --images 8 2>/dev/null
seed fuzz_model cnn_int8 3 "$tmp/image_int8.model"
text fuzz_model not_a_model 0 'SHELFMDL'

# ---- index files: exact and with an HNSW graph, of the bag model's vectors ----
head -31 "$tmp/train.csv" > "$tmp/few.csv"
"$shelf" index --model "$tmp/bag.model" --data "$tmp/few.csv" --out "$tmp/exact.idx" 2>/dev/null
"$shelf" index --model "$tmp/bag.model" --data "$tmp/few.csv" --out "$tmp/hnsw.idx" --index-type hnsw 2>/dev/null
seed fuzz_index exact 1 "$tmp/exact.idx"
seed fuzz_index hnsw 1 "$tmp/hnsw.idx"
text fuzz_index not_an_index 0 'SHELFIDX'

# ---- images: one of each format, and the damaged ones make_images writes ----
mkdir -p "$out/fuzz_image"
for f in "$tmp"/img/img/*; do
  case $f in
    */0.jpg|*/1.png|*/2.webp|*/fake.jpg|*/truncated.jpg) cp "$f" "$out/fuzz_image/" ;;
  esac
done
# PNGs of the other colour types and depths libpng turns into RGB: grey, grey+alpha,
# palette with transparency, RGBA, 16-bit, interlaced (Adam7), written by hand with zlib.
python3 - "$out/fuzz_image" <<'PY'
import struct, sys, zlib
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
def png(name, w, h, depth, ctype, row, extra=b"", interlace=0):
    raw = b"".join(b"\0" + row(y) for y in range(h))
    if interlace:  # every Adam7 pass of a 2x2 image holds whole rows of the same bytes
        raw = b"".join(b"\0" + row(0)[:len(row(0)) // w] for _ in range(4))
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace)
    open(sys.argv[1] + "/" + name, "wb").write(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra +
        chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
png("grey.png", 3, 2, 8, 0, lambda y: bytes([10, 128, 250]))
png("grey_alpha.png", 2, 2, 8, 4, lambda y: bytes([10, 0, 200, 255]))
png("palette.png", 2, 2, 4, 3, lambda y: bytes([0x01]),
    chunk(b"PLTE", bytes([255, 0, 0, 0, 255, 0])) + chunk(b"tRNS", bytes([0])))
png("rgba.png", 2, 1, 8, 6, lambda y: bytes([255, 0, 0, 128, 0, 0, 255, 0]))
png("rgb16.png", 1, 2, 16, 2, lambda y: bytes([1, 2, 3, 4, 5, 6]))
png("interlaced.png", 2, 2, 8, 2, lambda y: bytes([9, 8, 7, 6, 5, 4]), interlace=1)
PY

# ---- requests ----
mkdir -p "$out/fuzz_request" "$out/fuzz_base64" "$out/fuzz_multipart"
b64=$(head -c 300 "$(ls "$tmp"/img/img/*.png | head -1)" | base64 -w0)
printf '{"title": "red cotton tee", "description": "crew neck", "id": "p1", "k": 3}' \
  >"$out/fuzz_request/single"
printf '{"products": [{"title": "a"}, {"title": "b", "image_base64": "%s"}], "k": 2, "min_confidence": 0.5}' \
  "$b64" >"$out/fuzz_request/batch"
printf '{"title": ["x"], "k": -1, "min_confidence": 2, "image_base64": "data:image/png;base64,AAAA"}' \
  >"$out/fuzz_request/bad_types"
printf '{"products": []}' >"$out/fuzz_request/empty_batch"
printf '{"title": "red tee", "explain": true, "k": 2}' >"$out/fuzz_request/explain"
printf '{"products": [{"title": "a"}], "explain": "yes"}' >"$out/fuzz_request/explain_bad"
printf '%s' "$b64" >"$out/fuzz_base64/png"
printf 'data:image/jpeg;base64,/9j/4AAQ\r\nSkZJRg==' >"$out/fuzz_base64/data_url"
printf 'ab-_cd==x' >"$out/fuzz_base64/urlsafe_bad"
# multipart: control byte, key length and key (new part), data length and data; see
# fuzz_multipart.c
printf '\x00\x05title\x07red tee\x01\x04 big\x00\x0bdescription\x04crew\x00\x01k\x013\x00\x05image\x08\x89PNG\r\n\x1a\n' \
  >"$out/fuzz_multipart/parts"
printf '\x00\x0cimage_base64\x04AAAA\x00\x0emin_confidence\x030.4\x00\x02id\x01x\x02\x03abc' \
  >"$out/fuzz_multipart/nameless"
printf '\x00\x05title\x03tee\x00\x07explain\x04true\x00\x07explain\x02no' \
  >"$out/fuzz_multipart/explain"
printf '\x00\x05title\x01a\x03\x01b\x00\x05other\x00\x09\x00\x00\x02id\x01\xff' \
  >"$out/fuzz_multipart/repeated"
{ printf '\x00\x05image\x00'; for f in "$out"/fuzz_image/0.jpg; do
  printf '\x01\xff'; head -c 255 "$f"; printf '\x01\xff'; tail -c +256 "$f" | head -c 255; done
  printf '\x00\x05title\x01t'; } >"$out/fuzz_multipart/image_pieces"
echo "seeds written to $out"
